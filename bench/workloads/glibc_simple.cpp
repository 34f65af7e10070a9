// mkb-glibc_simple — small-object churn, after glibc's benchtests bench-malloc-simple and
// bench-malloc-thread.
//
//   mkb-glibc_simple [--threads T] [--scale S]
//
// Every thread works on its own, never touching another's blocks: the allocator's thread-local
// fast path. Phase 1 (bench-malloc-simple): for each size 16, 32, 64, 128, 256 B and each batch
// of 25, 100, 400, 1600 blocks, allocate the batch and free it in FIFO order, then again in LIFO
// order. Phase 2 (bench-malloc-thread): a 1024-slot working set per thread; each step frees a
// random slot and refills it with a random size 16..256 B.
// Work: 12,000,000 x S blocks in phase 1 and as many steps in phase 2, split evenly over the
// threads. The checksum combines, per thread in index order, the tags read back before each free.
#include <algorithm>
#include <iterator>
#include <thread>
#include <vector>

#include "common.h"

namespace {

constexpr std::size_t kSizes[] = {16, 32, 64, 128, 256};
constexpr std::size_t kBatches[] = {25, 100, 400, 1600};
constexpr std::size_t kWorkingSet = 1024;
constexpr std::size_t kMinSize = 16;
constexpr std::size_t kMaxSize = 256;
constexpr std::size_t kConfigs = std::size(kSizes) * std::size(kBatches) * 2;

struct alignas(64) Worker {  // a line each: the threads must not share one
  unsigned index = 0;
  std::uint64_t seq = 0;
  std::uint64_t hash = 0;

  std::uint64_t next_tag() { return mkb::mix64((std::uint64_t{index} << 48) ^ seq++); }
  void* make(std::size_t size, std::uint64_t tag) {
    void* p = mkb::xmalloc(size, "glibc_simple");
    mkb::stamp(p, size, tag);
    return p;
  }
  void release(void* p, std::size_t size, std::uint64_t tag) {
    mkb::check_stamp(p, size, tag, "glibc_simple");
    hash = mkb::combine(hash, tag);
    std::free(p);
  }

  void simple(std::uint64_t blocks_per_config) {
    std::vector<void*> ptrs(kBatches[std::size(kBatches) - 1]);
    std::vector<std::uint64_t> tags(ptrs.size());
    for (std::size_t size : kSizes) {
      for (std::size_t batch : kBatches) {
        std::uint64_t iterations = std::max<std::uint64_t>(1, blocks_per_config / batch);
        for (int lifo = 0; lifo < 2; ++lifo) {
          for (std::uint64_t it = 0; it < iterations; ++it) {
            for (std::size_t k = 0; k < batch; ++k) {
              tags[k] = next_tag();
              ptrs[k] = make(size, tags[k]);
            }
            for (std::size_t j = 0; j < batch; ++j) {
              std::size_t k = lifo ? batch - 1 - j : j;
              release(ptrs[k], size, tags[k]);
            }
          }
        }
      }
    }
  }

  void thread_bench(std::uint64_t steps) {
    struct Slot {
      void* p;
      std::uint64_t tag;
      std::size_t size;
    };
    mkb::Rng rng(0x91bc, index);
    std::vector<Slot> set(kWorkingSet);
    for (Slot& s : set) {
      s.size = rng.range(kMinSize, kMaxSize);
      s.tag = next_tag();
      s.p = make(s.size, s.tag);
    }
    for (std::uint64_t i = 0; i < steps; ++i) {
      Slot& s = set[rng.below(kWorkingSet)];
      release(s.p, s.size, s.tag);
      s.size = rng.range(kMinSize, kMaxSize);
      s.tag = next_tag();
      s.p = make(s.size, s.tag);
    }
    for (Slot& s : set) release(s.p, s.size, s.tag);
  }
};

}  // namespace

int main(int argc, char** argv) {
  mkb::Options opt = mkb::parse_args(argc, argv, "glibc_simple");
  const unsigned threads = opt.threads;
  const std::uint64_t total = mkb::scaled(12'000'000, opt.scale, 1);
  const std::uint64_t per_thread = std::max<std::uint64_t>(1, total / threads);
  const std::uint64_t blocks_per_config = std::max<std::uint64_t>(1, per_thread / kConfigs);

  std::vector<Worker> workers(threads);
  std::vector<std::thread> running;
  for (unsigned i = 0; i < threads; ++i) {
    workers[i].index = i;
    running.emplace_back([&w = workers[i], blocks_per_config, per_thread] {
      w.simple(blocks_per_config);
      w.thread_bench(per_thread);
    });
  }
  for (std::thread& t : running) t.join();
  std::uint64_t h = mkb::kFnvOffset;
  std::uint64_t blocks = 0;
  for (const Worker& w : workers) {
    h = mkb::combine(h, w.hash);
    blocks += w.seq;
  }

  mkb::print_header(opt);
  std::printf("phase 1: sizes 16..256 B, batches of 25..1600, FIFO and LIFO\n");
  std::printf("phase 2: %zu-slot working set per thread, %zu..%zu B, %" PRIu64 " steps\n",
              kWorkingSet, kMinSize, kMaxSize, per_thread * threads);
  std::printf("blocks: %" PRIu64 "\n", blocks);
  mkb::print_checksum(h);
  return 0;
}
