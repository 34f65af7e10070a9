// memkit — the sampling heap profiler (src/profile/profile.h)
//
// On when the option profile_sample is a number of bytes (`memkit profile` sets it; 0, the
// default, is off). See sampler.h for the sampling and the estimates. What each part costs:
//
//   malloc, calloc, realloc, memalign (malloc.h): one subtraction from a per-thread countdown
//     (initial-exec TLS) and a branch never taken, profiling on or off; off, the countdown
//     starts at INT64_MAX after a thread's first call, so it never fires again;
//   free: nothing on the fast path. A sampled block is not a slab object but a block of whole
//     pages (as tcmalloc gives each sampled object a span of its own), so its free always takes
//     kfree's slow path for large blocks, where a hook (kmalloc.h: g_large_free_hook, set only
//     while sampled blocks are live) looks it up in the table of sampled blocks;
//   a sampled allocation (sampled_alloc, noinline): the stack walked with the checked mode's
//     CFI walker (check/unwind.h, libc only; where it gives up, the stack stops there), stored
//     in the stack depot (check/stack_depot.h), the block put in an address-keyed table and its
//     site's counters updated, under one lock. All metadata lives in memory reserved from os/.
//
// Per site (= stack depot id): live bytes and objects, allocated bytes and objects (estimated,
// as doubles: with profile_sample=1 they are exact counts), and a copy of every site's
// counters at the profile's high-water mark (the estimated live bytes at their largest: the
// copy is taken on the first free after a new maximum, so it is the state at the maximum
// exactly), with the heap report (buddyinfo, slabinfo) captured near it.
//
// The raw profile (write_raw) is text: the sites with their frames as absolute addresses, the
// peak copy, the peak's heap report and /proc/self/maps, which the CLI (`memkit profile`)
// turns into pprof, folded stacks and CSV, symbolising with libdw. Format:
//
//   memkit-profile 1
//   sample MEAN
//   dropped N                       sampled blocks the table had no room for (not counted)
//   site LIVE_B LIVE_O ALLOC_B ALLOC_O N F1 ... FN   (frames innermost first, hex)
//   peak TOTAL_LIVE_B
//   peaksite (as site)
//   report                          the heap report at the peak, up to a line "end-report"
//   maps                            /proc/self/maps to the end of the file
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "slab/magazine.h"

namespace memkit::profile {

/// True when an allocation of size bytes must go to sampled_alloc: the countdown (the bytes
/// left to this thread's next sample, t_hot.sample_left in slab/magazine.h: 0 for a thread that
/// has not allocated yet, whose first call then starts it) went below 0.
__attribute__((always_inline)) inline bool sample_countdown(size_t size) {
  const int64_t left = static_cast<int64_t>(static_cast<uint64_t>(t_hot.sample_left) - size);
  t_hot.sample_left = left;
  return __builtin_expect(left < 0, 0);
}

enum class AllocKind { kMalloc, kCalloc, kMemalign };

/// The allocation whose countdown fired: starts the thread's countdown on its first call,
/// else samples the block (or, if profiling is off, just allocates it). align: memalign's
/// (a power of two), else 0.
__attribute__((noinline)) void* sampled_alloc(size_t size, size_t align, AllocKind kind);

/// realloc above the slab limit when the profiler is concerned (its countdown fired, or `old`
/// was sampled): krealloc gave q, whole pages, in place where the block had room. The table
/// follows: old's entry goes, and q is recorded if the countdown's draw samples it.
void realloced(const void* old, void* q, size_t size, bool sampled);

/// realloc's part: whether p is a sampled block (then realloc moves it itself, so that the
/// table keeps its size right). Cheap when no sampled block is live.
bool is_sampled(const void* p);

/// Starts the profiler (from the library's start-up) if profile_sample is set.
void start();
/// The mean sampling gap (0: off).
uint64_t sample_bytes();

/// Around fork: the profiler's lock.
void fork_prepare();
void fork_release();

/// The raw profile (see above) to fd. Returns false if a write failed.
bool write_raw(int fd);

/// The top `max` sites by live bytes, for the live segment: frames (innermost first, up to
/// max_frames), estimated live bytes and objects and allocations. Returns how many.
struct TopSite {
  uint64_t bytes;
  uint64_t objects;
  uint64_t allocs;
  unsigned nframes;
  const uintptr_t* frames;
};
unsigned top_sites(TopSite* out, unsigned max);

/// Totals, for tests: sampled blocks live now, and the estimated live bytes.
size_t live_sampled_blocks();
double live_estimated_bytes();

}  // namespace memkit::profile
