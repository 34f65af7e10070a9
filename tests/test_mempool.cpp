// Tests of memory pools (include/memkit/memkit.h mempool section, src/mempool/): the kernel's
// mempool semantics over a counting test backing (create pre-allocates exactly min_nr and fails
// cleanly; alloc tries the backing first with the weakened mask, then the reserve in LIFO order,
// then the backing with the full mask, then NULL or a wait; free refills the reserve first;
// resize; destroy and its warning; the timeout API; MK_GFP_ZERO), the slab-cache backing over a
// real mk_cache, and THE guarantee: threads looping alloc(MK_GFP_WAIT)/free on a pool whose
// backing always fails all finish, and no element is lost.
#include <errno.h>
#include <stdint.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "memkit/memkit.h"

#if defined(__SANITIZE_THREAD__)
#define MEMKIT_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MEMKIT_TEST_TSAN 1
#endif
#endif

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr size_t kElementSize = 64;
// A waiter woken by a free returns well before the pool's 5 s retry would have woken it.
constexpr long kWokenBoundMs = 4000;

// A backing allocator that counts, remembers what it handed out, and fails on demand.
struct Backing {
  std::atomic<int> allocs{0};        // successful alloc_fn calls
  std::atomic<int> frees{0};         // free_fn calls
  std::atomic<int> failures{0};      // alloc_fn calls that returned NULL
  std::atomic<bool> fail{false};     // every call fails
  std::atomic<int> fail_after{-1};   // calls fail once `allocs` reaches this (-1: never)
  std::atomic<unsigned> flaky{0};    // fail one call in `flaky` (pseudo-random; 0: never)
  std::mutex mu;
  std::vector<unsigned> gfps;        // the gfp of every call, in order
  std::vector<void*> order;          // successful allocations, in order
  std::set<void*> live;              // handed out and not freed through free_fn

  std::vector<unsigned> take_gfps() {
    std::lock_guard<std::mutex> g(mu);
    std::vector<unsigned> v;
    v.swap(gfps);
    return v;
  }
  size_t live_count() {
    std::lock_guard<std::mutex> g(mu);
    return live.size();
  }
};

void* backing_alloc(unsigned gfp, void* data) {
  Backing* b = static_cast<Backing*>(data);
  std::lock_guard<std::mutex> g(b->mu);  // one decision at a time: fail_after is exact
  b->gfps.push_back(gfp);
  bool fail = b->fail.load();
  const int after = b->fail_after.load();
  if (after >= 0 && b->allocs.load() >= after) fail = true;
  if (const unsigned k = b->flaky.load(); k != 0) {
    thread_local uint64_t x = 0x9e3779b97f4a7c15ull ^ reinterpret_cast<uintptr_t>(&x);
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    if (x % k == 0) fail = true;
  }
  if (fail) {
    b->failures.fetch_add(1);
    return nullptr;
  }
  void* e = std::malloc(kElementSize);
  b->allocs.fetch_add(1);
  b->order.push_back(e);
  b->live.insert(e);
  return e;
}

void backing_free(void* e, void* data) {
  Backing* b = static_cast<Backing*>(data);
  {
    std::lock_guard<std::mutex> g(b->mu);
    EXPECT_EQ(b->live.erase(e), 1u) << "free_fn got an element it never handed out";
  }
  b->frees.fetch_add(1);
  std::free(e);
}

mk_mempool_stats stats(const mk_mempool_t* pool) {
  mk_mempool_stats s;
  mk_mempool_get_stats(pool, &s);
  return s;
}

// ---- create ----

TEST(MempoolCreate, PreallocatesExactlyMinNr) {
  Backing b;
  mk_mempool_t* pool = mk_mempool_create(5, backing_alloc, backing_free, &b);
  ASSERT_NE(pool, nullptr);
  EXPECT_EQ(b.allocs.load(), 5);
  EXPECT_EQ(b.take_gfps(), std::vector<unsigned>(5, MK_GFP_KERNEL));
  const mk_mempool_stats s = stats(pool);
  EXPECT_EQ(s.min_nr, 5);
  EXPECT_EQ(s.curr_nr, 5);
  EXPECT_EQ(s.outstanding, 0);
  EXPECT_EQ(s.allocs, 0u);
  mk_mempool_destroy(pool);
  EXPECT_EQ(b.frees.load(), 5);
  EXPECT_EQ(b.live_count(), 0u);
}

