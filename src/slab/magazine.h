// memkit — the per-thread magazine layer (src/slab/magazine.h)
//
// Bonwick & Adams 2001, with threads in place of CPUs. Each thread has, per cache, a CpuCache
// of two magazines (arrays of object pointers used as stacks): `loaded` and `previous`. Two
// magazines bound the miss rate at 1/M for any alloc/free pattern; a miss exchanges a whole
// magazine with the cache's depot (under the cache lock) or fills one from the slab layer.
//
//   alloc: loaded->rounds ? pop : swap with previous if it has rounds : depot full magazine :
//          fill from slabs
//   free:  loaded not full ? push : swap with previous if empty : hand loaded to the depot
//          and take an empty magazine
//
// A thread's CpuCaches live in chunks of 64 (by cache index) hanging off its ThreadCache, made
// on first use from bootstrap caches that have no magazine layer themselves; the first chunk
// (the reserved indices, kmalloc's classes) is inline in the ThreadCache. When the thread
// exits (pthread key destructor) its magazines go to the depots, so nothing it cached is lost,
// and memory it allocated can be freed by any thread at any time.
//
// Never-loaded CpuCaches point at one shared, zero-capacity sentinel magazine, and threads and
// chunks not made yet at sentinels too (below), so the fast paths test only `rounds`.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "slab/slab_cache.h"

#if defined(__GNUC__)
#define MK_LIKELY(x) __builtin_expect(!!(x), 1)
#define MK_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define MK_LIKELY(x) (x)
#define MK_UNLIKELY(x) (x)
#endif

