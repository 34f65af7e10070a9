// Unit tests of the page heap's cache of freed direct mappings (src/arena/page_heap.h: blocks
// beyond the largest order), each over its own PageHeap on the FakeOs of tests/fake_os.h, so
// that every test also checks that destroying the heap gives back every byte (and every
// region, counted by address across partial unmaps and moves) it reserved.
//
// Covered: reuse in place (same address, pages still written, no reserve), the tail of a larger
// piece staying cached, pieces moved into a new mapping (their contents arrive, no fault needed),
// a failing move, MK_GFP_ZERO on reused pages (in place and moved, vmalloc and exact), frees of
// a cached mapping refused (double free, interior, wrong kind) with the stats unchanged, owns()
// and exact_pages() of a cached mapping, the byte and count bounds, decay_ms = 0 / -1 / a time
// (by purge_expired and by a later free), purge(), aligned requests, and threads.
#include <errno.h>
#include <stdint.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <ostream>
#include <random>
#include <thread>
#include <vector>

#include "arena/page_heap.h"
#include "fake_os.h"
#include "memkit/buddy.hpp"
#include "memkit/memkit.h"
#include "page_heap_testing.h"
#include "test_support.h"

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
using memkit::testing::all_bytes;
using memkit::testing::same_stats;
using memkit::testing::stats_of;

constexpr size_t KiB = 1024, MiB = KiB * KiB;
constexpr size_t kPage = 4096;
constexpr size_t kMaxPages = size_t{1} << 10;  // 4 MiB: beyond this, direct mappings

PageHeapConfig config(long decay_ms, size_t cache_bytes = 64 * MiB) {
  PageHeapConfig c;
  c.arena.size = 16 * MiB;
  c.arena.page_shift = 12;
  c.arena.max_order = 10;
  c.arena.purge_order = 6;
  c.decay_ms = decay_ms;
  c.release_arenas = true;
  c.direct_cache_bytes = cache_bytes;
  return c;
}

size_t pages(size_t bytes) { return bytes / kPage; }

// Writes a distinct word at the start of every page.
void stamp(void* p, size_t bytes, uint64_t tag) {
  for (size_t off = 0; off < bytes; off += kPage) {
    const uint64_t v = tag + off;
    std::memcpy(static_cast<char*>(p) + off, &v, sizeof v);
  }
}
bool stamped(const void* p, size_t bytes, uint64_t tag) {
  for (size_t off = 0; off < bytes; off += kPage) {
    uint64_t v;
    std::memcpy(&v, static_cast<const char*>(p) + off, sizeof v);
    if (v != tag + off) return false;
  }
  return true;
}

class LargeCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (sysconf(_SC_PAGESIZE) != static_cast<long>(kPage)) GTEST_SKIP() << "needs 4 KiB pages";
    baseline_ = FakeOs::live_bytes();
    baseline_regions_ = FakeOs::live_regions();
    make(config(-1));
  }
  void TearDown() override {
    heap_.reset();
    EXPECT_EQ(FakeOs::live_bytes(), baseline_) << "the page heap leaked OS memory";
    EXPECT_EQ(FakeOs::live_regions(), baseline_regions_);
  }
  void make(const PageHeapConfig& c) {
    heap_.reset();
    heap_ = std::make_unique<PageHeap>(FakeOs::api(), c);
  }
  PageHeap& heap() { return *heap_; }
  void* exact(size_t bytes, unsigned gfp = 0) { return heap().alloc_pages_exact(pages(bytes), gfp); }

  FakeOsScope scope_;
  long long baseline_ = 0;
  long baseline_regions_ = 0;
  std::unique_ptr<PageHeap> heap_;
};

