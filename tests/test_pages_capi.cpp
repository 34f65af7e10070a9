// Tests of the page allocator's C API (include/memkit/memkit.h, src/arena/pages_capi.cpp) and
// its C++ wrappers (include/memkit/pages.hpp), over the process's global page heap:
// mk_alloc_pages / mk_free_pages / mk_get_free_pages / mk_free_pages_addr / mk_page_order /
// mk_vmalloc / mk_vzalloc / mk_vfree / mk_purge / mk_get_page_stats / mk_buddyinfo; the fatal
// reports of refused frees (death tests); PageBlock and VmBlock; and the RSS check: 1 GiB
// allocated, touched, freed and purged leaves VmRSS within 10 MiB of where it started.
//
// The global heap is shared by the tests of this binary, so statistics are compared as deltas.
#include <errno.h>
#include <stdint.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "memkit/memkit.h"
#include "memkit/pages.hpp"
#include "test_support.h"

#if defined(__SANITIZE_THREAD__)
#define MEMKIT_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MEMKIT_TEST_TSAN 1
#endif
#endif

namespace {

constexpr size_t KiB = 1024, MiB = KiB * KiB;

const size_t kPage = static_cast<size_t>(sysconf(_SC_PAGESIZE));

mk_page_stats page_stats() {
  mk_page_stats s;
  mk_get_page_stats(&s);
  return s;
}

using memkit::testing::all_bytes;

// VmRSS from /proc/self/status, in bytes (0 if unreadable).
size_t vm_rss() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return 0;
  char line[256];
  size_t kib = 0;
  while (std::fgets(line, sizeof line, f) != nullptr)
    if (std::sscanf(line, "VmRSS: %zu kB", &kib) == 1) break;
  std::fclose(f);
  return kib * KiB;
}

TEST(PagesCapi, PageSize) { EXPECT_EQ(mk_page_size(), kPage); }

TEST(PagesCapi, AllocFreeEveryOrder) {
  for (unsigned order = 0; order <= MK_MAX_PAGE_ORDER; ++order) {
    SCOPED_TRACE(order);
    const mk_page_stats before = page_stats();
    void* p = mk_alloc_pages(MK_GFP_KERNEL, order);
    ASSERT_NE(p, nullptr);
    const size_t bytes = kPage << order;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % bytes, 0u);
    std::memset(p, 0x5c, bytes);
    EXPECT_EQ(mk_page_order(p), static_cast<int>(order));
    EXPECT_EQ(page_stats().allocated_pages, before.allocated_pages + (size_t{1} << order));
    mk_free_pages(p, order);
    EXPECT_EQ(mk_page_order(p), -1);
    EXPECT_EQ(page_stats().allocated_pages, before.allocated_pages);
  }
}

TEST(PagesCapi, GfpZero) {
  void* p = mk_alloc_pages(0, 4);
  ASSERT_NE(p, nullptr);
  std::memset(p, 0xff, kPage << 4);
  mk_free_pages(p, 4);
  void* q = mk_alloc_pages(MK_GFP_ZERO, 4);
  ASSERT_NE(q, nullptr);
  EXPECT_TRUE(all_bytes(q, kPage << 4, 0));
  mk_free_pages(q, 4);
}

TEST(PagesCapi, BadOrderIsEinval) {
  errno = 0;
  EXPECT_EQ(mk_alloc_pages(0, MK_MAX_PAGE_ORDER + 1), nullptr);
  EXPECT_EQ(errno, EINVAL);
  errno = 0;
  EXPECT_EQ(mk_get_free_pages(0, 99), 0ul);
  EXPECT_EQ(errno, EINVAL);
}

TEST(PagesCapi, GetFreePagesAddr) {
  const unsigned long a = mk_get_free_pages(MK_GFP_ZERO, 2);
  ASSERT_NE(a, 0ul);
  EXPECT_EQ(a % (kPage << 2), 0ul);
  EXPECT_TRUE(all_bytes(reinterpret_cast<void*>(a), kPage << 2, 0));
  EXPECT_EQ(mk_page_order(reinterpret_cast<void*>(a)), 2);
  mk_free_pages_addr(a, 2);
  EXPECT_EQ(mk_page_order(reinterpret_cast<void*>(a)), -1);
  mk_free_pages_addr(0, 3);  // ignored
  mk_free_pages(nullptr, 3);  // ignored
}

