// Unit tests of the page heap's exact allocations (src/arena/page_heap.h: alloc_pages_exact,
// free_pages_exact, shrink_pages_exact, exact_pages; Arena::alloc_exact & co.), each over its
// own PageHeap with small arenas (16 MiB, orders 0..10, 4 KiB pages) on the FakeOs, so that
// every test also checks that destroying the heap gives back every byte it reserved.
//
// Covered: every page count 1..130 and a few up to 1024 taking exactly that many pages (the
// rest of the covering block back in the buddy, everything merging back on free); alignment to
// the covering order; direct mappings beyond the largest order; MK_GFP_ZERO after dirty reuse,
// including the tail of a dirty block, which must stay known as dirty; in-place shrinking;
// every refusal (foreign, interior, double, a block of alloc_pages or vmalloc, and exact blocks
// refused by free_pages and vfree) leaving the statistics unchanged.
#include <errno.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <ostream>
#include <vector>

#include "arena/page_heap.h"
#include "fake_os.h"
#include "memkit/buddy.hpp"
#include "test_support.h"
#include "page_heap_testing.h"

namespace memkit {
void PrintTo(BuddyStatus s, std::ostream* os) { *os << to_string(s); }
}  // namespace memkit

namespace {

using memkit::BuddyStatus;
using memkit::PageHeap;
using memkit::PageHeapConfig;
using memkit::test::FakeOs;
using memkit::test::FakeOsScope;

constexpr size_t KiB = 1024, MiB = KiB * KiB;
constexpr size_t kPage = 4096;

PageHeapConfig small_config() {
  PageHeapConfig c;
  c.arena.size = 16 * MiB;
  c.arena.page_shift = 12;
  c.arena.max_order = 10;
  c.arena.purge_order = 6;
  c.arena.lazy_decommit = false;
  c.arena.hugepage_hint = false;
  c.decay_ms = -1;
  c.release_arenas = true;
  return c;
}

using memkit::testing::all_bytes;
using memkit::testing::same_stats;
using memkit::testing::stats_of;

unsigned covering_order(size_t n) {
  unsigned k = 0;
  while ((size_t{1} << k) < n) ++k;
  return k;
}

class PagesExact : public ::testing::Test {
 protected:
  void SetUp() override { baseline_ = FakeOs::live_bytes(); }
  void TearDown() override {
    heap_.reset();
    EXPECT_EQ(FakeOs::live_bytes(), baseline_) << "the heap left memory mapped";
  }
  PageHeap& heap() {
    if (!heap_) heap_ = std::make_unique<PageHeap>(FakeOs::api(), small_config());
    return *heap_;
  }

  FakeOsScope scope_;
  long long baseline_ = 0;
  std::unique_ptr<PageHeap> heap_;
};

TEST_F(PagesExact, EveryCountTakesExactlyItsPages) {
  PageHeap& h = heap();
  h.free_pages(h.alloc_pages(0, 0), 0);  // make the arena
  const mk_page_stats initial = stats_of(h);
  std::vector<size_t> counts;
  for (size_t n = 1; n <= 130; ++n) counts.push_back(n);
  for (size_t n : {255u, 257u, 511u, 513u, 1000u, 1023u, 1024u}) counts.push_back(n);
  for (size_t n : counts) {
    char* p = static_cast<char*>(h.alloc_pages_exact(n, 0));
    ASSERT_NE(p, nullptr) << n;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % (kPage << covering_order(n)), 0u) << n;
    EXPECT_EQ(h.exact_pages(p), n);
    const mk_page_stats s = stats_of(h);
    EXPECT_EQ(s.allocated_pages - initial.allocated_pages, n) << n;
    EXPECT_EQ(initial.free_pages - s.free_pages, n) << n;
    p[0] = 1;
    p[n * kPage - 1] = 2;
    ASSERT_EQ(h.free_pages_exact(p), BuddyStatus::kOk) << n;
    const mk_page_stats after = stats_of(h);
    EXPECT_EQ(after.free_pages, initial.free_pages) << n;
    for (unsigned k = 0; k <= 10; ++k)
      EXPECT_EQ(after.nr_free[k], initial.nr_free[k]) << "n " << n << " order " << k;
  }
}

TEST_F(PagesExact, ManyAtOnceDoNotOverlap) {
  PageHeap& h = heap();
  std::vector<std::pair<char*, size_t>> live;
  for (size_t n = 1; n <= 60; ++n) {
    char* p = static_cast<char*>(h.alloc_pages_exact(n, 0));
    ASSERT_NE(p, nullptr);
    std::memset(p, static_cast<int>(n), n * kPage);
    live.emplace_back(p, n);
  }
  for (const auto& [p, n] : live) {
    ASSERT_TRUE(all_bytes(p, n * kPage, static_cast<unsigned char>(n))) << n;
    ASSERT_EQ(h.free_pages_exact(p), BuddyStatus::kOk);
  }
  EXPECT_EQ(stats_of(h).allocated_pages, 0u);
}

