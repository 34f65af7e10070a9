// memkit — memory pools (src/mempool/mempool.cpp): create, alloc, free, resize, destroy,
// stats. The design and the kernel's algorithm are in mempool.h.
#include "mempool/mempool.h"

#include <errno.h>
#include <limits.h>
#include <time.h>

#include <cstdio>
#include <cstring>
#include <new>

#include "arena/page_heap.h"
#include "os/report.h"

using memkit::global_page_heap;

namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;

// ---- the reserve (callers hold pool->lock) ----

void add_element_locked(mk_mempool* pool, void* element) {
  const int n = pool->curr_nr.load(kRelaxed);
  pool->elements[n] = element;
  pool->curr_nr.store(n + 1, kRelaxed);
}

void* remove_element_locked(mk_mempool* pool) {
  const int n = pool->curr_nr.load(kRelaxed) - 1;
  pool->curr_nr.store(n, kRelaxed);
  return pool->elements[n];
}

// ---- time (CLOCK_MONOTONIC, the condvar's clock) ----

timespec mono_now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts;
}

timespec add_ms(timespec ts, long ms) {
  ts.tv_sec += ms / 1000;
  ts.tv_nsec += (ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec += 1;
    ts.tv_nsec -= 1000000000L;
  }
  return ts;
}

bool before(const timespec& a, const timespec& b) {
  return a.tv_sec < b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec < b.tv_nsec);
}

// ---- pool memory ----

size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

void free_elements_array(mk_mempool* pool) {
  if (pool->elements != pool->inline_elements()) global_page_heap().vfree(pool->elements);
  pool->elements = pool->inline_elements();
}

// Gives the reserve to free_fn and the pool's memory back (mempool_exit + kfree).
void release_pool(mk_mempool* pool) {
  while (pool->curr_nr.load(kRelaxed) > 0) pool->free_fn(remove_element_locked(pool), pool->pool_data);
  free_elements_array(pool);
  pthread_cond_destroy(&pool->wait);
  pthread_mutex_destroy(&pool->lock);
  pool->~mk_mempool();
  global_page_heap().vfree(pool);
}

void warn_gfp_zero() {
  static std::atomic<bool> warned{false};
  if (!warned.exchange(true, kRelaxed))
    memkit::report_warning("mk_mempool_alloc: MK_GFP_ZERO is not supported by mempools; ignored");
}

// mempool_alloc, with an optional deadline (mk_mempool_alloc_timeout).
void* pool_alloc(mk_mempool* pool, unsigned gfp, const timespec* deadline) {
  if (gfp & MK_GFP_ZERO) {
    warn_gfp_zero();
    gfp &= ~MK_GFP_ZERO;
  }
  const int saved_errno = errno;
  unsigned gfp_temp = gfp & ~MK_GFP_WAIT;  // the first try must not sleep
  for (;;) {
    void* element = pool->alloc_fn(gfp_temp, pool->pool_data);
    if (element != nullptr) {
      pool->allocs.fetch_add(1, kRelaxed);
      errno = saved_errno;
      return element;
    }

    pthread_mutex_lock(&pool->lock);
    ++pool->backing_failures;
    if (pool->curr_nr.load(kRelaxed) > 0) {
      element = remove_element_locked(pool);
      ++pool->reserve_hits;
      pthread_mutex_unlock(&pool->lock);
      pool->allocs.fetch_add(1, kRelaxed);
      errno = saved_errno;
      return element;
    }
    // The reserve is empty: try the backing once more with the caller's full mask.
    if (gfp_temp != gfp) {
      pthread_mutex_unlock(&pool->lock);
      gfp_temp = gfp;
      continue;
    }
    if (!(gfp & MK_GFP_WAIT)) {
      pthread_mutex_unlock(&pool->lock);
      errno = ENOMEM;
      return nullptr;
    }

    // Wait for an element to be freed; the wake-up cannot be lost, since mk_mempool_free adds
    // and wakes under the lock that the wait releases atomically.
    const timespec now = mono_now();
    timespec until = add_ms(now, memkit::kMempoolRetryMs);
    if (deadline != nullptr) {
      if (!before(now, *deadline)) {
        ++pool->timeouts;
        pthread_mutex_unlock(&pool->lock);
        errno = ETIMEDOUT;
        return nullptr;
      }
      if (before(*deadline, until)) until = *deadline;
    }
    ++pool->waits;
    ++pool->waiters;
    pthread_cond_timedwait(&pool->wait, &pool->lock, &until);  // woken, timed out: retry
    --pool->waiters;
    pthread_mutex_unlock(&pool->lock);
  }
}

}  // namespace

