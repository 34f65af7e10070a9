// memkit — the background purger (src/arena/background_purge.h)
//
// The page heap gives decayed free blocks back to the OS from its free paths (page_heap.h), so a
// program that frees a lot and then goes quiet would keep them resident for ever. The purger is
// a thread that does it instead: it sleeps until a free leaves dirty blocks behind (or caches a
// freed direct mapping), then every decay_ms / 4 gives back what has waited longer than
// decay_ms, and goes back to sleep once nothing is dirty or cached. The drop-in malloc enables it (option background_purge); libmemkit.a users
// call enable() themselves if they want it.
//
// Starting a thread allocates (pthread_create's TLS), and the free that finds dirty blocks may
// run under a slab cache's lock, so the hook only asks for a start; the thread is created at
// the next safe point: a slow path of kmalloc / kfree / the magazine layer entered with no
// memkit lock held. A process that never frees a block of purge_order pages or more never gets
// the thread. After fork() the child has no purger; it starts again on demand.
#pragma once

#include <atomic>
#include <cstdint>

namespace memkit::bg_purge {

enum State : int {
  kOff = 0,         // not enabled (or decay_ms < 1: nothing waits for a decay time)
  kIdle,            // enabled, no thread yet
  kStartRequested,  // a free left dirty blocks: the next safe point starts the thread
  kStarting,        // one safe point is creating it
  kRunning,         // the thread exists
  kFailed,          // pthread_create failed: the free paths keep purging as before
};

extern std::atomic<int> g_state;

/// Enables background purging of the global page heap (idempotent). Returns false if it stays
/// off (the options disable it, or decay_ms < 1).
bool enable();

/// A function the thread calls at the start of each round, holding no memkit lock, to give
/// back what layers above the page heap keep for reuse (the drop-in malloc sets the slab
/// depots' decay, magazine_decay_depots). Its frees leave dirty pages, which that round and
/// the next ones purge once they decay. nullptr: none.
void set_round_hook(void (*hook)());

/// Has the thread call tick() every period_ns (the live statistics segment's refresh,
/// stats/live.h), whether or not there is anything to purge, and at its purge rounds; asks for
/// the thread's start (at the next safe point). Call it after enable(): if purging stays off
/// (enable() false), the thread only ticks. tick runs holding no memkit lock.
void enable_ticks(void (*tick)(), uint64_t period_ns);

/// Creates the thread if a start was requested. Only where the caller holds no memkit lock.
void start_requested();

inline void at_safe_point() {
  if (__builtin_expect(g_state.load(std::memory_order_relaxed) == kStartRequested, 0))
    start_requested();
}

/// fork(), in the child: the thread is gone; back to kIdle (a later free starts a new one).
void fork_child();

/// Wake-ups and purge rounds so far (tests and statistics).
struct Counters {
  unsigned long wakeups;
  unsigned long rounds;
  unsigned long bytes;
};
Counters counters();

}  // namespace memkit::bg_purge
