// Benchmarks of BuddyAllocator (src/buddy/): the cost of one alloc/free pair per order, a mixed
// workload of random orders, and how that workload scales with the size of the range.
//
// The allocator never touches the pages it manages, so every range here is a fake, page-aligned
// base address (up to 16 GiB of 4 KiB pages) with its metadata in a std::vector.
//
//   BM_AllocFreePair/order   alloc_index + free_index of one order on a fresh 1 GiB range
//                            (split from an order-10 block, merged straight back)
//   BM_MixedOrders           1 GiB, about half in use: each step frees a block and allocates
//                            one of a random order (0..10, P ~ 2^-k) in its place
//   BM_RangeScaling/pages    the same steps over 16 MiB, 256 MiB, 4 GiB and 16 GiB. Each range
//                            is first brought to the same shape (half in use, holes all over),
//                            then the same fixed pool of blocks is churned by the same step
//                            sequence, so only the range size differs. The counter
//                            `vs_16MiB` is ops/s relative to the 16 MiB range (design goal:
//                            within 25 % up to 16 GiB, i.e. vs_16MiB >= 0.75).
//
// items_per_second counts allocator operations (an alloc and a free are two items).
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <vector>

#include "memkit/buddy.hpp"

namespace {

using memkit::BuddyAllocator;
using memkit::BuddyConfig;
using memkit::BuddyStatus;

constexpr uintptr_t kFakeBase = 0x100000000000;
constexpr size_t kPageSize = 4096;
constexpr unsigned kMaxOrder = memkit::kMaxPageOrder;
constexpr size_t kGiB = size_t{1} << 30;
constexpr size_t kMiB = size_t{1} << 20;

// A BuddyAllocator over a fake range of `pages` 4 KiB pages.
struct Range {
  std::vector<uint64_t> meta;
  BuddyAllocator a;

  explicit Range(size_t pages) : meta(BuddyAllocator::metadata_bytes(pages, kMaxOrder) / 8) {
    if (a.init(reinterpret_cast<void*>(kFakeBase), pages, BuddyConfig{kPageSize, kMaxOrder},
               meta.data(), meta.size() * sizeof(uint64_t)) != BuddyStatus::kOk)
      std::abort();
  }
};

// Orders 0..kMaxOrder with P(k) ~ 2^-k: the number of trailing zero bits of a random word,
// drawn again when above kMaxOrder.
unsigned random_order(std::mt19937_64& rng) {
  for (;;) {
    const auto k = static_cast<unsigned>(__builtin_ctzll(rng() | (uint64_t{1} << 63)));
    if (k <= kMaxOrder) return k;
  }
}

// Mean block size in pages under random_order(): sum(2^-k * 2^k) / sum(2^-k).
double mean_block_pages() {
  double num = 0, den = 0;
  for (unsigned k = 0; k <= kMaxOrder; ++k) {
    num += 1.0;
    den += 1.0 / static_cast<double>(1u << k);
  }
  return num / den;
}

// A set of live blocks ("slots"), churned by steps: free the block in a slot, allocate a block
// of the step's order into it. A slot whose allocation failed stays empty until its next turn.
struct Pool {
  std::vector<size_t> page;
  std::vector<unsigned> order;
  size_t failed = 0;  // allocations that found no block (in step())

  void fill(BuddyAllocator& a, size_t n, std::mt19937_64& rng) {
    for (size_t i = 0; i < n; ++i) {
      size_t p = BuddyAllocator::kNoPage;
      const unsigned k = random_order(rng);
      if (a.alloc_index(k, &p) != BuddyStatus::kOk) p = BuddyAllocator::kNoPage;
      page.push_back(p);
      order.push_back(k);
    }
  }