TEST(MempoolCreate, ZeroMinNrIsAPoolWithoutReserve) {
  Backing b;
  mk_mempool_t* pool = mk_mempool_create(0, backing_alloc, backing_free, &b);
  ASSERT_NE(pool, nullptr);
  EXPECT_EQ(b.allocs.load(), 0);
  void* e = mk_mempool_alloc(pool, 0);
  ASSERT_NE(e, nullptr);
  mk_mempool_free(e, pool);  // the zero-minimum rule: an empty pool keeps one element
  EXPECT_EQ(stats(pool).curr_nr, 1);
  void* f = mk_mempool_alloc(pool, 0);  // from the backing: it did not fail
  mk_mempool_free(f, pool);             // the pool holds one already: to free_fn
  EXPECT_EQ(b.frees.load(), 1);
  mk_mempool_destroy(pool);
  EXPECT_EQ(b.live_count(), 0u);
}

TEST(MempoolCreate, RejectsBadArguments) {
  Backing b;
  errno = 0;
  EXPECT_EQ(mk_mempool_create(-1, backing_alloc, backing_free, &b), nullptr);
  EXPECT_EQ(errno, EINVAL);
  errno = 0;
  EXPECT_EQ(mk_mempool_create(1, nullptr, backing_free, &b), nullptr);
  EXPECT_EQ(errno, EINVAL);
  errno = 0;
  EXPECT_EQ(mk_mempool_create(1, backing_alloc, nullptr, &b), nullptr);
  EXPECT_EQ(errno, EINVAL);
  errno = 0;
  EXPECT_EQ(mk_mempool_create_slab_pool(1, nullptr), nullptr);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(b.allocs.load() + b.failures.load(), 0);
  mk_mempool_destroy(nullptr);  // ignored
  mk_mempool_free(nullptr, nullptr);  // ignored
}

