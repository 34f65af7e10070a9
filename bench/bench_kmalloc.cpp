// Micro-benchmarks of kmalloc (src/kmalloc/) against glibc malloc, in the same run:
//
//   BM_Kmalloc_Pair / BM_Malloc_Pair        one alloc + free pair of a fixed size (8 B ... 32 KiB,
//                                           the slab classes; 64 KiB and 256 KiB as large blocks)
//   BM_Kmalloc_Batch / BM_Malloc_Batch      256 blocks of a fixed size held, then freed (the
//                                           magazine/depot and slab layers, not one bouncing
//                                           object)
//   BM_Kmalloc_Mix / BM_Malloc_Mix          a working set of 1024 blocks, each iteration frees a
//                                           random one and allocates a random size (8 B ... 32 KiB,
//                                           log-uniform) in its place
//
// each with 1 and 2 threads (the threads share the allocator, not their blocks). Items are
// pairs (one alloc + one free). The block is touched (one byte written) so that neither side
// gets away without handing out real memory.
//
//   build/release/bin/bench_kmalloc --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <random>
#include <vector>

#include "memkit/memkit.h"

namespace {

struct Kmalloc {
  static void* alloc(size_t n) { return mk_kmalloc(n, 0); }
  static void release(void* p) { mk_kfree(p); }
};

struct Malloc {
  static void* alloc(size_t n) { return std::malloc(n); }
  static void release(void* p) { std::free(p); }
};

template <class A>
void BM_Pair(benchmark::State& state) {
  const auto n = static_cast<size_t>(state.range(0));
  A::release(A::alloc(n));  // warm up: caches, slabs, arenas
  for (auto _ : state) {
    void* p = A::alloc(n);
    if (p == nullptr) {
      state.SkipWithError("allocation failed");
      break;
    }
    static_cast<volatile char*>(p)[0] = 1;
    A::release(p);
  }
  state.SetItemsProcessed(state.iterations());
}

template <class A>
void BM_Batch(benchmark::State& state) {
  const auto n = static_cast<size_t>(state.range(0));
  constexpr size_t kBatch = 256;
  void* blocks[kBatch];
  for (auto _ : state) {
    for (size_t i = 0; i < kBatch; ++i) {
      blocks[i] = A::alloc(n);
      static_cast<volatile char*>(blocks[i])[0] = 1;
    }
    for (size_t i = 0; i < kBatch; ++i) A::release(blocks[i]);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kBatch));
}

// Log-uniform sizes 8 .. 32 KiB, the same sequence for both allocators.
std::vector<size_t> mix_sizes(uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<size_t> sizes(1 << 16);
  for (size_t& s : sizes) {
    const unsigned shift = 3 + static_cast<unsigned>(rng() % 13);  // 8 .. 32 KiB
    s = (size_t{1} << shift) + rng() % (size_t{1} << shift);
    if (s > 32768) s = 32768;
  }
  return sizes;
}

template <class A>
void BM_Mix(benchmark::State& state) {
  const std::vector<size_t> sizes = mix_sizes(1234 + static_cast<uint64_t>(state.thread_index()));
  constexpr size_t kLive = 1024;
  std::vector<void*> live(kLive);
  for (size_t i = 0; i < kLive; ++i) live[i] = A::alloc(sizes[i]);
  size_t k = kLive;
  uint32_t x = 2463534242u + static_cast<uint32_t>(state.thread_index());
  for (auto _ : state) {
    x ^= x << 13;  // xorshift32: a victim without a call
    x ^= x >> 17;
    x ^= x << 5;
    const size_t victim = x & (kLive - 1);
    A::release(live[victim]);
    void* p = A::alloc(sizes[k++ & (sizes.size() - 1)]);
    static_cast<volatile char*>(p)[0] = 1;
    live[victim] = p;
  }
  for (void* p : live) A::release(p);
  state.SetItemsProcessed(state.iterations());
}

void pair_args(benchmark::internal::Benchmark* b) {
  for (int64_t n : {8, 16, 64, 256, 1024, 4096, 16384, 32768, 65536, 262144}) b->Arg(n);
}
void batch_args(benchmark::internal::Benchmark* b) {
  for (int64_t n : {16, 256, 4096, 32768}) b->Arg(n);
}

void BM_Kmalloc_Pair(benchmark::State& s) { BM_Pair<Kmalloc>(s); }
void BM_Malloc_Pair(benchmark::State& s) { BM_Pair<Malloc>(s); }
void BM_Kmalloc_Batch(benchmark::State& s) { BM_Batch<Kmalloc>(s); }
void BM_Malloc_Batch(benchmark::State& s) { BM_Batch<Malloc>(s); }
void BM_Kmalloc_Mix(benchmark::State& s) { BM_Mix<Kmalloc>(s); }
void BM_Malloc_Mix(benchmark::State& s) { BM_Mix<Malloc>(s); }

BENCHMARK(BM_Kmalloc_Pair)->Apply(pair_args)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_Malloc_Pair)->Apply(pair_args)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_Kmalloc_Batch)->Apply(batch_args)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_Malloc_Batch)->Apply(batch_args)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_Kmalloc_Mix)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_Malloc_Mix)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
