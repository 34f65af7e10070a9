// Unit tests of the page heap (src/arena/page_heap.h), each over its own PageHeap with small
// arenas (16 MiB, orders 0..10, 4 KiB pages) on the FakeOs of tests/fake_os.h, so that every
// test also checks that destroying the heap gives back every byte it reserved.
//
// Covered: alloc/free of every order, alignment, writability; MK_GFP_ZERO after a block was
// dirtied (also after a purge, with MADV_DONTNEED and with MADV_FREE); order_of; owns(); every
// refused free (foreign, double, wrong order, interior, metadata, bad order) leaving the stats
// unchanged; arenas created on demand; vmalloc small and huge (direct mappings), vfree and its
// refusals, vmalloc(0) and absurd sizes; purge() and the release of idle arenas; the decay
// time (0, -1, 200 ms); ENOMEM injection at every OS reserve the heap makes, with no leak and
// recovery afterwards; a failing decommit; format_buddyinfo; and the window in which a new
// arena is live but not yet in the arena map.
#include <errno.h>
#include <stdint.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <ostream>
#include <sstream>
#include <string>
#include <thread>
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

using memkit::ArenaMap;
using memkit::BuddyStatus;
using memkit::PageHeap;
using memkit::PageHeapConfig;
using memkit::test::FakeOs;
using memkit::test::FakeOsScope;

constexpr size_t KiB = 1024, MiB = KiB * KiB;
constexpr size_t kPage = 4096;
constexpr size_t kArenaSize = 16 * MiB;
constexpr unsigned kMaxOrder = 10;

PageHeapConfig small_config(long decay_ms = -1) {
  PageHeapConfig c;
  c.arena.size = kArenaSize;
  c.arena.page_shift = 12;
  c.arena.max_order = kMaxOrder;
  c.arena.purge_order = 6;
  c.arena.lazy_decommit = false;
  c.arena.hugepage_hint = false;
  c.decay_ms = decay_ms;
  c.release_arenas = true;
  return c;
}

size_t block_bytes(unsigned order) { return kPage << order; }

using memkit::testing::all_bytes;
using memkit::testing::same_stats;
using memkit::testing::stats_of;

// Every test gets a heap over FakeOs, and a check that destroying it releases everything.
class PageHeapTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (sysconf(_SC_PAGESIZE) != static_cast<long>(kPage)) GTEST_SKIP() << "needs 4 KiB pages";
    baseline_ = FakeOs::live_bytes();
    make(small_config());
  }
  void TearDown() override {
    heap_.reset();
    EXPECT_EQ(FakeOs::live_bytes(), baseline_) << "the page heap leaked OS memory";
    EXPECT_EQ(FakeOs::live_regions(), baseline_regions_);
  }
  void make(const PageHeapConfig& config) {
    heap_.reset();
    baseline_regions_ = FakeOs::live_regions();
    heap_ = std::make_unique<PageHeap>(FakeOs::api(), config);
  }
  PageHeap& heap() { return *heap_; }

  FakeOsScope scope_;
  long long baseline_ = 0;
  long baseline_regions_ = 0;
  std::unique_ptr<PageHeap> heap_;
};

// ---- allocation and freeing ----

TEST_F(PageHeapTest, AllocFreeEveryOrder) {
  EXPECT_EQ(heap().page_size(), kPage);
  for (unsigned order = 0; order <= kMaxOrder; ++order) {
    SCOPED_TRACE(order);
    void* p = heap().alloc_pages(order, 0);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % block_bytes(order), 0u) << p;
    std::memset(p, static_cast<int>(order + 1), block_bytes(order));
    unsigned got = 99;
    EXPECT_EQ(heap().order_of(p, &got), BuddyStatus::kOk);
    EXPECT_EQ(got, order);
    EXPECT_TRUE(heap().owns(p));
    EXPECT_TRUE(heap().owns(static_cast<char*>(p) + block_bytes(order) - 1));
    const mk_page_stats s = stats_of(heap());
    EXPECT_EQ(s.arenas, 1u);
    EXPECT_EQ(s.allocated_pages, size_t{1} << order);
    EXPECT_EQ(heap().free_pages(p, order), BuddyStatus::kOk);
    EXPECT_EQ(stats_of(heap()).allocated_pages, 0u);
  }
}

TEST_F(PageHeapTest, ManyBlocksOfEveryOrderDoNotOverlap) {
  struct Block {
    void* p;
    unsigned order;
  };
  std::vector<Block> blocks;
  for (int round = 0; round < 3; ++round)
    for (unsigned order = 0; order <= 8; ++order) {
      void* p = heap().alloc_pages(order, 0);
      ASSERT_NE(p, nullptr);
      blocks.push_back({p, order});
      auto* w = static_cast<uint64_t*>(p);
      for (size_t i = 0; i < block_bytes(order) / 8; i += 512) w[i] = reinterpret_cast<uintptr_t>(p);
    }
  for (const Block& b : blocks) {
    const auto* w = static_cast<const uint64_t*>(b.p);
    for (size_t i = 0; i < block_bytes(b.order) / 8; i += 512)
      ASSERT_EQ(w[i], reinterpret_cast<uintptr_t>(b.p)) << "blocks overlap";
  }
  EXPECT_EQ(stats_of(heap()).allocated_pages, 3 * ((size_t{1} << 9) - 1));
  for (const Block& b : blocks) EXPECT_EQ(heap().free_pages(b.p, b.order), BuddyStatus::kOk);
  EXPECT_EQ(stats_of(heap()).allocated_pages, 0u);
}

TEST_F(PageHeapTest, OrderAboveMaxIsEinval) {
  errno = 0;
  EXPECT_EQ(heap().alloc_pages(kMaxOrder + 1, 0), nullptr);
  EXPECT_EQ(errno, EINVAL);
  errno = 0;
  EXPECT_EQ(heap().alloc_pages(~0u, MK_GFP_ZERO), nullptr);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(stats_of(heap()).arenas, 0u) << "no arena made for a bad order";
}

TEST_F(PageHeapTest, SmallerMaxOrder) {
  PageHeapConfig c = small_config();
  c.arena.max_order = 4;
  make(c);
  void* p = heap().alloc_pages(4, 0);
  ASSERT_NE(p, nullptr);
  errno = 0;
  EXPECT_EQ(heap().alloc_pages(5, 0), nullptr);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(heap().free_pages(p, 5), BuddyStatus::kBadOrder);
  EXPECT_EQ(heap().free_pages(p, 4), BuddyStatus::kOk);
  // vmalloc beyond order 4 (64 KiB) is a direct mapping.
  void* v = heap().vmalloc(100 * KiB, 0);
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(stats_of(heap()).direct_mappings, 1u);
  EXPECT_EQ(heap().vfree(v), BuddyStatus::kOk);
  EXPECT_EQ(stats_of(heap()).direct_mappings, 0u);
}

