// Unit tests of BuddyAllocator::trim and shrink_range (include/memkit/buddy.hpp): the kernel's
// alloc_pages_exact tail split. Covered: the exact tiles kept and freed for order 6 / keep 33
// (the diagram in buddy.hpp); every keep of every order up to 7, each followed by the matching
// unreserve_range that must give back a whole free range; trim of the whole block (no change);
// shrink_range of a reserved range and of a trimmed range again; every refusal (free block,
// wrong order, interior, bad keep, a range with a tile not allocated) leaving the state
// untouched; the tail coalescing with free neighbours outside the range; and a randomized run
// against a page model (alloc + trim, shrink, free) that checks after every step that the free
// blocks the events report are exactly the pages the model says are free, fully coalesced.
#include <gtest/gtest.h>

#include <cstdint>
#include <ostream>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "memkit/buddy.hpp"

namespace memkit {
void PrintTo(BuddyStatus s, std::ostream* os) { *os << to_string(s); }
}  // namespace memkit

namespace {

using memkit::BuddyAllocator;
using memkit::BuddyConfig;
using memkit::BuddyEvents;
using memkit::BuddyStatus;

constexpr uintptr_t kFakeBase = 0x100000000000;

using FreeSet = std::set<std::pair<size_t, unsigned>>;  // (first page, order)

// A BuddyAllocator over a fake range whose free blocks are mirrored through its events.
struct Harness {
  std::vector<uint64_t> meta;
  BuddyAllocator a;
  FreeSet free_blocks;
  BuddyEvents events{this, &Harness::on_add, &Harness::on_del};

  static void on_add(void* ctx, size_t page, unsigned order) {
    EXPECT_TRUE(static_cast<Harness*>(ctx)->free_blocks.emplace(page, order).second);
  }
  static void on_del(void* ctx, size_t page, unsigned order) {
    EXPECT_EQ(static_cast<Harness*>(ctx)->free_blocks.erase({page, order}), 1u);
  }

  explicit Harness(size_t pages, unsigned max_order = 10) {
    meta.assign((BuddyAllocator::metadata_bytes(pages, max_order) + 7) / 8, 0);
    EXPECT_EQ(a.init(reinterpret_cast<void*>(kFakeBase), pages, BuddyConfig{4096, max_order},
                     meta.data(), meta.size() * 8, &events),
              BuddyStatus::kOk);
  }

  // The free pages, one flag per page, from the event-fed free set.
  std::vector<bool> free_pages() const {
    std::vector<bool> f(a.pages(), false);
    for (const auto& [page, order] : free_blocks)
      for (size_t p = page; p < page + (size_t{1} << order); ++p) {
        EXPECT_FALSE(f[p]) << "page " << p << " in two free blocks";
        f[p] = true;
      }
    return f;
  }

  // No free block has a free buddy of its order (free_one_page merged everything it could).
  bool fully_coalesced() const {
    for (const auto& [page, order] : free_blocks)
      if (order < a.max_order() && free_blocks.count({page ^ (size_t{1} << order), order}) != 0)
        return false;
    return true;
  }

