// Unit tests of BuddyAllocator (include/memkit/buddy.hpp, src/buddy/): init validation, the
// initial carve, address-ordered allocation and expand(), coalescing (and its absence across the
// end of an odd-sized range), every error status with the state left untouched, order_of,
// alloc_bytes / order_for_bytes, alloc_at_index, reserve/unreserve_range, largest_free_order,
// the fragmentation indices, the /proc/buddyinfo line, max_order 0 and 20, and page sizes 1,
// 64 and 65536.
//
// The allocator never touches the pages it manages, so most tests hand it a fake, page-aligned
// base address and keep the metadata in a std::vector. Every harness also records the free
// lists through BuddyEvents, so tests can state the exact set of free blocks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <ostream>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "memkit/buddy.hpp"
#include "memkit/fragmentation.hpp"

namespace memkit {
void PrintTo(BuddyStatus s, std::ostream* os) { *os << to_string(s); }
}  // namespace memkit

namespace {

using memkit::BuddyAllocator;
using memkit::BuddyConfig;
using memkit::BuddyEvents;
using memkit::BuddyStatus;
using memkit::kBuddyMaxSupportedOrder;

constexpr uintptr_t kFakeBase = 0x100000000000;  // page-aligned for every page size used here

using FreeSet = std::set<std::pair<size_t, unsigned>>;  // (first page, order)

// Everything observable about the free lists.
struct State {
  std::vector<uint64_t> nr_free;
  uint64_t free_pages = 0;
  int largest = -1;
  FreeSet free_blocks;
  bool operator==(const State&) const = default;
};

void PrintTo(const State& s, std::ostream* os) {
  *os << "{free_pages " << s.free_pages << ", nr_free";
  for (uint64_t n : s.nr_free) *os << ' ' << n;
  *os << ", blocks";
  for (const auto& [page, order] : s.free_blocks) *os << ' ' << page << "(o" << order << ')';
  *os << '}';
}

// A BuddyAllocator over a fake range, with its metadata and an event-fed copy of its free set.
struct Harness {
  std::vector<uint64_t> meta;
  BuddyAllocator a;
  FreeSet free_blocks;
  BuddyEvents events{this, &Harness::on_add, &Harness::on_del};

  static void on_add(void* ctx, size_t page, unsigned order) {
    EXPECT_TRUE(static_cast<Harness*>(ctx)->free_blocks.emplace(page, order).second)
        << "on_add of a block already free: " << page << " o" << order;
  }
  static void on_del(void* ctx, size_t page, unsigned order) {
    EXPECT_EQ(static_cast<Harness*>(ctx)->free_blocks.erase({page, order}), 1u)
        << "on_del of a block not free: " << page << " o" << order;
  }

  BuddyStatus init(size_t pages, unsigned max_order, size_t page_size = 4096,
                   uintptr_t base = kFakeBase) {
    meta.assign((BuddyAllocator::metadata_bytes(pages, max_order) + 7) / 8, ~uint64_t{0});
    free_blocks.clear();
    return a.init(reinterpret_cast<void*>(base), pages, BuddyConfig{page_size, max_order},
                  meta.data(), meta.size() * sizeof(uint64_t), &events);
  }

  State state() const {
    State s;
    for (unsigned k = 0; k <= a.max_order(); ++k) s.nr_free.push_back(a.nr_free(k));
    s.free_pages = a.free_pages();
    s.largest = a.largest_free_order();
    s.free_blocks = free_blocks;
    return s;
  }

  size_t alloc(unsigned order) {
    size_t page = BuddyAllocator::kNoPage;
    EXPECT_EQ(a.alloc_index(order, &page), BuddyStatus::kOk) << "order " << order;
    return page;
  }

