// mkb-thread_churn — short-lived threads, after mimalloc-bench's mleak / thread churn tests.
//
//   mkb-thread_churn [--threads T] [--scale S]
//
// Threads are created and joined in a loop, T at a time (one per lineage). Each thread
// allocates 300 blocks of random sizes 16..2048 B, frees the 30 blocks the previous thread of its
// lineage left behind, frees 270 of its own in random order and leaves the last 30 live for the
// next thread. Stresses what an allocator does when a thread starts (heap/cache set-up) and exits
// (handing back or orphaning its caches, with live blocks in them), and frees from dead threads.
// Work: 8,000 x S threads in all (at least 2 per lineage). The checksum combines, per lineage
// in index order, the tags read back before each free.
#include <algorithm>
#include <thread>
#include <vector>

#include "common.h"

namespace {

constexpr std::size_t kBlocks = 300;
constexpr std::size_t kLeft = 30;
constexpr std::size_t kMinSize = 16;
constexpr std::size_t kMaxSize = 2048;

struct Block {
  void* p = nullptr;
  std::uint64_t tag = 0;
  std::size_t size = 0;
};

struct alignas(64) Lineage {  // a line each: the threads must not share one
  unsigned index = 0;
  mkb::Rng rng{0};
  std::uint64_t seq = 0;
  std::uint64_t hash = 0;
  std::vector<Block> left;  // live blocks handed to the next thread

  void release(Block& b) {
    mkb::check_stamp(b.p, b.size, b.tag, "thread_churn");
    hash = mkb::combine(hash, b.tag);
    std::free(b.p);
    b.p = nullptr;
  }
};

void run(Lineage* l) {
  std::vector<Block> mine(kBlocks);
  for (Block& b : mine) {
    b.size = l->rng.range(kMinSize, kMaxSize);
    b.tag = mkb::mix64((std::uint64_t{l->index} << 48) ^ l->seq++);
    b.p = mkb::xmalloc(b.size, "thread_churn");
    mkb::stamp(b.p, b.size, b.tag);
  }
  for (Block& b : l->left) l->release(b);
  // Free a random selection of kBlocks - kLeft of them (Fisher-Yates on the first part).
  for (std::size_t k = 0; k + kLeft < kBlocks; ++k) {
    std::size_t j = k + l->rng.below(kBlocks - k);
    std::swap(mine[k], mine[j]);
    l->release(mine[k]);
  }
  l->left.assign(mine.end() - kLeft, mine.end());
}

}  // namespace

int main(int argc, char** argv) {
  mkb::Options opt = mkb::parse_args(argc, argv, "thread_churn");
  const unsigned threads = opt.threads;
  const std::uint64_t waves = std::max<std::uint64_t>(2, mkb::scaled(8'000, opt.scale) / threads);

  std::vector<Lineage> lineages(threads);
  for (unsigned i = 0; i < threads; ++i) {
    lineages[i].index = i;
    lineages[i].rng = mkb::Rng(0xc4a2, i);
  }
  std::vector<std::thread> running(threads);
  for (std::uint64_t w = 0; w < waves; ++w) {
    for (unsigned i = 0; i < threads; ++i) running[i] = std::thread(run, &lineages[i]);
    for (std::thread& t : running) t.join();
  }
  std::uint64_t h = mkb::kFnvOffset;
  for (Lineage& l : lineages) {
    for (Block& b : l.left) l.release(b);
    h = mkb::combine(h, l.hash);
  }

  mkb::print_header(opt);
  std::printf("threads started: %" PRIu64 " (%" PRIu64 " waves of %u)\n", waves * threads, waves,
              threads);
  std::printf("blocks per thread: %zu of %zu..%zu B, %zu left to the next thread\n", kBlocks,
              kMinSize, kMaxSize, kLeft);
  mkb::print_checksum(h);
  return 0;
}
