// memkit — the checked mode's quarantine (src/check/quarantine.h)
//
// Freed blocks wait here before their memory goes back, so that a use after free finds the
// block (its 0xfd fill, or at check=full its inaccessible pages) rather than a new one: FIFO
// queues, one per group of threads (by thread id: threads rarely share one), quarantine_bytes in
// all. The bound is on the total, not a share per queue: a program with one thread gets the
// whole quarantine. A free that finds the total over the bound evicts from its own queue, oldest
// first; blocks on their own pages (each holds kernel mappings) are also bounded, to half of
// full_max_blocks. Each queue adds its bytes to the total 32 KiB at a time (one atomic add per
// 32 KiB of frees, not two per free: the threads' frees would otherwise take turns owning the
// counter's cache line), so the total may be off by up to 32 KiB per queue: 1 MiB over all 32.
//
// The queue holds records; what a block's leaving means (its fill checked, its record taken out
// of the table, its memory released) is the allocator's (check.cpp: evict), except for a header
// block whose fill is intact, which is released here at once, under the queue's lock.
#pragma once

#include <cstddef>
#include <cstdint>

#include "check/check.h"

namespace memkit::check {

inline constexpr unsigned kQueues = 32;

struct Queue {
  SpinLock lock;
  Block* head = nullptr;
  Block* tail = nullptr;
  long unpublished = 0;    // bytes in or out of this queue not yet in the total
  size_t full_blocks = 0;  // of them on their own pages (each holds kernel mappings)
} __attribute__((aligned(64)));

namespace detail {
extern Queue g_queues[kQueues];
extern size_t g_fill_max;
}  // namespace detail

/// The options, once at start-up: quarantine_bytes, full_max_blocks, free_fill_max (SIZE_MAX: all).
void quarantine_configure(size_t bytes, size_t full_max_blocks, size_t fill_max);

/// The calling thread's queue.
inline Queue& my_queue() { return detail::g_queues[current_tid() % kQueues]; }

/// The bytes of a freed fast-mode block that hold the 0xfd fill: all, or its first fill_max.
inline size_t fill_bytes(const Block& b) { return b.size < detail::g_fill_max ? b.size : detail::g_fill_max; }

/// Appends b to q (whose lock the caller holds) and takes out what exceeds the budget, oldest
/// first. Header blocks whose fill is intact (or any, while this thread prints a report) are
/// released at once; the others are returned, linked by qnext, for the allocator to evict once
/// the lock is dropped (their reports allocate).
Block* enqueue_locked(Queue& q, Block* b);

/// Gives a header block's memory back: its magic cleared first, so that neither the scans nor a
/// later free take the stale header for a block. Under a queue lock.
void release_header(Block* b);

/// Every queue's lock, in order / in reverse.
void lock_queues();
void unlock_queues();

}  // namespace memkit::check