  void* addr(size_t page) const { return a.page_address(page); }
};

// The maximal naturally aligned blocks (order <= max_order) that tile [first, end), largest
// first: what init carves and what a fully coalesced free run must look like.
FreeSet tiles(size_t first, size_t end, unsigned max_order) {
  FreeSet out;
  for (size_t p = first; p < end;) {
    unsigned k = 0;
    while (k < max_order && (p & ((size_t{2} << k) - 1)) == 0 && p + (size_t{2} << k) <= end) ++k;
    out.emplace(p, k);
    p += size_t{1} << k;
  }
  return out;
}

std::vector<uint64_t> counts_of(const FreeSet& blocks, unsigned max_order) {
  std::vector<uint64_t> n(max_order + 1, 0);
  for (const auto& b : blocks) ++n[b.second];
  return n;
}

// ---------------------------------------------------------------------------------------------
// init

TEST(BuddyInit, RejectsBadArguments) {
  std::vector<uint64_t> meta(BuddyAllocator::metadata_bytes(1024, 10) / 8 + 1);
  const size_t size = meta.size() * 8;
  void* base = reinterpret_cast<void*>(kFakeBase);
  BuddyAllocator a;
  EXPECT_EQ(a.init(base, 0, {}, meta.data(), size), BuddyStatus::kInvalidArgument);
  for (size_t ps : {size_t{0}, size_t{3}, size_t{4095}, size_t{4097}, size_t{6144}})
    EXPECT_EQ(a.init(base, 1024, {ps, 10}, meta.data(), size), BuddyStatus::kInvalidArgument)
        << "page size " << ps;
  EXPECT_EQ(a.init(reinterpret_cast<void*>(kFakeBase + 2048), 1024, {}, meta.data(), size),
            BuddyStatus::kInvalidArgument);
  EXPECT_EQ(a.init(reinterpret_cast<void*>(kFakeBase + 64), 1024, {64, 10}, meta.data(), size),
            BuddyStatus::kOk);  // aligned to its own (small) page size is enough
  EXPECT_EQ(a.init(base, 1024, {4096, kBuddyMaxSupportedOrder + 1}, meta.data(), size),
            BuddyStatus::kInvalidArgument);
  EXPECT_EQ(a.init(base, 1024, {4096, 40}, meta.data(), size), BuddyStatus::kInvalidArgument);
  const size_t need = BuddyAllocator::metadata_bytes(1024, 10);
  EXPECT_EQ(a.init(base, 1024, {}, meta.data(), need - 1), BuddyStatus::kInvalidArgument);
  EXPECT_EQ(a.init(base, 1024, {}, meta.data(), 0), BuddyStatus::kInvalidArgument);
  EXPECT_EQ(a.init(base, 1024, {}, nullptr, size), BuddyStatus::kInvalidArgument);
  EXPECT_EQ(a.init(base, 1024, {}, reinterpret_cast<char*>(meta.data()) + 4, need),
            BuddyStatus::kInvalidArgument);
  EXPECT_EQ(a.init(base, 1024, {}, meta.data(), need), BuddyStatus::kOk);
  EXPECT_EQ(a.init(base, 1024, {4096, kBuddyMaxSupportedOrder}, meta.data(), need),
            BuddyStatus::kInvalidArgument);  // more orders need more metadata
}

TEST(BuddyInit, RejectsARangeThatWrapsTheAddressSpace) {
  std::vector<uint64_t> meta(BuddyAllocator::metadata_bytes(16, 4) / 8);
  BuddyAllocator a;
  EXPECT_EQ(a.init(reinterpret_cast<void*>(~uintptr_t{0} - 8 * 4096 + 1), 16, {4096, 4},
                   meta.data(), meta.size() * 8),
            BuddyStatus::kInvalidArgument);
}

TEST(BuddyInit, RejectsPageCountsWhoseMetadataSizeWouldWrap) {
  // With 1-byte pages a range may hold almost 2^64 pages. metadata_bytes must not wrap to a
  // small number (or, if it answers 0 for "unsupported", init must refuse such a count itself):
  // otherwise init accepts a tiny buffer and writes far past it.
  const size_t pages = ~size_t{0} - 8;
  const size_t need = BuddyAllocator::metadata_bytes(pages, 0);
  ASSERT_TRUE(need == 0 || need >= pages / 64) << "metadata_bytes wrapped: " << need;
  std::vector<uint64_t> meta(4);
  BuddyAllocator a;
  EXPECT_EQ(a.init(reinterpret_cast<void*>(8), pages, {1, 0}, meta.data(), meta.size() * 8),
            BuddyStatus::kInvalidArgument);
}

TEST(BuddyInit, Accessors) {
  Harness h;
  ASSERT_EQ(h.init(1000, 7, 65536), BuddyStatus::kOk);
  EXPECT_EQ(h.a.base(), reinterpret_cast<void*>(kFakeBase));
  EXPECT_EQ(h.a.pages(), 1000u);
  EXPECT_EQ(h.a.page_size(), 65536u);
  EXPECT_EQ(h.a.page_shift(), 16u);
  EXPECT_EQ(h.a.max_order(), 7u);
  EXPECT_EQ(h.a.free_pages(), 1000u);
  EXPECT_EQ(h.a.nr_free(8), 0u);   // above max_order
  EXPECT_EQ(h.a.nr_free(24), 0u);
  EXPECT_EQ(h.a.free_counts()[7], 1000u / 128);
}

TEST(BuddyInit, CarvesMaximalAlignedBlocksLargestFirst) {
  Harness h;
  ASSERT_EQ(h.init(1000, 10), BuddyStatus::kOk);
  EXPECT_EQ(h.free_blocks,
            (FreeSet{{0, 9}, {512, 8}, {768, 7}, {896, 6}, {960, 5}, {992, 3}}));
  EXPECT_EQ(h.state().nr_free, (std::vector<uint64_t>{0, 0, 0, 1, 0, 1, 1, 1, 1, 1, 0}));
  EXPECT_EQ(h.a.free_pages(), 1000u);
  EXPECT_EQ(h.a.largest_free_order(), 9);
}

TEST(BuddyInit, PowerOfTwoRangeIsOneBlock) {
  for (unsigned k : {0u, 1u, 5u, 10u}) {
    Harness h;
    ASSERT_EQ(h.init(size_t{1} << k, 10), BuddyStatus::kOk);
    EXPECT_EQ(h.free_blocks, (FreeSet{{0, k}})) << k;
  }
  Harness h;  // larger than one max-order block: several of them
  ASSERT_EQ(h.init(4096, 10), BuddyStatus::kOk);
  EXPECT_EQ(h.free_blocks, (FreeSet{{0, 10}, {1024, 10}, {2048, 10}, {3072, 10}}));
}

TEST(BuddyInit, OddSizes) {
  for (size_t pages : {1, 3, 7, 1025, 4097}) {
    SCOPED_TRACE(pages);
    Harness h;
    ASSERT_EQ(h.init(pages, 10), BuddyStatus::kOk);
    EXPECT_EQ(h.free_blocks, tiles(0, pages, 10));
    EXPECT_EQ(h.state().nr_free, counts_of(tiles(0, pages, 10), 10));
    EXPECT_EQ(h.a.free_pages(), pages);
  }
  Harness h;
  ASSERT_EQ(h.init(7, 10), BuddyStatus::kOk);
  EXPECT_EQ(h.free_blocks, (FreeSet{{0, 2}, {4, 1}, {6, 0}}));
  ASSERT_EQ(h.init(4097, 10), BuddyStatus::kOk);  // re-init starts over
  EXPECT_EQ(h.state().nr_free, (std::vector<uint64_t>{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4}));
}

TEST(BuddyInit, MaxOrderCapsTheCarve) {
  Harness h;
  ASSERT_EQ(h.init(1000, 3), BuddyStatus::kOk);
  EXPECT_EQ(h.state().nr_free, (std::vector<uint64_t>{0, 0, 0, 125}));
}

// ---------------------------------------------------------------------------------------------
// alloc and free

TEST(BuddyAlloc, ExpandKeepsTheLowerHalf) {
  Harness h;
  ASSERT_EQ(h.init(8, 3), BuddyStatus::kOk);
  EXPECT_EQ(h.alloc(0), 0u);
  EXPECT_EQ(h.free_blocks, (FreeSet{{1, 0}, {2, 1}, {4, 2}}));
  EXPECT_EQ(h.state().nr_free, (std::vector<uint64_t>{1, 1, 1, 0}));
  EXPECT_EQ(h.a.free_pages(), 7u);
}

TEST(BuddyAlloc, SmallestOrderFirstThenLowestAddress) {
  Harness h;
  ASSERT_EQ(h.init(1000, 10), BuddyStatus::kOk);
  // Free: 0(o9) 512(o8) 768(o7) 896(o6) 960(o5) 992(o3).
  EXPECT_EQ(h.alloc(3), 992u);  // exact fit, although at the highest address
  EXPECT_EQ(h.alloc(0), 960u);  // smallest order above: o5 at 960, split
  EXPECT_EQ(h.alloc(0), 961u);
  EXPECT_EQ(h.alloc(1), 962u);
  EXPECT_EQ(h.alloc(6), 896u);
  EXPECT_EQ(h.alloc(9), 0u);
  EXPECT_EQ(h.alloc(7), 768u);
  EXPECT_EQ(h.alloc(7), 512u);  // splits 512(o8), keeps 512
  EXPECT_EQ(h.alloc(7), 640u);
  EXPECT_EQ(h.free_blocks, (FreeSet{{964, 2}, {968, 3}, {976, 4}}));
}

TEST(BuddyAlloc, LowestAddressAmongEqualOrders) {
  Harness h;
  ASSERT_EQ(h.init(16, 4), BuddyStatus::kOk);
  std::vector<size_t> pages;
  for (int i = 0; i < 16; ++i) pages.push_back(h.alloc(0));
  for (size_t i = 0; i < 16; ++i) EXPECT_EQ(pages[i], i);
  // Free 13, 9, 5 (buddies all allocated: three lone order-0 blocks); the next alloc takes 5.
  for (size_t p : {13u, 9u, 5u}) ASSERT_EQ(h.a.free_index(p, 0), BuddyStatus::kOk);
  EXPECT_EQ(h.free_blocks, (FreeSet{{5, 0}, {9, 0}, {13, 0}}));
  EXPECT_EQ(h.alloc(0), 5u);
  EXPECT_EQ(h.alloc(0), 9u);
}

TEST(BuddyAlloc, ExhaustionAndBadOrder) {
  Harness h;
  ASSERT_EQ(h.init(5, 10), BuddyStatus::kOk);
  size_t page = 77;
  EXPECT_EQ(h.a.alloc_index(3, &page), BuddyStatus::kNoMemory);
  EXPECT_EQ(page, 77u);
  EXPECT_EQ(h.a.alloc(3), nullptr);
  EXPECT_EQ(h.a.alloc_index(11, &page), BuddyStatus::kBadOrder);
  EXPECT_EQ(h.a.alloc(11), nullptr);
  EXPECT_EQ(h.a.alloc(kBuddyMaxSupportedOrder + 1), nullptr);
  EXPECT_EQ(h.alloc(2), 0u);
  EXPECT_EQ(h.alloc(0), 4u);
  EXPECT_EQ(h.a.largest_free_order(), -1);
  EXPECT_EQ(h.a.free_pages(), 0u);
  EXPECT_EQ(h.a.alloc_index(0, &page), BuddyStatus::kNoMemory);
  EXPECT_EQ(h.a.alloc(0), nullptr);
}

TEST(BuddyAlloc, AddressInterface) {
  Harness h;
  ASSERT_EQ(h.init(64, 6), BuddyStatus::kOk);
  void* p = h.a.alloc(2);
  EXPECT_EQ(p, reinterpret_cast<void*>(kFakeBase));
  void* q = h.a.alloc(0);
  EXPECT_EQ(q, reinterpret_cast<void*>(kFakeBase + 4 * 4096));
  EXPECT_TRUE(h.a.contains(q));
  EXPECT_EQ(h.a.page_index(q), 4u);
  EXPECT_EQ(h.a.page_address(4), q);
  EXPECT_FALSE(h.a.contains(reinterpret_cast<void*>(kFakeBase + 64 * 4096)));
  EXPECT_FALSE(h.a.contains(reinterpret_cast<void*>(kFakeBase - 1)));
  EXPECT_EQ(h.a.free(q, 0), BuddyStatus::kOk);
  EXPECT_EQ(h.a.free(p, 2), BuddyStatus::kOk);
  EXPECT_EQ(h.free_blocks, (FreeSet{{0, 6}}));
}

TEST(BuddyFree, CoalescesBackToTheInitialState) {
  for (size_t pages : {1000, 1024, 1025, 3}) {
    SCOPED_TRACE(pages);
    Harness h;
    ASSERT_EQ(h.init(pages, 10), BuddyStatus::kOk);
    const State initial = h.state();
    std::vector<size_t> all;
    for (size_t i = 0; i < pages; ++i) all.push_back(h.alloc(0));
    EXPECT_EQ(h.a.free_pages(), 0u);
    EXPECT_TRUE(h.free_blocks.empty());
    std::shuffle(all.begin(), all.end(), std::mt19937(static_cast<unsigned>(pages)));
    for (size_t p : all) ASSERT_EQ(h.a.free_index(p, 0), BuddyStatus::kOk) << p;
    EXPECT_EQ(h.state(), initial);
  }
}

TEST(BuddyFree, MergesStepByStep) {
  Harness h;
  ASSERT_EQ(h.init(8, 3), BuddyStatus::kOk);
  for (int i = 0; i < 4; ++i) h.alloc(1);  // 0, 2, 4, 6
  ASSERT_EQ(h.a.free_index(2, 1), BuddyStatus::kOk);
  EXPECT_EQ(h.free_blocks, (FreeSet{{2, 1}}));
  ASSERT_EQ(h.a.free_index(4, 1), BuddyStatus::kOk);  // 4's buddy is 6: allocated, no merge
  EXPECT_EQ(h.free_blocks, (FreeSet{{2, 1}, {4, 1}}));
  ASSERT_EQ(h.a.free_index(0, 1), BuddyStatus::kOk);  // merges with 2 into 0(o2)
  EXPECT_EQ(h.free_blocks, (FreeSet{{0, 2}, {4, 1}}));
  ASSERT_EQ(h.a.free_index(6, 1), BuddyStatus::kOk);  // 6+4 -> 4(o2), then 0+4 -> 0(o3)
  EXPECT_EQ(h.free_blocks, (FreeSet{{0, 3}}));
}

TEST(BuddyFree, NoMergeAtMaxOrder) {
  Harness h;
  ASSERT_EQ(h.init(8, 1), BuddyStatus::kOk);
  EXPECT_EQ(h.free_blocks, (FreeSet{{0, 1}, {2, 1}, {4, 1}, {6, 1}}));
  EXPECT_EQ(h.alloc(0), 0u);
  ASSERT_EQ(h.a.free_index(0, 0), BuddyStatus::kOk);
  EXPECT_EQ(h.free_blocks, (FreeSet{{0, 1}, {2, 1}, {4, 1}, {6, 1}}));
}

TEST(BuddyFree, BuddyOutsideTheRangeDoesNotMerge) {
  Harness h;
  ASSERT_EQ(h.init(3, 10), BuddyStatus::kOk);
  EXPECT_EQ(h.free_blocks, (FreeSet{{0, 1}, {2, 0}}));
  EXPECT_EQ(h.alloc(0), 2u);
  EXPECT_EQ(h.alloc(1), 0u);
  ASSERT_EQ(h.a.free_index(2, 0), BuddyStatus::kOk);  // buddy 3 is past the end
  EXPECT_EQ(h.free_blocks, (FreeSet{{2, 0}}));
  ASSERT_EQ(h.a.free_index(0, 1), BuddyStatus::kOk);  // buddy 2(o1) would run past the end
  EXPECT_EQ(h.free_blocks, (FreeSet{{0, 1}, {2, 0}}));

  ASSERT_EQ(h.init(1025, 10), BuddyStatus::kOk);
  EXPECT_EQ(h.alloc(0), 1024u);
  EXPECT_EQ(h.alloc(0), 0u);
  ASSERT_EQ(h.a.free_index(1024, 0), BuddyStatus::kOk);
  ASSERT_EQ(h.a.free_index(0, 0), BuddyStatus::kOk);
  EXPECT_EQ(h.free_blocks, (FreeSet{{0, 10}, {1024, 0}}));
}

// ---------------------------------------------------------------------------------------------
// errors: each returns its status, agrees with check_index, and changes nothing

// Calls check_index and free_index(page, order); both must return `want` and leave the state.
void expect_free_fails(Harness& h, size_t page, unsigned order, BuddyStatus want) {
  const State before = h.state();
  EXPECT_EQ(h.a.check_index(page, order), want) << "page " << page << " order " << order;
  EXPECT_EQ(h.a.free_index(page, order), want) << "page " << page << " order " << order;
  EXPECT_EQ(h.state(), before);
}

class BuddyErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    // 16 pages: 0(o2) allocated, 4(o0) allocated, 8(o3) allocated; free 5(o0), 6(o1).
    ASSERT_EQ(h.init(16, 4), BuddyStatus::kOk);
    ASSERT_EQ(h.a.alloc_at_index(0, 2), BuddyStatus::kOk);
    ASSERT_EQ(h.a.alloc_at_index(4, 0), BuddyStatus::kOk);
    ASSERT_EQ(h.a.alloc_at_index(8, 3), BuddyStatus::kOk);
    ASSERT_EQ(h.free_blocks, (FreeSet{{5, 0}, {6, 1}}));
  }
  Harness h;
};