TEST(MempoolCreate, FailsCleanlyWhenTheBackingFailsPartway) {
  Backing b;
  b.fail_after = 3;
  errno = 0;
  EXPECT_EQ(mk_mempool_create(5, backing_alloc, backing_free, &b), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  EXPECT_EQ(b.allocs.load(), 3);
  EXPECT_EQ(b.failures.load(), 1);
  EXPECT_EQ(b.frees.load(), 3);  // everything made is given back
  EXPECT_EQ(b.live_count(), 0u);
}

TEST(MempoolCreate, ALargeReserveOutgrowsTheFirstPage) {
  Backing b;
  mk_mempool_t* pool = mk_mempool_create(3000, backing_alloc, backing_free, &b);
  ASSERT_NE(pool, nullptr);
  EXPECT_EQ(stats(pool).curr_nr, 3000);
  b.fail = true;
  for (int i = 2999; i >= 0; --i) ASSERT_EQ(mk_mempool_alloc(pool, 0), b.order[i]);
  EXPECT_EQ(mk_mempool_alloc(pool, 0), nullptr);
  for (void* e : b.order) mk_mempool_free(e, pool);
  EXPECT_EQ(stats(pool).curr_nr, 3000);
  mk_mempool_destroy(pool);
  EXPECT_EQ(b.live_count(), 0u);
}

// ---- alloc and free ----

TEST(MempoolAlloc, PrefersTheBackingWithTheWeakenedMask) {
  Backing b;
  mk_mempool_t* pool = mk_mempool_create(2, backing_alloc, backing_free, &b);
  ASSERT_NE(pool, nullptr);
  b.take_gfps();
  void* e = mk_mempool_alloc(pool, MK_GFP_WAIT | 0x1u);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(b.allocs.load(), 3);
  EXPECT_EQ(b.take_gfps(), std::vector<unsigned>{0x1u});  // MK_GFP_WAIT masked off
  mk_mempool_stats s = stats(pool);
  EXPECT_EQ(s.curr_nr, 2);
  EXPECT_EQ(s.reserve_hits, 0u);
  EXPECT_EQ(s.outstanding, 1);
  mk_mempool_free(e, pool);  // the reserve is full: to free_fn
  EXPECT_EQ(b.frees.load(), 1);
  s = stats(pool);
  EXPECT_EQ(s.refills, 0u);
  EXPECT_EQ(s.outstanding, 0);
  mk_mempool_destroy(pool);
  EXPECT_EQ(b.live_count(), 0u);
}

TEST(MempoolAlloc, FallsBackToTheReserveLifoThenNull) {
  Backing b;
  mk_mempool_t* pool = mk_mempool_create(3, backing_alloc, backing_free, &b);
  ASSERT_NE(pool, nullptr);
  const std::vector<void*> pre = b.order;
  b.fail = true;
  b.take_gfps();
  EXPECT_EQ(mk_mempool_alloc(pool, 0), pre[2]);
  EXPECT_EQ(mk_mempool_alloc(pool, 0), pre[1]);
  EXPECT_EQ(mk_mempool_alloc(pool, 0), pre[0]);
  errno = 0;
  EXPECT_EQ(mk_mempool_alloc(pool, 0), nullptr);  // no MK_GFP_WAIT: no waiting
  EXPECT_EQ(errno, ENOMEM);
  // Without MK_GFP_WAIT the weakened mask is the full one: one backing call per alloc.
  EXPECT_EQ(b.take_gfps(), std::vector<unsigned>(4, 0u));
  const mk_mempool_stats s = stats(pool);
  EXPECT_EQ(s.reserve_hits, 3u);
  EXPECT_EQ(s.backing_failures, 4u);
  EXPECT_EQ(s.curr_nr, 0);
  EXPECT_EQ(s.outstanding, 3);
  for (void* e : pre) mk_mempool_free(e, pool);
  EXPECT_EQ(stats(pool).curr_nr, 3);
  EXPECT_EQ(b.frees.load(), 0);
  mk_mempool_destroy(pool);
  EXPECT_EQ(b.live_count(), 0u);
}

TEST(MempoolAlloc, RetriesTheBackingWithTheFullMaskBeforeWaiting) {
  Backing b;
  mk_mempool_t* pool = mk_mempool_create(1, backing_alloc, backing_free, &b);
  ASSERT_NE(pool, nullptr);
  b.fail = true;
  void* e = mk_mempool_alloc(pool, MK_GFP_WAIT);  // weakened try fails, reserve hit
  ASSERT_NE(e, nullptr);
  b.take_gfps();
  errno = 0;
  EXPECT_EQ(mk_mempool_alloc_timeout(pool, 0x1u, 0), nullptr);
  EXPECT_EQ(errno, ETIMEDOUT);
  const std::vector<unsigned> want{0x1u, 0x1u | MK_GFP_WAIT};
  EXPECT_EQ(b.take_gfps(), want);
  mk_mempool_free(e, pool);
  mk_mempool_destroy(pool);
  EXPECT_EQ(b.live_count(), 0u);
}

TEST(MempoolFree, RefillsTheReserveFirstThenCallsFreeFn) {
  Backing b;
  mk_mempool_t* pool = mk_mempool_create(2, backing_alloc, backing_free, &b);
  ASSERT_NE(pool, nullptr);
  b.fail = true;
  void* r1 = mk_mempool_alloc(pool, 0);
  void* r0 = mk_mempool_alloc(pool, 0);
  ASSERT_NE(r0, nullptr);
  ASSERT_NE(r1, nullptr);
  b.fail = false;
  void* c = mk_mempool_alloc(pool, 0);  // from the backing
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(stats(pool).curr_nr, 0);

  mk_mempool_free(c, pool);  // any element refills: the backing one too
  EXPECT_EQ(stats(pool).curr_nr, 1);
  mk_mempool_free(r0, pool);
  EXPECT_EQ(stats(pool).curr_nr, 2);
  EXPECT_EQ(b.frees.load(), 0);
  mk_mempool_free(r1, pool);  // full: to free_fn
  EXPECT_EQ(b.frees.load(), 1);
  const mk_mempool_stats s = stats(pool);
  EXPECT_EQ(s.refills, 2u);
  EXPECT_EQ(s.allocs, 3u);
  EXPECT_EQ(s.frees, 3u);
  // LIFO: the last element in is the first out.
  b.fail = true;
  EXPECT_EQ(mk_mempool_alloc(pool, 0), r0);
  EXPECT_EQ(mk_mempool_alloc(pool, 0), c);
  mk_mempool_free(r0, pool);
  mk_mempool_free(c, pool);
  mk_mempool_destroy(pool);
  EXPECT_EQ(b.live_count(), 0u);
}

TEST(MempoolAlloc, GfpZeroIsMaskedWithOneWarning) {
  Backing b;
  mk_mempool_t* pool = mk_mempool_create(1, backing_alloc, backing_free, &b);
  ASSERT_NE(pool, nullptr);
  b.take_gfps();
  testing::internal::CaptureStderr();
  void* e1 = mk_mempool_alloc(pool, MK_GFP_ZERO);
  void* e2 = mk_mempool_alloc(pool, MK_GFP_ZERO | MK_GFP_WAIT);
  const std::string err = testing::internal::GetCapturedStderr();
  // Once per process: only the first run of this test (the only user of MK_GFP_ZERO) sees it.
  static bool first_run = true;
  EXPECT_EQ(err, first_run ? "memkit: warning: mk_mempool_alloc: MK_GFP_ZERO is not supported "
                             "by mempools; ignored\n"
                           : "");
  first_run = false;
  EXPECT_EQ(b.take_gfps(), std::vector<unsigned>(2, 0u));
  mk_mempool_free(e1, pool);
  mk_mempool_free(e2, pool);
  mk_mempool_destroy(pool);
  EXPECT_EQ(b.live_count(), 0u);
}

// ---- resize ----

TEST(MempoolResize, ShrinksAndGrowsWithCounts) {
  Backing b;
  mk_mempool_t* pool = mk_mempool_create(4, backing_alloc, backing_free, &b);
  ASSERT_NE(pool, nullptr);

  EXPECT_EQ(mk_mempool_resize(pool, 2), 0);
  EXPECT_EQ(b.frees.load(), 2);
  mk_mempool_stats s = stats(pool);
  EXPECT_EQ(s.min_nr, 2);
  EXPECT_EQ(s.curr_nr, 2);

  b.take_gfps();
  EXPECT_EQ(mk_mempool_resize(pool, 6), 0);
  EXPECT_EQ(b.allocs.load(), 8);
  EXPECT_EQ(b.take_gfps(), std::vector<unsigned>(4, MK_GFP_KERNEL));
  s = stats(pool);
  EXPECT_EQ(s.min_nr, 6);
  EXPECT_EQ(s.curr_nr, 6);

  // Beyond the page the pool was created in: the array moves.
  EXPECT_EQ(mk_mempool_resize(pool, 2000), 0);
  s = stats(pool);
  EXPECT_EQ(s.min_nr, 2000);
  EXPECT_EQ(s.curr_nr, 2000);
  EXPECT_EQ(b.live_count(), 2000u);

  // The reserve survived the move, in order.
  b.fail = true;
  std::vector<void*> out;
  for (int i = 0; i < 2000; ++i) out.push_back(mk_mempool_alloc(pool, 0));
  // The shrink gave back the top two (order[3], order[2]); the grows appended order[4...].
  std::vector<void*> want(b.order.begin(), b.order.begin() + 2);
  want.insert(want.end(), b.order.begin() + 4, b.order.end());
  std::reverse(want.begin(), want.end());
  EXPECT_EQ(out, want);
  for (void* e : out) mk_mempool_free(e, pool);
  b.fail = false;

  EXPECT_EQ(mk_mempool_resize(pool, 1), 0);
  EXPECT_EQ(stats(pool).curr_nr, 1);
  EXPECT_EQ(b.live_count(), 1u);

  EXPECT_EQ(mk_mempool_resize(pool, 0), -EINVAL);
  EXPECT_EQ(mk_mempool_resize(pool, -3), -EINVAL);
  EXPECT_EQ(stats(pool).min_nr, 1);
  mk_mempool_destroy(pool);
  EXPECT_EQ(b.live_count(), 0u);
}

TEST(MempoolResize, GrowingStopsQuietlyAtAFailureAndFreesRefill) {
  Backing b;
  mk_mempool_t* pool = mk_mempool_create(2, backing_alloc, backing_free, &b);
  ASSERT_NE(pool, nullptr);
  b.fail_after = 4;  // two more succeed
  EXPECT_EQ(mk_mempool_resize(pool, 5), 0);
  mk_mempool_stats s = stats(pool);
  EXPECT_EQ(s.min_nr, 5);
  EXPECT_EQ(s.curr_nr, 4);
  b.fail_after = -1;
  void* e = mk_mempool_alloc(pool, 0);  // from the backing
  mk_mempool_free(e, pool);             // short reserve: kept
  s = stats(pool);
  EXPECT_EQ(s.curr_nr, 5);
  EXPECT_EQ(b.frees.load(), 0);
  mk_mempool_destroy(pool);
  EXPECT_EQ(b.frees.load(), 5);
  EXPECT_EQ(b.live_count(), 0u);
}

// ---- destroy ----

TEST(MempoolDestroy, FreesTheReserveSilentlyWhenAllCameBack) {
  Backing b;
  mk_mempool_t* pool = mk_mempool_create(3, backing_alloc, backing_free, &b);
  ASSERT_NE(pool, nullptr);
  void* e = mk_mempool_alloc(pool, 0);
  mk_mempool_free(e, pool);
  testing::internal::CaptureStderr();
  mk_mempool_destroy(pool);
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
  EXPECT_EQ(b.live_count(), 0u);
}

TEST(MempoolDestroy, ReportsOutstandingElementsAndLeavesThemToTheCaller) {
  Backing b;
  mk_mempool_t* pool = mk_mempool_create(2, backing_alloc, backing_free, &b);
  ASSERT_NE(pool, nullptr);
  b.fail = true;
  void* r = mk_mempool_alloc(pool, 0);  // from the reserve
  b.fail = false;
  void* x = mk_mempool_alloc(pool, 0);  // from the backing
  void* y = mk_mempool_alloc(pool, 0);
  mk_mempool_free(y, pool);             // back: refills the reserve
  EXPECT_EQ(stats(pool).outstanding, 2);
  testing::internal::CaptureStderr();
  mk_mempool_destroy(pool);
  EXPECT_EQ(testing::internal::GetCapturedStderr(),
            "memkit: warning: mempool destroyed with 2 elements still allocated\n");
  EXPECT_EQ(b.frees.load(), 2);  // the reserve
  EXPECT_EQ(b.live_count(), 2u);  // r and x are the caller's now
  backing_free(r, &b);
  backing_free(x, &b);
  EXPECT_EQ(b.live_count(), 0u);
}

// ---- waiting ----

TEST(MempoolWait, TimeoutReturnsNullWithEtimedoutAfterTheTimeout) {
  Backing b;
  mk_mempool_t* pool = mk_mempool_create(1, backing_alloc, backing_free, &b);
  ASSERT_NE(pool, nullptr);
  b.fail = true;
  void* e = mk_mempool_alloc(pool, 0);
  ASSERT_NE(e, nullptr);
  const auto t0 = Clock::now();
  errno = 0;
  EXPECT_EQ(mk_mempool_alloc_timeout(pool, 0, 150), nullptr);
  const auto waited = Clock::now() - t0;
  EXPECT_EQ(errno, ETIMEDOUT);
  EXPECT_GE(waited, milliseconds(150));
  EXPECT_LT(waited, milliseconds(3000));
  const mk_mempool_stats s = stats(pool);
  EXPECT_EQ(s.timeouts, 1u);
  EXPECT_GE(s.waits, 1u);
  EXPECT_EQ(s.waiters, 0);
  mk_mempool_free(e, pool);
  mk_mempool_destroy(pool);
  EXPECT_EQ(b.live_count(), 0u);
}

TEST(MempoolWait, AWaiterIsWokenByAFree) {
  Backing b;
  mk_mempool_t* pool = mk_mempool_create(1, backing_alloc, backing_free, &b);
  ASSERT_NE(pool, nullptr);
  b.fail = true;
  for (int round = 0; round < 2; ++round) {
    void* e = mk_mempool_alloc(pool, 0);
    ASSERT_NE(e, nullptr);
    std::thread freer([&] {
      // Free once the main thread sleeps in the pool.
      while (stats(pool).waiters == 0) std::this_thread::sleep_for(milliseconds(1));
      mk_mempool_free(e, pool);
    });
    const auto t0 = Clock::now();
    // Round 0: mk_mempool_alloc; round 1: the timeout API with a long timeout.
    void* got = round == 0 ? mk_mempool_alloc(pool, MK_GFP_WAIT)
                           : mk_mempool_alloc_timeout(pool, 0, 30000);
    const auto waited = Clock::now() - t0;
    freer.join();
    EXPECT_EQ(got, e);
    // Woken by the free, not by the 5 s retry.
    EXPECT_LT(waited, milliseconds(kWokenBoundMs));
    mk_mempool_free(got, pool);
  }
  mk_mempool_destroy(pool);
  EXPECT_EQ(b.live_count(), 0u);
}

// A free wakes every waiter (the kernel's wake_up): the first may get its element from the
// backing on its retry, and then the freed one must go to the other, not sit in the reserve
// while it sleeps on until the 5 s retry.
TEST(MempoolWait, AFreeWakesEveryWaiter) {
  Backing b;
  mk_mempool_t* pool = mk_mempool_create(1, backing_alloc, backing_free, &b);
  ASSERT_NE(pool, nullptr);
  b.fail = true;
  void* e = mk_mempool_alloc(pool, 0);
  ASSERT_NE(e, nullptr);
  void* got[2] = {nullptr, nullptr};
  const auto t0 = Clock::now();
  std::thread waiters[2];
  for (int i = 0; i < 2; ++i)
    waiters[i] = std::thread([&, i] { got[i] = mk_mempool_alloc(pool, MK_GFP_WAIT); });
  while (stats(pool).waiters < 2) std::this_thread::sleep_for(milliseconds(1));
  b.fail_after = b.allocs.load() + 1;  // the backing recovers for exactly one element
  b.fail = false;
  mk_mempool_free(e, pool);
  for (auto& w : waiters) w.join();
  EXPECT_LT(Clock::now() - t0, milliseconds(kWokenBoundMs));
  ASSERT_NE(got[0], nullptr);
  ASSERT_NE(got[1], nullptr);
  EXPECT_TRUE(got[0] == e || got[1] == e);
  mk_mempool_free(got[0], pool);
  mk_mempool_free(got[1], pool);
  mk_mempool_destroy(pool);
  EXPECT_EQ(b.live_count(), 0u);
}

TEST(MempoolWait, AZeroMinimumPoolWakesAWaiterWithTheFreedElement) {
  Backing b;
  mk_mempool_t* pool = mk_mempool_create(0, backing_alloc, backing_free, &b);
  ASSERT_NE(pool, nullptr);
  void* e = mk_mempool_alloc(pool, 0);
  ASSERT_NE(e, nullptr);
  b.fail = true;
  std::thread freer([&] {
    while (stats(pool).waiters == 0) std::this_thread::sleep_for(milliseconds(1));
    mk_mempool_free(e, pool);
  });
  const auto t0 = Clock::now();
  void* got = mk_mempool_alloc(pool, MK_GFP_WAIT);
  const auto waited = Clock::now() - t0;
  freer.join();
  EXPECT_EQ(got, e);
  EXPECT_LT(waited, milliseconds(kWokenBoundMs));
  mk_mempool_free(got, pool);
  mk_mempool_destroy(pool);
  EXPECT_EQ(b.live_count(), 0u);
}

// ---- backings ----

TEST(MempoolSlab, ARealCacheBacksThePool) {
  mk_cache_t* cache = mk_cache_create("test_mempool", 96, 0, 0, nullptr);
  ASSERT_NE(cache, nullptr);
  mk_mempool_t* pool = mk_mempool_create_slab_pool(8, cache);
  ASSERT_NE(pool, nullptr);
  EXPECT_EQ(stats(pool).curr_nr, 8);
  std::vector<void*> out;
  for (int i = 0; i < 100; ++i) {
    void* e = mk_mempool_alloc(pool, MK_GFP_WAIT);
    ASSERT_NE(e, nullptr);
    std::memset(e, i, 96);
    out.push_back(e);
  }
  EXPECT_EQ(stats(pool).reserve_hits, 0u);  // the cache never failed
  for (size_t i = 0; i < out.size(); ++i) {
    const auto* p = static_cast<const unsigned char*>(out[i]);
    EXPECT_TRUE(p[0] == static_cast<unsigned char>(i) && p[95] == static_cast<unsigned char>(i));
    mk_mempool_free(out[i], pool);
  }
  EXPECT_EQ(mk_mempool_resize(pool, 20), 0);
  EXPECT_EQ(stats(pool).curr_nr, 20);
  mk_mempool_destroy(pool);
  // Every object went back: the cache can be destroyed without complaint.
  EXPECT_EQ(mk_cache_destroy(cache), 0);
}

TEST(MempoolKmalloc, KmallocBacksThePool) {
  constexpr size_t kSize = 200;
  mk_mempool_t* pool = mk_mempool_create_kmalloc_pool(4, kSize);
  ASSERT_NE(pool, nullptr);
  EXPECT_EQ(stats(pool).curr_nr, 4);
  std::vector<void*> out;
  for (int i = 0; i < 64; ++i) {
    void* e = mk_mempool_alloc(pool, MK_GFP_WAIT);
    ASSERT_NE(e, nullptr);
    EXPECT_GE(mk_ksize(e), kSize);
    std::memset(e, i, kSize);
    out.push_back(e);
  }
  for (size_t i = 0; i < out.size(); ++i) {
    const auto* p = static_cast<const unsigned char*>(out[i]);
    EXPECT_TRUE(p[0] == static_cast<unsigned char>(i) &&
                p[kSize - 1] == static_cast<unsigned char>(i));
    mk_mempool_free(out[i], pool);
  }
  mk_mempool_stats s = stats(pool);
  EXPECT_EQ(s.curr_nr, 4);
  EXPECT_EQ(s.outstanding, 0);
  EXPECT_EQ(mk_mempool_resize(pool, 10), 0);
  EXPECT_EQ(stats(pool).curr_nr, 10);
  EXPECT_EQ(mk_mempool_resize(pool, 2), 0);
  EXPECT_EQ(stats(pool).curr_nr, 2);
  mk_mempool_destroy(pool);

  // A large element (beyond the kmalloc caches: whole pages).
  mk_mempool_t* big = mk_mempool_create_kmalloc_pool(2, 100 * 1024);
  ASSERT_NE(big, nullptr);
  void* e = mk_mempool_alloc(big, 0);
  ASSERT_NE(e, nullptr);
  std::memset(e, 0x5a, 100 * 1024);
  mk_mempool_free(e, big);
  mk_mempool_destroy(big);
}

// ---- THE guarantee ----

#ifdef MEMKIT_TEST_TSAN
constexpr int kIterations = 10000;
#else
constexpr int kIterations = 20000;
#endif
constexpr int kThreads = 4;

// The backing always fails (after filling the reserve): every element is a reserved one, so
// the threads can only make progress through mk_mempool_free waking mk_mempool_alloc.
void guarantee(int min_nr) {
  Backing b;
  mk_mempool_t* pool = mk_mempool_create(min_nr, backing_alloc, backing_free, &b);
  ASSERT_NE(pool, nullptr);
  b.fail = true;
  const std::set<void*> reserved(b.order.begin(), b.order.end());
  ASSERT_EQ(reserved.size(), static_cast<size_t>(min_nr));

  std::mutex mu;
  std::condition_variable cv;
  int finished = 0;
  std::atomic<int> nulls{0}, corrupt{0};
  std::vector<std::set<void*>> seen(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kIterations; ++i) {
        void* e = mk_mempool_alloc(pool, MK_GFP_WAIT);
        if (e == nullptr) {
          nulls.fetch_add(1);
          continue;
        }
        seen[t].insert(e);
        auto* p = static_cast<unsigned char*>(e);
        const auto v = static_cast<unsigned char>(t * 31 + i);
        std::memset(p, v, kElementSize);
        if (i % 4 == 0) std::this_thread::yield();  // hold it a while: others must wait
        for (size_t k = 0; k < kElementSize; ++k)
          if (p[k] != v) {
            corrupt.fetch_add(1);
            break;
          }
        mk_mempool_free(e, pool);
      }
      std::lock_guard<std::mutex> g(mu);
      ++finished;
      cv.notify_all();
    });
  }

  {
    std::unique_lock<std::mutex> lk(mu);
    if (!cv.wait_for(lk, std::chrono::seconds(60), [&] { return finished == kThreads; })) {
      std::fprintf(stderr, "mempool guarantee (min_nr %d): deadlock, %d of %d threads done\n",
                   min_nr, finished, kThreads);
      std::fflush(stderr);
      std::_Exit(1);  // the stuck threads cannot be joined
    }
  }
  for (auto& th : threads) th.join();

  EXPECT_EQ(nulls.load(), 0);
  EXPECT_EQ(corrupt.load(), 0);
  for (const auto& s : seen)
    for (void* e : s) EXPECT_EQ(reserved.count(e), 1u) << "an element not from the reserve";
  const mk_mempool_stats s = stats(pool);
  EXPECT_EQ(s.curr_nr, min_nr);  // every element came home
  EXPECT_EQ(s.outstanding, 0);
  EXPECT_EQ(s.allocs, static_cast<uint64_t>(kThreads) * kIterations);
  EXPECT_EQ(s.reserve_hits, s.allocs);
  EXPECT_EQ(s.refills, s.allocs);
  EXPECT_EQ(s.waiters, 0);
  EXPECT_EQ(b.frees.load(), 0);
  std::printf("min_nr %d: %llu allocs, %llu waits\n", min_nr,
              static_cast<unsigned long long>(s.allocs), static_cast<unsigned long long>(s.waits));
  mk_mempool_destroy(pool);
  EXPECT_EQ(b.frees.load(), min_nr);
  EXPECT_EQ(b.live_count(), 0u);
}

