// Micro-benchmarks of memory pools (src/mempool/): the mk_mempool_alloc/mk_mempool_free pair
// over a slab-cache backing and over kmalloc, against the bare mk_cache_alloc/mk_cache_free and
// mk_kmalloc/mk_kfree pairs (the pool's cost when the backing succeeds: one indirect call each
// way, two relaxed counters and the unlocked reserve peek), and the reserve path (a backing that
// always fails: two backing calls, the pool lock, a pop and a push).
//
//   build/release/bin/bench_mempool [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include "memkit/memkit.h"

namespace {

constexpr size_t kSize = 128;

mk_cache_t* bench_cache() {
  static mk_cache_t* cache = mk_cache_create("bench_mempool", kSize, 0, 0, nullptr);
  return cache;
}

void BM_CachePair(benchmark::State& state) {
  mk_cache_t* cache = bench_cache();
  for (auto _ : state) {
    void* p = mk_cache_alloc(cache, 0);
    benchmark::DoNotOptimize(p);
    mk_cache_free(cache, p);
  }
}
BENCHMARK(BM_CachePair);

void BM_MempoolSlabPair(benchmark::State& state) {
  mk_mempool_t* pool = mk_mempool_create_slab_pool(16, bench_cache());
  for (auto _ : state) {
    void* p = mk_mempool_alloc(pool, MK_GFP_WAIT);
    benchmark::DoNotOptimize(p);
    mk_mempool_free(p, pool);
  }
  mk_mempool_destroy(pool);
}
BENCHMARK(BM_MempoolSlabPair);

void BM_KmallocPair(benchmark::State& state) {
  for (auto _ : state) {
    void* p = mk_kmalloc(kSize, 0);
    benchmark::DoNotOptimize(p);
    mk_kfree(p);
  }
}
BENCHMARK(BM_KmallocPair);

void BM_MempoolKmallocPair(benchmark::State& state) {
  mk_mempool_t* pool = mk_mempool_create_kmalloc_pool(16, kSize);
  for (auto _ : state) {
    void* p = mk_mempool_alloc(pool, MK_GFP_WAIT);
    benchmark::DoNotOptimize(p);
    mk_mempool_free(p, pool);
  }
  mk_mempool_destroy(pool);
}
BENCHMARK(BM_MempoolKmallocPair);

// The reserve path: the backing fails, the element comes from the reserve and goes back to it.
char g_elements[16][kSize];
int g_next = 0;
void* fill_then_fail(unsigned, void*) { return g_next < 16 ? g_elements[g_next++] : nullptr; }
void no_free(void*, void*) {}

void BM_MempoolReservePair(benchmark::State& state) {
  g_next = 0;
  mk_mempool_t* pool = mk_mempool_create(16, fill_then_fail, no_free, nullptr);
  for (auto _ : state) {
    void* p = mk_mempool_alloc(pool, MK_GFP_WAIT);
    benchmark::DoNotOptimize(p);
    mk_mempool_free(p, pool);
  }
  mk_mempool_destroy(pool);
}
BENCHMARK(BM_MempoolReservePair);

}  // namespace

BENCHMARK_MAIN();