TEST_F(BuddyErrors, DoubleFree) {
  expect_free_fails(h, 5, 0, BuddyStatus::kDoubleFree);
  expect_free_fails(h, 6, 1, BuddyStatus::kDoubleFree);
  expect_free_fails(h, 7, 0, BuddyStatus::kDoubleFree);  // a page inside a free block
  ASSERT_EQ(h.a.free_index(4, 0), BuddyStatus::kOk);     // 4 merges with 5 and 6 into 4(o2)
  expect_free_fails(h, 4, 0, BuddyStatus::kDoubleFree);
  expect_free_fails(h, 4, 2, BuddyStatus::kDoubleFree);
  expect_free_fails(h, 6, 1, BuddyStatus::kDoubleFree);
}

TEST_F(BuddyErrors, WrongOrder) {
  expect_free_fails(h, 0, 1, BuddyStatus::kWrongOrder);
  expect_free_fails(h, 0, 3, BuddyStatus::kWrongOrder);
  expect_free_fails(h, 8, 0, BuddyStatus::kWrongOrder);
  expect_free_fails(h, 8, 2, BuddyStatus::kWrongOrder);
  expect_free_fails(h, 4, 2, BuddyStatus::kWrongOrder);  // 4(o0) is allocated, 4(o2) is not
}

