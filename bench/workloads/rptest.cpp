// mkb-rptest — random sizes, after alloc-test (Pareto-distributed sizes) and rpmalloc's rptest
// (wide size range with cross-thread frees).
//
//   mkb-rptest [--threads T] [--scale S]
//
// Phase 1 (alloc-test): each thread keeps 4096 live blocks and replaces random ones; sizes are
// Pareto-distributed (x_m = 16 B, alpha = 1.2, capped at 1 KiB): mostly small, with a heavy tail.
// Phase 2 (rptest): sizes 8 B..16 KiB, log-uniform (as many 8..16 B blocks as 8..16 KiB ones).
// Every round each thread replaces random blocks of its own 1024-block set (local frees) and
// allocates 256 blocks that the next thread (i+1 mod T) checks and frees after a barrier
// (remote frees).
// Work: phase 1 8,000,000 x S replacements; phase 2 max(2, 400 x S) rounds and 4,000,000 x S
// local replacements; both split evenly over the threads. The checksum combines, per thread in
// index order, the tags read back before each free.
#include <algorithm>
#include <barrier>
#include <cmath>
#include <thread>
#include <vector>

#include "common.h"

namespace {

constexpr std::size_t kSet1 = 4096;
constexpr std::size_t kSet2 = 1024;
constexpr std::size_t kHandoff = 256;
constexpr std::size_t kParetoMin = 16;
constexpr std::size_t kParetoMax = 1024;
constexpr double kParetoAlpha = 1.2;
constexpr std::size_t kMin2 = 8;
constexpr std::size_t kMax2 = std::size_t{16} << 10;

struct Block {
  void* p = nullptr;
  std::uint64_t tag = 0;
  std::size_t size = 0;
};

// Blocks of 16 B and up are stamped (common.h); smaller ones (8..15 B) hold the tag's bytes.
void put(const Block& b) {
  if (b.size >= mkb::kMinStamped) {
    mkb::stamp(b.p, b.size, b.tag);
  } else {
    std::memcpy(b.p, &b.tag, 8);
    for (std::size_t j = 8; j < b.size; ++j)
      static_cast<unsigned char*>(b.p)[j] = static_cast<unsigned char>(b.tag >> (8 * (j - 8)));
    mkb::escape(b.p);
  }
}

void check(const Block& b) {
  if (b.size >= mkb::kMinStamped) {
    mkb::check_stamp(b.p, b.size, b.tag, "rptest");
    return;
  }
  mkb::escape(b.p);
  std::uint64_t t = 0;
  std::memcpy(&t, b.p, 8);
  bool ok = t == b.tag;
  for (std::size_t j = 8; j < b.size; ++j)
    ok = ok && static_cast<unsigned char*>(b.p)[j] == static_cast<unsigned char>(b.tag >> (8 * (j - 8)));
  if (!ok) mkb::fail("rptest: a %zu-byte block read back wrong", b.size);
}

std::size_t pareto_size(mkb::Rng& rng) {
  double u = 1.0 - rng.unit();  // (0, 1]
  double x = static_cast<double>(kParetoMin) * std::pow(u, -1.0 / kParetoAlpha);
  return x >= static_cast<double>(kParetoMax) ? kParetoMax : static_cast<std::size_t>(x);
}

std::size_t wide_size(mkb::Rng& rng) {
  std::size_t base = kMin2 << rng.below(11);  // 8 B .. 8 KiB
  return base + rng.below(base + 1);          // up to 2 x base
}

struct alignas(64) Worker {  // a line each: the threads must not share one
  unsigned index = 0;
  mkb::Rng rng{0};
  std::uint64_t seq = 0;
  std::uint64_t hash = 0;

  void make(Block& b, std::size_t size) {
    b.size = size;
    b.tag = mkb::mix64((std::uint64_t{index} << 48) ^ seq++);
    b.p = mkb::xmalloc(size, "rptest");
    put(b);
  }
  void release(Block& b) {
    check(b);
    hash = mkb::combine(hash, b.tag);
    std::free(b.p);
    b.p = nullptr;
  }
};

}  // namespace

int main(int argc, char** argv) {
  mkb::Options opt = mkb::parse_args(argc, argv, "rptest");
  const unsigned threads = opt.threads;
  const std::uint64_t steps1 = std::max<std::uint64_t>(1, mkb::scaled(8'000'000, opt.scale) / threads);
  const std::uint64_t rounds = mkb::scaled(400, opt.scale, 2);
  const std::uint64_t local_per_round =
      std::max<std::uint64_t>(1, mkb::scaled(4'000'000, opt.scale) / (threads * rounds));

  std::vector<Worker> workers(threads);
  std::vector<std::vector<Block>> handoff[2];
  for (auto& buf : handoff) buf.assign(threads, std::vector<Block>(kHandoff));
  std::barrier sync(static_cast<std::ptrdiff_t>(threads));

  auto body = [&](unsigned i) {
    Worker& w = workers[i];
    w.index = i;
    w.rng = mkb::Rng(0x4b7e57, i);
    // Phase 1: Pareto sizes up to 1 KiB, local replacement.
    std::vector<Block> set(kSet1);
    for (Block& b : set) w.make(b, pareto_size(w.rng));
    for (std::uint64_t s = 0; s < steps1; ++s) {
      Block& b = set[w.rng.below(kSet1)];
      w.release(b);
      w.make(b, pareto_size(w.rng));
    }
    for (Block& b : set) w.release(b);
    // Phase 2: 8 B..16 KiB, local replacement plus blocks freed by the next thread.
    set.assign(kSet2, Block{});
    for (Block& b : set) w.make(b, wide_size(w.rng));
    sync.arrive_and_wait();
    for (std::uint64_t r = 0; r < rounds; ++r) {
      for (Block& b : handoff[r % 2][i]) w.make(b, wide_size(w.rng));
      for (std::uint64_t s = 0; s < local_per_round; ++s) {
        Block& b = set[w.rng.below(kSet2)];
        w.release(b);
        w.make(b, wide_size(w.rng));
      }
      sync.arrive_and_wait();
      for (Block& b : handoff[r % 2][(i + 1) % threads]) w.release(b);
    }
    for (Block& b : set) w.release(b);
  };

  std::vector<std::thread> running;
  for (unsigned i = 0; i < threads; ++i) running.emplace_back(body, i);
  for (std::thread& t : running) t.join();
  std::uint64_t h = mkb::kFnvOffset;
  for (const Worker& w : workers) h = mkb::combine(h, w.hash);

  mkb::print_header(opt);
  std::printf("phase 1: %" PRIu64 " replacements, Pareto sizes %zu..%zu B (alpha %.1f)\n",
              steps1 * threads, kParetoMin, kParetoMax, kParetoAlpha);
  std::printf("phase 2: %" PRIu64 " rounds, %" PRIu64 " local replacements, %" PRIu64
              " cross-thread frees, sizes %zu B..%zu KiB\n",
              rounds, local_per_round * rounds * threads, rounds * threads * kHandoff, kMin2,
              kMax2 >> 10);
  mkb::print_checksum(h);
  return 0;
}