TEST_F(PagesExact, BeyondTheLargestOrderIsADirectMapping) {
  PageHeap& h = heap();
  for (size_t n : {1025u, 2000u, 4096u}) {
    const long long before_bytes = FakeOs::live_bytes();
    char* p = static_cast<char*>(h.alloc_pages_exact(n, MK_GFP_ZERO));
    ASSERT_NE(p, nullptr);
    const mk_page_stats s = stats_of(h);
    EXPECT_EQ(s.direct_mappings, 1u);
    EXPECT_EQ(s.direct_bytes, n * kPage);
    EXPECT_EQ(h.exact_pages(p), n);
    EXPECT_TRUE(h.owns(p + n * kPage - 1));
    p[n * kPage - 1] = 1;
    EXPECT_EQ(h.exact_pages(p + kPage), 0u);
    EXPECT_EQ(h.shrink_pages_exact(p, 10), BuddyStatus::kInvalidArgument) << "not in place";
    EXPECT_EQ(h.vfree(p), BuddyStatus::kNotBlockStart) << "not a vmalloc block";
    EXPECT_EQ(h.free_pages_exact(p + kPage), BuddyStatus::kNotBlockStart);
    ASSERT_EQ(h.free_pages_exact(p), BuddyStatus::kOk);
    EXPECT_EQ(stats_of(h).direct_mappings, 0u);
    EXPECT_FALSE(h.owns(p));
    // Cached for reuse (decay_ms = -1) until purge().
    EXPECT_EQ(stats_of(h).direct_cached_bytes, n * kPage);
    EXPECT_EQ(h.purge(), n * kPage);
    // The mapping is gone; what the first one made stays: an arena-map leaf for its address
    // range and a page of direct-mapping records (64 KiB each).
    EXPECT_LE(FakeOs::live_bytes() - before_bytes, 2 * 64 * 1024) << n;
  }
  EXPECT_EQ(h.alloc_pages_exact(0, 0), nullptr);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(h.alloc_pages_exact(~size_t{0} / 2, 0), nullptr);
  EXPECT_EQ(errno, ENOMEM);
}

TEST_F(PagesExact, ZeroingAfterDirtyReuseIncludingTheTail) {
  PageHeap& h = heap();
  // Dirty a 128-page block, give it back, then take 33 pages of it: the 33 must be zeroed and
  // the free tail (95 pages) must still be known as dirty, so that taking it with MK_GFP_ZERO
  // zeroes it too.
  char* block = static_cast<char*>(h.alloc_pages(7, 0));
  ASSERT_NE(block, nullptr);
  std::memset(block, 0xff, kPage << 7);
  ASSERT_EQ(h.free_pages(block, 7), BuddyStatus::kOk);
  char* p = static_cast<char*>(h.alloc_pages_exact(33, MK_GFP_ZERO));
  ASSERT_EQ(p, block) << "the lowest block again";
  EXPECT_TRUE(all_bytes(p, 33 * kPage, 0));
  // The tail's tiles: 33 o0, 34 o1, 36 o2, 40 o3, 48 o4, 64 o6. Take blocks of those orders
  // with MK_GFP_ZERO until each lands in the tail, and check every one is zero.
  std::vector<std::pair<void*, unsigned>> taken;
  for (unsigned order : {0u, 1u, 2u, 3u, 4u, 6u}) {
    bool in_tail = false;
    for (int tries = 0; tries < 64 && !in_tail; ++tries) {
      char* q = static_cast<char*>(h.alloc_pages(order, MK_GFP_ZERO));
      ASSERT_NE(q, nullptr);
      ASSERT_TRUE(all_bytes(q, kPage << order, 0)) << "order " << order << " not zeroed";
      taken.emplace_back(q, order);
      in_tail = q >= block + 33 * kPage && q < block + 128 * kPage;
    }
    EXPECT_TRUE(in_tail) << "order " << order;
  }
  for (const auto& [q, order] : taken) ASSERT_EQ(h.free_pages(q, order), BuddyStatus::kOk);
  ASSERT_EQ(h.free_pages_exact(p), BuddyStatus::kOk);
  // A purged block's pages read as zero again.
  char* r = static_cast<char*>(h.alloc_pages_exact(100, 0));
  std::memset(r, 0xee, 100 * kPage);
  ASSERT_EQ(h.free_pages_exact(r), BuddyStatus::kOk);
  EXPECT_GT(h.purge(), 0u);
  char* z = static_cast<char*>(h.alloc_pages_exact(100, MK_GFP_ZERO));
  EXPECT_TRUE(all_bytes(z, 100 * kPage, 0));
  ASSERT_EQ(h.free_pages_exact(z), BuddyStatus::kOk);
}

