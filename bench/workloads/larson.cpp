// mkb-larson — server churn, after Larson & Krishnan's "larson" benchmark.
//
//   mkb-larson [--threads T] [--scale S]
//
// T lineages, each with a window of 1000 blocks of random sizes 16..1024 B. The work runs in
// rounds: every round starts a new std::thread per lineage and hands it the previous thread's
// window; the thread replaces random slots (check and free the old block, allocate and stamp a new
// one). So nearly every free is of a block another (by then finished) thread allocated: remote
// frees, the pattern of a server whose connections move between worker threads.
// Work: 12,000,000 x S replacements in all, split evenly over the lineages, in max(2, 40 x S)
// rounds. The checksum combines, per lineage in index order, the tags read back from the blocks
// it freed.
#include <algorithm>
#include <thread>
#include <vector>

#include "common.h"

namespace {

constexpr std::size_t kWindow = 1000;
constexpr std::size_t kMinSize = 16;
constexpr std::size_t kMaxSize = 1024;

struct Slot {
  void* p = nullptr;
  std::uint64_t tag = 0;
  std::uint32_t size = 0;
};

struct alignas(64) Lineage {  // a line each: the threads must not share one
  unsigned index = 0;
  std::vector<Slot> window;
  mkb::Rng rng{0};
  std::uint64_t seq = 0;
  std::uint64_t hash = 0;

  void fill(Slot& s) {
    s.size = static_cast<std::uint32_t>(rng.range(kMinSize, kMaxSize));
    s.tag = mkb::mix64((std::uint64_t{index} << 48) ^ seq++);
    s.p = mkb::xmalloc(s.size, "larson");
    mkb::stamp(s.p, s.size, s.tag);
  }
  void release(Slot& s) {
    mkb::check_stamp(s.p, s.size, s.tag, "larson");
    hash = mkb::combine(hash, s.tag);
    std::free(s.p);
    s.p = nullptr;
  }
};

// One round of one lineage, on a thread of its own.
void run_round(Lineage* l, std::uint64_t replacements) {
  if (l->window.empty()) {  // first round: this thread allocates the window
    l->window.resize(kWindow);
    for (Slot& s : l->window) l->fill(s);
  }
  for (std::uint64_t i = 0; i < replacements; ++i) {
    Slot& s = l->window[l->rng.below(kWindow)];
    l->release(s);
    l->fill(s);
  }
}

}  // namespace

int main(int argc, char** argv) {
  mkb::Options opt = mkb::parse_args(argc, argv, "larson");
  const unsigned threads = opt.threads;
  const std::uint64_t rounds = mkb::scaled(40, opt.scale, 2);
  const std::uint64_t total = mkb::scaled(12'000'000, opt.scale, 1);
  const std::uint64_t per_round = std::max<std::uint64_t>(1, total / (threads * rounds));

  std::vector<Lineage> lineages(threads);
  for (unsigned i = 0; i < threads; ++i) {
    lineages[i].index = i;
    lineages[i].rng = mkb::Rng(0x1a450e, i);
  }
  for (std::uint64_t r = 0; r < rounds; ++r) {
    std::vector<std::thread> workers;
    workers.reserve(threads);
    for (unsigned i = 0; i < threads; ++i) workers.emplace_back(run_round, &lineages[i], per_round);
    for (std::thread& w : workers) w.join();
  }
  std::uint64_t h = mkb::kFnvOffset;
  for (Lineage& l : lineages) {
    for (Slot& s : l.window) l.release(s);  // the survivors, freed by the main thread
    h = mkb::combine(h, l.hash);
  }

  mkb::print_header(opt);
  std::printf("window: %zu blocks of %zu..%zu B per thread\n", kWindow, kMinSize, kMaxSize);
  std::printf("rounds: %" PRIu64 " (a new thread per lineage each round)\n", rounds);
  std::printf("replacements: %" PRIu64 "\n", per_round * rounds * threads);
  mkb::print_checksum(h);
  return 0;
}