TEST(MempoolGuarantee, ThreadsFinishOnAFailingBackingMinNr1) { guarantee(1); }
TEST(MempoolGuarantee, ThreadsFinishOnAFailingBackingMinNr2) { guarantee(2); }

// A backing that fails one call in three: elements of both kinds mix, and none is lost (what
// the backing still has out is exactly what the reserve holds).
TEST(MempoolGuarantee, FlakyBackingLosesNothing) {
  Backing b;
  mk_mempool_t* pool = mk_mempool_create(2, backing_alloc, backing_free, &b);
  ASSERT_NE(pool, nullptr);
  b.flaky = 3;
  std::atomic<int> nulls{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&] {
      // One element at a time: a thread that sleeps for a second element while holding one
      // may wait for ever (the kernel's rule, see memkit.h).
      for (int i = 0; i < kIterations; ++i) {
        void* e = mk_mempool_alloc(pool, MK_GFP_WAIT);
        if (e == nullptr) nulls.fetch_add(1);
        mk_mempool_free(e, pool);
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(nulls.load(), 0);
  const mk_mempool_stats s = stats(pool);
  EXPECT_EQ(s.outstanding, 0);
  EXPECT_EQ(s.curr_nr, 2);
  EXPECT_EQ(b.live_count(), 2u);
  EXPECT_GT(s.reserve_hits, 0u);
  mk_mempool_destroy(pool);
  EXPECT_EQ(b.live_count(), 0u);
}

}  // namespace