TEST_F(PagesExact, ShrinkInPlace) {
  PageHeap& h = heap();
  h.free_pages(h.alloc_pages(0, 0), 0);
  const mk_page_stats initial = stats_of(h);
  char* p = static_cast<char*>(h.alloc_pages_exact(100, 0));
  std::memset(p, 0x5a, 100 * kPage);
  const mk_page_stats before = stats_of(h);
  EXPECT_EQ(h.shrink_pages_exact(p, 0), BuddyStatus::kInvalidArgument);
  EXPECT_EQ(h.shrink_pages_exact(p, 101), BuddyStatus::kInvalidArgument);
  EXPECT_EQ(h.shrink_pages_exact(p + kPage, 10), BuddyStatus::kNotBlockStart);
  EXPECT_TRUE(same_stats(stats_of(h), before));
  ASSERT_EQ(h.shrink_pages_exact(p, 100), BuddyStatus::kOk);
  ASSERT_EQ(h.shrink_pages_exact(p, 37), BuddyStatus::kOk);
  EXPECT_EQ(h.exact_pages(p), 37u);
  EXPECT_EQ(stats_of(h).allocated_pages - initial.allocated_pages, 37u);
  EXPECT_TRUE(all_bytes(p, 37 * kPage, 0x5a));
  ASSERT_EQ(h.shrink_pages_exact(p, 1), BuddyStatus::kOk);
  EXPECT_EQ(stats_of(h).allocated_pages - initial.allocated_pages, 1u);
  ASSERT_EQ(h.free_pages_exact(p), BuddyStatus::kOk);
  const mk_page_stats after = stats_of(h);
  EXPECT_EQ(after.free_pages, initial.free_pages);
  for (unsigned k = 0; k <= 10; ++k) EXPECT_EQ(after.nr_free[k], initial.nr_free[k]) << k;
  // Only exact blocks shrink.
  void* b = h.alloc_pages(3, 0);
  EXPECT_EQ(h.shrink_pages_exact(b, 2), BuddyStatus::kWrongOrder);
  ASSERT_EQ(h.free_pages(b, 3), BuddyStatus::kOk);
}

TEST_F(PagesExact, RefusalsChangeNothing) {
  PageHeap& h = heap();
  char* e = static_cast<char*>(h.alloc_pages_exact(25, 0));  // tiles o4, o3, o0
  char* b = static_cast<char*>(h.alloc_pages(2, 0));
  char* v = static_cast<char*>(h.vmalloc(6 * MiB, 0));  // a direct mapping
  ASSERT_TRUE(e && b && v);
  const mk_page_stats before = stats_of(h);
  int local = 0;
  EXPECT_EQ(h.free_pages_exact(&local), BuddyStatus::kOutOfRange);
  EXPECT_EQ(h.free_pages_exact(b), BuddyStatus::kWrongOrder) << "a block of alloc_pages";
  EXPECT_EQ(h.free_pages_exact(v), BuddyStatus::kWrongOrder) << "a vmalloc block";
  EXPECT_EQ(h.free_pages_exact(e + kPage), BuddyStatus::kNotBlockStart);
  EXPECT_EQ(h.free_pages_exact(e + 16 * kPage), BuddyStatus::kNotBlockStart) << "a later tile";
  EXPECT_EQ(h.free_pages_exact(e + 24 * kPage), BuddyStatus::kNotBlockStart);
  EXPECT_EQ(h.free_pages_exact(e + 100), BuddyStatus::kMisaligned);
  void* arena_base = reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(h.page_desc(e)) &
                                             ~(uintptr_t{16 * MiB} - 1));
  EXPECT_EQ(h.free_pages_exact(arena_base), BuddyStatus::kNotBlockStart) << "metadata";
  // The other frees refuse an exact block.
  EXPECT_NE(h.free_pages(e, 4), BuddyStatus::kOk);
  EXPECT_NE(h.free_pages(e, 5), BuddyStatus::kOk);
  EXPECT_EQ(h.vfree(e), BuddyStatus::kNotBlockStart);
  unsigned order = 0;
  EXPECT_NE(h.order_of(e, &order), BuddyStatus::kOk);
  EXPECT_EQ(h.exact_pages(b), 0u);
  EXPECT_EQ(h.exact_pages(v), 0u);
  EXPECT_EQ(h.exact_pages(&local), 0u);
  EXPECT_EQ(h.exact_pages(e + 100), 0u);
  EXPECT_TRUE(same_stats(stats_of(h), before));
  ASSERT_EQ(h.free_pages_exact(e), BuddyStatus::kOk);
  EXPECT_EQ(h.free_pages_exact(e), BuddyStatus::kDoubleFree);
  EXPECT_EQ(h.free_pages_exact(e + 16 * kPage), BuddyStatus::kDoubleFree);
  ASSERT_EQ(h.free_pages(b, 2), BuddyStatus::kOk);
  ASSERT_EQ(h.vfree(v), BuddyStatus::kOk);
}

}  // namespace
