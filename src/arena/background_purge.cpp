// memkit — the background purger (src/arena/background_purge.cpp): see background_purge.h.
#include "arena/background_purge.h"

#include <pthread.h>
#include <signal.h>
#include <time.h>

#include <cerrno>
#include <cstdint>

#include "arena/page_heap.h"
#include "options/options.h"
#include "os/os.h"

namespace memkit::bg_purge {

std::atomic<int> g_state{kOff};

namespace {

// g_lock guards g_work and the condition variable's waits; it is a leaf lock (the hook takes it
// under whatever the free path holds; the thread never calls into the heap while holding it).
pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t g_cv;
bool g_work = false;                   // under g_lock: a free left dirty blocks
std::atomic<bool> g_waiting{false};    // the thread sleeps on g_cv (the hook must signal)
std::atomic<unsigned long> g_wakeups{0}, g_rounds{0}, g_bytes{0};
std::atomic<void (*)()> g_round_hook{nullptr};
// The tick (enable_ticks): a function the thread calls every g_tick_ns, purging or not.
std::atomic<void (*)()> g_tick{nullptr};
uint64_t g_tick_ns = 0;
bool g_purging = false;  // enable() succeeded: the thread purges (else it only ticks)

void init_cv() {
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&g_cv, &attr);
  pthread_condattr_destroy(&attr);
}

// PageHeap's dirty hook: runs after a free that left dirty blocks or cached a direct mapping,
// possibly under a slab cache's lock, so it never starts the thread itself.
void on_dirty() {
  const int s = g_state.load(std::memory_order_acquire);
  if (s == kIdle) {
    int expected = kIdle;
    g_state.compare_exchange_strong(expected, kStartRequested, std::memory_order_acq_rel);
    return;
  }
  // The free's arena unlock orders its dirty block before this load (a cached direct mapping:
  // the seq_cst add to the cached bytes); the thread sets g_waiting before its last look at
  // the arenas (under their locks) and the cached bytes, so one of the two sees the other.
  if (s != kRunning || !g_waiting.load(std::memory_order_seq_cst)) return;
  pthread_mutex_lock(&g_lock);
  g_work = true;
  pthread_cond_signal(&g_cv);
  pthread_mutex_unlock(&g_lock);
}

// Dirty arena pages and cached direct mappings: what waits for the decay time.
size_t dirty_pages(PageHeap& heap) {
  mk_page_stats s;
  heap.stats(&s);  // under each arena's lock; the cached bytes with a seq_cst load
  return s.dirty_pages + s.direct_cached_bytes / heap.page_size();
}

void sleep_ns(uint64_t ns) {
  timespec ts{static_cast<time_t>(ns / 1000000000u), static_cast<long>(ns % 1000000000u)};
  while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR) {
  }
}

// The tick, if one is set and its time has come (never under g_lock).
void tick_if_due(uint64_t* next) {
  void (*tick)() = g_tick.load(std::memory_order_acquire);
  if (tick == nullptr) return;
  const uint64_t now = os::now_ns();
  if (now + g_tick_ns / 8 < *next) return;  // (the coarse clock may lag the timed wait a little)
  tick();
  *next = now + g_tick_ns;
}

uint64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