  std::vector<uint64_t> counts() const {
    return std::vector<uint64_t>(a.free_counts(), a.free_counts() + a.max_order() + 1);
  }
};

// The maximal naturally aligned tiles of [first, first + count) (max order 10).
std::vector<std::pair<size_t, unsigned>> tiles(size_t first, size_t count) {
  std::vector<std::pair<size_t, unsigned>> out;
  size_t page = first;
  while (page < first + count) {
    unsigned k = 10;
    if (page != 0) k = std::min<unsigned>(k, static_cast<unsigned>(__builtin_ctzll(page)));
    while ((size_t{1} << k) > first + count - page) --k;
    out.emplace_back(page, k);
    page += size_t{1} << k;
  }
  return out;
}

TEST(BuddyTrim, Order6Keep33KeepsTwoTilesAndFreesFive) {
  Harness h(1024);
  size_t page = 0;
  ASSERT_EQ(h.a.alloc_index(6, &page), BuddyStatus::kOk);
  ASSERT_EQ(page, 0u);
  ASSERT_EQ(h.a.trim(page, 6, 33), BuddyStatus::kOk);
  EXPECT_EQ(h.a.free_pages(), 1024u - 33u);
  // Kept: (0, o5) and (32, o0); the tail 33..63 as 33 o0, 34 o1, 36 o2, 40 o3, 48 o4; the rest
  // of the range as the split left it.
  const FreeSet expected = {{33, 0}, {34, 1}, {36, 2}, {40, 3}, {48, 4},
                            {64, 6}, {128, 7}, {256, 8}, {512, 9}};
  EXPECT_EQ(h.free_blocks, expected);
  unsigned order = 99;
  EXPECT_EQ(h.a.order_of_index(0, &order), BuddyStatus::kOk);
  EXPECT_EQ(order, 5u);
  EXPECT_EQ(h.a.order_of_index(32, &order), BuddyStatus::kOk);
  EXPECT_EQ(order, 0u);
  // The block is no longer one order-6 allocation.
  EXPECT_EQ(h.a.free_index(0, 6), BuddyStatus::kWrongOrder);
  // unreserve_range frees what trim kept, and everything merges back.
  ASSERT_EQ(h.a.unreserve_range(0, 33), BuddyStatus::kOk);
  EXPECT_EQ(h.free_blocks, (FreeSet{{0, 10}}));
  EXPECT_EQ(h.a.free_pages(), 1024u);
}

TEST(BuddyTrim, EveryKeepOfEveryOrder) {
  for (unsigned order = 0; order <= 7; ++order) {
    for (size_t keep = 1; keep <= (size_t{1} << order); ++keep) {
      Harness h(1024);
      // Allocate something first so that the block is not at page 0.
      size_t first = 0, page = 0;
      ASSERT_EQ(h.a.alloc_index(0, &first), BuddyStatus::kOk);
      ASSERT_EQ(h.a.alloc_index(order, &page), BuddyStatus::kOk);
      ASSERT_EQ(h.a.trim(page, order, keep), BuddyStatus::kOk) << "order " << order << " keep " << keep;
      EXPECT_EQ(h.a.free_pages(), 1024u - 1u - keep);
      const std::vector<bool> f = h.free_pages();
      for (size_t p = page; p < page + (size_t{1} << order); ++p)
        ASSERT_EQ(f[p], p >= page + keep) << "order " << order << " keep " << keep << " page " << p;
      EXPECT_TRUE(h.fully_coalesced());
      for (const auto& [t, k] : tiles(page, keep)) {
        unsigned got = 99;
        ASSERT_EQ(h.a.order_of_index(t, &got), BuddyStatus::kOk);
        EXPECT_EQ(got, k);
      }
      ASSERT_EQ(h.a.unreserve_range(page, keep), BuddyStatus::kOk);
      ASSERT_EQ(h.a.free_index(first, 0), BuddyStatus::kOk);
      EXPECT_EQ(h.free_blocks, (FreeSet{{0, 10}})) << "order " << order << " keep " << keep;
    }
  }
}

TEST(BuddyTrim, WholeBlockChangesNothingButStaysFreeableAsARange) {
  Harness h(1024);
  size_t page = 0;
  ASSERT_EQ(h.a.alloc_index(4, &page), BuddyStatus::kOk);
  const FreeSet before = h.free_blocks;
  ASSERT_EQ(h.a.trim(page, 4, 16), BuddyStatus::kOk);
  EXPECT_EQ(h.free_blocks, before);
  ASSERT_EQ(h.a.unreserve_range(page, 16), BuddyStatus::kOk);
  EXPECT_EQ(h.a.free_pages(), 1024u);
}

TEST(BuddyTrim, RefusalsChangeNothing) {
  Harness h(1024);
  size_t page = 0;
  ASSERT_EQ(h.a.alloc_index(5, &page), BuddyStatus::kOk);  // pages 0..31
  const FreeSet before = h.free_blocks;
  const std::vector<uint64_t> counts = h.counts();
  EXPECT_EQ(h.a.trim(page, 5, 0), BuddyStatus::kInvalidArgument);
  EXPECT_EQ(h.a.trim(page, 5, 33), BuddyStatus::kInvalidArgument);
  EXPECT_EQ(h.a.trim(page, 4, 3), BuddyStatus::kWrongOrder);
  EXPECT_EQ(h.a.trim(page, 6, 3), BuddyStatus::kWrongOrder);
  EXPECT_EQ(h.a.trim(16, 4, 3), BuddyStatus::kNotBlockStart);
  EXPECT_EQ(h.a.trim(64, 6, 3), BuddyStatus::kDoubleFree);
  EXPECT_EQ(h.a.trim(0, 11, 3), BuddyStatus::kBadOrder);
  EXPECT_EQ(h.a.trim(4096, 0, 1), BuddyStatus::kOutOfRange);
  EXPECT_EQ(h.free_blocks, before);
  EXPECT_EQ(h.counts(), counts);
  // shrink_range of a range whose tiles are not all allocated blocks.
  EXPECT_EQ(h.a.shrink_range(0, 33, 5), BuddyStatus::kDoubleFree);  // page 32 is free
  EXPECT_EQ(h.a.shrink_range(0, 16, 5), BuddyStatus::kWrongOrder);  // (0, o4) is not a block
  EXPECT_EQ(h.a.shrink_range(0, 32, 0), BuddyStatus::kInvalidArgument);
  EXPECT_EQ(h.a.shrink_range(0, 32, 40), BuddyStatus::kInvalidArgument);
  EXPECT_EQ(h.a.shrink_range(1000, 32, 4), BuddyStatus::kOutOfRange);
  EXPECT_EQ(h.free_blocks, before);
  EXPECT_EQ(h.counts(), counts);
}

TEST(BuddyTrim, ShrinkRangeOfAReservedRangeAndOfATrimmedOne) {
  Harness h(1024);
  ASSERT_EQ(h.a.reserve_range(5, 100), BuddyStatus::kOk);
  ASSERT_EQ(h.a.shrink_range(5, 100, 37), BuddyStatus::kOk);
  EXPECT_EQ(h.a.free_pages(), 1024u - 37u);
  std::vector<bool> f = h.free_pages();
  for (size_t p = 0; p < 1024; ++p) ASSERT_EQ(f[p], p < 5 || p >= 42) << p;
  EXPECT_TRUE(h.fully_coalesced());
  // Again, on what the first shrink kept.
  ASSERT_EQ(h.a.shrink_range(5, 37, 1), BuddyStatus::kOk);
  f = h.free_pages();
  for (size_t p = 0; p < 1024; ++p) ASSERT_EQ(f[p], p != 5) << p;
  EXPECT_TRUE(h.fully_coalesced());
  ASSERT_EQ(h.a.unreserve_range(5, 1), BuddyStatus::kOk);
  EXPECT_EQ(h.free_blocks, (FreeSet{{0, 10}}));
}

TEST(BuddyTrim, TailCoalescesWithFreeNeighboursOutsideTheRange) {
  Harness h(1024);
  // [30, 34) is the tiles (30, o1) and (32, o1); everything else is free.
  ASSERT_EQ(h.a.reserve_range(30, 4), BuddyStatus::kOk);
  // Keep page 30: the tail is (31, o0), whose buddy 30 is kept, and (32, o1), whose buddy
  // (34, o1) lies outside the range and is free: it merges up to (32, o5).
  ASSERT_EQ(h.a.shrink_range(30, 4, 1), BuddyStatus::kOk);
  EXPECT_TRUE(h.free_blocks.count({31, 0}));
  EXPECT_TRUE(h.free_blocks.count({32, 5}));
  EXPECT_TRUE(h.fully_coalesced());
  ASSERT_EQ(h.a.unreserve_range(30, 1), BuddyStatus::kOk);
  EXPECT_EQ(h.free_blocks, (FreeSet{{0, 10}}));
}

// Random allocations trimmed to random lengths, shrunk and freed, against a page model.
TEST(BuddyTrim, RandomAgainstPageModel) {
  constexpr size_t kPages = 4096;
  Harness h(kPages);
  std::mt19937_64 rng(20261125);
  struct Live {
    size_t first;
    size_t count;
  };
  std::vector<Live> live;
  std::vector<bool> used(kPages, false);
  size_t used_pages = 0;
  for (int step = 0; step < 20000; ++step) {
    const unsigned op = rng() % 10;
    if (op < 5 || live.empty()) {
      const unsigned order = static_cast<unsigned>(rng() % 8);
      size_t page = 0;
      const BuddyStatus st = h.a.alloc_index(order, &page);
      if (st == BuddyStatus::kNoMemory) continue;
      ASSERT_EQ(st, BuddyStatus::kOk);
      const size_t keep = 1 + rng() % (size_t{1} << order);
      ASSERT_EQ(h.a.trim(page, order, keep), BuddyStatus::kOk);
      for (size_t p = page; p < page + keep; ++p) {
        ASSERT_FALSE(used[p]) << "page " << p << " handed out twice";
        used[p] = true;
      }
      used_pages += keep;
      live.push_back({page, keep});
    } else if (op < 7) {
      Live& l = live[rng() % live.size()];
      const size_t keep = 1 + rng() % l.count;
      ASSERT_EQ(h.a.shrink_range(l.first, l.count, keep), BuddyStatus::kOk);
      for (size_t p = l.first + keep; p < l.first + l.count; ++p) used[p] = false;
      used_pages -= l.count - keep;
      l.count = keep;
    } else {
      const size_t i = rng() % live.size();
      const Live l = live[i];
      live[i] = live.back();
      live.pop_back();
      ASSERT_EQ(h.a.unreserve_range(l.first, l.count), BuddyStatus::kOk);
      for (size_t p = l.first; p < l.first + l.count; ++p) used[p] = false;
      used_pages -= l.count;
    }
    ASSERT_EQ(h.a.free_pages(), kPages - used_pages);
    if (step % 97 == 0) {
      const std::vector<bool> f = h.free_pages();
      for (size_t p = 0; p < kPages; ++p) ASSERT_EQ(f[p], !used[p]) << "step " << step << " page " << p;
      ASSERT_TRUE(h.fully_coalesced()) << "step " << step;
    }
  }
  for (const Live& l : live) ASSERT_EQ(h.a.unreserve_range(l.first, l.count), BuddyStatus::kOk);
  EXPECT_EQ(h.free_blocks, (FreeSet{{0, 10}, {1024, 10}, {2048, 10}, {3072, 10}}));
}

}  // namespace