TEST_F(BuddyErrors, NotBlockStart) {
  expect_free_fails(h, 2, 0, BuddyStatus::kNotBlockStart);
  expect_free_fails(h, 2, 1, BuddyStatus::kNotBlockStart);
  expect_free_fails(h, 12, 2, BuddyStatus::kNotBlockStart);
  expect_free_fails(h, 15, 0, BuddyStatus::kNotBlockStart);
  unsigned order = 99;
  EXPECT_EQ(h.a.order_of_index(12, &order), BuddyStatus::kNotBlockStart);
  EXPECT_EQ(order, 99u);
}

TEST_F(BuddyErrors, OutOfRange) {
  expect_free_fails(h, 16, 0, BuddyStatus::kOutOfRange);
  expect_free_fails(h, 1000, 0, BuddyStatus::kOutOfRange);
  expect_free_fails(h, BuddyAllocator::kNoPage, 0, BuddyStatus::kOutOfRange);
  unsigned order = 99;
  EXPECT_EQ(h.a.order_of_index(16, &order), BuddyStatus::kOutOfRange);
}

TEST(BuddyErrorsOdd, BlockRunningPastTheEnd) {
  Harness odd;
  ASSERT_EQ(odd.init(3, 10), BuddyStatus::kOk);
  EXPECT_EQ(odd.alloc(1), 0u);
  EXPECT_EQ(odd.alloc(0), 2u);
  expect_free_fails(odd, 2, 1, BuddyStatus::kOutOfRange);  // 2(o1) would be pages 2..3
  expect_free_fails(odd, 0, 2, BuddyStatus::kOutOfRange);  // 0(o2) would be pages 0..3
}

