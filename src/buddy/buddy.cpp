// memkit — the buddy page allocator (src/buddy/buddy.cpp)
//
// The kernel's mm/page_alloc.c, reduced to one zone and one migrate type, with the free lists
// replaced by per-order hierarchical bitmaps so that "the lowest-addressed free block of order
// k" is a find-first instead of a list walk:
//
//   free_area[k]  ==  free_[k] (bit i <=> pages [i<<k, (i+1)<<k) form a free block)
//                     + nr_free_[k] + bit k of nonempty_
//   allocated     ==  alloc_[k] (bit i <=> an allocated block of order k starts at page i<<k)
//
//   rmqueue_smallest(order):  k = lowest bit of nonempty_ at or above order;
//                             page = free_[k].find_first(); del; expand(page, order, k)
//   expand(page, low, high):  while high > low: high--; add(page + 2^high, high)
//   free_one_page(page, k):   while k < max_order and buddy (page ^ 2^k) is a free block of
//                             order k inside the range: del(buddy); page &= buddy; k++
//                             add(page, k)
//
// Metadata layout in the caller's buffer (64-bit words):
//   [free_[0] hierarchical words] ... [free_[max]] [alloc_[0] flat words] ... [alloc_[max]]
// Order k has pages >> k block positions: a block that would run past the end of the range
// has no position, which is what keeps a buddy outside the range from ever merging.
#include "memkit/buddy.hpp"

#include <cstdio>
#include <cstring>

#include "memkit/fragmentation.hpp"