// An arena of exactly 2^max_order pages cannot hold a block of max_order next to its own
// metadata. Whatever the heap does with such a configuration (refuse it, or serve the smaller
// orders), a failed allocation must not leave a new, useless arena behind each time.
TEST_F(PageHeapTest, ArenaTooSmallForTheLargestOrderDoesNotPileUp) {
  PageHeapConfig c = small_config();
  c.arena.size = 4 * MiB;
  make(c);
  for (int i = 0; i < 4; ++i) {
    errno = 0;
    EXPECT_EQ(heap().alloc_pages(kMaxOrder, 0), nullptr);
    EXPECT_EQ(errno, ENOMEM);
  }
  EXPECT_LE(stats_of(heap()).arenas, 1u);
}

// ---- zeroing ----

TEST_F(PageHeapTest, GfpZeroAfterDirtyFree) {
  for (unsigned order : {0u, 3u, 6u, 10u}) {
    SCOPED_TRACE(order);
    void* p = heap().alloc_pages(order, 0);
    ASSERT_NE(p, nullptr);
    std::memset(p, 0xab, block_bytes(order));
    ASSERT_EQ(heap().free_pages(p, order), BuddyStatus::kOk);
    void* q = heap().alloc_pages(order, MK_GFP_ZERO);
    ASSERT_NE(q, nullptr);
    EXPECT_EQ(q, p) << "expected the same block back (address-ordered buddy)";
    EXPECT_TRUE(all_bytes(q, block_bytes(order), 0));
    std::memset(q, 0xcd, block_bytes(order));
    ASSERT_EQ(heap().free_pages(q, order), BuddyStatus::kOk);
  }
  // A dirty large block split into small zeroed ones.
  void* big = heap().alloc_pages(6, 0);
  ASSERT_NE(big, nullptr);
  std::memset(big, 0xee, block_bytes(6));
  ASSERT_EQ(heap().free_pages(big, 6), BuddyStatus::kOk);
  std::vector<void*> small;
  for (int i = 0; i < 64; ++i) {
    void* p = heap().alloc_pages(0, MK_GFP_ZERO);
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(all_bytes(p, kPage, 0)) << "page " << i << " at " << p;
    small.push_back(p);
  }
  for (void* p : small) EXPECT_EQ(heap().free_pages(p, 0), BuddyStatus::kOk);
}

TEST_F(PageHeapTest, WithoutGfpZeroContentsMayStay) {
  void* p = heap().alloc_pages(2, 0);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(all_bytes(p, block_bytes(2), 0)) << "fresh pages read zero";
  std::memset(p, 0x42, block_bytes(2));
  ASSERT_EQ(heap().free_pages(p, 2), BuddyStatus::kOk);
  void* q = heap().alloc_pages(2, 0);
  ASSERT_EQ(q, p);
  EXPECT_EQ(static_cast<unsigned char*>(q)[0], 0x42) << "no zeroing cost without MK_GFP_ZERO";
  ASSERT_EQ(heap().free_pages(q, 2), BuddyStatus::kOk);
}

// After purge() the heap believes the pages read as zero and skips the memset of MK_GFP_ZERO.
// One block stays allocated so that the arena is not unmapped by purge().
void zero_after_purge(PageHeap& heap) {
  void* hold = heap.alloc_pages(0, 0);
  ASSERT_NE(hold, nullptr);
  void* p = heap.alloc_pages(6, 0);
  ASSERT_NE(p, nullptr);
  std::memset(p, 0xab, block_bytes(6));
  ASSERT_EQ(heap.free_pages(p, 6), BuddyStatus::kOk);
  EXPECT_GT(heap.purge(), 0u);
  EXPECT_EQ(stats_of(heap).dirty_pages, 0u);
  void* q = heap.alloc_pages(6, MK_GFP_ZERO);
  ASSERT_EQ(q, p);
  EXPECT_TRUE(all_bytes(q, block_bytes(6), 0)) << "MK_GFP_ZERO block is not zero";
  ASSERT_EQ(heap.free_pages(q, 6), BuddyStatus::kOk);
  ASSERT_EQ(heap.free_pages(hold, 0), BuddyStatus::kOk);
}

TEST_F(PageHeapTest, GfpZeroAfterPurge) { zero_after_purge(heap()); }

// MADV_FREE keeps the old contents until the kernel needs the memory, so pages purged lazily
// are not known to read as zero.
TEST_F(PageHeapTest, GfpZeroAfterLazyPurge) {
  PageHeapConfig c = small_config();
  c.arena.lazy_decommit = true;
  make(c);
  zero_after_purge(heap());
}

// ---- order_of and owns ----

TEST_F(PageHeapTest, OrderOf) {
  void* blocks[kMaxOrder + 1];
  for (unsigned order = 0; order <= kMaxOrder; ++order) {
    blocks[order] = heap().alloc_pages(order, 0);
    ASSERT_NE(blocks[order], nullptr);
  }
  for (unsigned order = 0; order <= kMaxOrder; ++order) {
    unsigned got = 99;
    EXPECT_EQ(heap().order_of(blocks[order], &got), BuddyStatus::kOk);
    EXPECT_EQ(got, order);
  }
  unsigned got = 99;
  EXPECT_EQ(heap().order_of(static_cast<char*>(blocks[3]) + 1, &got), BuddyStatus::kMisaligned);
  EXPECT_EQ(heap().order_of(static_cast<char*>(blocks[3]) + kPage, &got),
            BuddyStatus::kNotBlockStart);
  int local = 0;
  EXPECT_EQ(heap().order_of(&local, &got), BuddyStatus::kOutOfRange);
  EXPECT_EQ(heap().order_of(nullptr, &got), BuddyStatus::kOutOfRange);
  EXPECT_EQ(got, 99u);
  for (unsigned order = 0; order <= kMaxOrder; ++order)
    ASSERT_EQ(heap().free_pages(blocks[order], order), BuddyStatus::kOk);
  EXPECT_EQ(heap().order_of(blocks[5], &got), BuddyStatus::kDoubleFree);
}