TEST_F(BuddyErrors, Misaligned) {
  expect_free_fails(h, 2, 2, BuddyStatus::kMisaligned);   // inside 0(o2), not o2-aligned
  expect_free_fails(h, 6, 2, BuddyStatus::kMisaligned);   // free, not o2-aligned
  expect_free_fails(h, 12, 3, BuddyStatus::kMisaligned);  // inside 8(o3)
}

TEST_F(BuddyErrors, BadOrder) {
  expect_free_fails(h, 0, 5, BuddyStatus::kBadOrder);
  expect_free_fails(h, 0, kBuddyMaxSupportedOrder, BuddyStatus::kBadOrder);
  expect_free_fails(h, 0, 200, BuddyStatus::kBadOrder);
}

TEST_F(BuddyErrors, AddressInterface) {
  const uintptr_t base = kFakeBase;
  auto fails = [&](uintptr_t addr, unsigned order, BuddyStatus want) {
    const State before = h.state();
    EXPECT_EQ(h.a.free(reinterpret_cast<void*>(addr), order), want) << std::hex << addr;
    EXPECT_EQ(h.state(), before);
  };
  fails(base + 8, 0, BuddyStatus::kMisaligned);            // not page-aligned
  fails(base + 4 * 4096 + 1, 0, BuddyStatus::kMisaligned);
  fails(base + 2 * 4096, 2, BuddyStatus::kMisaligned);     // page not aligned to the order
  fails(base - 4096, 0, BuddyStatus::kOutOfRange);
  fails(base + 16 * 4096, 0, BuddyStatus::kOutOfRange);
  fails(0, 0, BuddyStatus::kOutOfRange);
  fails(base + 5 * 4096, 0, BuddyStatus::kDoubleFree);
  fails(base + 0, 1, BuddyStatus::kWrongOrder);
  fails(base + 12 * 4096, 0, BuddyStatus::kNotBlockStart);
  fails(base, 11, BuddyStatus::kBadOrder);
  EXPECT_EQ(h.a.free(reinterpret_cast<void*>(base + 8 * 4096), 3), BuddyStatus::kOk);
}

TEST_F(BuddyErrors, OrderOf) {
  unsigned order = 99;
  EXPECT_EQ(h.a.order_of_index(0, &order), BuddyStatus::kOk);
  EXPECT_EQ(order, 2u);
  EXPECT_EQ(h.a.order_of_index(4, &order), BuddyStatus::kOk);
  EXPECT_EQ(order, 0u);
  EXPECT_EQ(h.a.order_of(h.addr(8), &order), BuddyStatus::kOk);
  EXPECT_EQ(order, 3u);
  EXPECT_EQ(h.a.check_index(8, 3), BuddyStatus::kOk);  // classification only: still allocated
  EXPECT_EQ(h.a.order_of(h.addr(8), &order), BuddyStatus::kOk);
  order = 99;
  EXPECT_NE(h.a.order_of_index(5, &order), BuddyStatus::kOk);  // free
  EXPECT_NE(h.a.order_of_index(2, &order), BuddyStatus::kOk);  // interior
  EXPECT_EQ(h.a.order_of(static_cast<char*>(h.addr(8)) + 1, &order), BuddyStatus::kMisaligned);
  EXPECT_EQ(h.a.order_of(h.addr(16), &order), BuddyStatus::kOutOfRange);
  EXPECT_EQ(order, 99u);
}

TEST(BuddyStatusText, DistinctAndDescriptive) {
  EXPECT_STREQ(memkit::to_string(BuddyStatus::kDoubleFree), "double free");
  EXPECT_STREQ(memkit::to_string(BuddyStatus::kWrongOrder), "wrong order");
  std::set<std::string> seen;
  for (int s = 0; s <= static_cast<int>(BuddyStatus::kInvalidArgument); ++s) {
    const char* text = memkit::to_string(static_cast<BuddyStatus>(s));
    ASSERT_NE(text, nullptr);
    EXPECT_GT(std::strlen(text), 0u);
    EXPECT_TRUE(seen.insert(text).second) << text;
  }
}

// ---------------------------------------------------------------------------------------------
// bytes

TEST(BuddyBytes, OrderForBytes) {
  EXPECT_EQ(BuddyAllocator::order_for_bytes(0, 4096), 0u);
  EXPECT_EQ(BuddyAllocator::order_for_bytes(1, 4096), 0u);
  EXPECT_EQ(BuddyAllocator::order_for_bytes(4096, 4096), 0u);
  EXPECT_EQ(BuddyAllocator::order_for_bytes(4097, 4096), 1u);
  EXPECT_EQ(BuddyAllocator::order_for_bytes(8192, 4096), 1u);
  EXPECT_EQ(BuddyAllocator::order_for_bytes(8193, 4096), 2u);
  EXPECT_EQ(BuddyAllocator::order_for_bytes(4u << 20, 4096), 10u);
  EXPECT_EQ(BuddyAllocator::order_for_bytes((4u << 20) + 1, 4096), 11u);
  EXPECT_EQ(BuddyAllocator::order_for_bytes(5, 1), 3u);
  EXPECT_EQ(BuddyAllocator::order_for_bytes(65537, 65536), 1u);
  const size_t largest = (size_t{1} << kBuddyMaxSupportedOrder) * 4096;
  EXPECT_EQ(BuddyAllocator::order_for_bytes(largest, 4096), kBuddyMaxSupportedOrder);
  EXPECT_EQ(BuddyAllocator::order_for_bytes(largest + 1, 4096), kBuddyMaxSupportedOrder + 1);
  EXPECT_EQ(BuddyAllocator::order_for_bytes(~size_t{0}, 4096), kBuddyMaxSupportedOrder + 1);
  EXPECT_EQ(BuddyAllocator::order_for_bytes(~size_t{0} - 4094, 4096),
            kBuddyMaxSupportedOrder + 1);
  EXPECT_EQ(BuddyAllocator::order_for_bytes(~size_t{0}, size_t{1} << 63),
            kBuddyMaxSupportedOrder + 1);
  EXPECT_EQ(BuddyAllocator::order_for_bytes(100, 3), kBuddyMaxSupportedOrder + 1);
  EXPECT_EQ(BuddyAllocator::order_for_bytes(100, 0), kBuddyMaxSupportedOrder + 1);
}