TEST(PagesCapi, PageOrderOfNonBlocks) {
  void* p = mk_alloc_pages(0, 3);
  ASSERT_NE(p, nullptr);
  int local = 0;
  EXPECT_EQ(mk_page_order(nullptr), -1);
  EXPECT_EQ(mk_page_order(&local), -1);
  EXPECT_EQ(mk_page_order(static_cast<char*>(p) + 1), -1);
  EXPECT_EQ(mk_page_order(static_cast<char*>(p) + kPage), -1);
  EXPECT_EQ(mk_page_order(p), 3);
  mk_free_pages(p, 3);
}

TEST(PagesCapi, Vmalloc) {
  const mk_page_stats before = page_stats();
  void* small = mk_vmalloc(3 * kPage + 1);
  ASSERT_NE(small, nullptr);
  EXPECT_EQ(mk_page_order(small), 2);
  std::memset(small, 0x12, 4 * kPage);
  mk_vfree(small);
  void* zs = mk_vzalloc(3 * kPage + 1);
  ASSERT_NE(zs, nullptr);
  EXPECT_TRUE(all_bytes(zs, 4 * kPage, 0));
  mk_vfree(zs);

  void* huge = mk_vmalloc(6 * MiB);
  ASSERT_NE(huge, nullptr);
  std::memset(huge, 0x34, 6 * MiB);
  EXPECT_EQ(mk_page_order(huge), -1) << "a direct mapping is not a page block";
  mk_page_stats s = page_stats();
  EXPECT_EQ(s.direct_mappings, before.direct_mappings + 1);
  EXPECT_EQ(s.direct_bytes, before.direct_bytes + 6 * MiB);
  void* zh = mk_vzalloc(5 * MiB + 1);
  ASSERT_NE(zh, nullptr);
  EXPECT_TRUE(all_bytes(zh, kPage, 0));
  EXPECT_TRUE(all_bytes(static_cast<char*>(zh) + 5 * MiB, kPage, 0));
  mk_vfree(huge);
  // The freed mapping is cached and comes back for the next one, zeroed by mk_vzalloc.
  EXPECT_GE(page_stats().direct_cached_bytes, 6 * MiB);
  void* again = mk_vzalloc(6 * MiB);
  ASSERT_NE(again, nullptr);
  EXPECT_TRUE(all_bytes(again, 6 * MiB, 0));
  mk_vfree(again);
  mk_vfree(zh);
  s = page_stats();
  EXPECT_EQ(s.direct_mappings, before.direct_mappings);
  EXPECT_EQ(s.direct_bytes, before.direct_bytes);
  EXPECT_GE(s.direct_cached_bytes, 11 * MiB) << "freed, kept until the decay time";
  mk_purge();
  s = page_stats();
  EXPECT_EQ(s.direct_cached_bytes, 0u);
  EXPECT_GE(s.unmapped_bytes, before.unmapped_bytes + 11 * MiB);

  mk_vfree(nullptr);
  EXPECT_EQ(mk_vmalloc(0), nullptr);
  errno = 0;
  EXPECT_EQ(mk_vmalloc(SIZE_MAX), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  errno = 0;
  EXPECT_EQ(mk_vzalloc(static_cast<size_t>(PTRDIFF_MAX) + 1), nullptr);
  EXPECT_EQ(errno, ENOMEM);
}

TEST(PagesCapi, StatsAndBuddyinfo) {
  void* p = mk_alloc_pages(0, 5);
  ASSERT_NE(p, nullptr);
  const mk_page_stats s = page_stats();
  EXPECT_GE(s.arenas, 1u);
  EXPECT_GE(s.arena_bytes, s.arenas * (kPage << MK_MAX_PAGE_ORDER));
  EXPECT_GE(s.allocated_pages, 32u);
  EXPECT_GT(s.metadata_pages, 0u);
  EXPECT_EQ((s.allocated_pages + s.free_pages + s.metadata_pages) * kPage, s.arena_bytes);
  size_t free_from_orders = 0;
  for (unsigned k = 0; k < MK_NR_PAGE_ORDERS; ++k) free_from_orders += s.nr_free[k] << k;
  EXPECT_EQ(free_from_orders, s.free_pages);

  const int needed = mk_buddyinfo(nullptr, 0);
  ASSERT_GT(needed, 0);
  std::vector<char> buf(static_cast<size_t>(needed) + 1);
  EXPECT_EQ(mk_buddyinfo(buf.data(), buf.size()), needed);
  const std::string text(buf.data());
  EXPECT_EQ(text.rfind("Node 0, zone   memkit", 0), 0u) << text;
  EXPECT_EQ(text.back(), '\n');
  size_t lines = 0;
  for (char c : text) lines += c == '\n';
  EXPECT_EQ(lines, s.arenas);
  mk_free_pages(p, 5);
}

TEST(PagesCapi, PurgeGivesBack) {
  void* p = mk_alloc_pages(0, 9);
  ASSERT_NE(p, nullptr);
  std::memset(p, 1, kPage << 9);
  mk_free_pages(p, 9);
  EXPECT_GE(mk_purge(), kPage << 9);
  EXPECT_EQ(page_stats().dirty_pages, 0u);
  EXPECT_EQ(memkit::purge(), 0u) << "nothing left";
}

// ---- fatal reports ----

class PagesCapiDeathTest : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(PagesCapiDeathTest, DoubleFree) {
  EXPECT_DEATH(
      {
        void* p = mk_alloc_pages(0, 1);
        mk_free_pages(p, 1);
        mk_free_pages(p, 1);
      },
      "memkit: ERROR: double-free mk_free_pages 0x[0-9a-f]+ \\(order 1\\): the block is already "
      "free");
  EXPECT_DEATH(
      {
        const unsigned long a = mk_get_free_pages(0, 0);
        mk_free_pages_addr(a, 0);
        mk_free_pages_addr(a, 0);
      },
      "memkit: ERROR: double-free mk_free_pages_addr 0x");
}

TEST_F(PagesCapiDeathTest, WrongOrder) {
  EXPECT_DEATH(
      {
        void* p = mk_alloc_pages(0, 3);
        mk_free_pages(p, 2);
      },
      "memkit: ERROR: invalid-free mk_free_pages .*allocated with order 3");
}

TEST_F(PagesCapiDeathTest, ForeignPointer) {
  int local = 0;
  EXPECT_DEATH(mk_free_pages(&local, 0), "memkit: ERROR: invalid-free mk_free_pages 0x");
  static char buf[8192];
  EXPECT_DEATH(mk_free_pages_addr(reinterpret_cast<unsigned long>(buf), 0),
               "invalid-free mk_free_pages_addr");
}

TEST_F(PagesCapiDeathTest, InteriorPointer) {
  EXPECT_DEATH(
      {
        char* p = static_cast<char*>(mk_alloc_pages(0, 2));
        mk_free_pages(p + kPage, 0);
      },
      "memkit: ERROR: invalid-free mk_free_pages 0x");
}

TEST_F(PagesCapiDeathTest, VfreeRefusals) {
  int local = 0;
  EXPECT_DEATH(mk_vfree(&local), "memkit: ERROR: invalid-free mk_vfree 0x");
  EXPECT_DEATH(
      {
        char* p = static_cast<char*>(mk_vmalloc(6 * MiB));
        mk_vfree(p + kPage);
      },
      "memkit: ERROR: invalid-free mk_vfree");
  EXPECT_DEATH(
      {
        void* p = mk_vmalloc(100);
        mk_vfree(p);
        mk_vfree(p);
      },
      "memkit: ERROR: double-free mk_vfree");
}

// ---- C++ wrappers ----

TEST(PagesCpp, PageBlockMoveAndFree) {
  void* raw = nullptr;
  {
    memkit::PageBlock b = memkit::PageBlock::allocate(3, MK_GFP_ZERO);
    ASSERT_TRUE(b);
    raw = b.data();
    EXPECT_EQ(b.order(), 3u);
    EXPECT_EQ(b.size(), kPage << 3);
    EXPECT_TRUE(all_bytes(raw, b.size(), 0));
    std::memset(raw, 7, b.size());

    memkit::PageBlock c(std::move(b));
    EXPECT_FALSE(b);  // NOLINT(bugprone-use-after-move): moved-from is empty
    EXPECT_EQ(b.size(), 0u);
    EXPECT_EQ(c.data(), raw);
    EXPECT_EQ(c.order(), 3u);

    memkit::PageBlock d;
    EXPECT_FALSE(d);
    d = std::move(c);
    EXPECT_FALSE(c);  // NOLINT(bugprone-use-after-move)
    EXPECT_EQ(d.data(), raw);
    memkit::PageBlock* alias = &d;
    d = std::move(*alias);  // self-move keeps the block
    EXPECT_EQ(d.data(), raw);
    EXPECT_EQ(mk_page_order(raw), 3);
  }
  EXPECT_EQ(mk_page_order(raw), -1) << "freed on destruction";
}

TEST(PagesCpp, PageBlockAssignFreesTheOldBlock) {
  memkit::PageBlock a = memkit::PageBlock::allocate(0);
  ASSERT_TRUE(a);
  void* old = a.data();
  a = memkit::PageBlock::allocate(1);
  ASSERT_TRUE(a);
  EXPECT_NE(a.data(), old);
  EXPECT_EQ(mk_page_order(old), -1);
  EXPECT_EQ(a.order(), 1u);
  EXPECT_EQ(mk_page_order(a.data()), 1);

  void* r = a.release();
  EXPECT_FALSE(a);
  EXPECT_EQ(mk_page_order(r), 1);
  mk_free_pages(r, 1);

  memkit::PageBlock b = memkit::PageBlock::allocate(2);
  void* rb = b.data();
  b.reset();
  EXPECT_FALSE(b);
  EXPECT_EQ(mk_page_order(rb), -1);
  b.reset();  // no-op

  errno = 0;
  memkit::PageBlock bad = memkit::PageBlock::allocate(MK_MAX_PAGE_ORDER + 1);
  EXPECT_FALSE(bad);
  EXPECT_EQ(errno, EINVAL);
}

TEST(PagesCpp, VmBlock) {
  const mk_page_stats before = page_stats();
  void* small_raw = nullptr;
  {
    memkit::VmBlock small = memkit::VmBlock::allocate(10000, /*zero=*/true);
    ASSERT_TRUE(small);
    EXPECT_EQ(small.size(), 10000u);
    EXPECT_TRUE(all_bytes(small.data(), 10000, 0));
    small_raw = small.data();
    EXPECT_EQ(mk_page_order(small_raw), 2);

    memkit::VmBlock huge = memkit::VmBlock::allocate(8 * MiB);
    ASSERT_TRUE(huge);
    std::memset(huge.data(), 1, huge.size());
    EXPECT_EQ(page_stats().direct_mappings, before.direct_mappings + 1);

    memkit::VmBlock moved(std::move(huge));
    EXPECT_FALSE(huge);  // NOLINT(bugprone-use-after-move)
    EXPECT_EQ(moved.size(), 8 * MiB);
    memkit::VmBlock other;
    other = std::move(moved);
    EXPECT_TRUE(other);
    EXPECT_EQ(page_stats().direct_mappings, before.direct_mappings + 1);
    other = memkit::VmBlock::allocate(5 * MiB);  // frees the 8 MiB mapping
    EXPECT_EQ(page_stats().direct_mappings, before.direct_mappings + 1);
    EXPECT_EQ(page_stats().direct_bytes, before.direct_bytes + 5 * MiB);
  }
  EXPECT_EQ(mk_page_order(small_raw), -1);
  const mk_page_stats after = page_stats();
  EXPECT_EQ(after.direct_mappings, before.direct_mappings);
  EXPECT_EQ(after.direct_bytes, before.direct_bytes);

  errno = 0;
  memkit::VmBlock none = memkit::VmBlock::allocate(SIZE_MAX);
  EXPECT_FALSE(none);
  EXPECT_EQ(none.size(), 0u);
  EXPECT_EQ(errno, ENOMEM);
}

// ---- RSS: memory goes back to the OS ----

TEST(PagesCapi, RssReturnsAfterFreeAndPurge) {
#ifdef MEMKIT_TEST_TSAN
  // Under TSan every touched page also costs shadow memory, and touching 1 GiB takes long.
  GTEST_SKIP() << "1 GiB RSS test skipped under ThreadSanitizer";
#endif
  constexpr unsigned kOrder = 8;
  const size_t block = kPage << kOrder;
  const size_t count = (size_t{1} << 30) / block;
  std::vector<void*> blocks;
  blocks.reserve(count);
  mk_purge();
  const size_t rss0 = vm_rss();
  ASSERT_GT(rss0, 0u) << "cannot read VmRSS";
  for (size_t i = 0; i < count; ++i) {
    char* p = static_cast<char*>(mk_alloc_pages(0, kOrder));
    ASSERT_NE(p, nullptr) << "block " << i;
    for (size_t off = 0; off < block; off += kPage) p[off] = static_cast<char>(i);
    blocks.push_back(p);
  }
  const size_t rss_peak = vm_rss();
  EXPECT_GE(rss_peak, rss0 + 900 * MiB) << "the pages were touched";
  for (void* p : blocks) mk_free_pages(p, kOrder);
  mk_purge();
  const size_t rss1 = vm_rss();
  EXPECT_LE(rss1, rss0 + 10 * MiB) << "VmRSS " << rss0 / KiB << " kB before, " << rss_peak / KiB
                                   << " kB at peak, " << rss1 / KiB << " kB after mk_purge()";
  const mk_page_stats s = page_stats();
  EXPECT_EQ(s.dirty_pages, 0u);
  EXPECT_EQ(s.allocated_pages, 0u);
}

}  // namespace