TEST_F(LargeCacheTest, FreedMappingIsCachedAndReusedInPlace) {
  const size_t size = 6 * MiB;
  void* p = exact(size);
  ASSERT_NE(p, nullptr);
  stamp(p, size, 1);
  EXPECT_EQ(heap().free_pages_exact(p), BuddyStatus::kOk);
  mk_page_stats s = stats_of(heap());
  EXPECT_EQ(s.direct_mappings, 0u);
  EXPECT_EQ(s.direct_bytes, 0u);
  EXPECT_EQ(s.used_bytes, 0u);
  EXPECT_EQ(s.direct_cached, 1u);
  EXPECT_EQ(s.direct_cached_bytes, size);
  EXPECT_EQ(s.unmapped_bytes, 0u);

  const long reserves = FakeOs::reserve_calls();
  void* q = exact(size);
  EXPECT_EQ(q, p) << "the cached mapping is reused in place";
  EXPECT_EQ(FakeOs::reserve_calls(), reserves) << "no new mapping";
  EXPECT_TRUE(stamped(q, size, 1)) << "its pages stayed committed (no fault, no zeroing)";
  EXPECT_TRUE(heap().owns(q));
  EXPECT_EQ(heap().exact_pages(q), pages(size));
  s = stats_of(heap());
  EXPECT_EQ(s.direct_mappings, 1u);
  EXPECT_EQ(s.direct_bytes, size);
  EXPECT_EQ(s.direct_cached, 0u);
  EXPECT_EQ(s.direct_cached_bytes, 0u);
  EXPECT_EQ(heap().free_pages_exact(q), BuddyStatus::kOk);
}

TEST_F(LargeCacheTest, TheTailOfALargerPieceStaysCached) {
  void* p = exact(12 * MiB);
  ASSERT_NE(p, nullptr);
  stamp(p, 12 * MiB, 7);
  ASSERT_EQ(heap().free_pages_exact(p), BuddyStatus::kOk);
  void* q = exact(5 * MiB);
  ASSERT_EQ(q, p);
  mk_page_stats s = stats_of(heap());
  EXPECT_EQ(s.direct_bytes, 5 * MiB);
  EXPECT_EQ(s.direct_cached, 1u);
  EXPECT_EQ(s.direct_cached_bytes, 7 * MiB);
  EXPECT_FALSE(heap().owns(static_cast<char*>(q) + 5 * MiB)) << "the cached tail is not ours";
  EXPECT_TRUE(heap().owns(static_cast<char*>(q) + 5 * MiB - 1));
  // The tail does not start on a chunk: a new mapping gets its pages by a move.
  void* r = exact(7 * MiB);
  ASSERT_NE(r, nullptr);
  EXPECT_NE(r, static_cast<void*>(static_cast<char*>(q) + 5 * MiB));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(r) % ArenaMap::kChunkSize, 0u);
  EXPECT_TRUE(stamped(r, 7 * MiB, 7 + 5 * MiB)) << "the tail's pages moved with their contents";
  EXPECT_GE(FakeOs::move_calls(), 1);
  s = stats_of(heap());
  EXPECT_EQ(s.direct_cached_bytes, 0u);
  EXPECT_EQ(s.direct_bytes, 12 * MiB);
  EXPECT_EQ(heap().free_pages_exact(q), BuddyStatus::kOk);
  EXPECT_EQ(heap().free_pages_exact(r), BuddyStatus::kOk);
  EXPECT_EQ(stats_of(heap()).direct_cached_bytes, 12 * MiB);
}

TEST_F(LargeCacheTest, PiecesAreMovedIntoALargerMapping) {
  void* a = exact(6 * MiB);
  void* b = exact(5 * MiB);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  stamp(a, 6 * MiB, 100);
  stamp(b, 5 * MiB, 200);
  ASSERT_EQ(heap().free_pages_exact(a), BuddyStatus::kOk);
  ASSERT_EQ(heap().free_pages_exact(b), BuddyStatus::kOk);
  // 20 MiB: no piece fits in place; both are moved in (the larger first), the rest is fresh.
  void* c = exact(20 * MiB);
  ASSERT_NE(c, nullptr);
  char* cc = static_cast<char*>(c);
  EXPECT_EQ(FakeOs::move_calls(), 2);
  EXPECT_TRUE(stamped(cc, 6 * MiB, 100));
  EXPECT_TRUE(stamped(cc + 6 * MiB, 5 * MiB, 200));
  EXPECT_TRUE(all_bytes(cc + 11 * MiB, 9 * MiB, 0)) << "the part not covered is fresh";
  EXPECT_FALSE(heap().owns(a)) << "the old addresses are gone";
  mk_page_stats s = stats_of(heap());
  EXPECT_EQ(s.direct_mappings, 1u);
  EXPECT_EQ(s.direct_bytes, 20 * MiB);
  EXPECT_EQ(s.direct_cached, 0u);
  EXPECT_EQ(s.direct_cached_bytes, 0u);
  EXPECT_EQ(heap().free_pages_exact(c), BuddyStatus::kOk);
}

