// memkit — memory pools (src/mempool/mempool.h)
//
// The kernel's mempool_t (mm/mempool.c, Ingo Molnar 2001): a reserve of min_nr pre-allocated
// elements in front of any alloc/free pair, so that code which must make progress gets its
// element even when the backing allocator fails. The reserve is a stack (LIFO):
//
//   elements[0] ... elements[curr_nr - 1] | free slots ... | capacity
//                                  ^ remove_element / add_element work here
//
//   mk_mempool_alloc(gfp)
//     1. alloc_fn(gfp & ~MK_GFP_WAIT)            the backing first, with the weakened mask
//     2. under the lock: curr_nr > 0 -> elements[--curr_nr]         (a reserve hit)
//     3. reserve empty, mask was weakened -> back to 1 with the full mask
//     4. no MK_GFP_WAIT -> NULL (ENOMEM)
//     5. sleep on the condvar until a free signals it, at most kRetryMs (the kernel's
//        io_schedule_timeout(5*HZ): the backing may recover without any mempool_free), then 1.
//   mk_mempool_free(e)
//     curr_nr < min_nr (peeked without the lock, rechecked under it)
//        -> elements[curr_nr++] = e, wake the waiters            (the reserve is refilled first)
//     min_nr == 0 and curr_nr == 0 -> the same (newer kernels: else a waiter on a zero-minimum
//        pool would never be woken)
//     else free_fn(e)
//
// Why the guarantee holds: a thread sleeps only after it saw curr_nr == 0 under the lock, so
// every reserved element is out (curr_nr < min_nr). Each of them comes back through
// mk_mempool_free, whose caller handled that element after the alloc that removed it, so its
// peek sees curr_nr at most as high as that removal left it and takes the locked path: the
// element goes into the reserve and the waiters are woken under the lock (no lost wake-up).
// All of them, as the kernel's wake_up does: a woken waiter tries the backing first and may get
// its element there, leaving the freed one in the reserve for a waiter that must not sleep on.
// A peek that sees a stale, too high curr_nr only happens for an element that came from the
// backing allocator; it then goes to free_fn, which is what the kernel does as well.
//
// Memory: the pool header and its reserve array are one global_page_heap().vmalloc() block
// (a page holds the header and ~490 slots); a resize beyond that capacity moves the array to a
// vmalloc block of its own. Nothing here calls malloc.
//
// Differences from the kernel: a pthread mutex and a condition variable (CLOCK_MONOTONIC) in
// place of the spinlock and wait queue; a resize that adds elements wakes waiters (the kernel
// leaves them to their 5 s timeout); mk_mempool_alloc_timeout; counters; MK_GFP_ZERO is masked
// with a one-time warning (the kernel: VM_WARN_ON_ONCE); reserved elements are not poisoned;
// a NULL pool in resize is -EINVAL rather than a crash.
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "memkit/memkit.h"

namespace memkit {

/// The longest sleep in mk_mempool_alloc before the backing allocator is tried again.
inline constexpr long kMempoolRetryMs = 5000;

}  // namespace memkit

struct mk_mempool {
  mutable pthread_mutex_t lock;
  pthread_cond_t wait;          // broadcast when an element enters the reserve
  // Written under lock; read without it by mk_mempool_free's peek (hence atomic, relaxed).
  std::atomic<int> min_nr;
  std::atomic<int> curr_nr;
  int capacity;                 // slots in elements (>= max(min_nr, 1))
  int waiters;                  // under lock
  void** elements;              // the reserve: inline_elements() or its own vmalloc block
  mk_mempool_alloc_t* alloc_fn;
  mk_mempool_free_t* free_fn;
  void* pool_data;
  // Counters: allocs/frees are touched on the paths that take no lock; the rest under lock.
  std::atomic<uint64_t> allocs;
  std::atomic<uint64_t> frees;
  uint64_t backing_failures;
  uint64_t reserve_hits;
  uint64_t refills;
  uint64_t waits;
  uint64_t timeouts;

  /// The slots that follow the header in the pool's own block.
  void** inline_elements() { return reinterpret_cast<void**>(this + 1); }
};

static_assert(sizeof(mk_mempool) % alignof(void*) == 0, "inline slots follow the header");