void* purger_main(void*) {
  pthread_setname_np(pthread_self(), "memkit-purge");
  PageHeap& heap = global_page_heap();
  const uint64_t decay_ns = static_cast<uint64_t>(heap.config().decay_ms) * 1000000u;
  const uint64_t period = decay_ns / 4 > 1000000u ? decay_ns / 4 : 1000000u;
  const bool purging = g_purging;
  uint64_t next_tick = 0;
  tick_if_due(&next_tick);  // at once: the first figures
  for (;;) {
    // Give back, a quarter of the decay time apart, until nothing is dirty.
    if (purging) {
      do {
        // The ticks go on while rounds are due: a round's sleep is cut at each tick (the live
        // segment's refresh, which `memkit profile`'s timeline reads every --interval ms).
        for (uint64_t slept = 0; slept < period;) {
          uint64_t slice = period - slept;
          if (g_tick.load(std::memory_order_acquire) != nullptr && g_tick_ns < slice) slice = g_tick_ns;
          sleep_ns(slice);
          slept += slice;
          tick_if_due(&next_tick);
        }
        if (void (*hook)() = g_round_hook.load(std::memory_order_acquire)) hook();
        g_bytes.fetch_add(heap.purge_expired(os::now_ns()), std::memory_order_relaxed);
        g_rounds.fetch_add(1, std::memory_order_relaxed);
      } while (dirty_pages(heap) != 0);
    }
    pthread_mutex_lock(&g_lock);
    g_work = false;
    g_waiting.store(true, std::memory_order_seq_cst);
    pthread_mutex_unlock(&g_lock);
    if (!purging || dirty_pages(heap) == 0) {  // nothing slipped in before g_waiting was visible
      pthread_mutex_lock(&g_lock);
      while (!g_work) {
        if (g_tick.load(std::memory_order_acquire) == nullptr) {
          pthread_cond_wait(&g_cv, &g_lock);
          continue;
        }
        // Asleep between ticks: wakes for the next one, or for a free that left dirty blocks.
        const uint64_t at = monotonic_ns() + g_tick_ns;
        const timespec deadline{static_cast<time_t>(at / 1000000000u), static_cast<long>(at % 1000000000u)};
        if (pthread_cond_timedwait(&g_cv, &g_lock, &deadline) == ETIMEDOUT) {
          pthread_mutex_unlock(&g_lock);
          tick_if_due(&next_tick);
          pthread_mutex_lock(&g_lock);
        }
      }
      pthread_mutex_unlock(&g_lock);
      g_wakeups.fetch_add(1, std::memory_order_relaxed);
    }
    g_waiting.store(false, std::memory_order_seq_cst);
  }
  return nullptr;
}

pthread_once_t g_cv_once = PTHREAD_ONCE_INIT;

}  // namespace

bool enable() {
  if (!options().background_purge) return false;
  PageHeap& heap = global_page_heap();
  if (heap.config().decay_ms < 1) return false;
  pthread_once(&g_cv_once, init_cv);
  int expected = kOff;
  if (g_state.compare_exchange_strong(expected, kIdle, std::memory_order_acq_rel)) {
    g_purging = true;
    heap.set_dirty_hook(on_dirty);
  }
  return true;
}

void enable_ticks(void (*tick)(), uint64_t period_ns) {
  pthread_once(&g_cv_once, init_cv);
  g_tick_ns = period_ns;
  g_tick.store(tick, std::memory_order_release);
  int expected = kOff;  // purging is off: a thread that only ticks
  g_state.compare_exchange_strong(expected, kIdle, std::memory_order_acq_rel);
  expected = kIdle;
  g_state.compare_exchange_strong(expected, kStartRequested, std::memory_order_acq_rel);
}

void set_round_hook(void (*hook)()) { g_round_hook.store(hook, std::memory_order_release); }

void start_requested() {
  int expected = kStartRequested;
  if (!g_state.compare_exchange_strong(expected, kStarting, std::memory_order_acq_rel)) return;
  // The thread takes no signal meant for the program.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, size_t{128} << 10);
  pthread_t thread;
  const int rc = pthread_create(&thread, &attr, purger_main, nullptr);
  pthread_attr_destroy(&attr);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  g_state.store(rc == 0 ? kRunning : kFailed, std::memory_order_release);
}

void fork_child() {
  const int s = g_state.load(std::memory_order_relaxed);
  if (s == kOff) return;
  // The lock may have been held by the thread, which the child does not have.
  pthread_mutex_init(&g_lock, nullptr);
  init_cv();
  g_work = false;
  g_waiting.store(false, std::memory_order_relaxed);
  // Dirty blocks inherited from the parent get a thread on the child's next free that sees them;
  // with a tick, the child's next slow path starts it.
  g_state.store(g_tick.load(std::memory_order_relaxed) != nullptr ? kStartRequested : kIdle,
                std::memory_order_relaxed);
}

Counters counters() {
  return {g_wakeups.load(std::memory_order_relaxed), g_rounds.load(std::memory_order_relaxed),
          g_bytes.load(std::memory_order_relaxed)};
}

}  // namespace memkit::bg_purge
