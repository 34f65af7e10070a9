// Randomized tests of BuddyAllocator against a reference model, and of its BuddyEvents.
//
// The model knows nothing of buddies: it keeps the allocated blocks (start -> order) and the
// maximal runs of free pages. Because the allocator coalesces maximally, its free lists must be
// exactly the greedy tiling of every free run by maximal naturally aligned blocks (order <=
// max_order, inside the range); the model keeps that tiling per run, so after every operation
// the test compares, exactly: nr_free(k) for every order, free_pages, largest_free_order, and
// the set of free blocks that the allocator reported through on_add/on_del (by an
// order-independent fingerprint, and in full every 256 operations). It also predicts
// every result: the page alloc returns (the lowest-addressed free block of the smallest
// sufficient order, whose lower end is kept), kNoMemory exactly when no block is large enough,
// the status of any free/alloc_at/reserve, including all error statuses, and that errors change
// nothing. Max orders 0, 1, 10, 14 over odd and power-of-two range sizes, fixed seeds.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <random>
#include <set>
#include <string>
#include <tuple>
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

constexpr uintptr_t kFakeBase = 0x100000000000;  // never dereferenced by the allocator

using FreeSet = std::set<std::pair<size_t, unsigned>>;  // (first page, order)

size_t pages_of(unsigned order) { return size_t{1} << order; }

// Calls fn(page, order) for the maximal naturally aligned blocks tiling [first, end).
template <class Fn>
void tile(size_t first, size_t end, unsigned max_order, Fn fn) {
  for (size_t p = first; p < end;) {
    unsigned k = 0;
    while (k < max_order && (p & (pages_of(k + 1) - 1)) == 0 && p + pages_of(k + 1) <= end) ++k;
    fn(p, k);
    p += pages_of(k);
  }
}

// ---------------------------------------------------------------------------------------------
// The reference model

// An order-independent fingerprint of a set of free blocks, kept in step with it, so that
// comparing two sets after every operation costs O(1); they are compared in full now and then.
struct Fingerprint {
  uint64_t sum = 0;
  static uint64_t mix(size_t page, unsigned order) {
    uint64_t x = (uint64_t{page} << 6 | order) * 0x9e3779b97f4a7c15ULL;
    x ^= x >> 29;
    return x * 0xbf58476d1ce4e5b9ULL;
  }
  void add(size_t page, unsigned order) { sum += mix(page, order); }
  void del(size_t page, unsigned order) { sum -= mix(page, order); }
};

class Model {
 public:
  static constexpr int kNoReservation = -1;
  struct Block {
    unsigned order;
    int reservation;
  };

  Model(size_t pages, unsigned max_order)
      : pages_(pages), max_order_(max_order), nr_free_(max_order + 1, 0) {
    retile(0, pages);
  }

  uint64_t free_pages() const { return free_pages_; }
  uint64_t allocated_pages() const { return allocated_pages_; }
  uint64_t nr_free(unsigned k) const { return nr_free_[k]; }
  const FreeSet& free_blocks() const { return free_blocks_; }
  uint64_t fingerprint() const { return fingerprint_.sum; }
  const std::map<size_t, Block>& allocated() const { return alloc_; }
  const std::map<int, std::pair<size_t, size_t>>& reservations() const { return reservations_; }

  int largest_free_order() const {
    return by_order_.empty() ? -1 : static_cast<int>(by_order_.rbegin()->first);
  }

  // What alloc(order) must return: the lowest-addressed free block of the smallest order >=
  // `order`; the allocation keeps its lowest pages.
  std::optional<size_t> predict_alloc(unsigned order) const {
    auto it = by_order_.lower_bound({order, 0});
    if (it == by_order_.end()) return std::nullopt;
    return it->second;
  }

  bool is_free_page(size_t page) const { return tile_containing(page) != free_blocks_.end(); }

  bool range_free(size_t first, size_t count) const {
    size_t p = first;
    for (auto t = tile_containing(first); t != free_blocks_.end() && t->first <= p; ++t) {
      p = t->first + pages_of(t->second);
      if (p >= first + count) return true;
    }
    return false;
  }