TEST_F(PageHeapTest, Owns) {
  void* p = heap().alloc_pages(4, 0);
  ASSERT_NE(p, nullptr);
  char* c = static_cast<char*>(p);
  EXPECT_TRUE(heap().owns(p));
  EXPECT_TRUE(heap().owns(c + 1));
  EXPECT_TRUE(heap().owns(c + block_bytes(4) / 2 + 7));
  EXPECT_TRUE(heap().owns(c + block_bytes(4) - 1));
  const uintptr_t base = reinterpret_cast<uintptr_t>(p) & ~(kArenaSize - 1);
  EXPECT_TRUE(heap().owns(reinterpret_cast<void*>(base))) << "the arena's metadata is memkit's";
  int local = 0;
  void* m = std::malloc(100);
  EXPECT_FALSE(heap().owns(&local));
  EXPECT_FALSE(heap().owns(m));
  EXPECT_FALSE(heap().owns(nullptr));
  EXPECT_FALSE(heap().owns(reinterpret_cast<void*>(base - 1)));
  EXPECT_FALSE(heap().owns(reinterpret_cast<void*>(base + kArenaSize)));
  EXPECT_FALSE(heap().owns(reinterpret_cast<void*>(uintptr_t{1} << 47)));
  EXPECT_FALSE(heap().owns(reinterpret_cast<void*>(UINTPTR_MAX)));
  std::free(m);
  ASSERT_EQ(heap().free_pages(p, 4), BuddyStatus::kOk);
  heap().purge();
  ASSERT_EQ(stats_of(heap()).arenas, 0u);
  EXPECT_FALSE(heap().owns(p)) << "an unmapped arena is no longer memkit's";
}

// ---- refused frees: the status, and nothing changed ----

class RefusedFree : public PageHeapTest {
 protected:
  // free_pages(p, order) must return `want` and leave the stats as they were.
  void expect_refused(void* p, unsigned order, BuddyStatus want) {
    const mk_page_stats before = stats_of(heap());
    EXPECT_EQ(heap().free_pages(p, order), want) << "free_pages(" << p << ", " << order << ")";
    EXPECT_TRUE(same_stats(before, stats_of(heap()))) << "state changed by a refused free";
  }
};

TEST_F(RefusedFree, ForeignPointers) {
  void* keep = heap().alloc_pages(0, 0);  // an arena exists
  ASSERT_NE(keep, nullptr);
  int local = 0;
  void* m = std::malloc(kPage);
  alignas(4096) static char static_page[4096];
  expect_refused(&local, 0, BuddyStatus::kOutOfRange);
  expect_refused(m, 0, BuddyStatus::kOutOfRange);
  expect_refused(static_page, 0, BuddyStatus::kOutOfRange);
  expect_refused(nullptr, 0, BuddyStatus::kOutOfRange);
  expect_refused(reinterpret_cast<void*>(uintptr_t{1} << 47), 0, BuddyStatus::kOutOfRange);
  std::free(m);
  EXPECT_EQ(heap().free_pages(keep, 0), BuddyStatus::kOk);
}

TEST_F(RefusedFree, DoubleFree) {
  void* a = heap().alloc_pages(3, 0);
  void* keep = heap().alloc_pages(3, 0);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(keep, nullptr);
  ASSERT_EQ(heap().free_pages(a, 3), BuddyStatus::kOk);
  expect_refused(a, 3, BuddyStatus::kDoubleFree);
  ASSERT_EQ(heap().free_pages(keep, 3), BuddyStatus::kOk);
  expect_refused(keep, 3, BuddyStatus::kDoubleFree);
}

TEST_F(RefusedFree, DoubleFreeAfterCoalescing) {
  // Two buddies: after both are freed they merge; freeing either again is a double free.
  // Allocate pages until the last two are buddies (the first ones fill the odd fragments
  // the arena's metadata leaves); the others stay allocated.
  std::vector<void*> keep;
  void* lo = nullptr;
  void* hi = nullptr;
  for (int i = 0; i < 16 && hi == nullptr; ++i) {
    void* p = heap().alloc_pages(0, 0);
    ASSERT_NE(p, nullptr);
    if (!keep.empty() &&
        (reinterpret_cast<uintptr_t>(keep.back()) ^ reinterpret_cast<uintptr_t>(p)) == kPage) {
      lo = keep.back();
      keep.pop_back();
      hi = p;
    } else {
      keep.push_back(p);
    }
  }
  ASSERT_NE(hi, nullptr) << "no two order-0 blocks in a row were buddies";
  ASSERT_EQ(heap().free_pages(lo, 0), BuddyStatus::kOk);
  ASSERT_EQ(heap().free_pages(hi, 0), BuddyStatus::kOk);
  expect_refused(lo, 0, BuddyStatus::kDoubleFree);
  expect_refused(hi, 0, BuddyStatus::kDoubleFree);
  expect_refused(lo, 1, BuddyStatus::kDoubleFree);
  for (void* p : keep) ASSERT_EQ(heap().free_pages(p, 0), BuddyStatus::kOk);
}

TEST_F(RefusedFree, WrongOrder) {
  void* p = heap().alloc_pages(4, 0);
  ASSERT_NE(p, nullptr);
  expect_refused(p, 3, BuddyStatus::kWrongOrder);
  expect_refused(p, 5, BuddyStatus::kWrongOrder);
  expect_refused(p, 0, BuddyStatus::kWrongOrder);
  expect_refused(p, kMaxOrder + 1, BuddyStatus::kBadOrder);
  expect_refused(p, ~0u, BuddyStatus::kBadOrder);
  EXPECT_EQ(heap().free_pages(p, 4), BuddyStatus::kOk);
}

TEST_F(RefusedFree, InteriorPointers) {
  void* p = heap().alloc_pages(4, 0);
  ASSERT_NE(p, nullptr);
  char* c = static_cast<char*>(p);
  expect_refused(c + 1, 4, BuddyStatus::kMisaligned);
  expect_refused(c + kPage - 1, 0, BuddyStatus::kMisaligned);
  for (size_t page : {size_t{1}, size_t{2}, size_t{8}, size_t{15}}) {
    const mk_page_stats before = stats_of(heap());
    for (unsigned order : {0u, 1u, 3u, 4u}) {
      const BuddyStatus st = heap().free_pages(c + page * kPage, order);
      EXPECT_TRUE(st == BuddyStatus::kNotBlockStart || st == BuddyStatus::kMisaligned)
          << "page " << page << " order " << order << ": " << memkit::to_string(st);
    }
    EXPECT_TRUE(same_stats(before, stats_of(heap())));
  }
  EXPECT_EQ(heap().free_pages(p, 4), BuddyStatus::kOk);
}

