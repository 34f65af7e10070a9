// memkit — the buddy page allocator (include/memkit/buddy.hpp, implemented in src/buddy/)
//
// A BuddyAllocator manages a caller-given range of N pages (N any positive count; the base
// aligned to the page size only) in blocks of 2^order pages, order 0..max_order. It is the
// kernel's zone free_area[] brought to user space:
//
//   - init carves the range into maximal naturally aligned blocks (aligned by page index from
//     the start of the range), largest first from the start;
//   - alloc(order) takes the smallest order that has a free block and, within it, the LOWEST-
//     ADDRESSED block (address-ordered: deterministic, and high addresses stay free so they can
//     go back to the OS), then splits it as expand() does: keep the lower half, put the upper
//     halves on the lower free lists;
//   - free(block, order) coalesces with the buddy (page index ^ 2^order) while the buddy is
//     free, of the same order and inside the range.
//
// Nothing scans a list or the range. Each order has a hierarchical bitmap of its free blocks
// (find-first in O(log64 N)), a bitmap of its allocated block heads (validation, order_of), a
// count, and one bit in a mask of non-empty orders. Every operation is O(max_order + log64 N).
//
// The allocator knows nothing of mmap: its metadata lives in a caller-provided buffer of
// metadata_bytes(pages, max_order) bytes, and it never allocates. It is not thread-safe; the
// page heap (src/arena/) serialises it with a lock per arena.
//
// Bad input never corrupts: a double free, a wrong order, a pointer outside the range or not on
// a block boundary, an order above the maximum each return a BuddyStatus and change nothing.
#pragma once

#include <cstddef>
#include <cstdint>

#include "memkit/detail/hier_bitmap.hpp"

namespace memkit {

/// The kernel's MAX_PAGE_ORDER (inclusive) and NR_PAGE_ORDERS, memkit's defaults.
inline constexpr unsigned kMaxPageOrder = 10;
inline constexpr unsigned kNrPageOrders = kMaxPageOrder + 1;
/// The largest max_order a BuddyAllocator accepts.
inline constexpr unsigned kBuddyMaxSupportedOrder = 24;

enum class BuddyStatus : int {
  kOk = 0,
  kNoMemory,        // no free block of that order or above
  kBadOrder,        // order above the allocator's max_order
  kOutOfRange,      // the pointer/page is not inside the range (or the block runs past its end)
  kMisaligned,      // not on a page boundary, or not aligned to the block's order
  kDoubleFree,      // the block (or the page) is already free
  kWrongOrder,      // the block is allocated, but with another order
  kNotBlockStart,   // inside an allocated block, not at its start
  kBusy,            // reserve: part of the range is already allocated
  kInvalidArgument, // init: bad page count, page size, base or metadata
};

/// A short lower-case description ("double free", "wrong order", ...).
const char* to_string(BuddyStatus status);

struct BuddyConfig {
  size_t page_size = 4096;          // any power of two
  unsigned max_order = kMaxPageOrder;  // 0 .. kBuddyMaxSupportedOrder
};

/// Optional observer of the free lists: on_add when a block goes on free list `order`, on_del
/// when it leaves it (allocated, split, or merged into its buddy). The arena layer keeps its
/// page descriptors in step through these. Called synchronously, inside the operation.
struct BuddyEvents {
  void* ctx = nullptr;
  void (*on_add)(void* ctx, size_t page, unsigned order) = nullptr;
  void (*on_del)(void* ctx, size_t page, unsigned order) = nullptr;
};

class BuddyAllocator {
 public:
  static constexpr size_t kNoPage = ~size_t{0};

  /// Bytes of metadata init() needs for `pages` pages and `max_order` (0: not supported, e.g.
  /// max_order above kBuddyMaxSupportedOrder or more than 2^56 pages).
  static size_t metadata_bytes(size_t pages, unsigned max_order);

  /// Order whose block holds `bytes` with pages of `page_size` (0 bytes -> order 0), or
  /// kBuddyMaxSupportedOrder + 1 when no supported order does.
  static unsigned order_for_bytes(size_t bytes, size_t page_size);

  BuddyAllocator() = default;
  BuddyAllocator(const BuddyAllocator&) = delete;
  BuddyAllocator& operator=(const BuddyAllocator&) = delete;

  /// Takes over [base, base + pages * page_size) with `metadata` (8-byte aligned, at least
  /// metadata_bytes(pages, max_order) bytes). Everything starts free. kInvalidArgument if
  /// pages == 0, the page size is not a power of two, base is not page-aligned, max_order is
  /// above kBuddyMaxSupportedOrder, or the metadata is too small or misaligned.
  BuddyStatus init(void* base, size_t pages, const BuddyConfig& config, void* metadata,
                   size_t metadata_size, const BuddyEvents* events = nullptr);

  // ---- page-index interface (page 0 = base) ----

  /// Allocates a block of 2^order pages; *page = its first page index.
  BuddyStatus alloc_index(unsigned order, size_t* page);
  /// Frees the block of 2^order pages starting at `page`, coalescing with free buddies.
  BuddyStatus free_index(size_t page, unsigned order);
  /// Allocates exactly the block (page, order), splitting the free block that contains it.
  /// kBusy if any part of it is allocated.
  BuddyStatus alloc_at_index(size_t page, unsigned order);
  /// The order of the allocated block starting at `page`.
  BuddyStatus order_of_index(size_t page, unsigned* order) const;
  /// Classifies `page`: kOk if an allocated block starts there (and *order is set), otherwise the
  /// status free_index() would return for it.
  BuddyStatus check_index(size_t page, unsigned order) const;