  void allocate(size_t page, unsigned order, int reservation = kNoReservation) {
    take(page, pages_of(order));
    alloc_[page] = {order, reservation};
    allocated_pages_ += pages_of(order);
  }

  void release(size_t page) {
    auto it = alloc_.find(page);
    ASSERT_TRUE(it != alloc_.end()) << "model: freeing a block that is not allocated: " << page;
    const size_t n = pages_of(it->second.order);
    alloc_.erase(it);
    allocated_pages_ -= n;
    give(page, n);
  }

  void reserve(size_t first, size_t count) {
    const int id = next_reservation_++;
    reservations_[id] = {first, count};
    tile(first, first + count, max_order_, [&](size_t p, unsigned k) { allocate(p, k, id); });
  }

  void unreserve(int id) {
    const auto [first, count] = reservations_.at(id);
    reservations_.erase(id);
    tile(first, first + count, max_order_, [&](size_t p, unsigned) { release(p); });
  }

  // The status free_index(page, order) must return. Checks in this order: the order, the page
  // inside the range, alignment to the order (a misaligned page that starts an allocated block
  // of another order is a wrong order), the block inside the range, then the page's state.
  BuddyStatus free_status(size_t page, unsigned order) const {
    if (order > max_order_) return BuddyStatus::kBadOrder;
    if (page >= pages_) return BuddyStatus::kOutOfRange;
    auto head = alloc_.find(page);
    if (page & (pages_of(order) - 1))
      return head != alloc_.end() ? BuddyStatus::kWrongOrder : BuddyStatus::kMisaligned;
    if (page + pages_of(order) > pages_) return BuddyStatus::kOutOfRange;
    if (head != alloc_.end())
      return head->second.order == order ? BuddyStatus::kOk : BuddyStatus::kWrongOrder;
    return is_free_page(page) ? BuddyStatus::kDoubleFree : BuddyStatus::kNotBlockStart;
  }

  // The status alloc_at_index(page, order) must return, for a page aligned to the order.
  BuddyStatus alloc_at_status(size_t page, unsigned order) const {
    if (order > max_order_) return BuddyStatus::kBadOrder;
    if (page + pages_of(order) > pages_) return BuddyStatus::kOutOfRange;
    return range_free(page, pages_of(order)) ? BuddyStatus::kOk : BuddyStatus::kBusy;
  }

 private:
  // The free runs are kept only as their canonical tilings (maximal aligned blocks). A tile of
  // a run that lies inside a sub-run or super-run is a tile of that one too, so taking or giving
  // pages only re-tiles a window around them, bounded by tile boundaries common to both.

  FreeSet::const_iterator tile_containing(size_t page) const {
    auto it = free_blocks_.upper_bound({page, ~0u});
    if (it == free_blocks_.begin()) return free_blocks_.end();
    --it;
    return page < it->first + pages_of(it->second) ? it : free_blocks_.end();
  }

  void add_tile(size_t p, unsigned k) {
    free_blocks_.emplace(p, k);
    by_order_.emplace(k, p);
    ++nr_free_[k];
    free_pages_ += pages_of(k);
    fingerprint_.add(p, k);
  }
  void del_tile(FreeSet::const_iterator t) {
    const auto [p, k] = *t;
    free_blocks_.erase(t);
    by_order_.erase({k, p});
    --nr_free_[k];
    free_pages_ -= pages_of(k);
    fingerprint_.del(p, k);
  }
  void retile(size_t first, size_t end) {
    tile(first, end, max_order_, [&](size_t p, unsigned k) { add_tile(p, k); });
  }

  // Marks [first, first + n) allocated; it must be free. The tiles it touches span [x, y):
  // they go, and [x, first) and [first + n, y) are tiled afresh.
  void take(size_t first, size_t n) {
    ASSERT_TRUE(range_free(first, n))
        << "model: allocating pages that are not free: " << first << " +" << n;
    auto t = tile_containing(first);
    const size_t x = t->first;
    size_t y = x;
    while (t != free_blocks_.end() && t->first < first + n) {
      y = t->first + pages_of(t->second);
      t = std::next(t);
      del_tile(std::prev(t));
    }
    retile(x, first);
    retile(first + n, y);
  }