TEST_F(RefusedFree, ArenaMetadata) {
  void* p = heap().alloc_pages(0, 0);
  ASSERT_NE(p, nullptr);
  char* base = reinterpret_cast<char*>(reinterpret_cast<uintptr_t>(p) & ~(kArenaSize - 1));
  for (unsigned order : {0u, 1u, 6u, 10u}) {
    const mk_page_stats before = stats_of(heap());
    EXPECT_NE(heap().free_pages(base, order), BuddyStatus::kOk) << "order " << order;
    EXPECT_NE(heap().free_pages(base + kPage, order), BuddyStatus::kOk) << "order " << order;
    EXPECT_TRUE(same_stats(before, stats_of(heap())));
  }
  unsigned got;
  EXPECT_NE(heap().order_of(base, &got), BuddyStatus::kOk);
  EXPECT_NE(heap().vfree(base), BuddyStatus::kOk);
  EXPECT_EQ(heap().free_pages(p, 0), BuddyStatus::kOk);
}

TEST_F(RefusedFree, FreedBlockWithAnotherOrder) {
  void* p = heap().alloc_pages(3, 0);
  void* keep = heap().alloc_pages(3, 0);
  ASSERT_NE(p, nullptr);
  ASSERT_EQ(heap().free_pages(p, 3), BuddyStatus::kOk);
  for (unsigned order : {0u, 2u, 4u}) {
    const mk_page_stats before = stats_of(heap());
    EXPECT_NE(heap().free_pages(p, order), BuddyStatus::kOk);
    EXPECT_TRUE(same_stats(before, stats_of(heap())));
  }
  EXPECT_EQ(heap().free_pages(keep, 3), BuddyStatus::kOk);
}

// ---- arenas on demand, purge ----

TEST_F(PageHeapTest, ArenasCreatedOnDemandAndPurged) {
  std::vector<void*> blocks;
  while (stats_of(heap()).arenas < 3) {
    void* p = heap().alloc_pages(kMaxOrder, 0);
    ASSERT_NE(p, nullptr);
    static_cast<char*>(p)[0] = 1;
    blocks.push_back(p);
    ASSERT_LT(blocks.size(), 20u);
  }
  // A 16 MiB arena holds 3 order-10 blocks (its first 4 MiB also hold its metadata).
  EXPECT_EQ(blocks.size(), 7u);
  mk_page_stats s = stats_of(heap());
  EXPECT_EQ(s.arena_bytes, 3 * kArenaSize);
  EXPECT_EQ(s.allocated_pages, blocks.size() * 1024);
  EXPECT_GT(s.metadata_pages, 0u);
  EXPECT_EQ(s.allocated_pages + s.free_pages + s.metadata_pages, 3 * kArenaSize / kPage);
  for (void* p : blocks) {
    EXPECT_TRUE(heap().owns(p));
    EXPECT_EQ(heap().free_pages(p, kMaxOrder), BuddyStatus::kOk);
  }
  s = stats_of(heap());
  EXPECT_EQ(s.arenas, 3u) << "decay -1: nothing released before purge()";
  EXPECT_GT(s.dirty_pages, 0u);
  EXPECT_EQ(s.purged_bytes, 0u);
  const size_t purged = heap().purge();
  EXPECT_GE(purged, blocks.size() * block_bytes(kMaxOrder));
  s = stats_of(heap());
  EXPECT_EQ(s.arenas, 0u);
  EXPECT_EQ(s.arena_bytes, 0u);
  EXPECT_EQ(s.dirty_pages, 0u);
  EXPECT_EQ(s.purged_bytes, purged);
  EXPECT_EQ(s.unmapped_bytes, 3 * kArenaSize);
  EXPECT_EQ(FakeOs::live_bytes() - baseline_, static_cast<long long>(ArenaMap::kChunkSize) / 64)
      << "only the arena map's leaf (64 KiB) stays";
  // The heap works again after everything was given back.
  void* p = heap().alloc_pages(5, MK_GFP_ZERO);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(all_bytes(p, block_bytes(5), 0));
  EXPECT_EQ(heap().free_pages(p, 5), BuddyStatus::kOk);
  EXPECT_EQ(stats_of(heap()).arenas, 1u);
}

TEST_F(PageHeapTest, PurgeKeepsBusyArenas) {
  void* keep = heap().alloc_pages(0, 0);
  void* p = heap().alloc_pages(8, 0);
  ASSERT_NE(keep, nullptr);
  ASSERT_NE(p, nullptr);
  std::memset(p, 1, block_bytes(8));
  ASSERT_EQ(heap().free_pages(p, 8), BuddyStatus::kOk);
  EXPECT_GE(heap().purge(), block_bytes(8));
  EXPECT_EQ(stats_of(heap()).arenas, 1u);
  EXPECT_EQ(heap().purge(), 0u) << "nothing left to purge";
  EXPECT_EQ(heap().free_pages(keep, 0), BuddyStatus::kOk);
}

TEST_F(PageHeapTest, ReleaseArenasOff) {
  PageHeapConfig c = small_config();
  c.release_arenas = false;
  make(c);
  void* p = heap().alloc_pages(8, 0);
  ASSERT_NE(p, nullptr);
  std::memset(p, 1, block_bytes(8));
  ASSERT_EQ(heap().free_pages(p, 8), BuddyStatus::kOk);
  EXPECT_GT(heap().purge(), 0u);
  const mk_page_stats s = stats_of(heap());
  EXPECT_EQ(s.arenas, 1u);
  EXPECT_EQ(s.unmapped_bytes, 0u);
}

TEST_F(PageHeapTest, FailingDecommitKeepsBlocksDirty) {
  void* keep = heap().alloc_pages(0, 0);
  void* p = heap().alloc_pages(7, 0);
  ASSERT_NE(p, nullptr);
  std::memset(p, 0x77, block_bytes(7));
  ASSERT_EQ(heap().free_pages(p, 7), BuddyStatus::kOk);
  const size_t dirty = stats_of(heap()).dirty_pages;
  ASSERT_GT(dirty, 0u);
  FakeOs::fail_decommits(true);
  EXPECT_EQ(heap().purge(), 0u);
  EXPECT_EQ(stats_of(heap()).dirty_pages, dirty);
  void* q = heap().alloc_pages(7, MK_GFP_ZERO);
  ASSERT_EQ(q, p);
  EXPECT_TRUE(all_bytes(q, block_bytes(7), 0)) << "a block whose decommit failed is still dirty";
  ASSERT_EQ(heap().free_pages(q, 7), BuddyStatus::kOk);
  FakeOs::fail_decommits(false);
  EXPECT_GT(heap().purge(), 0u);
  EXPECT_EQ(stats_of(heap()).dirty_pages, 0u);
  EXPECT_EQ(heap().free_pages(keep, 0), BuddyStatus::kOk);
}

// ---- decay ----

