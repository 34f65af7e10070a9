// Micro-benchmarks of the page heap (src/arena/page_heap.h): an alloc_pages/free_pages pair
// of order 0, 3 and 10 on a PageHeap with decay -1 (no purging: the OS stays out of the loop),
// with 1 and 2 threads sharing the heap (2 threads measure the per-arena lock under contention),
// and the C API pair mk_alloc_pages/mk_free_pages of order 0 on the global heap.
//
//   build/release/bin/bench_page_heap [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <cstdlib>

#include "arena/page_heap.h"
#include "memkit/memkit.h"

namespace {

using memkit::PageHeap;
using memkit::PageHeapConfig;

PageHeap& bench_heap() {
  // One heap for every benchmark (threads of a multi-threaded run share it); never destroyed.
  static PageHeap* heap = [] {
    PageHeapConfig c;
    c.arena.size = size_t{256} << 20;
    c.arena.page_shift = 12;
    c.arena.max_order = memkit::kMaxPageOrder;
    c.decay_ms = -1;
    c.release_arenas = false;
    return new PageHeap(memkit::os::system_os(), c);
  }();
  return *heap;
}

void BM_PageHeapAllocFree(benchmark::State& state) {
  const auto order = static_cast<unsigned>(state.range(0));
  PageHeap& heap = bench_heap();
  // Warm up: the first block of the order makes the arena and faults its metadata in.
  heap.free_pages(heap.alloc_pages(order, 0), order);
  for (auto _ : state) {
    void* p = heap.alloc_pages(order, 0);
    if (p == nullptr) {
      state.SkipWithError("alloc_pages failed");
      break;
    }
    benchmark::DoNotOptimize(p);
    if (heap.free_pages(p, order) != memkit::BuddyStatus::kOk) {
      state.SkipWithError("free_pages refused");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PageHeapAllocFree)->Arg(0)->Arg(3)->Arg(10)->Threads(1)->Threads(2)->UseRealTime();

// A batch of 64 blocks held at once, then freed: splits and merges, not just one block
// bouncing between a free list and the caller.
void BM_PageHeapBatch64(benchmark::State& state) {
  const auto order = static_cast<unsigned>(state.range(0));
  PageHeap& heap = bench_heap();
  void* blocks[64];
  for (auto _ : state) {
    for (void*& p : blocks) p = heap.alloc_pages(order, 0);
    for (void* p : blocks) heap.free_pages(p, order);
  }
  state.SetItemsProcessed(state.iterations() * 64);
}
BENCHMARK(BM_PageHeapBatch64)->Arg(0)->Arg(3)->Threads(1)->Threads(2)->UseRealTime();

void BM_CapiAllocFreeOrder0(benchmark::State& state) {
  mk_free_pages(mk_alloc_pages(0, 0), 0);
  for (auto _ : state) {
    void* p = mk_alloc_pages(MK_GFP_KERNEL, 0);
    benchmark::DoNotOptimize(p);
    mk_free_pages(p, 0);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CapiAllocFreeOrder0)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