  // Marks [first, first + n) free. Only tiles within 2^max_order pages of it can merge with it,
  // so the window [x, y) runs over the adjacent free tiles until one reaches that far (or the
  // free run ends); the window is re-tiled as a whole.
  void give(size_t first, size_t n) {
    const size_t reach = pages_of(max_order_);
    size_t x = first;
    while (x > 0 && x + reach > first) {
      auto t = tile_containing(x - 1);
      if (t == free_blocks_.end()) break;
      x = t->first;
      del_tile(t);
    }
    size_t y = first + n;
    while (y < pages_ && y < first + n + reach) {
      auto t = free_blocks_.lower_bound({y, 0});
      if (t == free_blocks_.end() || t->first != y) break;
      y += pages_of(t->second);
      del_tile(t);
    }
    retile(x, y);
  }

  size_t pages_;
  unsigned max_order_;
  std::map<size_t, Block> alloc_;                          // allocated: first page -> block
  std::map<int, std::pair<size_t, size_t>> reservations_;  // id -> (first, count)
  int next_reservation_ = 0;
  FreeSet free_blocks_;                                    // the tiles of all free runs
  std::set<std::pair<unsigned, size_t>> by_order_;         // the same, as (order, page)
  std::vector<uint64_t> nr_free_;
  uint64_t free_pages_ = 0;
  uint64_t allocated_pages_ = 0;
  Fingerprint fingerprint_;
};

// ---------------------------------------------------------------------------------------------
// The allocator under test, with the free set its events describe

struct Subject {
  std::vector<uint64_t> meta;
  BuddyAllocator a;
  FreeSet shadow;
  Fingerprint fingerprint;

  static void on_add(void* ctx, size_t page, unsigned order) {
    auto* self = static_cast<Subject*>(ctx);
    EXPECT_TRUE(self->shadow.emplace(page, order).second)
        << "on_add of a block already on a free list: " << page << " o" << order;
    self->fingerprint.add(page, order);
  }
  static void on_del(void* ctx, size_t page, unsigned order) {
    auto* self = static_cast<Subject*>(ctx);
    EXPECT_EQ(self->shadow.erase({page, order}), 1u)
        << "on_del of a block not on a free list: " << page << " o" << order;
    self->fingerprint.del(page, order);
  }

  Subject(size_t pages, unsigned max_order)
      : meta(BuddyAllocator::metadata_bytes(pages, max_order) / sizeof(uint64_t)) {
    const BuddyEvents events{this, &Subject::on_add, &Subject::on_del};
    EXPECT_EQ(a.init(reinterpret_cast<void*>(kFakeBase), pages, BuddyConfig{4096, max_order},
                     meta.data(), meta.size() * sizeof(uint64_t), &events),
              BuddyStatus::kOk);
  }
};

struct Config {
  size_t pages;
  unsigned max_order;
};

std::ostream& operator<<(std::ostream& os, const Config& c) {
  return os << c.pages << " pages, max_order " << c.max_order;
}

class BuddyModel : public ::testing::TestWithParam<Config> {
 protected:
  BuddyModel()
      : cfg_(GetParam()),
        model_(cfg_.pages, cfg_.max_order),
        subject_(cfg_.pages, cfg_.max_order),
        a_(subject_.a),
        rng_(cfg_.pages * 131 + cfg_.max_order) {}

  // The invariants, compared exactly after every operation (the free-block sets through their
  // fingerprints, and in full every 256 operations or when the fingerprints differ).
  void check(const std::string& what, bool full = false) {
    SCOPED_TRACE(what);
    ASSERT_EQ(model_.free_pages() + model_.allocated_pages(), cfg_.pages);
    ASSERT_EQ(a_.free_pages(), model_.free_pages());
    for (unsigned k = 0; k <= cfg_.max_order; ++k)
      ASSERT_EQ(a_.nr_free(k), model_.nr_free(k)) << "order " << k;
    ASSERT_EQ(a_.nr_free(cfg_.max_order + 1), 0u);
    ASSERT_EQ(a_.largest_free_order(), model_.largest_free_order());
    ASSERT_EQ(subject_.shadow.size(), model_.free_blocks().size());
    if (full || subject_.fingerprint.sum != model_.fingerprint()) {
      ASSERT_TRUE(subject_.shadow == model_.free_blocks()) << "the free blocks differ";
    }
  }