TEST_F(PageHeapTest, DecayZeroPurgesAtFree) {
  make(small_config(0));
  void* keep = heap().alloc_pages(0, 0);
  ASSERT_NE(keep, nullptr);
  size_t purged = stats_of(heap()).purged_bytes;
  for (unsigned order : {6u, 8u, 10u}) {
    void* p = heap().alloc_pages(order, 0);
    ASSERT_NE(p, nullptr);
    std::memset(p, 0x11, block_bytes(order));
    ASSERT_EQ(heap().free_pages(p, order), BuddyStatus::kOk);
    const mk_page_stats s = stats_of(heap());
    EXPECT_EQ(s.dirty_pages, 0u) << "order " << order;
    EXPECT_GE(s.purged_bytes, purged + block_bytes(order));
    purged = s.purged_bytes;
    void* q = heap().alloc_pages(order, 0);
    ASSERT_EQ(q, p);
    EXPECT_TRUE(all_bytes(q, block_bytes(order), 0)) << "decommitted pages read zero";
    ASSERT_EQ(heap().free_pages(q, order), BuddyStatus::kOk);
  }
  EXPECT_EQ(heap().free_pages(keep, 0), BuddyStatus::kOk);
  EXPECT_EQ(stats_of(heap()).arenas, 1u) << "the last arena is kept by the decay purge";
}

TEST_F(PageHeapTest, DecayZeroReleasesIdleArenasButTheLast) {
  make(small_config(0));
  std::vector<void*> blocks;
  while (stats_of(heap()).arenas < 3) {
    void* p = heap().alloc_pages(kMaxOrder, 0);
    ASSERT_NE(p, nullptr);
    blocks.push_back(p);
  }
  for (void* p : blocks) ASSERT_EQ(heap().free_pages(p, kMaxOrder), BuddyStatus::kOk);
  const mk_page_stats s = stats_of(heap());
  EXPECT_EQ(s.arenas, 1u);
  EXPECT_EQ(s.unmapped_bytes, 2 * kArenaSize);
  EXPECT_EQ(s.dirty_pages, 0u);
}

TEST_F(PageHeapTest, DecayNeverPurgesUntilPurge) {
  make(small_config(-1));
  void* p = heap().alloc_pages(8, 0);
  ASSERT_NE(p, nullptr);
  std::memset(p, 0x22, block_bytes(8));
  ASSERT_EQ(heap().free_pages(p, 8), BuddyStatus::kOk);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  void* q = heap().alloc_pages(0, 0);
  ASSERT_EQ(heap().free_pages(q, 0), BuddyStatus::kOk);
  mk_page_stats s = stats_of(heap());
  EXPECT_GE(s.dirty_pages, 256u);
  EXPECT_EQ(s.purged_bytes, 0u);
  EXPECT_EQ(FakeOs::decommit_calls(), 0);
  EXPECT_GT(heap().purge(), 0u);
  s = stats_of(heap());
  EXPECT_EQ(s.dirty_pages, 0u);
  EXPECT_GT(s.purged_bytes, 0u);
}

TEST_F(PageHeapTest, DecayTimeThenPurgeOnNextFree) {
  make(small_config(200));
  // x and y are buddies of order 0 and stay apart from the old blocks: freeing x later neither
  // merges with y nor with the old blocks, so it adds nothing to the dirty list.
  void* x = heap().alloc_pages(0, 0);
  void* y = heap().alloc_pages(0, 0);
  ASSERT_NE(x, nullptr);
  ASSERT_NE(y, nullptr);
  std::vector<void*> old;
  for (int i = 0; i < 4; ++i) {
    void* p = heap().alloc_pages(6, 0);
    ASSERT_NE(p, nullptr);
    std::memset(p, 0x33, block_bytes(6));
    old.push_back(p);
  }
  for (void* p : old) ASSERT_EQ(heap().free_pages(p, 6), BuddyStatus::kOk);
  mk_page_stats s = stats_of(heap());
  EXPECT_GE(s.dirty_pages, 4u * 64) << "young blocks wait for the decay time";
  const size_t purged_before = s.purged_bytes;
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_EQ(heap().free_pages(x, 0), BuddyStatus::kOk);  // triggers the expired purge
  s = stats_of(heap());
  EXPECT_EQ(s.dirty_pages, 0u) << "blocks older than the decay time are given back";
  EXPECT_GE(s.purged_bytes, purged_before + 4 * block_bytes(6));
  EXPECT_EQ(heap().free_pages(y, 0), BuddyStatus::kOk);
}

// ---- vmalloc ----

TEST_F(PageHeapTest, VmallocSmallIsABlock) {
  void* p = heap().vmalloc(5000, 0);
  ASSERT_NE(p, nullptr);
  unsigned order = 99;
  EXPECT_EQ(heap().order_of(p, &order), BuddyStatus::kOk);
  EXPECT_EQ(order, 1u);
  std::memset(p, 0x44, 2 * kPage);
  EXPECT_EQ(stats_of(heap()).direct_mappings, 0u);
  EXPECT_EQ(heap().vfree(static_cast<char*>(p) + kPage), BuddyStatus::kNotBlockStart);
  EXPECT_EQ(heap().vfree(p), BuddyStatus::kOk);
  EXPECT_EQ(heap().vfree(p), BuddyStatus::kDoubleFree);
  void* z = heap().vmalloc(5000, MK_GFP_ZERO);
  ASSERT_EQ(z, p);
  EXPECT_TRUE(all_bytes(z, 2 * kPage, 0));
  EXPECT_EQ(heap().vfree(z), BuddyStatus::kOk);
  // Exactly the largest order is still a block.
  void* m = heap().vmalloc(4 * MiB, 0);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(heap().order_of(m, &order), BuddyStatus::kOk);
  EXPECT_EQ(order, kMaxOrder);
  EXPECT_EQ(heap().vfree(m), BuddyStatus::kOk);
  EXPECT_EQ(heap().vfree(nullptr), BuddyStatus::kOk);
}

