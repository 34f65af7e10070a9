// memkit — the checked mode's stack walker against libunwind (tests/test_check_unwind.cpp)
//
// fast_backtrace (src/check/unwind.h) must give exactly the return addresses libunwind gives,
// through frames of every shape GCC makes: leaf-like frames, frames with alloca, with a frame
// pointer, with a realigned stack (CFA and rbp given by DWARF expressions), library callbacks
// (qsort in libc, std::sort in libstdc++ inlined here, std::function), threads; and it must give
// up (-1), not walk garbage, through a signal frame.
#include <gtest/gtest.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <thread>
#include <vector>

#include "check/unwind.h"

namespace {

using memkit::check::fast_backtrace;

struct Pair {
  uintptr_t fast[64];
  int nfast = 0;
  void* slow[64];
  int nslow = 0;
};

// Both walks from one function: their first frames are return addresses into it (two call
// sites), the rest must be the same.
// Under ThreadSanitizer, a thread that called libunwind crashes at exit (libunwind's per-thread
// cache destructor locks a mutex after TSan has torn the thread down): the threads test then
// checks the fast walks against each other only.
#if defined(__SANITIZE_THREAD__)
constexpr bool kLibunwindInThreads = false;
#else
constexpr bool kLibunwindInThreads = true;
#endif
thread_local bool t_skip_libunwind = false;

__attribute__((noinline)) void both(Pair* p) {
  p->nfast = fast_backtrace(p->fast, 64);
  p->nslow = t_skip_libunwind ? 0 : unw_backtrace(p->slow, 64);
  asm volatile("" ::: "memory");
}

::testing::AssertionResult same_stack(const Pair& p) {
  if (p.nfast < 3) return ::testing::AssertionFailure() << "fast walk gave " << p.nfast << " frames";
  // libunwind's first frame(s) are in `both` (or unw_backtrace itself): find fast's second.
  int k = 0;
  while (k < p.nslow && reinterpret_cast<uintptr_t>(p.slow[k]) != p.fast[1]) ++k;
  if (k == p.nslow) return ::testing::AssertionFailure() << "fast frame #1 " << std::hex << p.fast[1] << " not in libunwind's stack";
  if (p.nslow - k != p.nfast - 1)
    return ::testing::AssertionFailure() << "depths differ: fast " << p.nfast - 1 << ", libunwind " << p.nslow - k;
  for (int i = 1; i < p.nfast; ++i)
    if (reinterpret_cast<uintptr_t>(p.slow[k + i - 1]) != p.fast[i])
      return ::testing::AssertionFailure() << "frame " << i << " differs: " << std::hex << p.fast[i] << " vs "
                                           << reinterpret_cast<uintptr_t>(p.slow[k + i - 1]);
  return ::testing::AssertionSuccess();
}

__attribute__((noinline)) void with_alloca(Pair* p, size_t n) {
  char* buf = static_cast<char*>(alloca(n));
  memset(buf, 1, n);
  asm volatile("" : : "r"(buf) : "memory");
  both(p);
  asm volatile("" : : "r"(buf) : "memory");
}

__attribute__((noinline)) void with_frame_pointer(Pair* p) {
  void* volatile fp = __builtin_frame_address(0);
  (void)fp;
  both(p);
  asm volatile("" ::: "memory");
}

__attribute__((noinline)) void realigned(Pair* p) {
  alignas(128) volatile char big[256];
  big[0] = 1;
  both(p);
  big[1] = big[0];
}

__attribute__((noinline)) void many_regs(Pair* p, int depth) {
  // Recursion with values live across the call: callee-saved registers pushed and restored.
  volatile int a = depth, b = depth * 2, c = depth * 3;
  if (depth == 0) {
    both(p);
  } else {
    many_regs(p, depth - 1);
  }
  asm volatile("" : : "r"(a + b + c) : "memory");
}

Pair* g_qsort_pair = nullptr;
int compare_and_walk(const void* x, const void* y) {
  if (g_qsort_pair->nfast == 0) both(g_qsort_pair);
  return *static_cast<const int*>(x) - *static_cast<const int*>(y);
}

TEST(FastUnwind, MatchesLibunwindThroughFramesOfEveryShape) {
  Pair p;
  both(&p);
  EXPECT_TRUE(same_stack(p));
  for (size_t n : {16, 4000, 100000}) {
    p = Pair{};
    with_alloca(&p, n);
    EXPECT_TRUE(same_stack(p)) << "alloca " << n;
  }
  p = Pair{};
  with_frame_pointer(&p);
  EXPECT_TRUE(same_stack(p));
  p = Pair{};
  realigned(&p);
  EXPECT_TRUE(same_stack(p));
  for (int d : {1, 5, 30}) {
    p = Pair{};
    many_regs(&p, d);
    EXPECT_TRUE(same_stack(p)) << "depth " << d;
    EXPECT_GE(p.nfast, d);
  }
}

TEST(FastUnwind, MatchesLibunwindThroughLibraryCallbacks) {
  Pair p;
  g_qsort_pair = &p;
  int v[] = {5, 3, 9, 1, 7, 2};
  qsort(v, 6, sizeof v[0], compare_and_walk);  // libc's code between here and the walk
  EXPECT_TRUE(same_stack(p));

  p = Pair{};
  std::function<void()> f = [&] { both(&p); };
  f();
  EXPECT_TRUE(same_stack(p));

  p = Pair{};
  std::vector<int> w(100);
  for (int i = 0; i < 100; ++i) w[i] = (i * 37) % 100;
  std::sort(w.begin(), w.end(), [&](int a, int b) {
    if (p.nfast == 0) both(&p);
    return a < b;
  });
  EXPECT_TRUE(same_stack(p));
}

TEST(FastUnwind, ThreadsWalkToTheirStartAndAgree) {
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&bad, t] {
      t_skip_libunwind = !kLibunwindInThreads;
      Pair first;
      volatile int n = 2000;  // not peeled: one call site
      for (int i = 0; i < n; ++i) {
        Pair again;
        many_regs(&again, t);  // one call site: the same stack every time
        if (i == 0) {
          first = again;
          if (kLibunwindInThreads ? !same_stack(first) : first.nfast < 3) bad.fetch_add(1);
        } else if (again.nfast != first.nfast ||
                   memcmp(again.fast, first.fast, first.nfast * sizeof(uintptr_t)) != 0) {
          bad.fetch_add(1);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
}

// Two callers of F with the same frame: F's frame sits at the same sp under either, so a walk
// that reuses the last walk's outer frames, or a repeat told from the first frame, must notice
// the caller changed (the return address word). via_b's volatile keeps the two apart (identical
// functions may be folded into one).
template <typename T, void (*F)(T*)>
__attribute__((noinline)) void via_a(T* p) {
  F(p);
  asm volatile("" ::: "memory");
}
template <typename T, void (*F)(T*)>
__attribute__((noinline)) void via_b(T* p) {
  volatile int b = 0;
  F(p);
  asm volatile("" : : "r"(b) : "memory");
}

__attribute__((noinline)) void callee_f(Pair* p) {
  both(p);
  asm volatile("" ::: "memory");
}

TEST(FastUnwind, ReusedWalksNoticeAChangedCaller) {
  volatile int rounds = 200;
  for (int i = 0; i < rounds; ++i) {
    Pair p;
    switch (i % 5) {
      case 0: via_a<Pair, callee_f>(&p); break;
      case 1: via_b<Pair, callee_f>(&p); break;
      case 2: via_a<Pair, callee_f>(&p); break;
      case 3: many_regs(&p, i % 7); break;
      default: realigned(&p); break;
    }
    ASSERT_TRUE(same_stack(p)) << "round " << i;
  }
}

// An exported malloc's shape: a function that keeps a frame pointer and hands its frame to the
// walk (start_frame), which must then give its caller's frames, those the whole walk gives
// after it, alternating with whole walks of the same memo as the checker does.
struct FromFrame {
  uintptr_t from[64];
  int nfrom = 0;
  uintptr_t whole[64];
  int nwhole = 0;
};

__attribute__((noinline)) void walk_from_here(FromFrame* f, unsigned memo) {
  const void* frame = __builtin_frame_address(0);
  f->nfrom = fast_backtrace(f->from, 64, memo, nullptr, false, frame);
  f->nwhole = fast_backtrace(f->whole, 64, memo);
  asm volatile("" ::: "memory");
}

__attribute__((noinline)) void from_caller_a(FromFrame* f, int depth) {
  volatile int keep = depth;
  if (depth > 0) from_caller_a(f, depth - 1);
  else walk_from_here(f, 1);
  asm volatile("" : : "r"(keep) : "memory");
}

__attribute__((noinline)) void from_caller_b(FromFrame* f) {
  alignas(64) volatile char pad[96];
  pad[0] = 1;
  walk_from_here(f, 1);
  pad[1] = pad[0];
}

TEST(FastUnwind, AStartFrameSkipsTheFramesUnderIt) {
  volatile int rounds = 60;
  for (int i = 0; i < rounds; ++i) {
    FromFrame f;
    if (i % 3 == 2) from_caller_b(&f);
    else from_caller_a(&f, i % 4);
    // whole[0] returns into walk_from_here; whole[1] is walk_from_here's return address, which
    // is from[0].
    ASSERT_GE(f.nfrom, 3) << "round " << i;
    ASSERT_EQ(f.nwhole, f.nfrom + 1) << "round " << i;
    for (int k = 0; k < f.nfrom; ++k) ASSERT_EQ(f.from[k], f.whole[k + 1]) << "round " << i << ", frame " << k;
  }
}

// check_repeat (unwind.h): true only for a walk the last one of its memo repeats word for word.
struct Repeat {
  bool repeated = false;
  unsigned n = 0;
  FromFrame f;
};

__attribute__((noinline)) void repeat_here(Repeat* r) {
  const void* frame = __builtin_frame_address(0);
  r->repeated = memkit::check::check_repeat(2, 64, frame, &r->n);
  r->f.nfrom = fast_backtrace(r->f.from, 64, 2, nullptr, false, frame);
  asm volatile("" ::: "memory");
}

TEST(FastUnwind, ARepeatIsToldOnlyWhenEveryWordHolds) {
  Repeat r[9];
  volatile int n = 9;  // one call site per caller below, whatever the round
  for (int i = 0; i < n; ++i) {
    if (i == 5) via_b<Repeat, repeat_here>(&r[i]);  // the same first frame, another caller
    else via_a<Repeat, repeat_here>(&r[i]);
  }
  EXPECT_FALSE(r[0].repeated);  // nothing to repeat yet
  EXPECT_FALSE(r[1].repeated);  // the walk was repeated here; the check is built from it
  for (int i : {2, 3, 4, 8}) {
    EXPECT_TRUE(r[i].repeated) << "round " << i;
    EXPECT_EQ(static_cast<int>(r[i].n), r[i].f.nfrom) << "round " << i;
    EXPECT_EQ(memcmp(r[i].f.from, r[0].f.from, sizeof(uintptr_t) * r[i].f.nfrom), 0) << "round " << i;
  }
  EXPECT_FALSE(r[5].repeated) << "another caller further up";
  EXPECT_NE(r[5].f.from[1], r[4].f.from[1]);
  EXPECT_FALSE(r[6].repeated) << "the last walk was another one";
  EXPECT_FALSE(r[7].repeated) << "repeated once since: the check is built from it";
  memkit::check::unwind_cache_clear();
  Repeat after;
  via_a<Repeat, repeat_here>(&after);
  EXPECT_FALSE(after.repeated) << "a cleared cache makes the check stale";
}

std::atomic<int> g_in_handler{-2};
void on_signal(int) {
  uintptr_t frames[64];
  g_in_handler.store(fast_backtrace(frames, 64));
}

TEST(FastUnwind, GivesUpAtASignalFrame) {
  struct sigaction sa = {};
  struct sigaction old = {};
  sa.sa_handler = on_signal;
  ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);
  raise(SIGUSR1);
  sigaction(SIGUSR1, &old, nullptr);
  EXPECT_EQ(g_in_handler.load(), -1);  // __restore_rt's CFI is a signal frame's: libunwind's job
  EXPECT_GE(memkit::check::unwind_stats().fallbacks, 1u);
}

__attribute__((noinline)) int plain_function(int x) { return x * 3 + 1; }

TEST(FastUnwind, RuleAtAFunctionEntry) {
  memkit::check::UnwindRule r;
  ASSERT_TRUE(memkit::check::unwind_rule_for(reinterpret_cast<uintptr_t>(&plain_function), &r));
  EXPECT_EQ(r.kind, 1);
  EXPECT_EQ(r.cfa_base, 7);  // rsp
  EXPECT_FALSE(r.cfa_deref);
  EXPECT_EQ(r.cfa_off, 8);   // just the return address pushed
  EXPECT_EQ(r.ra_off, -8);
  EXPECT_EQ(r.rbp_how, 0);
  EXPECT_FALSE(memkit::check::unwind_rule_for(0x1000, &r));  // no object there
}

TEST(FastUnwind, ClearedCacheGivesTheSameStacks) {
  Pair runs[2];
  uint64_t misses = 0;
  volatile int runs_n = 2;  // a loop the compiler cannot peel: one call site for both runs
  for (int i = 0; i < runs_n; ++i) {
    if (i == 1) {
      memkit::check::unwind_cache_clear();
      misses = memkit::check::unwind_stats().misses;
    }
    many_regs(&runs[i], 3);  // one call site
  }
  EXPECT_GT(memkit::check::unwind_stats().misses, misses);  // interpreted again
  ASSERT_EQ(runs[0].nfast, runs[1].nfast);
  EXPECT_EQ(memcmp(runs[0].fast, runs[1].fast, runs[0].nfast * sizeof(uintptr_t)), 0);
}

}  // namespace