  // Every allocated block answers order_of_index and check_index with its order.
  void check_all_allocated() {
    for (const auto& [page, block] : model_.allocated()) {
      unsigned order = 99;
      ASSERT_EQ(a_.order_of_index(page, &order), BuddyStatus::kOk) << page;
      ASSERT_EQ(order, block.order) << page;
      ASSERT_EQ(a_.check_index(page, block.order), BuddyStatus::kOk) << page;
    }
  }

  size_t uniform(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }

  // Orders 0..max_order with P ~ 2^-k half the time, uniform the other half.
  unsigned random_order() {
    if (rng_() & 1) return static_cast<unsigned>(uniform(cfg_.max_order + 1));
    unsigned k = 0;
    while (k < cfg_.max_order && (rng_() & 1)) ++k;
    return k;
  }

  void op_alloc(unsigned order) {
    const std::optional<size_t> want = model_.predict_alloc(order);
    size_t page = BuddyAllocator::kNoPage;
    const BuddyStatus st = a_.alloc_index(order, &page);
    if (order > cfg_.max_order) {
      ASSERT_EQ(st, BuddyStatus::kBadOrder);
    } else if (!want) {
      ASSERT_EQ(st, BuddyStatus::kNoMemory) << "order " << order;
    } else {
      ASSERT_EQ(st, BuddyStatus::kOk) << "order " << order;
      ASSERT_EQ(page, *want) << "order " << order;
      model_.allocate(page, order);
    }
  }

  // Frees a random allocated block (a reserved one by unreserving its whole range).
  void op_free() {
    if (model_.allocated().empty()) return op_alloc(random_order());
    auto it = model_.allocated().lower_bound(uniform(cfg_.pages));
    if (it == model_.allocated().end()) it = model_.allocated().begin();
    const auto [page, block] = *it;
    if (block.reservation != Model::kNoReservation) {
      const auto [first, count] = model_.reservations().at(block.reservation);
      ASSERT_EQ(a_.unreserve_range(first, count), BuddyStatus::kOk) << first << " +" << count;
      model_.unreserve(block.reservation);
      return;
    }
    ASSERT_EQ(a_.check_index(page, block.order), BuddyStatus::kOk);
    ASSERT_EQ(a_.free_index(page, block.order), BuddyStatus::kOk) << page;
    model_.release(page);
  }

  void op_alloc_at() {
    const unsigned order = uniform(50) == 0 ? cfg_.max_order + 1 : random_order();
    const size_t page = uniform(cfg_.pages) & ~(pages_of(order) - 1);
    const BuddyStatus want = model_.alloc_at_status(page, order);
    ASSERT_EQ(a_.alloc_at_index(page, order), want) << page << " o" << order;
    if (want == BuddyStatus::kOk) model_.allocate(page, order);
  }

  void op_reserve() {
    const size_t first = uniform(cfg_.pages);
    const size_t limit = std::min(cfg_.pages - first, size_t{64} << std::min(cfg_.max_order, 6u));
    const size_t count = 1 + uniform(limit);
    const BuddyStatus want =
        model_.range_free(first, count) ? BuddyStatus::kOk : BuddyStatus::kBusy;
    ASSERT_EQ(a_.reserve_range(first, count), want) << first << " +" << count;
    if (want == BuddyStatus::kOk) model_.reserve(first, count);
  }