TEST_F(LargeCacheTest, AFailedMoveLeavesAFreshPart) {
  void* a = exact(6 * MiB);
  ASSERT_NE(a, nullptr);
  stamp(a, 6 * MiB, 5);
  ASSERT_EQ(heap().free_pages_exact(a), BuddyStatus::kOk);
  FakeOs::fail_moves(true);
  void* c = exact(10 * MiB);
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(all_bytes(c, 10 * MiB, 0));
  const mk_page_stats s = stats_of(heap());
  EXPECT_EQ(s.direct_cached_bytes, 0u);
  EXPECT_EQ(s.unmapped_bytes, 6 * MiB) << "the piece that could not move is unmapped";
  EXPECT_EQ(heap().free_pages_exact(c), BuddyStatus::kOk);
}

TEST_F(LargeCacheTest, ZeroingClearsReusedPages) {
  for (int moved = 0; moved < 2; ++moved) {
    SCOPED_TRACE(moved);
    void* p = exact(8 * MiB);
    ASSERT_NE(p, nullptr);
    std::memset(p, 0xab, 8 * MiB);
    ASSERT_EQ(heap().free_pages_exact(p), BuddyStatus::kOk);
    // In place (8 MiB again) or moved (12 MiB: 8 reused, 4 fresh).
    const size_t size = moved ? 12 * MiB : 8 * MiB;
    void* z = exact(size, MK_GFP_ZERO);
    ASSERT_NE(z, nullptr);
    EXPECT_EQ(z == p, moved == 0);
    EXPECT_TRUE(all_bytes(z, size, 0));
    // vmalloc and the aligned form take the same path.
    std::memset(z, 0xcd, size);
    ASSERT_EQ(heap().free_pages_exact(z), BuddyStatus::kOk);
    void* v = heap().vmalloc(size - kPage, MK_GFP_ZERO);
    ASSERT_NE(v, nullptr);
    EXPECT_TRUE(all_bytes(v, size - kPage, 0));
    std::memset(v, 0xef, size - kPage);
    ASSERT_EQ(heap().vfree(v), BuddyStatus::kOk);
    void* w = heap().alloc_pages_exact_aligned(pages(size), 8 * MiB, MK_GFP_ZERO);
    ASSERT_NE(w, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(w) % (8 * MiB), 0u);
    EXPECT_TRUE(all_bytes(w, size, 0));
    ASSERT_EQ(heap().free_pages_exact(w), BuddyStatus::kOk);
    heap().purge();
  }
}