namespace memkit {
namespace {

constexpr bool is_pow2(size_t x) { return x != 0 && (x & (x - 1)) == 0; }

unsigned log2_floor(size_t x) { return 63u - static_cast<unsigned>(__builtin_clzll(x)); }

size_t flat_words(size_t bits) { return (bits + 63) / 64; }

}  // namespace

const char* to_string(BuddyStatus status) {
  switch (status) {
    case BuddyStatus::kOk: return "ok";
    case BuddyStatus::kNoMemory: return "out of memory";
    case BuddyStatus::kBadOrder: return "order above the maximum";
    case BuddyStatus::kOutOfRange: return "outside the range";
    case BuddyStatus::kMisaligned: return "not aligned to the block's order";
    case BuddyStatus::kDoubleFree: return "double free";
    case BuddyStatus::kWrongOrder: return "wrong order";
    case BuddyStatus::kNotBlockStart: return "not the start of an allocated block";
    case BuddyStatus::kBusy: return "range already in use";
    case BuddyStatus::kInvalidArgument: return "invalid argument";
  }
  return "unknown status";
}

size_t BuddyAllocator::metadata_bytes(size_t pages, unsigned max_order) {
  // Beyond 2^56 pages the word counts below could wrap; no real range is that large.
  if (max_order > kBuddyMaxSupportedOrder || pages > (~size_t{0} >> 8)) return 0;
  size_t words = 0;
  for (unsigned k = 0; k <= max_order; ++k)
    words += detail::HierBitmap::words_needed(pages >> k) + flat_words(pages >> k);
  return words * sizeof(uint64_t);
}

unsigned BuddyAllocator::order_for_bytes(size_t bytes, size_t page_size) {
  if (!is_pow2(page_size)) return kBuddyMaxSupportedOrder + 1;
  const unsigned shift = log2_floor(page_size);
  if (bytes > (size_t{1} << 62)) return kBuddyMaxSupportedOrder + 1;
  const size_t pages = bytes == 0 ? 1 : (bytes + page_size - 1) >> shift;
  const unsigned order = pages <= 1 ? 0 : log2_floor(pages - 1) + 1;
  return order <= kBuddyMaxSupportedOrder ? order : kBuddyMaxSupportedOrder + 1;
}

BuddyStatus BuddyAllocator::init(void* base, size_t pages, const BuddyConfig& config,
                                 void* metadata, size_t metadata_size,
                                 const BuddyEvents* events) {
  if (pages == 0 || !is_pow2(config.page_size) || config.max_order > kBuddyMaxSupportedOrder ||
      metadata == nullptr || (reinterpret_cast<uintptr_t>(metadata) & 7u) != 0 ||
      (reinterpret_cast<uintptr_t>(base) & (config.page_size - 1)) != 0)
    return BuddyStatus::kInvalidArgument;
  const unsigned shift = log2_floor(config.page_size);
  // The range must not wrap the address space.
  if (pages > (~uintptr_t{0} >> shift) ||
      reinterpret_cast<uintptr_t>(base) > ~uintptr_t{0} - (uintptr_t{pages} << shift) + 1)
    return BuddyStatus::kInvalidArgument;
  const size_t needed = metadata_bytes(pages, config.max_order);
  if (needed == 0 || metadata_size < needed) return BuddyStatus::kInvalidArgument;

  base_ = base;
  pages_ = pages;
  page_shift_ = shift;
  max_order_ = config.max_order;
  nonempty_ = 0;
  free_pages_ = 0;
  events_ = events ? *events : BuddyEvents{};
  for (unsigned k = 0; k < kOrders; ++k) nr_free_[k] = 0;

  uint64_t* w = static_cast<uint64_t*>(metadata);
  for (unsigned k = 0; k <= max_order_; ++k) {
    free_[k].init(w, pages >> k);
    w += detail::HierBitmap::words_needed(pages >> k);
  }
  for (unsigned k = 0; k <= max_order_; ++k) {
    const size_t n = flat_words(pages >> k);
    alloc_[k] = w;
    std::memset(w, 0, n * sizeof(uint64_t));
    w += n;
  }

  // Carve into maximal naturally aligned blocks, largest first from the start.
  size_t page = 0;
  while (page < pages) {
    unsigned k = max_order_;
    if (page != 0) {
      const unsigned align = static_cast<unsigned>(__builtin_ctzll(page));
      if (align < k) k = align;
    }
    const unsigned fit = log2_floor(pages - page);
    if (fit < k) k = fit;
    add_to_free_area(page, k);
    page += size_t{1} << k;
  }
  return BuddyStatus::kOk;
}

void BuddyAllocator::set_alloc(size_t page, unsigned order, bool on) {
  const size_t i = page >> order;
  const uint64_t bit = uint64_t{1} << (i & 63);
  if (on)
    alloc_[order][i >> 6] |= bit;
  else
    alloc_[order][i >> 6] &= ~bit;
}

void BuddyAllocator::add_to_free_area(size_t page, unsigned order) {
  free_[order].set(page >> order);
  ++nr_free_[order];
  nonempty_ |= 1u << order;
  free_pages_ += size_t{1} << order;
  if (events_.on_add) events_.on_add(events_.ctx, page, order);
}

void BuddyAllocator::del_from_free_area(size_t page, unsigned order) {
  free_[order].clear(page >> order);
  if (--nr_free_[order] == 0) nonempty_ &= ~(1u << order);
  free_pages_ -= size_t{1} << order;
  if (events_.on_del) events_.on_del(events_.ctx, page, order);
}

// The kernel's expand(): the block at `page` of order `high` is split down to `low`; the upper
// halves go back on the free lists, the caller keeps the lowest 2^low pages.
void BuddyAllocator::expand(size_t page, unsigned low, unsigned high) {
  while (high > low) {
    --high;
    add_to_free_area(page + (size_t{1} << high), high);
  }
}

BuddyStatus BuddyAllocator::alloc_index(unsigned order, size_t* page) {
  if (order > max_order_) return BuddyStatus::kBadOrder;
  const uint32_t candidates = nonempty_ & ~((1u << order) - 1u);
  if (candidates == 0) return BuddyStatus::kNoMemory;
  const unsigned k = static_cast<unsigned>(__builtin_ctz(candidates));
  const size_t p = free_[k].find_first() << k;
  del_from_free_area(p, k);
  expand(p, order, k);
  set_alloc(p, order, true);
  *page = p;
  return BuddyStatus::kOk;
}

BuddyStatus BuddyAllocator::check_index(size_t page, unsigned order) const {
  if (order > max_order_) return BuddyStatus::kBadOrder;
  if (page >= pages_) return BuddyStatus::kOutOfRange;
  if (page & ((size_t{1} << order) - 1)) {
    // Not a block of this order; it may still be the start of a smaller allocated block.
    unsigned actual;
    if (order_of_index(page, &actual) == BuddyStatus::kOk) return BuddyStatus::kWrongOrder;
    return BuddyStatus::kMisaligned;
  }
  if ((page >> order) >= (pages_ >> order)) return BuddyStatus::kOutOfRange;
  if (is_alloc_block(page, order)) return BuddyStatus::kOk;
  unsigned actual;
  if (order_of_index(page, &actual) == BuddyStatus::kOk) return BuddyStatus::kWrongOrder;
  // Not the start of an allocated block: inside a free block (a double free) or inside an
  // allocated one.
  for (unsigned k = 0; k <= max_order_; ++k) {
    const size_t head = page & ~((size_t{1} << k) - 1);
    if (is_free_block(head, k)) return BuddyStatus::kDoubleFree;
  }
  return BuddyStatus::kNotBlockStart;
}

BuddyStatus BuddyAllocator::free_index(size_t page, unsigned order) {
  const BuddyStatus st = check_index(page, order);
  if (st != BuddyStatus::kOk) return st;
  set_alloc(page, order, false);
  // The kernel's __free_one_page(): merge while the buddy is a free block of the same order.
  while (order < max_order_) {
    const size_t buddy = page ^ (size_t{1} << order);
    if (!is_free_block(buddy, order)) break;
    del_from_free_area(buddy, order);
    page &= buddy;
    ++order;
  }
  add_to_free_area(page, order);
  return BuddyStatus::kOk;
}

BuddyStatus BuddyAllocator::alloc_at_index(size_t page, unsigned order) {
  if (order > max_order_) return BuddyStatus::kBadOrder;
  if (page >= pages_ || (page >> order) >= (pages_ >> order)) return BuddyStatus::kOutOfRange;
  if (page & ((size_t{1} << order) - 1)) return BuddyStatus::kMisaligned;
  // Find the free block that contains the requested one.
  for (unsigned k = order; k <= max_order_; ++k) {
    const size_t head = page & ~((size_t{1} << k) - 1);
    if (!is_free_block(head, k)) continue;
    del_from_free_area(head, k);
    // Split down toward `page`, putting the half that does not contain it back.
    size_t cur = head;
    while (k > order) {
      --k;
      const size_t upper = cur + (size_t{1} << k);
      if (page >= upper) {
        add_to_free_area(cur, k);
        cur = upper;
      } else {
        add_to_free_area(upper, k);
      }
    }
    set_alloc(page, order, true);
    return BuddyStatus::kOk;
  }
  return BuddyStatus::kBusy;
}

BuddyStatus BuddyAllocator::order_of_index(size_t page, unsigned* order) const {
  if (page >= pages_) return BuddyStatus::kOutOfRange;
  for (unsigned k = 0; k <= max_order_; ++k) {
    if (page & ((size_t{1} << k) - 1)) break;  // not aligned to this or any larger order
    if ((page >> k) < (pages_ >> k) && is_alloc_block(page, k)) {
      *order = k;
      return BuddyStatus::kOk;
    }
  }
  return BuddyStatus::kNotBlockStart;
}

BuddyStatus BuddyAllocator::address_to_page(const void* p, size_t* page) const {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  const uintptr_t b = reinterpret_cast<uintptr_t>(base_);
  if (a < b || ((a - b) >> page_shift_) >= pages_) return BuddyStatus::kOutOfRange;
  if ((a - b) & ((uintptr_t{1} << page_shift_) - 1)) return BuddyStatus::kMisaligned;
  *page = (a - b) >> page_shift_;
  return BuddyStatus::kOk;
}

void* BuddyAllocator::alloc(unsigned order) {
  size_t page;
  if (alloc_index(order, &page) != BuddyStatus::kOk) return nullptr;
  return page_address(page);
}

void* BuddyAllocator::alloc_bytes(size_t bytes) {
  const unsigned order = order_for_bytes(bytes, page_size());
  if (order > max_order_) return nullptr;
  return alloc(order);
}

BuddyStatus BuddyAllocator::free(void* block, unsigned order) {
  size_t page;
  const BuddyStatus st = address_to_page(block, &page);
  if (st != BuddyStatus::kOk) return st;
  return free_index(page, order);
}

BuddyStatus BuddyAllocator::order_of(const void* block, unsigned* order) const {
  size_t page;
  const BuddyStatus st = address_to_page(block, &page);
  if (st != BuddyStatus::kOk) return st;
  return order_of_index(page, order);
}

namespace {

// Tiles [first, first + count) with maximal naturally aligned blocks of order <= max_order and
// calls fn(page, order) for each until it returns false. Returns the number of blocks visited.
template <class Fn>
size_t for_each_tile(size_t first, size_t count, unsigned max_order, Fn fn) {
  size_t page = first;
  const size_t end = first + count;
  size_t n = 0;
  while (page < end) {
    unsigned k = max_order;
    if (page != 0) {
      const unsigned align = static_cast<unsigned>(__builtin_ctzll(page));
      if (align < k) k = align;
    }
    const unsigned fit = log2_floor(end - page);
    if (fit < k) k = fit;
    ++n;
    if (!fn(page, k)) break;
    page += size_t{1} << k;
  }
  return n;
}

}  // namespace

BuddyStatus BuddyAllocator::reserve_range(size_t first_page, size_t count) {
  if (count == 0) return BuddyStatus::kOk;
  if (first_page >= pages_ || count > pages_ - first_page) return BuddyStatus::kOutOfRange;
  // Check first, so that a failure changes nothing: every page must lie in a free block.
  bool all_free = true;
  for_each_tile(first_page, count, max_order_, [&](size_t page, unsigned order) {
    for (size_t p = page; p < page + (size_t{1} << order);) {
      // Find the free block containing p; skip to its end.
      bool found = false;
      for (unsigned k = 0; k <= max_order_; ++k) {
        const size_t head = p & ~((size_t{1} << k) - 1);
        if (is_free_block(head, k)) {
          p = head + (size_t{1} << k);
          found = true;
          break;
        }
      }
      if (!found) {
        all_free = false;
        return false;
      }
    }
    return true;
  });
  if (!all_free) return BuddyStatus::kBusy;
  for_each_tile(first_page, count, max_order_, [&](size_t page, unsigned order) {
    alloc_at_index(page, order);
    return true;
  });
  return BuddyStatus::kOk;
}

BuddyStatus BuddyAllocator::unreserve_range(size_t first_page, size_t count) {
  if (count == 0) return BuddyStatus::kOk;
  if (first_page >= pages_ || count > pages_ - first_page) return BuddyStatus::kOutOfRange;
  BuddyStatus bad = BuddyStatus::kOk;
  for_each_tile(first_page, count, max_order_, [&](size_t page, unsigned order) {
    bad = check_index(page, order);
    return bad == BuddyStatus::kOk;
  });
  if (bad != BuddyStatus::kOk) return bad;
  for_each_tile(first_page, count, max_order_, [&](size_t page, unsigned order) {
    free_index(page, order);
    return true;
  });
  return BuddyStatus::kOk;
}

BuddyStatus BuddyAllocator::trim(size_t page, unsigned order, size_t keep_pages) {
  const BuddyStatus st = check_index(page, order);
  if (st != BuddyStatus::kOk) return st;
  // An allocated block of `order` at a page aligned to it is exactly one tile of its range.
  return shrink_range(page, size_t{1} << order, keep_pages);
}

BuddyStatus BuddyAllocator::shrink_range(size_t first_page, size_t count, size_t keep_pages) {
  if (keep_pages == 0 || keep_pages > count) return BuddyStatus::kInvalidArgument;
  if (first_page >= pages_ || count > pages_ - first_page) return BuddyStatus::kOutOfRange;
  BuddyStatus bad = BuddyStatus::kOk;
  for_each_tile(first_page, count, max_order_, [&](size_t page, unsigned order) {
    bad = check_index(page, order);
    return bad == BuddyStatus::kOk;
  });
  if (bad != BuddyStatus::kOk || keep_pages == count) return bad;
  // Re-tile the allocation records: the old tiles go, the kept range's tiles and the tail's
  // tiles come; then the tail's tiles are freed one by one (coalescing as they go).
  for_each_tile(first_page, count, max_order_, [&](size_t page, unsigned order) {
    set_alloc(page, order, false);
    return true;
  });
  for_each_tile(first_page, keep_pages, max_order_, [&](size_t page, unsigned order) {
    set_alloc(page, order, true);
    return true;
  });
  const size_t tail = first_page + keep_pages;
  for_each_tile(tail, count - keep_pages, max_order_, [&](size_t page, unsigned order) {
    set_alloc(page, order, true);
    return true;
  });
  for_each_tile(tail, count - keep_pages, max_order_, [&](size_t page, unsigned order) {
    free_index(page, order);
    return true;
  });
  return BuddyStatus::kOk;
}

int BuddyAllocator::largest_free_order() const {
  if (nonempty_ == 0) return -1;
  return 31 - __builtin_clz(nonempty_);
}

int BuddyAllocator::unusable_free_index(unsigned order) const {
  return memkit::unusable_free_index(nr_free_, max_order_, order);
}

int BuddyAllocator::fragmentation_index(unsigned order) const {
  return memkit::fragmentation_index(nr_free_, max_order_, order);
}

int BuddyAllocator::format_buddyinfo(char* buf, size_t len, int node, const char* zone) const {
  size_t used = 0;
  int total = 0;
  auto put = [&](int n) {
    if (n < 0) return;
    total += n;
    const size_t adv = static_cast<size_t>(n);
    used = (len == 0) ? 0 : (used + adv < len ? used + adv : len - 1);
  };
  put(std::snprintf(len ? buf : nullptr, len, "Node %d, zone %8s ", node, zone));
  for (unsigned k = 0; k <= max_order_; ++k)
    put(std::snprintf(len ? buf + used : nullptr, len ? len - used : 0, "%6lu ",
                      static_cast<unsigned long>(nr_free_[k])));
  put(std::snprintf(len ? buf + used : nullptr, len ? len - used : 0, "\n"));
  return total;
}

}  // namespace memkit
