// memkit — the guard mode of the drop-in malloc (src/malloc/guard.h)
//
// GWP-ASan's idea (tcmalloc, Chrome, Android) in libmemkit.so: with guard_sample=N, about one
// allocation in N is placed on a slot of a guarded pool instead of the heap, so that a bug
// touching it faults at the instruction that makes it, at a cost the program does not notice.
//
//   pool (reserved once, from os/, when the option is on):
//     [guard][slot 0][guard][slot 1][guard] ... [slot S-1][guard]     guard: PROT_NONE page
//   a slot: guard_slot_pages pages, PROT_NONE unless it holds a live block;
//   the block against the slot's end (aligned down to guard_align, at most 16: malloc's
//   alignment) so that an overflow reaches the guard page after it, or at the slot's start
//   (guard_left percent of the blocks) so that an underflow reaches the one before; memalign's
//   alignment is kept either way; the rest of the slot is filled with a pattern checked at free.
//   free: the slot made PROT_NONE (a use after free faults) and queued (a FIFO): a freed slot
//   is reused only when no slot was never used and every slot freed before it was reused.
//
// Sampling: malloc, calloc, memalign, operator new and realloc(nullptr, n) decrement a
// per-thread countdown (initial-exec TLS) and take the slow path at 0, which re-arms it at
// random in N/2..3N/2 (off: at INT64_MAX, so a thread pays the slow path once). Frees need no
// test: a guarded block lies outside the arenas, so free's fast path sends it to kfree_slow,
// which hands the pool's range to guard_free (kmalloc.h's foreign range); realloc and
// malloc_usable_size check the range in the malloc layer.
//
// A fault in the pool (SIGSEGV, chained to the handler that was there before, re-installed in
// front of one the program installs later, checked at each guarded allocation) is reported as
// the checked mode does: heap-buffer-overflow / heap-buffer-underflow / heap-use-after-free,
// READ or WRITE, the block, and the faulting, allocation and free stacks (the fast .eh_frame
// walker of check/unwind.h, stacks kept in check/stack_depot.h), then abort() (guard_continue:
// the page made accessible, and the program goes on). libmemkit.so links libc only, so frames
// are printed as "(module path+0xOFFSET)"; `memkit run --guard N` symbolises them. Double
// frees and frees of a pointer inside a slot are reported too.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "slab/magazine.h"

namespace memkit::guard {

/// The countdown on the allocation paths: true when this allocation is the sampled one. The
/// word is t_hot.guard_left (slab/magazine.h: allocations left before this thread's next
/// sampled one; 0 in a new thread, whose first allocation arms it), beside the thread cache's
/// pointer, so that malloc loads the thread-local block's offset once. `< 0`, not `<= 0`: the
/// decrement's own flags decide (x86-64: subq $1 on the TLS word, then js).
__attribute__((always_inline)) inline bool sample_now() { return __builtin_expect(--t_hot.guard_left < 0, 0); }

/// The pool's range ([lo, lo + span); span 0 while off).
extern uintptr_t g_pool_lo;
extern size_t g_pool_span;
inline bool owns(const void* p) { return reinterpret_cast<uintptr_t>(p) - g_pool_lo < g_pool_span; }

/// The countdown hit 0: re-arms it and, if the guard mode is on and a slot is free and the
/// request fits one, returns a guarded block of size bytes aligned to align (a power of two;
/// zero: its bytes zeroed); else nullptr, and the caller allocates as usual.
__attribute__((noinline, cold)) void* sampled_alloc(size_t size, size_t align, bool zero);

/// free / realloc / malloc_usable_size of a pointer in the pool (owns(p)): a block, a double
/// free or an invalid pointer (reported).
void free(const void* p, const char* caller);
size_t usable_size(const void* p, const char* caller);

/// Starts the guard mode if guard_sample is set (the pool, the fault handler); once, from the
/// library's start-up or the first sampled allocation. False if it is off (or could not start).
bool start();

/// fork: the pool's lock held across it, so that the child's pool is consistent.
void fork_prepare();
void fork_parent();
void fork_child();

/// Figures for tests: slots in use now, blocks guarded so far, reports made.
struct Stats {
  size_t slots;
  size_t live;
  uint64_t guarded;
  uint64_t reports;
};
Stats stats();

}  // namespace memkit::guard
