// memkit — the per-thread magazine layer (src/slab/magazine.cpp): the slow paths, thread
// caches, and draining.
#include "slab/magazine.h"

#include <pthread.h>

#include <atomic>
#include <utility>

#include "arena/background_purge.h"
#include "slab/registry.h"

namespace memkit {

namespace {

// Full magazines a depot keeps before it gives one back to the slabs: as many as hold
// kDepotBytes of objects, within kDepotMinFull..kDepotMaxFull. A program that allocates a few
// thousand small blocks and then frees them all (a container built and torn down) cycles them
// through the depot instead of through the slab lock one object at a time: with 4 magazines a
// depot, glibc_simple's batches of 1,600 blocks on two threads spent a quarter of their time in
// the slab lock and the futex behind it.
constexpr size_t kDepotBytes = size_t{512} << 10;
constexpr size_t kDepotMinFull = 4;
constexpr size_t kDepotMaxFull = 64;
constexpr size_t kDepotMaxEmpty = 16;

size_t depot_max_full(const SlabCache* cache) {
  const size_t per_magazine = size_t{cache->magazine_size_} * cache->object_size();
  const size_t n = per_magazine == 0 ? kDepotMinFull : kDepotBytes / per_magazine;
  return n < kDepotMinFull ? kDepotMinFull : n > kDepotMaxFull ? kDepotMaxFull : n;
}

Magazine g_sentinel = {0, 0, nullptr};

constexpr std::array<CpuCache, kCpuCacheChunk> make_no_cpu_caches() {
  std::array<CpuCache, kCpuCacheChunk> a{};
  for (CpuCache& c : a) c = CpuCache{0, 0, &g_sentinel, &g_sentinel, 0, 0};
  return a;
}

pthread_mutex_t g_threads_lock = PTHREAD_MUTEX_INITIALIZER;
ThreadCache* g_threads = nullptr;  // live thread caches, under g_threads_lock
ThreadStats g_exited_stats = {0, 0};  // counters of threads gone, under g_threads_lock
pthread_key_t g_key;
std::atomic<unsigned> g_next_lane{0};  // threads take the lanes in turn
pthread_once_t g_key_once = PTHREAD_ONCE_INIT;

struct LockGuard {
  explicit LockGuard(pthread_mutex_t* m) : m_(m) { pthread_mutex_lock(m_); }
  ~LockGuard() { pthread_mutex_unlock(m_); }
  LockGuard(const LockGuard&) = delete;
  LockGuard& operator=(const LockGuard&) = delete;
  pthread_mutex_t* m_;
};

bool is_real(const Magazine* m) { return m->capacity != 0; }

Magazine* new_magazine(SlabCache* cache) {
  const unsigned cap = cache->magazine_size_;
  Magazine* m = static_cast<Magazine*>(magazine_cache(cap)->alloc(0));
  if (m == nullptr) return nullptr;
  m->rounds = 0;
  m->capacity = cap;
  m->next = nullptr;
  return m;
}

void delete_magazine(Magazine* m) { magazine_cache(m->capacity)->free(m, "magazine_free"); }

void depot_put_locked(SlabCache* cache, Magazine* m);

// Gives full magazines' objects back to the slabs (cache lock held) until `keep` remain,
// the one put last first; the magazines go on as empty ones.
void trim_full_locked(SlabCache* cache, size_t keep) {
  while (cache->depot_full_count_ > keep) {
    Magazine* victim = cache->depot_full_;
    cache->depot_full_ = victim->next;
    --cache->depot_full_count_;
    cache->free_batch_locked(victim->slots, victim->rounds);  // reaps empty slabs beyond a few
    victim->rounds = 0;
    depot_put_locked(cache, victim);
  }
}

// Puts a magazine in the depot (cache lock held): with rounds on the full list, else on the
// empty list; beyond the limits its objects go back to the slabs and the magazine is freed.
void depot_put_locked(SlabCache* cache, Magazine* m) {
  if (!is_real(m)) return;
  if (m->rounds != 0) {
    // Room first: beyond the bound, the full magazine put before this one goes back to the
    // slabs, so that this one, the hottest, stays.
    trim_full_locked(cache, depot_max_full(cache) - 1);
    cache->depot_used_ = true;
    m->next = cache->depot_full_;
    cache->depot_full_ = m;
    ++cache->depot_full_count_;
    return;
  }
  if (cache->depot_empty_count_ < kDepotMaxEmpty) {
    m->next = cache->depot_empty_;
    cache->depot_empty_ = m;
    ++cache->depot_empty_count_;
    return;
  }
  delete_magazine(m);
}

Magazine* depot_take_full_locked(SlabCache* cache) {
  Magazine* m = cache->depot_full_;
  if (m != nullptr) {
    cache->depot_full_ = m->next;
    --cache->depot_full_count_;
    cache->depot_used_ = true;
  }
  return m;
}

Magazine* depot_take_empty_locked(SlabCache* cache) {
  Magazine* m = cache->depot_empty_;
  if (m != nullptr) {
    cache->depot_empty_ = m->next;
    --cache->depot_empty_count_;
  }
  return m;
}

// The loaded magazine's count lives in the CpuCache while it is loaded (magazine.h): spill
// writes it back to the magazine before the slow paths work on Magazine structs, fill takes
// the (possibly new) loaded magazine's count and capacity up again.
//
// Between the two the CpuCache's count reads 0, and fill stores it only once loaded is final:
// another thread's double-free search (magazine_find_free) reads loaded, then the count, then
// loaded again, so it never pairs a magazine with another magazine's count (which would make
// it read slots beyond the magazine's rounds: blocks handed out since, a false report).
void spill(CpuCache* cc) {
  if (is_real(cc->loaded)) cc->loaded->rounds = cc->rounds;
  std::atomic_ref<uint32_t>(cc->rounds).store(0, std::memory_order_release);
}
void fill(CpuCache* cc) {
  cc->capacity = cc->loaded->capacity;
  std::atomic_ref<uint32_t>(cc->rounds).store(cc->loaded->rounds, std::memory_order_release);
}

// Hands a CpuCache's magazines to its cache's depot and resets it to the sentinel; its
// counts go to the cache's totals.
void flush_cpu_cache_locked(SlabCache* cache, CpuCache* cc) {
  spill(cc);
  cc->rounds = cc->capacity = 0;
  depot_put_locked(cache, cc->loaded);
  depot_put_locked(cache, cc->previous);
  cc->loaded = cc->previous = &g_sentinel;
  cache->exited_allocs_ += cc->allocs;
  cache->exited_frees_ += cc->frees;
  cc->allocs = cc->frees = 0;
}

void flush_cpu_cache(SlabCache* cache, CpuCache* cc) {
  LockGuard guard(&cache->lock_);
  flush_cpu_cache_locked(cache, cc);
}

struct FlushCtx {
  ThreadCache* tc;
};

void flush_thread_cache_for(SlabCache* cache, void* ctx) {
  ThreadCache* tc = static_cast<FlushCtx*>(ctx)->tc;
  // Another thread's chunk (mk_cache_destroy): published with release by cpu_cache_slow.
  CpuCache* chunk = std::atomic_ref<CpuCache*>(tc->chunks[cache->index() / kCpuCacheChunk])
                        .load(std::memory_order_acquire);
  if (chunk == g_no_cpu_caches.data() || cache->magazine_size_ == 0) return;
  CpuCache* cc = &chunk[cache->index() % kCpuCacheChunk];
  if (is_real(cc->loaded) || is_real(cc->previous) || cc->allocs != 0 || cc->frees != 0)
    flush_cpu_cache(cache, cc);
}

// The pthread key destructor: everything the exiting thread cached goes to the depots.
void thread_exit(void* arg) {
  ThreadCache* tc = static_cast<ThreadCache*>(arg);
  {
    // Unlinked and flushed in one hold of g_threads_lock, so that a concurrent
    // mk_cache_destroy (which flushes every listed thread under that lock) either flushes
    // this thread's magazines itself or finds them in the depot; never neither.
    LockGuard guard(&g_threads_lock);
    if (tc->prev != nullptr) tc->prev->next = tc->next; else g_threads = tc->next;
    if (tc->next != nullptr) tc->next->prev = tc->prev;
    // The counters go to the totals in the same hold, so a reader counts them exactly once.
    // Should the thread call in again (a later TLS destructor), a new ThreadCache picks up
    // from zero and is folded in at its own exit.
    std::atomic_ref<uint64_t> allocs(t_thread_stats.allocs), frees(t_thread_stats.frees);
    g_exited_stats.allocs += allocs.load(std::memory_order_relaxed);
    g_exited_stats.frees += frees.load(std::memory_order_relaxed);
    allocs.store(0, std::memory_order_relaxed);
    frees.store(0, std::memory_order_relaxed);
    FlushCtx ctx{tc};
    registry_for_each(flush_thread_cache_for, &ctx);
  }
  SlabCache* chunks = bootstrap_cache(Bootstrap::kCpuCache);
  for (CpuCache*& chunk : tc->chunks) {
    if (chunk != g_no_cpu_caches.data() && chunk != tc->first) chunks->free(chunk, "thread_exit");
    chunk = g_no_cpu_caches.data();
  }
  t_hot.cache = &g_no_thread_cache;
  bootstrap_cache(Bootstrap::kThread)->free(tc, "thread_exit");
}

void make_key() { pthread_key_create(&g_key, thread_exit); }

}  // namespace

constinit std::array<CpuCache, kCpuCacheChunk> g_no_cpu_caches = make_no_cpu_caches();
constinit ThreadCache g_no_thread_cache = [] {
  ThreadCache t{};
  for (CpuCache& cc : t.first) cc = CpuCache{0, 0, &g_sentinel, &g_sentinel, 0, 0};
  for (CpuCache*& chunk : t.chunks) chunk = g_no_cpu_caches.data();
  return t;
}();
constinit thread_local ThreadHot t_hot = {&g_no_thread_cache, 0, 0};
constinit thread_local ThreadStats t_thread_stats = {0, 0};

namespace {
std::atomic<uint64_t> g_unlisted_allocs{0};
std::atomic<uint64_t> g_unlisted_frees{0};
}  // namespace

void thread_stat_add_unlisted(bool alloc) {
  (alloc ? g_unlisted_allocs : g_unlisted_frees).fetch_add(1, std::memory_order_relaxed);
}

ThreadStats thread_stats_total() {
  LockGuard guard(&g_threads_lock);
  ThreadStats sum = g_exited_stats;
  sum.allocs += g_unlisted_allocs.load(std::memory_order_relaxed);
  sum.frees += g_unlisted_frees.load(std::memory_order_relaxed);
  for (ThreadCache* tc = g_threads; tc != nullptr; tc = tc->next) {
    sum.allocs += std::atomic_ref<uint64_t>(tc->stats->allocs).load(std::memory_order_relaxed);
    sum.frees += std::atomic_ref<uint64_t>(tc->stats->frees).load(std::memory_order_relaxed);
  }
  return sum;
}

// Reads other threads' CpuCaches, which they write without atomics (their fast paths): a
// snapshot for statistics, exact when they are quiet, so not a race worth reporting.
__attribute__((no_sanitize("thread"))) MagazineSnapshot magazine_snapshot(const SlabCache* cache) {
  MagazineSnapshot snap{0, 0, 0};
  if (cache->magazine_size_ == 0) return snap;
  LockGuard guard(&g_threads_lock);
  {
    LockGuard cache_guard(&const_cast<SlabCache*>(cache)->lock_);
    snap.allocs = cache->exited_allocs_;
    snap.frees = cache->exited_frees_;
  }
  for (ThreadCache* tc = g_threads; tc != nullptr; tc = tc->next) {
    CpuCache* chunk = std::atomic_ref<CpuCache*>(tc->chunks[cache->index() / kCpuCacheChunk])
                          .load(std::memory_order_acquire);
    if (chunk == g_no_cpu_caches.data()) continue;
    const CpuCache& cc = chunk[cache->index() % kCpuCacheChunk];
    snap.cached += cc.rounds + cc.previous->rounds;
    snap.allocs += cc.allocs;
    snap.frees += cc.frees;
  }
  return snap;
}

namespace {

// Whether p is among the first `rounds` slots of m (racy reads of another thread's magazine:
// rounds is bounded by the capacity, so a torn count reads no further than the magazine).
__attribute__((no_sanitize("thread"))) bool magazine_holds(const Magazine* m, uint32_t rounds,
                                                           const void* p) {
  const uint32_t n = rounds < m->capacity ? rounds : m->capacity;
  for (uint32_t i = 0; i < n; ++i)
    if (m->slots[i] == p) return true;
  return false;
}

}  // namespace

// A read of another thread's word, in program order with the others (volatile: the compiler
// keeps the order, and x86 loads are not reordered with loads), and not instrumented, as the
// functions that use it: atomics there would be checked against the owner's plain writes.
template <typename T>
__attribute__((always_inline, no_sanitize("thread"))) inline T racy_read(const T& x) {
  const T v = *static_cast<const volatile T*>(&x);
  std::atomic_signal_fence(std::memory_order_acquire);
  return v;
}

// Other threads' CpuCaches are read as magazine_snapshot reads them. Their magazines cannot be
// freed meanwhile: magazines are freed only under the cache lock, held here.
__attribute__((no_sanitize("thread"))) const char* magazine_find_free(SlabCache* cache,
                                                                      const PageDesc* slab,
                                                                      const void* p) {
  LockGuard guard(&g_threads_lock);
  LockGuard cache_guard(&cache->lock_);
  for (ThreadCache* tc = g_threads; tc != nullptr; tc = tc->next) {
    CpuCache* chunk = std::atomic_ref<CpuCache*>(tc->chunks[cache->index() / kCpuCacheChunk])
                          .load(std::memory_order_acquire);
    if (chunk == g_no_cpu_caches.data()) continue;
    const CpuCache& cc = chunk[cache->index() % kCpuCacheChunk];
    // A consistent view of a thread that may be in its slow path (see spill/fill): loaded and
    // previous unchanged around the counts; retried a few times, else that thread is skipped
    // (a missed report in a race, never a false one).
    for (int attempt = 0; attempt < 16; ++attempt) {
      const Magazine* loaded = racy_read(cc.loaded);
      const Magazine* previous = racy_read(cc.previous);
      const uint32_t rounds = racy_read(cc.rounds);
      const uint32_t previous_rounds = racy_read(previous->rounds);
      if (racy_read(cc.loaded) != loaded || racy_read(cc.previous) != previous) continue;
      if (magazine_holds(loaded, rounds, p) || magazine_holds(previous, previous_rounds, p))
        return tc == t_hot.cache ? "in this thread's magazine" : "in another thread's magazine";
      break;
    }
  }
  for (const Magazine* m = cache->depot_full_; m != nullptr; m = m->next)
    if (magazine_holds(m, m->rounds, p)) return "in the depot";
  return cache->on_free_list_locked(slab, p) ? "on its slab's free list" : nullptr;
}

unsigned magazine_capacity_for(size_t size) {
  if (size <= 256) return 64;
  if (size <= 2048) return 32;
  if (size <= 8192) return 16;
  return 8;
}

CpuCache* cpu_cache_slow(unsigned index) {
  ThreadCache* tc = t_hot.cache;
  if (tc == &g_no_thread_cache) {
    pthread_once(&g_key_once, make_key);
    tc = static_cast<ThreadCache*>(bootstrap_cache(Bootstrap::kThread)->alloc(0));
    if (tc == nullptr) return nullptr;
    for (CpuCache& cc : tc->first) cc = CpuCache{0, 0, &g_sentinel, &g_sentinel, 0, 0};
    for (CpuCache*& chunk : tc->chunks) chunk = g_no_cpu_caches.data();
    tc->chunks[0] = tc->first;
    tc->stats = &t_thread_stats;
    tc->lane = g_next_lane.fetch_add(1, std::memory_order_relaxed) % kSlabLanes;
    {
      LockGuard guard(&g_threads_lock);
      tc->prev = nullptr;
      tc->next = g_threads;
      if (g_threads != nullptr) g_threads->prev = tc;
      g_threads = tc;
    }
    t_hot.cache = tc;
    pthread_setspecific(g_key, tc);
  }
  CpuCache* chunk = tc->chunks[index / kCpuCacheChunk];
  if (chunk == g_no_cpu_caches.data()) {
    chunk = static_cast<CpuCache*>(bootstrap_cache(Bootstrap::kCpuCache)->alloc(0));
    if (chunk == nullptr) return nullptr;
    for (size_t i = 0; i < kCpuCacheChunk; ++i) chunk[i] = CpuCache{0, 0, &g_sentinel, &g_sentinel, 0, 0};
    // Published only once its entries are set: mk_cache_destroy on another thread reads them.
    std::atomic_ref<CpuCache*>(tc->chunks[index / kCpuCacheChunk])
        .store(chunk, std::memory_order_release);
  }
  return &chunk[index % kCpuCacheChunk];
}

namespace {
void* alloc_slow_spilled(SlabCache* cache, CpuCache* cc);
void free_slow_spilled(SlabCache* cache, CpuCache* cc, void* obj);
}  // namespace

void* magazine_alloc_slow(SlabCache* cache, CpuCache* cc) {
  spill(cc);
  void* obj = alloc_slow_spilled(cache, cc);
  fill(cc);
  return obj;
}

void magazine_free_slow(SlabCache* cache, CpuCache* cc, void* obj) {
  spill(cc);
  free_slow_spilled(cache, cc, obj);
  fill(cc);
}

namespace {

void* alloc_slow_spilled(SlabCache* cache, CpuCache* cc) {
  bg_purge::at_safe_point();  // no lock held here
  // 1. The previous magazine has rounds: swap.
  if (cc->previous->rounds != 0) {
    std::swap(cc->loaded, cc->previous);
    return cc->loaded->slots[--cc->loaded->rounds];
  }
  Magazine* fresh = is_real(cc->loaded) ? nullptr : new_magazine(cache);
  LockGuard guard(&cache->lock_);
  // 2. A full magazine from the depot: previous (empty) goes back, loaded becomes previous.
  if (Magazine* full = depot_take_full_locked(cache)) {
    if (fresh != nullptr) depot_put_locked(cache, fresh);
    depot_put_locked(cache, cc->previous);
    cc->previous = cc->loaded;
    cc->loaded = full;
    return full->slots[--full->rounds];
  }
  // 3. Fill the loaded magazine with a batch from the slab layer.
  Magazine* m = is_real(cc->loaded) ? cc->loaded : fresh;
  if (m == nullptr) {  // no magazine to be had: one object straight from the slabs
    void* obj;
    return cache->alloc_batch_locked(&obj, 1) == 1 ? obj : nullptr;
  }
  cc->loaded = m;
  m->rounds = static_cast<uint32_t>(cache->alloc_batch_locked(m->slots, m->capacity / 2));
  if (m->rounds == 0) return nullptr;
  return m->slots[--m->rounds];
}

void exchange_with_depot(SlabCache* cache, CpuCache* cc, void* obj) {
  LockGuard guard(&cache->lock_);
  // 2. Loaded is full (or the sentinel): previous goes to the depot, loaded becomes previous,
  //    and an empty magazine from the depot (or a new one) is loaded.
  Magazine* empty = depot_take_empty_locked(cache);
  if (empty == nullptr) empty = new_magazine(cache);
  if (empty == nullptr) {  // no magazine to be had: straight back to the slab
    cache->free_batch_locked(&obj, 1);
    return;
  }
  depot_put_locked(cache, cc->previous);
  cc->previous = cc->loaded;
  cc->loaded = empty;
  empty->slots[empty->rounds++] = obj;
}

void free_slow_spilled(SlabCache* cache, CpuCache* cc, void* obj) {
  // 1. The previous magazine is empty (and real): swap.
  if (is_real(cc->previous) && cc->previous->rounds == 0) {
    std::swap(cc->loaded, cc->previous);
    cc->loaded->slots[cc->loaded->rounds++] = obj;
    return;
  }
  exchange_with_depot(cache, cc, obj);
  // Slabs may have gone back to the page heap; the purger starts here if that asked for it
  // (no lock is held: the magazine layer is entered from the callers' free).
  bg_purge::at_safe_point();
}

}  // namespace

void magazine_flush_this_thread_locked(SlabCache* cache) {
  CpuCache* chunk = t_hot.cache->chunks[cache->index() / kCpuCacheChunk];
  if (chunk == g_no_cpu_caches.data()) return;  // the sentinels are never written
  flush_cpu_cache_locked(cache, &chunk[cache->index() % kCpuCacheChunk]);
}

void magazine_fork_lock() { pthread_mutex_lock(&g_threads_lock); }
void magazine_fork_unlock() { pthread_mutex_unlock(&g_threads_lock); }

void magazine_flush_all_threads(SlabCache* cache) {
  LockGuard guard(&g_threads_lock);
  for (ThreadCache* tc = g_threads; tc != nullptr; tc = tc->next) {
    FlushCtx ctx{tc};
    flush_thread_cache_for(cache, &ctx);
  }
}

namespace {

void decay_depot(SlabCache* cache, void*) {
  if (cache->magazine_size_ == 0) return;
  LockGuard guard(&cache->lock_);
  // In use since the last round: its turn comes once it is idle.
  if (!cache->depot_used_) trim_full_locked(cache, kDepotMinFull);
  cache->depot_used_ = false;
}

}  // namespace

void magazine_decay_depots() { registry_for_each(decay_depot, nullptr); }

void magazine_drain_depot_locked(SlabCache* cache) {
  trim_full_locked(cache, 0);
  while (Magazine* m = depot_take_empty_locked(cache)) delete_magazine(m);
}

}  // namespace memkit
