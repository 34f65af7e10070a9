// Tests detail::HierBitmap (include/memkit/detail/hier_bitmap.hpp): words_needed, set / clear /
// test / find_first at sizes around the 64-bit word and level boundaries (1, 63, 64, 65, 4095,
// 4096, 4097, 262145 bits), idempotent set/clear, that init() stays inside its words, and a
// randomized comparison against std::set.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <random>
#include <set>
#include <vector>

#include "memkit/detail/hier_bitmap.hpp"

namespace {

using memkit::detail::HierBitmap;

constexpr uint64_t kGuard = 0xdeadbeefcafef00dULL;
constexpr size_t kGuardWords = 4;

// A bitmap over its own words, with guard words on both sides to catch stray writes.
class Bitmap {
 public:
  explicit Bitmap(size_t n) : words_(HierBitmap::words_needed(n) + 2 * kGuardWords, kGuard) {
    bm_.init(words_.data() + kGuardWords, n);
  }
  HierBitmap& operator*() { return bm_; }
  HierBitmap* operator->() { return &bm_; }
  bool guards_intact() const {
    for (size_t i = 0; i < kGuardWords; ++i)
      if (words_[i] != kGuard || words_[words_.size() - 1 - i] != kGuard) return false;
    return true;
  }

 private:
  std::vector<uint64_t> words_;
  HierBitmap bm_;
};

const size_t kSizes[] = {1, 63, 64, 65, 4095, 4096, 4097, 262145};

TEST(HierBitmap, WordsNeeded) {
  EXPECT_EQ(HierBitmap::words_needed(0), 1u);
  EXPECT_EQ(HierBitmap::words_needed(1), 1u);
  EXPECT_EQ(HierBitmap::words_needed(64), 1u);
  EXPECT_EQ(HierBitmap::words_needed(65), 2u + 1u);
  EXPECT_EQ(HierBitmap::words_needed(4096), 64u + 1u);
  EXPECT_EQ(HierBitmap::words_needed(4097), 65u + 2u + 1u);
  EXPECT_EQ(HierBitmap::words_needed(262144), 4096u + 64u + 1u);
  EXPECT_EQ(HierBitmap::words_needed(262145), 4097u + 65u + 2u + 1u);
}

TEST(HierBitmap, EmptyBitmap) {
  Bitmap b(0);
  EXPECT_EQ(b->size(), 0u);
  EXPECT_EQ(b->find_first(), HierBitmap::kNone);
  EXPECT_TRUE(b.guards_intact());
}

TEST(HierBitmap, InitClearsEveryWordAndStaysInside) {
  for (size_t n : kSizes) {
    SCOPED_TRACE(n);
    Bitmap b(n);  // the words start as kGuard: init must zero exactly its own
    EXPECT_EQ(b->size(), n);
    EXPECT_EQ(b->find_first(), HierBitmap::kNone);
    for (size_t i = 0; i < n; ++i) ASSERT_FALSE(b->test(i)) << i;
    EXPECT_TRUE(b.guards_intact());
  }
}

TEST(HierBitmap, SingleBitAtBoundaries) {
  for (size_t n : kSizes) {
    SCOPED_TRACE(n);
    Bitmap b(n);
    std::set<size_t> probes = {0, n - 1, n / 2};
    for (size_t edge : {size_t{63}, size_t{64}, size_t{4095}, size_t{4096}, size_t{262143},
                        size_t{262144}})
      if (edge < n) probes.insert(edge);
    for (size_t i : probes) {
      b->set(i);
      EXPECT_TRUE(b->test(i)) << i;
      EXPECT_EQ(b->find_first(), i);
      b->clear(i);
      EXPECT_FALSE(b->test(i)) << i;
      EXPECT_EQ(b->find_first(), HierBitmap::kNone) << i;
    }
    EXPECT_TRUE(b.guards_intact());
  }
}

TEST(HierBitmap, FindFirstFollowsTheLowestBit) {
  for (size_t n : kSizes) {
    SCOPED_TRACE(n);
    Bitmap b(n);
    // Set the bits from the top down: find_first is always the last one set.
    const size_t stride = n > 4096 ? 61 : 1;
    for (size_t i = n; i-- > 0;) {
      if (i % stride != 0 && i != n - 1) continue;
      b->set(i);
      ASSERT_EQ(b->find_first(), i);
    }
    // Clear them bottom up: find_first moves to the next survivor.
    for (size_t i = 0; i < n; ++i) {
      if (!b->test(i)) continue;
      b->clear(i);
      size_t next = i + 1;
      while (next < n && !b->test(next)) ++next;
      ASSERT_EQ(b->find_first(), next < n ? next : HierBitmap::kNone) << i;
    }
    EXPECT_TRUE(b.guards_intact());
  }
}

TEST(HierBitmap, SetAndClearAreIdempotent) {
  Bitmap b(4097);
  b->set(4096);
  b->set(4096);
  b->set(70);
  b->set(70);
  EXPECT_EQ(b->find_first(), 70u);
  b->clear(70);
  b->clear(70);  // clearing a clear bit in an all-zero word must not clear the summary of others
  EXPECT_EQ(b->find_first(), 4096u);
  b->clear(5);   // never set: nothing changes
  EXPECT_EQ(b->find_first(), 4096u);
  b->clear(4096);
  EXPECT_EQ(b->find_first(), HierBitmap::kNone);
  EXPECT_TRUE(b.guards_intact());
}

TEST(HierBitmap, ClearKeepsSiblingsInTheSameWord) {
  Bitmap b(262145);
  b->set(262144);
  b->set(262080);  // 262080, 262081: one level-0 word; 262144: the next level-1 word
  b->set(262081);
  b->clear(262080);
  EXPECT_EQ(b->find_first(), 262081u);
  b->clear(262081);
  EXPECT_EQ(b->find_first(), 262144u);
  EXPECT_TRUE(b.guards_intact());
}

TEST(HierBitmap, RandomizedAgainstStdSet) {
  std::mt19937_64 rng(20240601);
  for (size_t n : kSizes) {
    SCOPED_TRACE(n);
    Bitmap b(n);
    std::set<size_t> model;
    // Half the positions near a few hot spots (word and level edges), half anywhere.
    std::uniform_int_distribution<size_t> any(0, n - 1);
    std::uniform_int_distribution<size_t> near(0, 130);
    const size_t ops = n < 100 ? 2000 : 20000;
    for (size_t op = 0; op < ops; ++op) {
      size_t i = any(rng);
      if (rng() & 1) {
        const size_t hot[] = {0, 4096 - 65, n - 1 - std::min<size_t>(n - 1, 130)};
        i = std::min(n - 1, hot[rng() % 3] + near(rng));
      }
      if (rng() % 3 != 0) {
        b->set(i);
        model.insert(i);
      } else {
        b->clear(i);
        model.erase(i);
      }
      ASSERT_EQ(b->test(i), model.count(i) == 1) << "op " << op << " bit " << i;
      ASSERT_EQ(b->find_first(), model.empty() ? HierBitmap::kNone : *model.begin())
          << "op " << op;
      // Drain to empty now and then so the "empty" summary path is exercised too.
      if (op % 5000 == 4999) {
        while (!model.empty()) {
          ASSERT_EQ(b->find_first(), *model.begin());
          b->clear(*model.begin());
          model.erase(model.begin());
        }
        ASSERT_EQ(b->find_first(), HierBitmap::kNone);
      }
    }
    for (size_t i = 0; i < n; ++i) ASSERT_EQ(b->test(i), model.count(i) == 1) << i;
    EXPECT_TRUE(b.guards_intact());
  }
}

}  // namespace