TEST_F(LargeCacheTest, FreesOfACachedMappingAreRefused) {
  void* p = exact(6 * MiB);
  void* v = heap().vmalloc(7 * MiB, 0);
  ASSERT_NE(p, nullptr);
  ASSERT_NE(v, nullptr);
  ASSERT_EQ(heap().free_pages_exact(p), BuddyStatus::kOk);
  ASSERT_EQ(heap().vfree(v), BuddyStatus::kOk);
  const mk_page_stats before = stats_of(heap());
  ASSERT_EQ(before.direct_cached, 2u);
  EXPECT_FALSE(heap().owns(p));
  EXPECT_FALSE(heap().owns(static_cast<char*>(p) + 3 * MiB));
  EXPECT_FALSE(heap().owns(v));
  EXPECT_EQ(heap().exact_pages(p), 0u);
  EXPECT_EQ(heap().free_pages_exact(p), BuddyStatus::kDoubleFree);
  EXPECT_EQ(heap().free_pages_exact(static_cast<char*>(p) + kPage), BuddyStatus::kOutOfRange);
  EXPECT_EQ(heap().vfree(v), BuddyStatus::kDoubleFree) << "double vfree";
  EXPECT_EQ(heap().vfree(p), BuddyStatus::kDoubleFree);
  EXPECT_EQ(heap().free_pages_exact(v), BuddyStatus::kDoubleFree);
  EXPECT_EQ(heap().shrink_pages_exact(p, 1), BuddyStatus::kOutOfRange);
  EXPECT_TRUE(same_stats(before, stats_of(heap()))) << "refused frees change nothing";
  // The tail of a split piece, and what is left of a piece once its head moved, never started
  // a block: a free there is of memory not handed out.
  void* q = exact(5 * MiB);  // in place: p's first 5 MiB; its last MiB stays cached
  ASSERT_EQ(q, p);
  EXPECT_EQ(heap().free_pages_exact(static_cast<char*>(p) + 5 * MiB), BuddyStatus::kOutOfRange);
  EXPECT_EQ(heap().free_pages_exact(q), BuddyStatus::kOk);
  // Reused again, the mapping is a live one of its new kind only.
  heap().purge();
  void* w = heap().vmalloc(6 * MiB, 0);
  ASSERT_NE(w, nullptr);
  ASSERT_EQ(heap().vfree(w), BuddyStatus::kOk);
  void* x = heap().alloc_pages_exact(pages(6 * MiB), 0);
  ASSERT_EQ(x, w);
  EXPECT_EQ(heap().vfree(x), BuddyStatus::kNotBlockStart) << "an exact block now, not vmalloc";
  EXPECT_EQ(heap().free_pages_exact(x), BuddyStatus::kOk);
}

TEST_F(LargeCacheTest, DecayZeroUnmapsAtOnce) {
  make(config(0));
  void* p = exact(6 * MiB);
  ASSERT_NE(p, nullptr);
  const long long mapped = FakeOs::live_bytes();
  ASSERT_EQ(heap().free_pages_exact(p), BuddyStatus::kOk);
  const mk_page_stats s = stats_of(heap());
  EXPECT_EQ(s.direct_cached, 0u);
  EXPECT_EQ(s.unmapped_bytes, 6 * MiB);
  EXPECT_EQ(FakeOs::live_bytes(), mapped - static_cast<long long>(6 * MiB));
  // The same with a cache of 0 bytes and no decay.
  make(config(-1, 0));
  p = exact(6 * MiB);
  ASSERT_NE(p, nullptr);
  ASSERT_EQ(heap().free_pages_exact(p), BuddyStatus::kOk);
  EXPECT_EQ(stats_of(heap()).direct_cached, 0u);
  EXPECT_EQ(stats_of(heap()).unmapped_bytes, 6 * MiB);
}

TEST_F(LargeCacheTest, DecayNeverWithoutPurge) {
  void* p = exact(6 * MiB);
  ASSERT_NE(p, nullptr);
  ASSERT_EQ(heap().free_pages_exact(p), BuddyStatus::kOk);
  EXPECT_EQ(heap().purge_expired(memkit::os::now_ns() + 3600ull * 1000000000u), 0u);
  EXPECT_EQ(stats_of(heap()).direct_cached_bytes, 6 * MiB) << "decay_ms = -1: kept";
  EXPECT_EQ(heap().purge(), 6 * MiB);
  const mk_page_stats s = stats_of(heap());
  EXPECT_EQ(s.direct_cached, 0u);
  EXPECT_EQ(s.direct_cached_bytes, 0u);
  EXPECT_EQ(s.unmapped_bytes, 6 * MiB);
  EXPECT_EQ(heap().purge(), 0u);
}