extern "C" {

mk_mempool_t* mk_mempool_create(int min_nr, mk_mempool_alloc_t* alloc_fn,
                                mk_mempool_free_t* free_fn, void* pool_data) {
  if (min_nr < 0 || alloc_fn == nullptr || free_fn == nullptr) {
    errno = EINVAL;
    return nullptr;
  }
  memkit::PageHeap& heap = global_page_heap();
  const size_t bytes = round_up(sizeof(mk_mempool) + static_cast<size_t>(min_nr) * sizeof(void*),
                                heap.page_size());
  void* mem = heap.vmalloc(bytes, 0);
  if (mem == nullptr) {
    errno = ENOMEM;
    return nullptr;
  }

  mk_mempool* pool = new (mem) mk_mempool();
  const size_t slots = (bytes - sizeof(mk_mempool)) / sizeof(void*);
  pool->capacity = slots > INT_MAX ? INT_MAX : static_cast<int>(slots);
  pool->elements = pool->inline_elements();
  pool->min_nr.store(min_nr, kRelaxed);
  pool->alloc_fn = alloc_fn;
  pool->free_fn = free_fn;
  pool->pool_data = pool_data;

  pthread_condattr_t attr;
  bool ok = pthread_condattr_init(&attr) == 0;
  ok = ok && pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) == 0;
  ok = ok && pthread_cond_init(&pool->wait, &attr) == 0;
  pthread_condattr_destroy(&attr);
  if (!ok || pthread_mutex_init(&pool->lock, nullptr) != 0) {
    if (ok) pthread_cond_destroy(&pool->wait);
    pool->~mk_mempool();
    heap.vfree(mem);
    errno = ENOMEM;
    return nullptr;
  }

  // Pre-allocate the reserve; any failure undoes the whole pool (mempool_init_node).
  while (pool->curr_nr.load(kRelaxed) < min_nr) {
    void* element = alloc_fn(MK_GFP_KERNEL, pool_data);
    if (element == nullptr) {
      release_pool(pool);
      errno = ENOMEM;
      return nullptr;
    }
    add_element_locked(pool, element);  // not shared yet: no lock needed
  }
  return pool;
}

void* mk_mempool_alloc(mk_mempool_t* pool, unsigned gfp) { return pool_alloc(pool, gfp, nullptr); }

void* mk_mempool_alloc_timeout(mk_mempool_t* pool, unsigned gfp, long timeout_ms) {
  gfp |= MK_GFP_WAIT;
  if (timeout_ms < 0) return pool_alloc(pool, gfp, nullptr);
  const timespec deadline = add_ms(mono_now(), timeout_ms);
  return pool_alloc(pool, gfp, &deadline);
}

void mk_mempool_free(void* element, mk_mempool_t* pool) {
  if (element == nullptr) return;
  pool->frees.fetch_add(1, kRelaxed);

  // The peek may be stale only for an element that came from the backing allocator (see
  // mempool.h); a reserve shortfall is always rechecked under the lock.
  const int curr = pool->curr_nr.load(kRelaxed);
  const int min = pool->min_nr.load(kRelaxed);
  if (__builtin_expect(curr < min || (min == 0 && curr == 0), 0)) {
    pthread_mutex_lock(&pool->lock);
    const int curr_nr = pool->curr_nr.load(kRelaxed);
    const int min_nr = pool->min_nr.load(kRelaxed);
    if (curr_nr < min_nr || (min_nr == 0 && curr_nr == 0)) {
      add_element_locked(pool, element);
      ++pool->refills;
      if (pool->waiters > 0) pthread_cond_broadcast(&pool->wait);
      pthread_mutex_unlock(&pool->lock);
      return;
    }
    pthread_mutex_unlock(&pool->lock);
  }
  pool->free_fn(element, pool->pool_data);
}