TEST(BuddyBytes, AllocBytes) {
  Harness h;
  ASSERT_EQ(h.init(16, 3), BuddyStatus::kOk);
  unsigned order = 99;
  void* p = h.a.alloc_bytes(0);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(h.a.order_of(p, &order), BuddyStatus::kOk);
  EXPECT_EQ(order, 0u);
  void* q = h.a.alloc_bytes(4097);
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(h.a.order_of(q, &order), BuddyStatus::kOk);
  EXPECT_EQ(order, 1u);
  EXPECT_EQ(h.a.page_index(q), 2u);
  void* r = h.a.alloc_bytes(8 * 4096);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(h.a.order_of(r, &order), BuddyStatus::kOk);
  EXPECT_EQ(order, 3u);
  const State before = h.state();
  EXPECT_EQ(h.a.alloc_bytes(8 * 4096 + 1), nullptr);  // order 4 > max_order 3
  EXPECT_EQ(h.a.alloc_bytes(~size_t{0}), nullptr);
  EXPECT_EQ(h.state(), before);
}

// ---------------------------------------------------------------------------------------------
// alloc_at_index

TEST(BuddyAllocAt, SplitsAroundTheTarget) {
  Harness h;
  ASSERT_EQ(h.init(16, 4), BuddyStatus::kOk);
  ASSERT_EQ(h.a.alloc_at_index(5, 0), BuddyStatus::kOk);
  EXPECT_EQ(h.free_blocks, (FreeSet{{0, 2}, {4, 0}, {6, 1}, {8, 3}}));
  EXPECT_EQ(h.a.free_pages(), 15u);
  unsigned order = 99;
  EXPECT_EQ(h.a.order_of_index(5, &order), BuddyStatus::kOk);
  EXPECT_EQ(order, 0u);
  // Whatever overlaps page 5 is busy, and a busy attempt changes nothing.
  for (auto [page, ord] : {std::pair<size_t, unsigned>{5, 0}, {4, 1}, {4, 2}, {0, 3}, {0, 4}}) {
    const State before = h.state();
    EXPECT_EQ(h.a.alloc_at_index(page, ord), BuddyStatus::kBusy) << page << " o" << ord;
    EXPECT_EQ(h.state(), before);
  }
  ASSERT_EQ(h.a.alloc_at_index(8, 3), BuddyStatus::kOk);  // an exact free block
  ASSERT_EQ(h.a.alloc_at_index(4, 0), BuddyStatus::kOk);
  EXPECT_EQ(h.free_blocks, (FreeSet{{0, 2}, {6, 1}}));
  ASSERT_EQ(h.a.free_index(5, 0), BuddyStatus::kOk);
  ASSERT_EQ(h.a.free_index(4, 0), BuddyStatus::kOk);
  ASSERT_EQ(h.a.free_index(8, 3), BuddyStatus::kOk);
  EXPECT_EQ(h.free_blocks, (FreeSet{{0, 4}}));
}

TEST(BuddyAllocAt, HighTargetInALargeBlock) {
  Harness h;
  ASSERT_EQ(h.init(1024, 10), BuddyStatus::kOk);
  ASSERT_EQ(h.a.alloc_at_index(1022, 1), BuddyStatus::kOk);
  // The halves below the target: 0(o9), 512(o8), ..., 1020(o1).
  EXPECT_EQ(h.free_blocks, tiles(0, 1022, 10));
  EXPECT_EQ(h.a.free_pages(), 1022u);
  EXPECT_EQ(h.alloc(1), 1020u);
}

TEST(BuddyAllocAt, Errors) {
  Harness h;
  ASSERT_EQ(h.init(6, 3), BuddyStatus::kOk);  // 0(o2) 4(o1)
  const State before = h.state();
  EXPECT_EQ(h.a.alloc_at_index(0, 4), BuddyStatus::kBadOrder);
  EXPECT_EQ(h.a.alloc_at_index(6, 0), BuddyStatus::kOutOfRange);
  EXPECT_EQ(h.a.alloc_at_index(4, 2), BuddyStatus::kOutOfRange);  // pages 4..7, range ends at 6
  EXPECT_EQ(h.a.alloc_at_index(1, 1), BuddyStatus::kMisaligned);
  EXPECT_EQ(h.a.alloc_at_index(2, 2), BuddyStatus::kMisaligned);
  EXPECT_EQ(h.state(), before);
}

// ---------------------------------------------------------------------------------------------
// reserve_range / unreserve_range

TEST(BuddyReserve, TilesTheRangeWithMaximalBlocks) {
  Harness h;
  ASSERT_EQ(h.init(16, 4), BuddyStatus::kOk);
  ASSERT_EQ(h.a.reserve_range(3, 6), BuddyStatus::kOk);  // pages 3..8: 3(o0) 4(o2) 8(o0)
  unsigned order = 99;
  EXPECT_EQ(h.a.order_of_index(3, &order), BuddyStatus::kOk);
  EXPECT_EQ(order, 0u);
  EXPECT_EQ(h.a.order_of_index(4, &order), BuddyStatus::kOk);
  EXPECT_EQ(order, 2u);
  EXPECT_EQ(h.a.order_of_index(8, &order), BuddyStatus::kOk);
  EXPECT_EQ(order, 0u);
  EXPECT_EQ(h.free_blocks, (FreeSet{{0, 1}, {2, 0}, {9, 0}, {10, 1}, {12, 2}}));
  EXPECT_EQ(h.a.free_pages(), 10u);
  ASSERT_EQ(h.a.unreserve_range(3, 6), BuddyStatus::kOk);
  EXPECT_EQ(h.free_blocks, (FreeSet{{0, 4}}));
}