TEST_F(LargeCacheTest, DecayTimeByPurgeExpired) {
  make(config(200));
  void* p = exact(6 * MiB);
  void* q = exact(5 * MiB);
  ASSERT_NE(p, nullptr);
  ASSERT_NE(q, nullptr);
  const uint64_t t0 = memkit::os::now_ns();
  ASSERT_EQ(heap().free_pages_exact(p), BuddyStatus::kOk);
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  ASSERT_EQ(heap().free_pages_exact(q), BuddyStatus::kOk);
  const uint64_t t1 = memkit::os::now_ns();
  EXPECT_EQ(stats_of(heap()).direct_cached, 2u);
  EXPECT_EQ(heap().purge_expired(t0 + 100 * 1000000ull), 0u) << "not yet";
  EXPECT_EQ(stats_of(heap()).direct_cached, 2u);
  // Past p's decay time but not q's (freed >= 60 ms later).
  EXPECT_EQ(heap().purge_expired(t1 + 200 * 1000000ull - 30 * 1000000ull), 6 * MiB);
  mk_page_stats s = stats_of(heap());
  EXPECT_EQ(s.direct_cached, 1u);
  EXPECT_EQ(s.direct_cached_bytes, 5 * MiB);
  EXPECT_EQ(s.unmapped_bytes, 6 * MiB);
  EXPECT_EQ(heap().purge_expired(t1 + 201 * 1000000ull), 5 * MiB);
  EXPECT_EQ(stats_of(heap()).direct_cached, 0u);
}

TEST_F(LargeCacheTest, ALaterFreeGivesBackWhatHasDecayed) {
  make(config(50));
  void* p = exact(6 * MiB);
  void* q = exact(5 * MiB);
  ASSERT_NE(p, nullptr);
  ASSERT_NE(q, nullptr);
  ASSERT_EQ(heap().free_pages_exact(p), BuddyStatus::kOk);
  EXPECT_EQ(stats_of(heap()).direct_cached_bytes, 6 * MiB);
  std::this_thread::sleep_for(std::chrono::milliseconds(120));
  ASSERT_EQ(heap().free_pages_exact(q), BuddyStatus::kOk);  // runs the decay clock
  const mk_page_stats s = stats_of(heap());
  EXPECT_EQ(s.direct_cached, 1u);
  EXPECT_EQ(s.direct_cached_bytes, 5 * MiB);
  EXPECT_EQ(s.unmapped_bytes, 6 * MiB);
}

TEST_F(LargeCacheTest, TheCacheIsBoundedByBytes) {
  make(config(-1, 16 * MiB));
  void* a = exact(6 * MiB);
  void* b = exact(6 * MiB);
  void* c = exact(6 * MiB);
  void* big = exact(20 * MiB);
  ASSERT_TRUE(a && b && c && big);
  ASSERT_EQ(heap().free_pages_exact(a), BuddyStatus::kOk);
  ASSERT_EQ(heap().free_pages_exact(b), BuddyStatus::kOk);
  ASSERT_EQ(heap().free_pages_exact(c), BuddyStatus::kOk);
  mk_page_stats s = stats_of(heap());
  EXPECT_EQ(s.direct_cached, 2u);
  EXPECT_EQ(s.direct_cached_bytes, 12 * MiB);
  EXPECT_EQ(s.unmapped_bytes, 6 * MiB) << "the oldest goes";
  // The oldest (a) went; b and c are reused in place.
  void* x = exact(6 * MiB);
  void* y = exact(6 * MiB);
  EXPECT_TRUE((x == b && y == c) || (x == c && y == b));
  ASSERT_EQ(heap().free_pages_exact(big), BuddyStatus::kOk);
  s = stats_of(heap());
  EXPECT_EQ(s.direct_cached, 0u) << "larger than the cache: unmapped at once";
  EXPECT_EQ(s.unmapped_bytes, 26 * MiB);
  EXPECT_EQ(heap().free_pages_exact(x), BuddyStatus::kOk);
  EXPECT_EQ(heap().free_pages_exact(y), BuddyStatus::kOk);
}

TEST_F(LargeCacheTest, TheCacheIsBoundedByCount) {
  make(config(-1, size_t{1} << 40));
  std::vector<void*> v;
  for (int i = 0; i < 70; ++i) {
    void* p = exact(4 * MiB + kPage);  // reserved, never touched: costs no memory
    ASSERT_NE(p, nullptr);
    v.push_back(p);
  }
  for (void* p : v) ASSERT_EQ(heap().free_pages_exact(p), BuddyStatus::kOk);
  const mk_page_stats s = stats_of(heap());
  EXPECT_EQ(s.direct_cached, 64u);
  EXPECT_EQ(s.direct_cached_bytes, 64 * (4 * MiB + kPage));
  EXPECT_EQ(s.unmapped_bytes, 6 * (4 * MiB + kPage));
}