  // free_index on an arbitrary (page, order): mostly an error, which must change nothing (check()
  // compares the event-fed free set too); sometimes a valid free of a plain block.
  void op_probe() {
    const size_t page = uniform(50) == 0 ? cfg_.pages + uniform(3) : uniform(cfg_.pages);
    const unsigned order = static_cast<unsigned>(uniform(cfg_.max_order + 3));
    BuddyStatus want = model_.free_status(page, order);
    if (want == BuddyStatus::kOk &&
        model_.allocated().at(page).reservation != Model::kNoReservation)
      return;  // reserved blocks go back through unreserve_range
    ASSERT_EQ(a_.check_index(page, order), want) << page << " o" << order;
    ASSERT_EQ(a_.free_index(page, order), want) << page << " o" << order;
    if (want == BuddyStatus::kOk) model_.release(page);
    unsigned got = 99;
    const BuddyStatus of = a_.order_of_index(page, &got);
    if (model_.allocated().count(page)) {
      ASSERT_EQ(of, BuddyStatus::kOk) << page;
      ASSERT_EQ(got, model_.allocated().at(page).order) << page;
    } else {
      ASSERT_NE(of, BuddyStatus::kOk) << page;
    }
  }

  // Frees everything in random order; the free lists must be the initial carve again.
  void drain() {
    while (!model_.allocated().empty()) {
      ASSERT_NO_FATAL_FAILURE(op_free());
      ASSERT_NO_FATAL_FAILURE(check("drain"));
    }
    const Model fresh(cfg_.pages, cfg_.max_order);
    ASSERT_TRUE(subject_.shadow == fresh.free_blocks()) << "not back to the initial carve";
    ASSERT_EQ(a_.free_pages(), cfg_.pages);
  }

  void run(size_t ops) {
    ASSERT_NO_FATAL_FAILURE(check("init"));
    for (size_t op = 0; op < ops; ++op) {
      // Steer toward about half the range in use.
      const bool want_more = model_.free_pages() * 2 > cfg_.pages;
      const size_t dice = uniform(100);
      std::string what;
      if (dice < (want_more ? 45u : 25u)) {
        const unsigned order = uniform(50) == 0 ? cfg_.max_order + 1 : random_order();
        what = "alloc o" + std::to_string(order);
        ASSERT_NO_FATAL_FAILURE(op_alloc(order));
      } else if (dice < 70) {
        what = "free";
        ASSERT_NO_FATAL_FAILURE(op_free());
      } else if (dice < 80) {
        what = "alloc_at";
        ASSERT_NO_FATAL_FAILURE(op_alloc_at());
      } else if (dice < 85) {
        what = "reserve";
        ASSERT_NO_FATAL_FAILURE(op_reserve());
      } else {
        what = "probe";
        ASSERT_NO_FATAL_FAILURE(op_probe());
      }
      ASSERT_NO_FATAL_FAILURE(check("op " + std::to_string(op) + ": " + what, op % 256 == 0));
      if (op % 512 == 511) {
        ASSERT_NO_FATAL_FAILURE(check_all_allocated());
      }
      if (op % 1500 == 1499) {
        ASSERT_NO_FATAL_FAILURE(drain());
      }
    }
    ASSERT_NO_FATAL_FAILURE(check_all_allocated());
    ASSERT_NO_FATAL_FAILURE(drain());
  }

  Config cfg_;
  Model model_;
  Subject subject_;
  BuddyAllocator& a_;
  std::mt19937_64 rng_;
};

TEST_P(BuddyModel, RandomOperations) { run(3000); }

std::vector<Config> configs() {
  std::vector<Config> out;
  for (unsigned max_order : {0u, 1u, 10u, 14u})
    for (size_t pages : {1, 2, 3, 1000, 1023, 1024, 4096, 4097, 65536, 65537})
      out.push_back({pages, max_order});
  return out;
}

INSTANTIATE_TEST_SUITE_P(Sizes, BuddyModel, ::testing::ValuesIn(configs()),
                         [](const ::testing::TestParamInfo<Config>& param) {
                           return std::to_string(param.param.pages) + "_pages_max_order_" +
                                  std::to_string(param.param.max_order);
                         });

// ---------------------------------------------------------------------------------------------
// BuddyEvents

