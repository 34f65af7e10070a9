// memkit — the malloc layer's prefixed API (tests/test_malloc.cpp): mk_malloc and friends as
// libmemkit.a offers them without replacing the C library's malloc. The same semantics through
// the real names (LD_PRELOAD, static link) are checked by tests/preload/.
#include <errno.h>
#include <gtest/gtest.h>
#include <stdint.h>

#include <atomic>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "malloc/malloc.h"
#include "memkit/memkit.h"
#include "stats/report.h"

namespace {

volatile size_t g_huge = SIZE_MAX - 4096;

bool aligned(const void* p, size_t a) { return (reinterpret_cast<uintptr_t>(p) & (a - 1)) == 0; }

TEST(Malloc, EveryResultIs16ByteAlignedAndUsableToItsEnd) {
  for (size_t n = 0; n <= 70000; n = n < 64 ? n + 1 : n * 3 / 2) {
    char* p = static_cast<char*>(mk_malloc(n));
    ASSERT_NE(p, nullptr) << n;
    EXPECT_TRUE(aligned(p, 16)) << n;
    const size_t usable = mk_malloc_usable_size(p);
    EXPECT_GE(usable, n < 16 ? 16 : n);
    std::memset(p, 0x5a, usable);
    mk_free(p);
  }
}

TEST(Malloc, ZeroSizeIsAUniquePointer) {
  void* a = mk_malloc(0);
  void* b = mk_malloc(0);
  ASSERT_NE(a, nullptr);
  EXPECT_NE(a, b);
  mk_free(a);
  mk_free(b);
  mk_free(nullptr);
}

TEST(Malloc, ImpossibleSizesAreEnomem) {
  errno = 0;
  EXPECT_EQ(mk_malloc(g_huge), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  errno = 0;
  EXPECT_EQ(mk_calloc(g_huge, 2), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  errno = 0;
  EXPECT_EQ(mk_aligned_alloc(64, g_huge), nullptr);
  EXPECT_EQ(errno, ENOMEM);
}

TEST(Malloc, CallocZeroesReusedMemory) {
  std::vector<unsigned char*> dirty;
  for (int i = 0; i < 100; ++i) {
    auto* p = static_cast<unsigned char*>(mk_malloc(200));
    std::memset(p, 0xff, 200);
    dirty.push_back(p);
  }
  for (unsigned char* p : dirty) mk_free(p);
  for (int i = 0; i < 100; ++i) {
    auto* p = static_cast<unsigned char*>(mk_calloc(20, 10));
    for (int j = 0; j < 200; ++j) ASSERT_EQ(p[j], 0) << i << " " << j;
    mk_free(p);
  }
}

TEST(Malloc, ReallocSemantics) {
  void* zero = mk_realloc(nullptr, 0);  // = mk_malloc(0)
  EXPECT_NE(zero, nullptr);
  mk_free(zero);
  char* p = static_cast<char*>(mk_realloc(nullptr, 5));
  std::strcpy(p, "abcd");
  const size_t usable = mk_malloc_usable_size(p);
  EXPECT_EQ(mk_realloc(p, usable), p);  // fits: in place
  p = static_cast<char*>(mk_realloc(p, 1 << 20));
  ASSERT_NE(p, nullptr);
  EXPECT_STREQ(p, "abcd");
  errno = 0;
  EXPECT_EQ(mk_realloc(p, g_huge), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  EXPECT_STREQ(p, "abcd");  // untouched
  p = static_cast<char*>(mk_realloc(p, 3));
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(aligned(p, 16));
  EXPECT_EQ(std::memcmp(p, "abc", 3), 0);
  EXPECT_EQ(mk_realloc(p, 0), nullptr);  // frees
}

TEST(Malloc, AlignmentsUpTo64MiB) {
  for (size_t a = 1; a <= (size_t{64} << 20); a <<= 1) {
    for (size_t n : {size_t{1}, a / 2 + 1, a + 1, 3 * a}) {
      void* p = mk_aligned_alloc(a, n);
      ASSERT_NE(p, nullptr) << a << " " << n;
      EXPECT_TRUE(aligned(p, a)) << a << " " << n;
      EXPECT_TRUE(aligned(p, 16));
      EXPECT_GE(mk_malloc_usable_size(p), n);
      std::memset(p, 1, n);
      mk_free(p);
    }
  }
  errno = 0;
  EXPECT_EQ(mk_aligned_alloc(48, 10), nullptr);
  EXPECT_EQ(errno, EINVAL);
  void* out = nullptr;
  EXPECT_EQ(mk_posix_memalign(&out, 48, 10), EINVAL);
  EXPECT_EQ(mk_posix_memalign(&out, 4, 10), EINVAL);  // below sizeof(void *)
  EXPECT_EQ(mk_posix_memalign(&out, 64, g_huge), ENOMEM);
  EXPECT_EQ(out, nullptr);
  ASSERT_EQ(mk_posix_memalign(&out, 8192, 100), 0);
  EXPECT_TRUE(aligned(out, 8192));
  mk_free(out);
}

TEST(Malloc, RandomizedAgainstAModel) {
  // Blocks of random sizes and alignments, each filled with a pattern of its own, checked
  // before every free and realloc: nothing overlaps, nothing is lost.
  std::mt19937_64 rng(42);
  struct Block {
    unsigned char* p;
    size_t n;
    unsigned char tag;
  };
  std::vector<Block> live;
  auto check = [](const Block& b) {
    for (size_t i = 0; i < b.n; ++i)
      if (b.p[i] != b.tag) return false;
    return true;
  };
  for (int step = 0; step < 20000; ++step) {
    const unsigned op = rng() % 4;
    if (op < 2 || live.empty()) {
      const size_t n = (rng() % 4 == 0) ? rng() % 100000 : rng() % 600;
      unsigned char* p;
      if (rng() % 8 == 0)
        p = static_cast<unsigned char*>(mk_aligned_alloc(size_t{1} << (rng() % 14), n));
      else
        p = static_cast<unsigned char*>(mk_malloc(n));
      ASSERT_NE(p, nullptr);
      const auto tag = static_cast<unsigned char>(rng());
      std::memset(p, tag, n);
      live.push_back({p, n, tag});
    } else if (op == 2) {
      const size_t i = rng() % live.size();
      ASSERT_TRUE(check(live[i])) << step;
      mk_free(live[i].p);
      live[i] = live.back();
      live.pop_back();
    } else {
      Block& b = live[rng() % live.size()];
      ASSERT_TRUE(check(b)) << step;
      const size_t n = rng() % 20000 + 1;
      auto* p = static_cast<unsigned char*>(mk_realloc(b.p, n));
      ASSERT_NE(p, nullptr);
      for (size_t i = 0; i < std::min(n, b.n); ++i) ASSERT_EQ(p[i], b.tag);
      std::memset(p, b.tag, n);
      b.p = p;
      b.n = n;
    }
  }
  for (const Block& b : live) {
    ASSERT_TRUE(check(b));
    mk_free(b.p);
  }
}

TEST(Malloc, TrimGivesMemoryBack) {
  std::vector<void*> blocks;
  for (int i = 0; i < 50000; ++i) blocks.push_back(mk_malloc(300));
  for (void* p : blocks) mk_free(p);
  void* big = mk_malloc(32 << 20);
  std::memset(big, 1, 32 << 20);
  mk_free(big);
  EXPECT_EQ(mk_malloc_trim(), 1);
}

// The heap report's figures against a known sequence (memkit::heap_report, what malloc_stats
// and `memkit run --stats/--json` print): calls counted on every path (fast, slow, large,
// calloc, memalign, a realloc that moves), also by a thread that has exited since.
TEST(MallocReport, CountsCallsAndBytesInUse) {
  using memkit::HeapReport;
  HeapReport before;
  memkit::heap_report(&before);
  std::vector<void*> small, large;
  for (int i = 0; i < 1000; ++i) small.push_back(mk_malloc(100));           // kmalloc-112
  for (int i = 0; i < 10; ++i) large.push_back(mk_malloc(100000));          // 25 pages
  void* zeroed = mk_calloc(10, 10);                                          // kmalloc-112
  void* aligned = mk_aligned_alloc(8192, 8192);                              // 2 pages
  std::thread([&small] {
    for (int i = 0; i < 100; ++i) small.push_back(mk_malloc(100));
    for (int i = 0; i < 50; ++i) {
      mk_free(small.back());
      small.pop_back();
    }
  }).join();
  for (int i = 0; i < 400; ++i) {
    mk_free(small.back());
    small.pop_back();
  }
  for (int i = 0; i < 5; ++i) {
    mk_free(large.back());
    large.pop_back();
  }
  void* moved = mk_realloc(mk_malloc(16), 1000);  // an allocation, a move: +2 allocs, +1 free
  HeapReport after;
  memkit::heap_report(&after);
  EXPECT_EQ(after.allocations - before.allocations, 1000u + 10 + 1 + 1 + 100 + 2);
  EXPECT_EQ(after.frees - before.frees, 50u + 400 + 5 + 1);
  const size_t want = (650 + 1) * 112 + 5 * 25 * 4096 + 2 * 4096 + 1024;
  EXPECT_EQ(after.in_use_bytes - before.in_use_bytes, want);
  EXPECT_GE(after.peak_heap_bytes, after.heap_bytes);
  EXPECT_GT(after.peak_rss_bytes, 0u);
  for (void* p : small) mk_free(p);
  for (void* p : large) mk_free(p);
  mk_free(zeroed);
  mk_free(aligned);
  mk_free(moved);
  HeapReport last;
  memkit::heap_report(&last);
  EXPECT_EQ(last.allocations - last.frees, before.allocations - before.frees);
  EXPECT_EQ(last.in_use_bytes, before.in_use_bytes);
}

// A thread whose only blocks are large has no ThreadCache: its blocks were counted in the
// bytes in use but not in the calls (`memkit run --stats -- /bin/true` said "0 blocks (73728
// bytes) in use": libstdc++'s emergency pool, its only block).
TEST(MallocReport, BlocksOfAThreadWithOnlyLargeBlocksAreCounted) {
  std::thread([] {
    memkit::HeapReport before;
    memkit::heap_report(&before);
    void* big = mk_malloc(100000);  // 25 pages, no small block on this thread
    ASSERT_NE(big, nullptr);
    memkit::HeapReport during;
    memkit::heap_report(&during);
    EXPECT_EQ(during.allocations - before.allocations, 1u);
    EXPECT_EQ(during.frees, before.frees);
    EXPECT_EQ(during.in_use_bytes - before.in_use_bytes, 25u * 4096);
    mk_free(big);
    memkit::HeapReport after;
    memkit::heap_report(&after);
    EXPECT_EQ(after.frees - before.frees, 1u);
    EXPECT_EQ(after.in_use_bytes, before.in_use_bytes);
  }).join();
}

// The same seen from another thread, and after the large-only thread has exited: its counts
// go to the process's totals with it.
TEST(MallocReport, AnotherThreadsLargeBlocksAreCountedWhileItRunsAndAfterItExits) {
  memkit::HeapReport before;
  memkit::heap_report(&before);
  std::atomic<int> step{0};
  void* big = nullptr;
  std::thread t([&] {
    big = mk_malloc(100000);
    step = 1;
    while (step.load() != 2) std::this_thread::yield();
    mk_free(big);
  });
  while (step.load() != 1) std::this_thread::yield();
  ASSERT_NE(big, nullptr);
  memkit::HeapReport during;
  memkit::heap_report(&during);
  EXPECT_EQ(during.allocations - before.allocations, 1u);
  EXPECT_EQ(during.in_use_bytes - before.in_use_bytes, 25u * 4096);
  step = 2;
  t.join();
  memkit::HeapReport after;
  memkit::heap_report(&after);
  EXPECT_EQ(after.allocations - before.allocations, 1u);
  EXPECT_EQ(after.frees - before.frees, 1u);
  EXPECT_EQ(after.in_use_bytes, before.in_use_bytes);
}

using MallocDeathTest = ::testing::Test;

TEST(MallocDeathTest, FreeOfAStackPointerIsReported) {
  int local = 0;
  EXPECT_DEATH(mk_free(&local), "memkit: ERROR: invalid-free mk_free");
}

TEST(MallocDeathTest, FreeOfTheMiddleOfABlockIsReported) {
  char* p = static_cast<char*>(mk_malloc(100));
  EXPECT_DEATH(mk_free(p + 16), "memkit: ERROR: invalid-free mk_free");
  mk_free(p);
}

TEST(MallocDeathTest, DoubleFreeOfALargeBlockIsReported) {
  void* p = mk_malloc(1 << 20);
  mk_free(p);
  EXPECT_DEATH(mk_free(p), "memkit: ERROR: double-free mk_free");
}

TEST(MallocDeathTest, UsableSizeOfAGlobalIsReported) {
  static int global = 0;
  EXPECT_DEATH(mk_malloc_usable_size(&global), "memkit: ERROR: invalid-pointer mk_malloc_usable_size");
}

long rss_kib() {
  FILE* f = fopen("/proc/self/status", "r");
  if (f == nullptr) return -1;
  char line[256];
  long v = -1;
  while (fgets(line, sizeof line, f) != nullptr)
    if (strncmp(line, "VmRSS:", 6) == 0) sscanf(line + 6, "%ld", &v);
  fclose(f);
  return v;
}

// malloc_trim gives back at once what the decay would keep: this thread's magazines, the depots,
// empty slabs and every free page, also the small free blocks between slabs that stay in use
// (here one 2000-byte block in 100 is kept, so that every free run is short). glibc's trim
// leaves about 4 % of such a heap resident (one page per live block).
TEST(Malloc, TrimGivesBackTheFreePagesOfAFragmentedHeap) {
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "a sanitizer's shadow memory is in the resident set too";
#endif
  mk_malloc_trim();
  const long before = rss_kib();
  constexpr size_t kSize = 2000;
  constexpr size_t kCount = (size_t{200} << 20) / kSize;
  std::vector<void*> blocks(kCount);
  for (void*& p : blocks) {
    p = mk_malloc(kSize);
    ASSERT_NE(p, nullptr);
    std::memset(p, 1, kSize);
  }
  const long full = rss_kib();
  EXPECT_GT(full - before, 150 * 1024);
  for (size_t i = 0; i < kCount; ++i)
    if (i % 100 != 0) mk_free(blocks[i]);
  mk_malloc_trim();
  const long after = rss_kib();
  // The kept blocks' pages (2 MiB of blocks, 4 MiB of pages) and the heap's descriptors.
  EXPECT_LT(after - before, 24 * 1024) << "before " << before << " KiB, full " << full << " KiB, after trim " << after
                                       << " KiB";
  for (size_t i = 0; i < kCount; i += 100) mk_free(blocks[i]);
}

}  // namespace