namespace memkit {

struct Magazine {
  uint32_t rounds;    // while the magazine is a CpuCache's `loaded`, CpuCache::rounds counts
  uint32_t capacity;  // 0: the sentinel
  Magazine* next;     // depot lists
  void* slots[];      // capacity entries
};

// rounds / capacity: those of the loaded magazine, kept here while it is loaded (its own
// `rounds` is written back when it leaves: magazine.cpp's slow paths), so that a pop or a push
// reads the CpuCache's one cache line and the slot, never the magazine's header, which with
// many classes in use is the line that misses.
// allocs / frees: objects this thread took from / gave to the cache (fast and slow paths),
// plain words written only by their thread (the sentinels, never written, are never counted:
// a count follows a pop or push on a real magazine) and read racily by statistics; folded into
// the cache's totals when the thread exits.
struct alignas(64) CpuCache {
  uint32_t rounds;
  uint32_t capacity;
  Magazine* loaded;
  Magazine* previous;
  uint64_t allocs;
  uint64_t frees;
};

inline constexpr size_t kCpuCacheChunk = 64;

// Per-thread counters of the blocks the layers above hand out outside the slab caches (kmalloc's
// large blocks): thread-local words written only by their thread with relaxed atomic stores (no
// read-modify-write; slow paths only), read by statistics through the thread list, and folded
// into process totals when the thread exits.
struct ThreadStats {
  uint64_t allocs;
  uint64_t frees;
};

extern constinit thread_local ThreadStats t_thread_stats __attribute__((tls_model("initial-exec")));

inline void thread_stat_add(uint64_t* counter) {
  std::atomic_ref<uint64_t> c(*counter);
  c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

/// Counts a block of a thread that has no ThreadCache yet (process-wide atomics; slow paths).
void thread_stat_add_unlisted(bool alloc);

/// Every thread's ThreadStats: the live threads', those of threads that have exited, and the
/// blocks counted by thread_stat_add_unlisted.
ThreadStats thread_stats_total();

struct ThreadCache {
  // The CpuCaches of caches 0..63 (the reserved indices: kmalloc's classes), inline, so that
  // kmalloc's fast paths reach a class's CpuCache as t_hot.cache->first[class]; chunks[0]
  // points here (at g_no_cpu_caches in the sentinel thread cache).
  CpuCache first[kCpuCacheChunk];
  CpuCache* chunks[kMaxSlabCaches / kCpuCacheChunk];
  ThreadCache* next;  // registry of live thread caches
  ThreadCache* prev;
  ThreadStats* stats;  // the thread's t_thread_stats
  unsigned lane;       // the partial-slab lane its refills use (< kSlabLanes; 0 for the sentinel)
};

// Sentinels, so that the fast paths need no null tests: a thread without a ThreadCache points
// at g_no_thread_cache, and every chunk not made yet (all of g_no_thread_cache's) is
// g_no_cpu_caches, 64 CpuCaches whose magazines are the zero-capacity sentinel. A pop or a push
// there fails like on an empty or full magazine, and the slow path makes the real ones.
// Both are read by every thread and never written.
extern std::array<CpuCache, kCpuCacheChunk> g_no_cpu_caches;
extern ThreadCache g_no_thread_cache;

// The words every malloc reads, in one thread-local struct: in a shared library each
// thread-local variable costs its own load of its offset (from the GOT), so the two share one.
//   cache: the thread's ThreadCache (g_no_thread_cache until it has one);
//   sample_left: the heap profiler's countdown, bytes left to this thread's next sampled
//     allocation (src/profile/profile.h; 0 until the thread's first malloc starts it);
//   guard_left: the guard mode's countdown, allocations left before this thread's next
//     guarded one (src/malloc/guard.h; 0 until the thread's first malloc arms it).
// constinit: no TLS wrapper call on the fast paths; initial-exec: one %fs-relative load, also
// when memkit is a shared library (as malloc implementations do).
struct ThreadHot {
  ThreadCache* cache;
  int64_t sample_left;
  int64_t guard_left;
};
extern constinit thread_local ThreadHot t_hot __attribute__((tls_model("initial-exec")));

/// This thread's CpuCache for cache index i, made on first use (nullptr if that fails).
CpuCache* cpu_cache_slow(unsigned index);

inline CpuCache* cpu_cache(unsigned index) {
  CpuCache* chunk = t_hot.cache->chunks[index / kCpuCacheChunk];
  if (MK_LIKELY(chunk != g_no_cpu_caches.data())) return &chunk[index % kCpuCacheChunk];
  return cpu_cache_slow(index);
}

void* magazine_alloc_slow(SlabCache* cache, CpuCache* cc);
void magazine_free_slow(SlabCache* cache, CpuCache* cc, void* obj);

/// The magazine paths: one branch each, then the slow path.
inline void* magazine_alloc(SlabCache* cache) {
  CpuCache* cc = cpu_cache(cache->index());
  if (MK_UNLIKELY(cc == nullptr)) return nullptr;
  void* obj = MK_LIKELY(cc->rounds != 0) ? cc->loaded->slots[--cc->rounds]
                                          : magazine_alloc_slow(cache, cc);
  if (obj != nullptr) ++cc->allocs;
  return obj;
}

/// Returns false if the object could not be cached (no thread cache): the caller frees it to
/// the slab layer.
inline bool magazine_free(SlabCache* cache, void* obj) {
  CpuCache* cc = cpu_cache(cache->index());
  if (MK_UNLIKELY(cc == nullptr)) return false;
  ++cc->frees;
  if (MK_LIKELY(cc->rounds < cc->capacity)) {
    cc->loaded->slots[cc->rounds++] = obj;
    return true;
  }
  magazine_free_slow(cache, cc, obj);
  return true;
}

/// This thread's CpuCache for cache `index`, for the inline fast paths of SlabCache::alloc/free:
/// a pop if its loaded magazine has rounds, a push if it has room (and a count). When this
/// thread has no magazine for the cache yet, it is a sentinel whose magazine has neither, and
/// the caller takes its slow path as for an empty or full magazine. Never written unless the
/// magazine has rounds or room.
inline CpuCache& this_cpu_cache(unsigned index) {
  return t_hot.cache->chunks[index / kCpuCacheChunk][index % kCpuCacheChunk];
}

/// Moves this thread's magazines of `cache` to its depot (shrink; cache lock held).
void magazine_flush_this_thread_locked(SlabCache* cache);
/// Moves every thread's magazines of `cache` to its depot (destroy; no concurrent use).
void magazine_flush_all_threads(SlabCache* cache);
/// fork(): the thread-list lock (see registry_fork_prepare).
void magazine_fork_lock();
void magazine_fork_unlock();
/// Returns every object in the depot to the slabs and frees the depot's magazines
/// (cache lock held).
void magazine_drain_depot_locked(SlabCache* cache);
/// Idle decay of the depots (a round of the background purger; no memkit lock held): every
/// cache whose depot no magazine went into or out of since the previous round gives its full
/// magazines beyond the first few back to the slabs, and with them the empty slabs that leaves.
/// A depot keeps up to 512 KiB of objects for a program that frees and allocates in bursts;
/// once the bursts stop, that memory goes back.
void magazine_decay_depots();
/// A snapshot of `cache` across threads (exact when the other threads do not use the cache
/// meanwhile, as at exit): objects held in the magazines of every live thread, and the objects
/// taken from and given back to the cache by every thread (live ones and exited ones).
struct MagazineSnapshot {
  size_t cached;
  uint64_t allocs;
  uint64_t frees;
};
MagazineSnapshot magazine_snapshot(const SlabCache* cache);
/// Magazine capacity for objects of `size` bytes.
unsigned magazine_capacity_for(size_t size);
/// SlabCache::find_free for a cache with magazines: under the thread-list lock and the cache
/// lock, looks for p in every live thread's two magazines (read racily: exact when their
/// threads do not use p meanwhile), the depot's full magazines, and the free list of `slab`.
const char* magazine_find_free(SlabCache* cache, const PageDesc* slab, const void* p);

}  // namespace memkit