struct Recorder {
  std::vector<std::tuple<char, size_t, unsigned>> log;  // ('+' | '-', page, order)
  static void on_add(void* ctx, size_t page, unsigned order) {
    static_cast<Recorder*>(ctx)->log.emplace_back('+', page, order);
  }
  static void on_del(void* ctx, size_t page, unsigned order) {
    static_cast<Recorder*>(ctx)->log.emplace_back('-', page, order);
  }
  std::vector<std::tuple<char, size_t, unsigned>> take() { return std::exchange(log, {}); }
};

using Log = std::vector<std::tuple<char, size_t, unsigned>>;

TEST(BuddyEvents, ReportEveryFreeListChange) {
  Recorder rec;
  const BuddyEvents events{&rec, &Recorder::on_add, &Recorder::on_del};
  std::vector<uint64_t> meta(BuddyAllocator::metadata_bytes(12, 3) / 8);
  BuddyAllocator a;
  ASSERT_EQ(a.init(reinterpret_cast<void*>(kFakeBase), 12, {4096, 3}, meta.data(),
                   meta.size() * 8, &events),
            BuddyStatus::kOk);
  EXPECT_EQ(rec.take(), (Log{{'+', 0, 3}, {'+', 8, 2}}));  // the initial carve

  size_t page;
  ASSERT_EQ(a.alloc_index(0, &page), BuddyStatus::kOk);  // from 8(o2): the smallest order
  EXPECT_EQ(page, 8u);
  EXPECT_EQ(rec.take(), (Log{{'-', 8, 2}, {'+', 10, 1}, {'+', 9, 0}}));  // expand: upper halves

  ASSERT_EQ(a.free_index(8, 0), BuddyStatus::kOk);  // merges with 9, then 10
  EXPECT_EQ(rec.take(), (Log{{'-', 9, 0}, {'-', 10, 1}, {'+', 8, 2}}));

  ASSERT_EQ(a.alloc_at_index(5, 0), BuddyStatus::kOk);
  EXPECT_EQ(rec.take(), (Log{{'-', 0, 3}, {'+', 0, 2}, {'+', 6, 1}, {'+', 4, 0}}));

  // Failures report nothing.
  EXPECT_EQ(a.free_index(4, 0), BuddyStatus::kDoubleFree);
  EXPECT_EQ(a.alloc_at_index(4, 1), BuddyStatus::kBusy);
  EXPECT_EQ(a.reserve_range(0, 8), BuddyStatus::kBusy);
  EXPECT_EQ(a.alloc_index(3, &page), BuddyStatus::kNoMemory);
  EXPECT_TRUE(rec.take().empty());
}

TEST(BuddyEvents, OptionalCallbacks) {
  std::vector<uint64_t> meta(BuddyAllocator::metadata_bytes(64, 6) / 8);
  BuddyAllocator a;
  Recorder rec;
  const BuddyEvents only_add{&rec, &Recorder::on_add, nullptr};
  ASSERT_EQ(a.init(reinterpret_cast<void*>(kFakeBase), 64, {4096, 6}, meta.data(),
                   meta.size() * 8, &only_add),
            BuddyStatus::kOk);
  size_t page;
  ASSERT_EQ(a.alloc_index(5, &page), BuddyStatus::kOk);
  ASSERT_EQ(a.free_index(page, 5), BuddyStatus::kOk);
  EXPECT_EQ(rec.take(), (Log{{'+', 0, 6}, {'+', 32, 5}, {'+', 0, 6}}));

  const BuddyEvents none{};
  ASSERT_EQ(a.init(reinterpret_cast<void*>(kFakeBase), 64, {4096, 6}, meta.data(),
                   meta.size() * 8, &none),
            BuddyStatus::kOk);
  ASSERT_EQ(a.alloc_index(0, &page), BuddyStatus::kOk);
  ASSERT_EQ(a.free_index(page, 0), BuddyStatus::kOk);
  ASSERT_EQ(a.init(reinterpret_cast<void*>(kFakeBase), 64, {4096, 6}, meta.data(),
                   meta.size() * 8),
            BuddyStatus::kOk);
  ASSERT_EQ(a.alloc_index(0, &page), BuddyStatus::kOk);
  EXPECT_TRUE(rec.log.empty());
}

}  // namespace