TEST(BuddyReserve, AllOrNothing) {
  Harness h;
  ASSERT_EQ(h.init(1000, 10), BuddyStatus::kOk);
  ASSERT_EQ(h.a.reserve_range(500, 3), BuddyStatus::kOk);
  const State before = h.state();
  EXPECT_EQ(h.a.reserve_range(0, 501), BuddyStatus::kBusy);    // last page overlaps
  EXPECT_EQ(h.a.reserve_range(502, 100), BuddyStatus::kBusy);  // first page overlaps
  EXPECT_EQ(h.a.reserve_range(490, 20), BuddyStatus::kBusy);
  EXPECT_EQ(h.a.reserve_range(990, 11), BuddyStatus::kOutOfRange);
  EXPECT_EQ(h.a.reserve_range(1000, 1), BuddyStatus::kOutOfRange);
  EXPECT_EQ(h.a.reserve_range(1, ~size_t{0}), BuddyStatus::kOutOfRange);
  EXPECT_EQ(h.state(), before);
  // unreserve of a range that is not (all) reserved changes nothing either.
  EXPECT_NE(h.a.unreserve_range(499, 3), BuddyStatus::kOk);
  EXPECT_NE(h.a.unreserve_range(500, 4), BuddyStatus::kOk);
  EXPECT_NE(h.a.unreserve_range(0, 10), BuddyStatus::kOk);
  EXPECT_EQ(h.state(), before);
  ASSERT_EQ(h.a.unreserve_range(500, 3), BuddyStatus::kOk);
  EXPECT_EQ(h.free_blocks, tiles(0, 1000, 10));
}

TEST(BuddyReserve, OddUnalignedRanges) {
  Harness h;
  ASSERT_EQ(h.init(4097, 10), BuddyStatus::kOk);
  const State initial = h.state();
  ASSERT_EQ(h.a.reserve_range(1, 4095), BuddyStatus::kOk);  // all but the first and last two
  EXPECT_EQ(h.free_blocks, (FreeSet{{0, 0}, {4096, 0}}));
  EXPECT_EQ(h.a.free_pages(), 2u);
  ASSERT_EQ(h.a.reserve_range(4096, 1), BuddyStatus::kOk);
  ASSERT_EQ(h.a.unreserve_range(1, 4095), BuddyStatus::kOk);
  EXPECT_EQ(h.free_blocks, tiles(0, 4096, 10));
  ASSERT_EQ(h.a.unreserve_range(4096, 1), BuddyStatus::kOk);
  EXPECT_EQ(h.state(), initial);
  // A reserved block can also be freed on its own.
  ASSERT_EQ(h.a.reserve_range(1023, 3), BuddyStatus::kOk);  // 1023(o0) 1024(o1)
  ASSERT_EQ(h.a.free_index(1024, 1), BuddyStatus::kOk);
  ASSERT_EQ(h.a.free_index(1023, 0), BuddyStatus::kOk);
  EXPECT_EQ(h.state(), initial);
}

// ---------------------------------------------------------------------------------------------
// statistics

TEST(BuddyStats, LargestFreeOrder) {
  Harness h;
  ASSERT_EQ(h.init(24, 4), BuddyStatus::kOk);  // 0(o4) 16(o3)
  EXPECT_EQ(h.a.largest_free_order(), 4);
  h.alloc(4);
  EXPECT_EQ(h.a.largest_free_order(), 3);
  h.alloc(0);
  EXPECT_EQ(h.a.largest_free_order(), 2);
  h.alloc(2);
  h.alloc(1);
  EXPECT_EQ(h.a.largest_free_order(), 0);
  h.alloc(0);
  EXPECT_EQ(h.a.largest_free_order(), -1);
}

TEST(BuddyStats, FragmentationIndicesMatchTheFreeFunctions) {
  Harness h;
  ASSERT_EQ(h.init(64, 6), BuddyStatus::kOk);
  // Allocate every page, then free every other one: 32 lone order-0 blocks.
  for (int i = 0; i < 64; ++i) h.alloc(0);
  for (size_t p = 0; p < 64; p += 2) ASSERT_EQ(h.a.free_index(p, 0), BuddyStatus::kOk);
  EXPECT_EQ(h.a.nr_free(0), 32u);
  for (unsigned j = 0; j <= 6; ++j) {
    EXPECT_EQ(h.a.unusable_free_index(j), memkit::unusable_free_index(h.a.free_counts(), 6, j));
    EXPECT_EQ(h.a.fragmentation_index(j), memkit::fragmentation_index(h.a.free_counts(), 6, j));
  }
  EXPECT_EQ(h.a.unusable_free_index(0), 0);
  EXPECT_EQ(h.a.unusable_free_index(1), 1000);
  EXPECT_EQ(h.a.fragmentation_index(0), -1000);
  EXPECT_EQ(h.a.fragmentation_index(1), 1000 - (1000 + 32 * 1000 / 2) / 32);  // 469
  EXPECT_EQ(h.a.fragmentation_index(7), 0);  // above max_order
}

std::string buddyinfo(const BuddyAllocator& a, int node = 0, const char* zone = "memkit") {
  const int n = a.format_buddyinfo(nullptr, 0, node, zone);
  std::string s(static_cast<size_t>(n) + 1, '\0');
  EXPECT_EQ(a.format_buddyinfo(s.data(), s.size(), node, zone), n);
  s.resize(static_cast<size_t>(n));
  return s;
}

TEST(BuddyStats, FormatBuddyinfo) {
  Harness h;
  ASSERT_EQ(h.init(1000, 10), BuddyStatus::kOk);
  EXPECT_EQ(buddyinfo(h.a),
            "Node 0, zone   memkit      0      0      0      1      0      1      1      1      1"
            "      1      0 \n");
  EXPECT_EQ(buddyinfo(h.a, 1, "Normal"),
            "Node 1, zone   Normal      0      0      0      1      0      1      1      1      1"
            "      1      0 \n");
  // A long zone name is not cut, counts wider than 6 digits are not either (no events here:
  // a million blocks would make the shadow set slow).
  std::vector<uint64_t> meta(BuddyAllocator::metadata_bytes(1234567, 0) / 8);
  BuddyAllocator big;
  ASSERT_EQ(big.init(reinterpret_cast<void*>(kFakeBase), 1234567, {4096, 0}, meta.data(),
                     meta.size() * 8),
            BuddyStatus::kOk);
  EXPECT_EQ(buddyinfo(big, 12, "LongZoneName"), "Node 12, zone LongZoneName 1234567 \n");
}