int mk_mempool_resize(mk_mempool_t* pool, int new_min_nr) {
  if (pool == nullptr || new_min_nr <= 0) return -EINVAL;

  pthread_mutex_lock(&pool->lock);
  if (new_min_nr <= pool->min_nr.load(kRelaxed)) {
    // Shrink: the free_fn calls run without the lock (they may be slow).
    while (new_min_nr < pool->curr_nr.load(kRelaxed)) {
      void* element = remove_element_locked(pool);
      pthread_mutex_unlock(&pool->lock);
      pool->free_fn(element, pool->pool_data);
      pthread_mutex_lock(&pool->lock);
    }
    pool->min_nr.store(new_min_nr, kRelaxed);
    pthread_mutex_unlock(&pool->lock);
    return 0;
  }

  if (new_min_nr > pool->capacity) {
    // Grow the array: allocated without the lock, installed under it.
    pthread_mutex_unlock(&pool->lock);
    void** array = static_cast<void**>(
        global_page_heap().vmalloc(static_cast<size_t>(new_min_nr) * sizeof(void*), 0));
    if (array == nullptr) return -ENOMEM;
    pthread_mutex_lock(&pool->lock);
    if (new_min_nr <= pool->capacity) {
      global_page_heap().vfree(array);  // raced with another resize that made room
    } else {
      std::memcpy(array, pool->elements,
                  static_cast<size_t>(pool->curr_nr.load(kRelaxed)) * sizeof(void*));
      free_elements_array(pool);
      pool->elements = array;
      pool->capacity = new_min_nr;
    }
    if (new_min_nr <= pool->min_nr.load(kRelaxed)) {  // raced: another resize did our work
      pthread_mutex_unlock(&pool->lock);
      return 0;
    }
  }
  pool->min_nr.store(new_min_nr, kRelaxed);

  // Fill to min_nr; stop quietly at the first failure (frees will refill).
  while (pool->curr_nr.load(kRelaxed) < pool->min_nr.load(kRelaxed)) {
    pthread_mutex_unlock(&pool->lock);
    void* element = pool->alloc_fn(MK_GFP_KERNEL, pool->pool_data);
    if (element == nullptr) return 0;
    pthread_mutex_lock(&pool->lock);
    if (pool->curr_nr.load(kRelaxed) >= pool->min_nr.load(kRelaxed)) {
      pthread_mutex_unlock(&pool->lock);
      pool->free_fn(element, pool->pool_data);  // raced: frees refilled it meanwhile
      return 0;
    }
    add_element_locked(pool, element);
    if (pool->waiters > 0) pthread_cond_broadcast(&pool->wait);
  }
  pthread_mutex_unlock(&pool->lock);
  return 0;
}

void mk_mempool_destroy(mk_mempool_t* pool) {
  if (pool == nullptr) return;
  const long outstanding = static_cast<long>(pool->allocs.load(kRelaxed) -
                                             pool->frees.load(kRelaxed));
  if (outstanding > 0) {
    char line[128];
    std::snprintf(line, sizeof line, "mempool destroyed with %ld elements still allocated",
                  outstanding);
    memkit::report_warning(line);
  }
  release_pool(pool);
}

void mk_mempool_get_stats(const mk_mempool_t* pool, mk_mempool_stats* out) {
  pthread_mutex_lock(&pool->lock);
  out->min_nr = pool->min_nr.load(kRelaxed);
  out->curr_nr = pool->curr_nr.load(kRelaxed);
  out->waiters = pool->waiters;
  out->backing_failures = pool->backing_failures;
  out->reserve_hits = pool->reserve_hits;
  out->refills = pool->refills;
  out->waits = pool->waits;
  out->timeouts = pool->timeouts;
  pthread_mutex_unlock(&pool->lock);
  out->allocs = pool->allocs.load(kRelaxed);
  out->frees = pool->frees.load(kRelaxed);
  out->outstanding = static_cast<long>(out->allocs - out->frees);
}

}  // extern "C"
