// Micro-benchmarks of the object caches (src/slab/) against the usual ways to get fixed-size
// objects, in one run:
//
//   Slab        mk_cache_alloc / mk_cache_free on one cache shared by all threads (each
//               thread has its own magazines)
//   Malloc      glibc malloc / free of the same size
//   PmrUnsync   std::pmr::unsynchronized_pool_resource: not thread-safe, so each thread has
//               its own instance (over new/delete)
//   PmrSync     std::pmr::synchronized_pool_resource: one instance shared by all threads
//   BoostPool   boost::object_pool<T>::malloc / free: not thread-safe, so each thread has its
//               own pool (its free() is ordered_free: a walk of the free list)
//
// for objects of 64 and 256 bytes, as
//
//   BM_Pair     one alloc, then its free (the object goes straight back)
//   BM_Batch    100 allocs, then the 100 frees in allocation order (FIFO)
//
// with 1 and 2 threads. Each iteration of BM_Batch is 100 pairs; the `per_pair` counter (CPU
// time per alloc/free pair on each thread) puts both on the same scale, and stays meaningful
// on a loaded machine where wall time does not. The pointer escapes through
// benchmark::DoNotOptimize so that the compiler cannot drop a malloc/free pair.
//
//   bin/bench_slab [--benchmark_filter=...] [--benchmark_repetitions=N]
#include <benchmark/benchmark.h>

#include <boost/pool/object_pool.hpp>

#include <cstddef>
#include <cstdlib>
#include <memory_resource>

#include "memkit/memkit.h"

namespace {

template <size_t N>
struct Obj {
  alignas(8) unsigned char bytes[N];
};

constexpr int kBatch = 100;

// ---- the allocators, one object per benchmark thread ----

template <size_t N>
class Slab {
 public:
  static constexpr size_t kSize = N;
  void* alloc() { return mk_cache_alloc(cache(), 0); }
  void free(void* p) { mk_cache_free(cache(), p); }

 private:
  static mk_cache_t* cache() {
    static mk_cache_t* const c = mk_cache_create(N == 64 ? "bench_slab_64" : "bench_slab_256",
                                                 N, 0, 0, nullptr);
    return c;
  }
};

template <size_t N>
class Malloc {
 public:
  static constexpr size_t kSize = N;
  void* alloc() { return std::malloc(N); }
  void free(void* p) { std::free(p); }
};

template <size_t N>
class PmrUnsync {
 public:
  static constexpr size_t kSize = N;
  void* alloc() { return pool_.allocate(N, alignof(Obj<N>)); }
  void free(void* p) { pool_.deallocate(p, N, alignof(Obj<N>)); }

 private:
  std::pmr::unsynchronized_pool_resource pool_;  // this thread's own
};

template <size_t N>
class PmrSync {
 public:
  static constexpr size_t kSize = N;
  void* alloc() { return pool().allocate(N, alignof(Obj<N>)); }
  void free(void* p) { pool().deallocate(p, N, alignof(Obj<N>)); }

 private:
  static std::pmr::synchronized_pool_resource& pool() {
    static std::pmr::synchronized_pool_resource shared;  // one for all threads
    return shared;
  }
};

template <size_t N>
class BoostPool {
 public:
  static constexpr size_t kSize = N;
  void* alloc() { return pool_.malloc(); }
  void free(void* p) { pool_.free(static_cast<Obj<N>*>(p)); }

 private:
  boost::object_pool<Obj<N>> pool_;  // this thread's own
};

// ---- the benchmarks ----

template <class A>
void BM_Pair(benchmark::State& state) {
  A a;
  a.free(a.alloc());  // warm up: the first slab / chunk / block
  for (auto _ : state) {
    void* p = a.alloc();
    benchmark::DoNotOptimize(p);
    a.free(p);
  }
  state.counters["per_pair"] = benchmark::Counter(
      static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.SetItemsProcessed(state.iterations());
}

template <class A>
void BM_Batch(benchmark::State& state) {
  A a;
  void* v[kBatch];
  for (auto _ : state) {
    for (int i = 0; i < kBatch; ++i) {
      v[i] = a.alloc();
      benchmark::DoNotOptimize(v[i]);
    }
    benchmark::ClobberMemory();
    for (int i = 0; i < kBatch; ++i) a.free(v[i]);
  }
  state.counters["per_pair"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * kBatch,
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.SetItemsProcessed(state.iterations() * kBatch);
}

#define MK_BENCH_ALL(Alloc)                                              \
  BENCHMARK_TEMPLATE(BM_Pair, Alloc<64>)->Threads(1)->Threads(2);        \
  BENCHMARK_TEMPLATE(BM_Pair, Alloc<256>)->Threads(1)->Threads(2);       \
  BENCHMARK_TEMPLATE(BM_Batch, Alloc<64>)->Threads(1)->Threads(2);       \
  BENCHMARK_TEMPLATE(BM_Batch, Alloc<256>)->Threads(1)->Threads(2)

MK_BENCH_ALL(Slab);
MK_BENCH_ALL(Malloc);
MK_BENCH_ALL(PmrUnsync);
MK_BENCH_ALL(PmrSync);
MK_BENCH_ALL(BoostPool);

}  // namespace

BENCHMARK_MAIN();