TEST_F(PageHeapTest, VmallocHugeIsADirectMapping) {
  const size_t bytes = 5 * MiB + 123;
  const size_t rounded = (bytes + kPage - 1) & ~(kPage - 1);
  void* p = heap().vmalloc(bytes, 0);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % ArenaMap::kChunkSize, 0u);
  char* c = static_cast<char*>(p);
  EXPECT_TRUE(all_bytes(c, kPage, 0));
  std::memset(c, 0x55, rounded);
  mk_page_stats s = stats_of(heap());
  EXPECT_EQ(s.direct_mappings, 1u);
  EXPECT_EQ(s.direct_bytes, rounded);
  EXPECT_EQ(s.arenas, 0u) << "no arena for a direct mapping";
  EXPECT_TRUE(heap().owns(p));
  EXPECT_TRUE(heap().owns(c + bytes / 2));
  EXPECT_TRUE(heap().owns(c + rounded - 1));
  EXPECT_FALSE(heap().owns(c + rounded)) << "the last chunk's tail is not ours";
  unsigned order;
  EXPECT_EQ(heap().order_of(p, &order), BuddyStatus::kOutOfRange);
  EXPECT_EQ(heap().free_pages(p, kMaxOrder), BuddyStatus::kOutOfRange);

  // A second one, zeroed.
  void* z = heap().vmalloc(9 * MiB, MK_GFP_ZERO);
  ASSERT_NE(z, nullptr);
  EXPECT_TRUE(all_bytes(z, kPage, 0));
  EXPECT_TRUE(all_bytes(static_cast<char*>(z) + 9 * MiB - kPage, kPage, 0));
  EXPECT_EQ(stats_of(heap()).direct_mappings, 2u);

  // Refused vfrees change nothing.
  const mk_page_stats before = stats_of(heap());
  EXPECT_EQ(heap().vfree(c + kPage), BuddyStatus::kNotBlockStart);
  EXPECT_EQ(heap().vfree(c + 1), BuddyStatus::kNotBlockStart);
  EXPECT_EQ(heap().vfree(c + rounded - 1), BuddyStatus::kNotBlockStart);
  int local = 0;
  EXPECT_EQ(heap().vfree(&local), BuddyStatus::kOutOfRange);
  EXPECT_TRUE(same_stats(before, stats_of(heap())));
  EXPECT_EQ(c[rounded - 1], 0x55);

  EXPECT_EQ(heap().vfree(p), BuddyStatus::kOk);
  s = stats_of(heap());
  EXPECT_EQ(s.direct_mappings, 1u);
  EXPECT_EQ(s.direct_bytes, 9 * MiB);
  // decay_ms = -1: the freed mapping stays cached (committed, not ours) until purge().
  EXPECT_EQ(s.direct_cached, 1u);
  EXPECT_EQ(s.direct_cached_bytes, rounded);
  EXPECT_EQ(s.unmapped_bytes, 0u);
  EXPECT_FALSE(heap().owns(p));
  EXPECT_EQ(heap().vfree(p), BuddyStatus::kDoubleFree) << "vfree of a cached mapping";
  EXPECT_EQ(heap().vfree(c + kPage), BuddyStatus::kOutOfRange);
  EXPECT_EQ(heap().purge(), rounded);
  s = stats_of(heap());
  EXPECT_EQ(s.direct_cached, 0u);
  EXPECT_EQ(s.direct_cached_bytes, 0u);
  EXPECT_EQ(s.unmapped_bytes, rounded);
  EXPECT_EQ(s.direct_mappings, 1u);
  EXPECT_FALSE(heap().owns(p));
  EXPECT_EQ(heap().vfree(p), BuddyStatus::kOutOfRange) << "vfree of an unmapped mapping";
  // z stays mapped: the destructor gives it back (checked in TearDown).
}

TEST_F(PageHeapTest, VmallocManyDirectMappingsReuseRecords) {
  // More mappings than a single record page holds is not needed; reuse is what matters.
  for (int round = 0; round < 3; ++round) {
    std::vector<void*> v;
    for (int i = 0; i < 8; ++i) {
      void* p = heap().vmalloc(4 * MiB + kPage, 0);
      ASSERT_NE(p, nullptr);
      static_cast<char*>(p)[4 * MiB] = 1;
      v.push_back(p);
    }
    EXPECT_EQ(stats_of(heap()).direct_mappings, 8u);
    // Free in a mixed order (head, tail, middle of the record list).
    for (size_t i : {size_t{0}, size_t{7}, size_t{3}, size_t{1}, size_t{6}, size_t{2}, size_t{5},
                     size_t{4}})
      EXPECT_EQ(heap().vfree(v[i]), BuddyStatus::kOk);
    EXPECT_EQ(stats_of(heap()).direct_mappings, 0u);
    EXPECT_EQ(stats_of(heap()).direct_bytes, 0u);
  }
}