  // Returns the number of allocator operations done.
  size_t step(BuddyAllocator& a, size_t slot, unsigned new_order) {
    size_t ops = 0;
    if (page[slot] != BuddyAllocator::kNoPage) {
      a.free_index(page[slot], order[slot]);
      ++ops;
    }
    size_t p = BuddyAllocator::kNoPage;
    if (a.alloc_index(new_order, &p) != BuddyStatus::kOk) {
      p = BuddyAllocator::kNoPage;
      ++failed;
    }
    benchmark::DoNotOptimize(p);
    page[slot] = p;
    order[slot] = new_order;
    return ops + 1;
  }
};

struct Step {
  uint32_t slot;
  uint8_t order;
};

// A fixed sequence of steps over `slots` slots.
std::vector<Step> make_steps(size_t slots, size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<size_t> pick(0, slots - 1);
  std::vector<Step> steps(n);
  for (Step& s : steps)
    s = {static_cast<uint32_t>(pick(rng)), static_cast<uint8_t>(random_order(rng))};
  return steps;
}

// Runs the steps round and round while the benchmark wants; returns allocator ops done.
size_t churn(benchmark::State& state, BuddyAllocator& a, Pool& pool,
             const std::vector<Step>& steps) {
  size_t ops = 0;
  size_t i = 0;
  for (auto _ : state) {
    const Step s = steps[i];
    ops += pool.step(a, s.slot, s.order);
    if (++i == steps.size()) i = 0;
  }
  return ops;
}

// ---------------------------------------------------------------------------------------------

void BM_AllocFreePair(benchmark::State& state) {
  const auto order = static_cast<unsigned>(state.range(0));
  Range r(kGiB / kPageSize);
  for (auto _ : state) {
    size_t page;
    r.a.alloc_index(order, &page);
    benchmark::DoNotOptimize(page);
    r.a.free_index(page, order);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * 2);
}
BENCHMARK(BM_AllocFreePair)->Arg(0)->Arg(3)->Arg(6)->Arg(10);

void BM_MixedOrders(benchmark::State& state) {
  const size_t pages = kGiB / kPageSize;
  Range r(pages);
  std::mt19937_64 rng(1);
  Pool pool;
  const auto slots = static_cast<size_t>(static_cast<double>(pages) / 2 / mean_block_pages());
  pool.fill(r.a, slots, rng);
  const std::vector<Step> steps = make_steps(slots, size_t{1} << 18, 2);
  for (const Step& s : steps) pool.step(r.a, s.slot, s.order);  // reach a fragmented steady state
  const size_t ops = churn(state, r.a, pool, steps);
  state.SetItemsProcessed(static_cast<int64_t>(ops));
  state.counters["in_use"] =
      1.0 - static_cast<double>(r.a.free_pages()) / static_cast<double>(pages);
}
BENCHMARK(BM_MixedOrders);

// Ops/s of the 16 MiB run, the reference for `vs_16MiB`.
double g_rate_16mib = 0;

void BM_RangeScaling(benchmark::State& state) {
  const auto pages = static_cast<size_t>(state.range(0));
  Range r(pages);
  std::mt19937_64 rng(3);

  // The timed work churns the same pool with the same steps for every range; around it, the
  // range is given one shape: blocks of random orders allocated, then a random sixth of them
  // freed again, so that with the pool about half the range is in use, holes all over.
  constexpr size_t kSlots = 128;
  const double pool_pages = kSlots * mean_block_pages();
  const double background_pages = (static_cast<double>(pages) * 0.5 - pool_pages) * 6 / 5;
  const auto fill = static_cast<size_t>(background_pages / mean_block_pages());
  Pool background;
  background.fill(r.a, fill, rng);
  for (size_t i = 0; i < fill; ++i)
    if (rng() % 6 == 0 && background.page[i] != BuddyAllocator::kNoPage)
      r.a.free_index(background.page[i], background.order[i]);

  Pool pool;
  pool.fill(r.a, kSlots, rng);
  const std::vector<Step> steps = make_steps(kSlots, size_t{1} << 16, 4);
  for (const Step& s : steps) pool.step(r.a, s.slot, s.order);

  pool.failed = 0;
  const auto t0 = std::chrono::steady_clock::now();
  const size_t ops = churn(state, r.a, pool, steps);
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  state.SetItemsProcessed(static_cast<int64_t>(ops));
  state.counters["in_use"] =
      1.0 - static_cast<double>(r.a.free_pages()) / static_cast<double>(pages);
  state.counters["failed_allocs"] =
      static_cast<double>(pool.failed) / static_cast<double>(state.iterations());
  const double rate = static_cast<double>(ops) / secs;
  if (pages == 16 * kMiB / kPageSize) g_rate_16mib = rate;
  if (g_rate_16mib > 0) state.counters["vs_16MiB"] = rate / g_rate_16mib;
}
BENCHMARK(BM_RangeScaling)
    ->Arg(16 * kMiB / kPageSize)
    ->Arg(256 * kMiB / kPageSize)
    ->Arg(4 * kGiB / kPageSize)
    ->Arg(16 * kGiB / kPageSize);

}  // namespace

BENCHMARK_MAIN();