TEST_F(LargeCacheTest, AnAlignedRequestTakesOnlyAnAlignedPiece) {
  void* p = exact(6 * MiB);
  ASSERT_NE(p, nullptr);
  stamp(p, 6 * MiB, 9);
  ASSERT_EQ(heap().free_pages_exact(p), BuddyStatus::kOk);
  const size_t align = 64 * MiB;
  void* q = heap().alloc_pages_exact_aligned(pages(6 * MiB), align, 0);
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(q) % align, 0u);
  if (reinterpret_cast<uintptr_t>(p) % align != 0) {
    EXPECT_NE(q, p);
    EXPECT_TRUE(stamped(q, 6 * MiB, 9)) << "moved to the aligned address";
  }
  EXPECT_EQ(heap().free_pages_exact(q), BuddyStatus::kOk);
}

TEST_F(LargeCacheTest, ThreadsShareTheCache) {
  make(config(20, 48 * MiB));
  constexpr int kThreads = 4;
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(static_cast<uint64_t>(t) * 7919 + 1);
      struct Block {
        void* p = nullptr;
        size_t size = 0;
        uint64_t tag = 0;
      } slots[3];
      for (int i = 0; i < 150; ++i) {
        Block& b = slots[rng() % 3];
        if (b.p != nullptr) {
          if (!stamped(b.p, b.size, b.tag)) bad.fetch_add(1);
          if (heap().free_pages_exact(b.p) != BuddyStatus::kOk) bad.fetch_add(1);
        }
        b.size = (kMaxPages + 1 + rng() % (3 * kMaxPages)) * kPage;
        b.tag = (static_cast<uint64_t>(t) << 40) + static_cast<uint64_t>(i) * 1000003;
        const bool zero = rng() % 4 == 0;
        b.p = heap().alloc_pages_exact(pages(b.size), zero ? MK_GFP_ZERO : 0);
        if (b.p == nullptr) {
          bad.fetch_add(1);
          continue;
        }
        if (zero && !all_bytes(b.p, b.size, 0)) bad.fetch_add(1);
        stamp(b.p, b.size, b.tag);
      }
      for (Block& b : slots)
        if (b.p != nullptr && heap().free_pages_exact(b.p) != BuddyStatus::kOk) bad.fetch_add(1);
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
  const mk_page_stats s = stats_of(heap());
  EXPECT_EQ(s.direct_mappings, 0u);
  EXPECT_EQ(s.direct_bytes, 0u);
  EXPECT_LE(s.direct_cached_bytes, 48 * MiB);
  heap().purge();
  EXPECT_EQ(stats_of(heap()).direct_cached, 0u);
}

// Through mk_kmalloc (the global heap, default options): a large block freed twice is a double
// free even while its mapping is cached, and mk_kzalloc of a reused one reads zero.
TEST(LargeCacheKmalloc, ReuseIsZeroedAndASecondFreeIsCaught) {
  void* p = mk_kmalloc(8 * MiB, 0);
  ASSERT_NE(p, nullptr);
  std::memset(p, 0xaa, 8 * MiB);
  mk_kfree(p);
  void* z = mk_kzalloc(8 * MiB, 0);
  ASSERT_NE(z, nullptr);
  EXPECT_TRUE(all_bytes(z, 8 * MiB, 0));
  mk_kfree(z);
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        void* b = mk_kmalloc(9 * MiB, 0);
        mk_kfree(b);
        mk_kfree(b);
      },
      "memkit: ERROR: double-free mk_kfree 0x[0-9a-f]+ the block is already free");
  EXPECT_DEATH(
      {
        char* b = static_cast<char*>(mk_kmalloc(9 * MiB, 0));
        mk_kfree(b);
        mk_kfree(b + kPage);
      },
      "memkit: ERROR: invalid-free mk_kfree 0x[0-9a-f]+ is not memory memkit handed out");
}

}  // namespace