  // ---- address interface ----

  /// A block of 2^order pages, or nullptr (no memory, or order too large).
  void* alloc(unsigned order);
  /// A block of at least `bytes` bytes (rounded up to an order), or nullptr.
  void* alloc_bytes(size_t bytes);
  BuddyStatus free(void* block, unsigned order);
  /// The order of the allocated block at `block`.
  BuddyStatus order_of(const void* block, unsigned* order) const;

  /// Marks [first_page, first_page + count) allocated (as the maximal aligned blocks that tile
  /// it), e.g. to keep metadata or holes out of the allocator. All or nothing: kBusy if any page
  /// is already allocated. unreserve_range() frees the same range (every tile must be an
  /// allocated block; all or nothing), whether reserve_range(), trim() or shrink_range() made it.
  BuddyStatus reserve_range(size_t first_page, size_t count);
  BuddyStatus unreserve_range(size_t first_page, size_t count);

  /// The kernel's alloc_pages_exact() tail split: the allocated block (page, order) becomes the
  /// allocated tiles of [page, page + keep_pages) (maximal naturally aligned blocks, as
  /// reserve_range() makes them) and the rest of the block goes back to the free areas, where
  /// it coalesces as any free would. 1 <= keep_pages <= 2^order; keep_pages == 2^order changes
  /// nothing. unreserve_range(page, keep_pages) frees what is kept. Errors (nothing changes):
  /// check_index()'s status if (page, order) is not an allocated block, kInvalidArgument for a
  /// bad keep_pages.
  ///
  ///   order 6, keep 33:  [ 32 (o5) | 1 (o0) ][ free: 1 (o0) 2 (o1) 4 (o2) 8 (o3) 16 (o4) ]
  BuddyStatus trim(size_t page, unsigned order, size_t keep_pages);
  /// The same for a range allocated as its tiles (reserve_range(), trim()): the tiles of
  /// [first_page, first_page + count) become the tiles of [first_page, first_page + keep_pages)
  /// and the rest is freed. 1 <= keep_pages <= count. All or nothing: if a tile of the range is
  /// not an allocated block, its check_index() status is returned and nothing changes.
  BuddyStatus shrink_range(size_t first_page, size_t count, size_t keep_pages);

  // ---- statistics ----

  void* base() const { return base_; }
  size_t pages() const { return pages_; }
  size_t page_size() const { return size_t{1} << page_shift_; }
  unsigned page_shift() const { return page_shift_; }
  unsigned max_order() const { return max_order_; }
  /// Free blocks of `order` (0 for orders above max_order).
  uint64_t nr_free(unsigned order) const { return order <= max_order_ ? nr_free_[order] : 0; }
  /// n[0..max_order], for the fragmentation functions.
  const uint64_t* free_counts() const { return nr_free_; }
  uint64_t free_pages() const { return free_pages_; }
  /// Bit k set <=> free_area[k] has a block.
  uint32_t free_orders_mask() const { return nonempty_; }
  /// Calls fn(page) for the first page of every free block of `order`, lowest first (fn must
  /// not allocate or free).
  template <typename Fn>
  void for_each_free_block(unsigned order, Fn&& fn) const {
    if (order > max_order_) return;
    free_[order].for_each_set([&](size_t i) { fn(i << order); });
  }
  /// The largest order with a free block, or -1.
  int largest_free_order() const;
  /// The kernel's indices over this allocator's free areas (see fragmentation.hpp).
  int unusable_free_index(unsigned order) const;
  int fragmentation_index(unsigned order) const;

  /// The /proc/buddyinfo line: "Node %d, zone %8s " then "%6lu " per order, then '\n'.
  /// Returns the length it needed (like snprintf); the output is truncated to len - 1.
  int format_buddyinfo(char* buf, size_t len, int node = 0, const char* zone = "memkit") const;

  size_t page_index(const void* p) const {
    return (reinterpret_cast<uintptr_t>(p) - reinterpret_cast<uintptr_t>(base_)) >> page_shift_;
  }
  void* page_address(size_t page) const {
    return static_cast<char*>(base_) + (page << page_shift_);
  }
  bool contains(const void* p) const {
    const uintptr_t a = reinterpret_cast<uintptr_t>(p);
    const uintptr_t b = reinterpret_cast<uintptr_t>(base_);
    return a >= b && ((a - b) >> page_shift_) < pages_;
  }

 private:
  static constexpr unsigned kOrders = kBuddyMaxSupportedOrder + 1;

  bool is_free_block(size_t page, unsigned order) const {
    const size_t i = page >> order;
    return i < free_[order].size() && free_[order].test(i);
  }
  bool is_alloc_block(size_t page, unsigned order) const {
    const size_t i = page >> order;
    return (alloc_[order][i >> 6] >> (i & 63)) & 1u;
  }
  void set_alloc(size_t page, unsigned order, bool on);
  void add_to_free_area(size_t page, unsigned order);
  void del_from_free_area(size_t page, unsigned order);
  void expand(size_t page, unsigned low, unsigned high);
  BuddyStatus address_to_page(const void* p, size_t* page) const;

  void* base_ = nullptr;
  size_t pages_ = 0;
  unsigned page_shift_ = 12;
  unsigned max_order_ = 0;
  uint32_t nonempty_ = 0;  // bit k: free_area[k] has a block
  uint64_t free_pages_ = 0;
  uint64_t nr_free_[kOrders] = {};
  detail::HierBitmap free_[kOrders];
  uint64_t* alloc_[kOrders] = {};
  BuddyEvents events_{};
};

}  // namespace memkit