TEST_F(PageHeapTest, VmallocZeroAndAbsurdSizes) {
  EXPECT_EQ(heap().vmalloc(0, 0), nullptr);
  errno = 0;
  EXPECT_EQ(heap().vmalloc(SIZE_MAX, 0), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  errno = 0;
  EXPECT_EQ(heap().vmalloc(static_cast<size_t>(PTRDIFF_MAX) + 1, 0), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  errno = 0;
  EXPECT_EQ(heap().vmalloc(static_cast<size_t>(PTRDIFF_MAX), MK_GFP_ZERO), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  errno = 0;
  EXPECT_EQ(heap().vmalloc(SIZE_MAX - kPage + 2, 0), nullptr) << "rounding must not wrap";
  EXPECT_EQ(errno, ENOMEM);
  const mk_page_stats s = stats_of(heap());
  EXPECT_EQ(s.direct_mappings, 0u);
  EXPECT_EQ(s.arenas, 0u);
}

// ---- ENOMEM injection ----

TEST_F(PageHeapTest, EnomemWhenNoArenaCanBeReserved) {
  FakeOs::fail_reserves_after(0);
  for (unsigned order : {0u, 5u, 10u}) {
    errno = 0;
    EXPECT_EQ(heap().alloc_pages(order, 0), nullptr);
    EXPECT_EQ(errno, ENOMEM);
  }
  errno = 0;
  EXPECT_EQ(heap().vmalloc(100, 0), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  EXPECT_EQ(stats_of(heap()).arenas, 0u);
  EXPECT_EQ(FakeOs::live_bytes(), baseline_);
  FakeOs::stop_failing();
  void* p = heap().alloc_pages(3, 0);
  ASSERT_NE(p, nullptr) << "the heap works again once the OS gives memory";
  EXPECT_EQ(heap().free_pages(p, 3), BuddyStatus::kOk);
}

TEST_F(PageHeapTest, EnomemWhenTheArenaMapLeafCannotBeMade) {
  // Reserve 1: the arena; reserve 2: the map's leaf for it.
  FakeOs::fail_nth_reserve(2);
  errno = 0;
  EXPECT_EQ(heap().alloc_pages(0, 0), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  EXPECT_EQ(FakeOs::state().reserve_failures, 1);
  EXPECT_EQ(FakeOs::live_bytes(), baseline_) << "the arena is unmapped again";
  EXPECT_EQ(stats_of(heap()).arenas, 0u);
  void* p = heap().alloc_pages(0, 0);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(heap().owns(p));
  EXPECT_EQ(heap().free_pages(p, 0), BuddyStatus::kOk);
}

TEST_F(PageHeapTest, EnomemForANewArenaKeepsTheOldOnesWorking) {
  std::vector<void*> blocks;
  for (int i = 0; i < 3; ++i) {  // fills the first arena's order-10 blocks
    void* p = heap().alloc_pages(kMaxOrder, 0);
    ASSERT_NE(p, nullptr);
    blocks.push_back(p);
  }
  FakeOs::fail_reserves_after(0);
  errno = 0;
  EXPECT_EQ(heap().alloc_pages(kMaxOrder, 0), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  void* small = heap().alloc_pages(0, 0);  // the first arena still has small blocks
  ASSERT_NE(small, nullptr);
  EXPECT_EQ(stats_of(heap()).arenas, 1u);
  FakeOs::stop_failing();
  void* p = heap().alloc_pages(kMaxOrder, 0);
  ASSERT_NE(p, nullptr);
  blocks.push_back(p);
  EXPECT_EQ(stats_of(heap()).arenas, 2u);
  for (void* b : blocks) EXPECT_EQ(heap().free_pages(b, kMaxOrder), BuddyStatus::kOk);
  EXPECT_EQ(heap().free_pages(small, 0), BuddyStatus::kOk);
}

// Under an address-space limit the OS refuses the configured arena size: the heap halves it
// (down to one map chunk), serves what the smaller arena can, never makes an arena too small
// for the request, and gives exact blocks a direct mapping of their own when no arena can.
TEST_F(PageHeapTest, SmallerArenasWhenTheOsRefusesTheConfiguredSize) {
  FakeOs::fail_reserves_above(4 * MiB);
  void* p = heap().alloc_pages(9, 0);  // a 4 MiB arena serves up to order 9
  ASSERT_NE(p, nullptr);
  size_t bytes = 0;
  heap().for_each_arena([](void* ctx, const memkit::ArenaStats& st) { *static_cast<size_t*>(ctx) += st.bytes; }, &bytes);
  EXPECT_EQ(bytes, 4 * MiB);
  errno = 0;
  EXPECT_EQ(heap().alloc_pages(kMaxOrder, 0), nullptr) << "no 4 MiB arena holds an order-10 block";
  EXPECT_EQ(errno, ENOMEM);
  EXPECT_EQ(stats_of(heap()).arenas, 1u) << "no arena made that could not serve the request";
  void* exact = heap().alloc_pages_exact(1000, MK_GFP_ZERO);  // order 10's pages: a mapping
  ASSERT_NE(exact, nullptr);
  EXPECT_TRUE(all_bytes(exact, 1000 * kPage, 0));
  EXPECT_EQ(stats_of(heap()).direct_mappings, 1u);
  void* v = heap().vmalloc(3 * MiB, 0);  // order 10 too
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(stats_of(heap()).direct_mappings, 2u);
  FakeOs::stop_failing();
  void* big = heap().alloc_pages(kMaxOrder, 0);
  ASSERT_NE(big, nullptr) << "larger arenas again once the OS allows";
  EXPECT_EQ(heap().free_pages(big, kMaxOrder), BuddyStatus::kOk);
  EXPECT_EQ(heap().vfree(v), BuddyStatus::kOk);
  EXPECT_EQ(heap().free_pages_exact(exact), BuddyStatus::kOk);
  EXPECT_EQ(heap().free_pages(p, 9), BuddyStatus::kOk);
}

TEST_F(PageHeapTest, EnomemAtEachReserveOfVmalloc) {
  const size_t bytes = 6 * MiB;
  // Fresh heap: reserve 1 = the mapping, 2 = the record page, 3 = the map leaf.
  for (long nth = 1; nth <= 3; ++nth) {
    SCOPED_TRACE(nth);
    make(small_config());
    FakeOs::reset();
    FakeOs::fail_nth_reserve(nth);
    errno = 0;
    EXPECT_EQ(heap().vmalloc(bytes, 0), nullptr);
    EXPECT_EQ(errno, ENOMEM);
    EXPECT_EQ(FakeOs::state().reserve_failures, 1);
    const mk_page_stats s = stats_of(heap());
    EXPECT_EQ(s.direct_mappings, 0u);
    EXPECT_EQ(s.direct_bytes, 0u);
    // Only the record page (kept for reuse) may remain.
    EXPECT_LE(FakeOs::live_bytes() - baseline_, 64 * 1024);
    void* p = heap().vmalloc(bytes, 0);
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(heap().owns(p));
    EXPECT_EQ(stats_of(heap()).direct_mappings, 1u);
    EXPECT_EQ(heap().vfree(p), BuddyStatus::kOk);
  }
}

TEST_F(PageHeapTest, NoLeakWhenDestroyedWithBlocksOutstanding) {
  for (unsigned order = 0; order <= kMaxOrder; ++order) ASSERT_NE(heap().alloc_pages(order, 0), nullptr);
  ASSERT_NE(heap().vmalloc(7 * MiB, 0), nullptr);
  ASSERT_NE(heap().vmalloc(12 * MiB, 0), nullptr);
  EXPECT_GT(FakeOs::live_bytes(), baseline_);
  // TearDown destroys the heap and checks live bytes.
}

// ---- buddyinfo ----

TEST_F(PageHeapTest, FormatBuddyinfo) {
  EXPECT_EQ(heap().format_buddyinfo(nullptr, 0), 0) << "no arena, no line";
  std::vector<void*> blocks;
  while (stats_of(heap()).arenas < 2) {
    void* p = heap().alloc_pages(kMaxOrder, 0);
    ASSERT_NE(p, nullptr);
    blocks.push_back(p);
  }
  void* small = heap().alloc_pages(0, 0);
  ASSERT_NE(small, nullptr);
  const int needed = heap().format_buddyinfo(nullptr, 0);
  ASSERT_GT(needed, 0);
  std::vector<char> buf(static_cast<size_t>(needed) + 1, 'x');
  EXPECT_EQ(heap().format_buddyinfo(buf.data(), buf.size()), needed);
  const std::string text(buf.data());
  EXPECT_EQ(text.size(), static_cast<size_t>(needed));

  std::istringstream in(text);
  std::string line;
  int lines = 0;
  uint64_t sums[kMaxOrder + 1] = {};
  while (std::getline(in, line)) {
    ++lines;
    EXPECT_EQ(line.rfind("Node 0, zone   memkit", 0), 0u) << line;
    std::istringstream fields(line.substr(std::string("Node 0, zone   memkit").size()));
    for (unsigned k = 0; k <= kMaxOrder; ++k) {
      uint64_t n = 0;
      ASSERT_TRUE(fields >> n) << line;
      sums[k] += n;
    }
  }
  EXPECT_EQ(lines, 2) << text;
  const mk_page_stats s = stats_of(heap());
  for (unsigned k = 0; k <= kMaxOrder; ++k) EXPECT_EQ(sums[k], s.nr_free[k]) << "order " << k;

  // Truncation: NUL-terminated, still returns the length needed.
  char small_buf[20];
  std::memset(small_buf, 'x', sizeof small_buf);
  EXPECT_EQ(heap().format_buddyinfo(small_buf, sizeof small_buf), needed);
  EXPECT_EQ(std::strlen(small_buf), sizeof small_buf - 1);
  EXPECT_EQ(std::string(small_buf), text.substr(0, sizeof small_buf - 1));
  char one = 'x';
  EXPECT_EQ(heap().format_buddyinfo(&one, 1), needed);
  EXPECT_EQ(one, '\0');

  for (void* p : blocks) EXPECT_EQ(heap().free_pages(p, kMaxOrder), BuddyStatus::kOk);
  EXPECT_EQ(heap().free_pages(small, 0), BuddyStatus::kOk);
}

// ---- a new arena must not be usable before the arena map knows it ----
//
// alloc_pages() scans the arenas without the heap lock. When a new arena is made in a slot
// that was used before (an arena released by purge), Arena::create() marks it live before
// new_arena_locked() has entered it in the arena map. A thread that allocates from it in that
// window gets a block that free_pages() refuses as kOutOfRange (the C API then aborts with
// "invalid-free"); and if the map entry cannot be made, the arena is unmapped under the block.
//
// To run code exactly in that window, the new arena is placed (FakeOs::place_next_reserve_at)
// in a 32 GiB span where the map has no leaf yet, so that map_.set() has to ask the OS for
// one; the FakeOs reserve hook then allocates (and frees) a page from the heap, as another
// thread could. The hook runs on the thread that holds the heap lock, which is fine: the
// allocation fast path takes no heap lock.

struct WindowProbe {
  PageHeap* heap = nullptr;
  bool armed = false;
  bool fired = false;
  void* block = nullptr;
  BuddyStatus free_status = BuddyStatus::kOk;
  bool free_in_window = true;
};

void probe_in_window(size_t size, size_t /*align*/, void* ctx) {
  auto* probe = static_cast<WindowProbe*>(ctx);
  if (!probe->armed || size != 64 * 1024) return;  // the arena map's leaf only
  probe->armed = false;
  probe->fired = true;
  // Only call alloc_pages if the fast path can serve it (the slow path needs the heap lock,
  // which this thread holds).
  mk_page_stats s;
  probe->heap->stats(&s);
  if (s.free_pages == 0) return;
  probe->block = probe->heap->alloc_pages(0, 0);
  if (probe->block != nullptr && probe->free_in_window) {
    probe->free_status = probe->heap->free_pages(probe->block, 0);
    if (probe->free_status == BuddyStatus::kOk) probe->block = nullptr;
  }
}

// Releases the heap's only arena (slot 0 becomes reusable), and returns a 16 MiB-aligned
// address in a 32 GiB span that holds no memkit region, free for a MAP_FIXED_NOREPLACE mapping.
uintptr_t prepare_window(PageHeap& heap) {
  // A 64 GiB NORESERVE reservation aligned to 32 GiB (address space only) gives two whole leaf
  // spans that contain nothing of the heap; give it back and aim at its first span.
  // Reserved while the first arena is mapped, so the span cannot contain it.
  const size_t span = size_t{1} << (ArenaMap::kChunkShift + ArenaMap::kLeafBits);
  void* p = heap.alloc_pages(0, 0);
  if (p == nullptr) return 0;
  void* far = nullptr;
  const int err = memkit::os::system_os().reserve(2 * span, span, &far);
  if (err == 0) memkit::os::system_os().release(far, 2 * span);
  if (heap.free_pages(p, 0) != BuddyStatus::kOk || err != 0) return 0;
  heap.purge();
  if (stats_of(heap).arenas != 0) return 0;
  if ((reinterpret_cast<uintptr_t>(p) ^ reinterpret_cast<uintptr_t>(far)) < span) return 0;
  return reinterpret_cast<uintptr_t>(far);
}

TEST_F(PageHeapTest, NewArenaIsNotUsableBeforeItIsInTheMap) {
  const uintptr_t where = prepare_window(heap());
  if (where == 0) GTEST_SKIP() << "could not set up the window";
  WindowProbe probe;
  probe.heap = &heap();
  probe.armed = true;
  FakeOs::place_next_reserve_at(where);
  FakeOs::set_reserve_hook(&probe_in_window, &probe);
  void* q = heap().alloc_pages(0, 0);
  FakeOs::set_reserve_hook(nullptr, nullptr);
  ASSERT_NE(q, nullptr);
  ASSERT_EQ(reinterpret_cast<uintptr_t>(q) & ~(kArenaSize - 1), where) << "placement failed";
  ASSERT_TRUE(probe.fired) << "map_.set() made no leaf";
  EXPECT_EQ(probe.block, nullptr)
      << "the new arena handed out a block before it was in the arena map; free_pages() of it "
         "returned "
      << memkit::to_string(probe.free_status);
  if (probe.block != nullptr) {
    EXPECT_EQ(heap().free_pages(probe.block, 0), BuddyStatus::kOk);
  }
  EXPECT_EQ(heap().free_pages(q, 0), BuddyStatus::kOk);
}

TEST_F(PageHeapTest, NewArenaFailingItsMapEntryHandedOutNothing) {
  const uintptr_t where = prepare_window(heap());
  if (where == 0) GTEST_SKIP() << "could not set up the window";
  WindowProbe probe;
  probe.heap = &heap();
  probe.armed = true;
  probe.free_in_window = false;
  FakeOs::place_next_reserve_at(where);
  FakeOs::set_reserve_hook(&probe_in_window, &probe);
  // Reserve 1: the arena (placed); reserve 2: the leaf, which fails after the hook has run.
  FakeOs::fail_nth_reserve(2);
  errno = 0;
  void* q = heap().alloc_pages(0, 0);
  FakeOs::set_reserve_hook(nullptr, nullptr);
  EXPECT_EQ(q, nullptr);
  EXPECT_EQ(errno, ENOMEM);
  ASSERT_TRUE(probe.fired);
  if (probe.block != nullptr) {
    EXPECT_TRUE(heap().owns(probe.block))
        << "block " << probe.block << " was handed out from an arena that was then unmapped "
                                      "(new_arena_locked: map_.set failed -> retire + destroy)";
  }
}

}  // namespace