TEST(BuddyStats, FormatBuddyinfoTruncates) {
  Harness h;
  ASSERT_EQ(h.init(8, 3), BuddyStatus::kOk);
  const std::string full = "Node 0, zone   memkit      0      0      0      1 \n";
  EXPECT_EQ(buddyinfo(h.a), full);
  for (size_t len : {size_t{1}, size_t{10}, size_t{22}, size_t{23}, size_t{30}, full.size(),
                     full.size() + 1}) {
    SCOPED_TRACE(len);
    std::vector<char> buf(len + 8, '#');
    EXPECT_EQ(h.a.format_buddyinfo(buf.data(), len), static_cast<int>(full.size()));
    EXPECT_EQ(std::string(buf.data()), full.substr(0, len - 1));
    for (size_t i = len; i < buf.size(); ++i) ASSERT_EQ(buf[i], '#') << "wrote past len at " << i;
  }
  char untouched = '#';
  EXPECT_EQ(h.a.format_buddyinfo(&untouched, 0), static_cast<int>(full.size()));
  EXPECT_EQ(untouched, '#');
}

// ---------------------------------------------------------------------------------------------
// extremes of max_order and page size

TEST(BuddyExtremes, MaxOrderZero) {
  Harness h;
  ASSERT_EQ(h.init(5, 0), BuddyStatus::kOk);
  EXPECT_EQ(h.free_blocks, (FreeSet{{0, 0}, {1, 0}, {2, 0}, {3, 0}, {4, 0}}));
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(h.alloc(0), i);
  size_t page;
  EXPECT_EQ(h.a.alloc_index(0, &page), BuddyStatus::kNoMemory);
  EXPECT_EQ(h.a.alloc_index(1, &page), BuddyStatus::kBadOrder);
  for (size_t i = 0; i < 5; ++i) ASSERT_EQ(h.a.free_index(i, 0), BuddyStatus::kOk);
  EXPECT_EQ(h.a.nr_free(0), 5u);  // nothing merges
  EXPECT_EQ(h.a.nr_free(1), 0u);
  EXPECT_EQ(buddyinfo(h.a), "Node 0, zone   memkit      5 \n");
}

TEST(BuddyExtremes, MaxOrderTwentyOnALargeRange) {
  Harness h;
  const size_t pages = size_t{1} << 21;
  ASSERT_EQ(h.init(pages, 20), BuddyStatus::kOk);
  EXPECT_EQ(h.free_blocks, (FreeSet{{0, 20}, {size_t{1} << 20, 20}}));
  EXPECT_EQ(h.alloc(0), 0u);
  EXPECT_EQ(h.a.largest_free_order(), 20);
  for (unsigned k = 0; k < 20; ++k) EXPECT_EQ(h.a.nr_free(k), 1u) << k;
  EXPECT_EQ(h.alloc(20), size_t{1} << 20);
  EXPECT_EQ(h.alloc(19), size_t{1} << 19);
  ASSERT_EQ(h.a.alloc_at_index(pages - 1, 0), BuddyStatus::kBusy);
  ASSERT_EQ(h.a.free_index(size_t{1} << 20, 20), BuddyStatus::kOk);
  ASSERT_EQ(h.a.alloc_at_index(pages - 1, 0), BuddyStatus::kOk);
  ASSERT_EQ(h.a.free_index(pages - 1, 0), BuddyStatus::kOk);
  ASSERT_EQ(h.a.free_index(0, 0), BuddyStatus::kOk);
  ASSERT_EQ(h.a.free_index(size_t{1} << 19, 19), BuddyStatus::kOk);
  EXPECT_EQ(h.free_blocks, (FreeSet{{0, 20}, {size_t{1} << 20, 20}}));
  EXPECT_EQ(h.a.free_pages(), pages);
}

TEST(BuddyExtremes, PageSizes) {
  for (size_t ps : {size_t{1}, size_t{64}, size_t{65536}}) {
    SCOPED_TRACE(ps);
    Harness h;
    ASSERT_EQ(h.init(128, 4, ps), BuddyStatus::kOk);
    EXPECT_EQ(h.a.page_size(), ps);
    void* p = h.a.alloc(0);
    void* q = h.a.alloc(2);
    EXPECT_EQ(p, reinterpret_cast<void*>(kFakeBase));
    EXPECT_EQ(q, reinterpret_cast<void*>(kFakeBase + 4 * ps));
    void* r = h.a.alloc_bytes(ps + 1);
    EXPECT_EQ(r, reinterpret_cast<void*>(kFakeBase + 2 * ps));
    EXPECT_EQ(h.a.free(static_cast<char*>(q) + ps, 0), BuddyStatus::kNotBlockStart);
    EXPECT_EQ(h.a.free(static_cast<char*>(q) + ps, 1), BuddyStatus::kMisaligned);
    if (ps > 1) {
      EXPECT_EQ(h.a.free(static_cast<char*>(q) + 1, 2), BuddyStatus::kMisaligned);
    }
    EXPECT_EQ(h.a.free(reinterpret_cast<char*>(kFakeBase) + 128 * ps, 0),
              BuddyStatus::kOutOfRange);
    EXPECT_EQ(h.a.free(q, 2), BuddyStatus::kOk);
    EXPECT_EQ(h.a.free(r, 1), BuddyStatus::kOk);
    EXPECT_EQ(h.a.free(p, 0), BuddyStatus::kOk);
    EXPECT_EQ(h.free_blocks, tiles(0, 128, 4));
  }
}

TEST(BuddyExtremes, RealMemory) {
  // Backed by real, page-aligned memory: nothing in the range is read or written.
  constexpr size_t kPages = 32;
  alignas(4096) static unsigned char range[kPages * 4096];
  std::memset(range, 0xa5, sizeof range);
  std::vector<uint64_t> meta(BuddyAllocator::metadata_bytes(kPages, 5) / 8);
  BuddyAllocator a;
  ASSERT_EQ(a.init(range, kPages, {4096, 5}, meta.data(), meta.size() * 8), BuddyStatus::kOk);
  void* p = a.alloc(3);
  ASSERT_EQ(p, range);
  EXPECT_EQ(a.free(p, 3), BuddyStatus::kOk);
  for (unsigned char c : range) ASSERT_EQ(c, 0xa5);
}

}  // namespace
