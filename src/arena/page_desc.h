// memkit — page descriptors (src/arena/page_desc.h)
//
// The struct page / mem_map analogue: one 64-byte descriptor per page of an arena, in an array
// at the arena's start, so that any pointer finds what its page is with address arithmetic:
//
//   desc = arena->desc + ((p - arena->base) >> page_shift)
//
// Only the HEAD page of a block says what the block is; the other pages' descriptors stay
// kNone ("inside a block"), as writing 1024 descriptors for an order-10 block would cost more
// than the block's use. The head of the block containing any page is found in O(max_order)
// (Arena::block_head). Descriptors are written under the arena's lock; the untouched ones cost
// no memory (the array is mapped lazily by the kernel).
//
// The `slab` words belong to the slab layer (a slab's cache, free list, counts, list links),
// which describes slab pages here rather than in a header in front of objects. A slab marks
// all of its pages (head kSlab, the others kSlabTail with the slab's order), since slabs are
// small blocks and an object's page must lead to its slab in O(1).
//
// An exact allocation (PageHeap::alloc_pages_exact, the kernel's alloc_pages_exact: npages
// pages, not rounded up to an order) is described by its head alone: kind kAllocExact,
// `reserved` = its page count, `order` = the order of the block it was cut from. In the buddy
// it is the tiles of [head, head + npages) (BuddyAllocator::trim), so it is freed as a whole
// (Arena::free_exact), never with free_pages.
#pragma once

#include <cstdint>

namespace memkit {

enum class PageKind : uint8_t {
  kNone = 0,   // inside a block, or never used
  kFree,       // head of a free buddy block of `order`
  kAlloc,      // head of an allocated block of `order`
  kMeta,       // head of a block the arena keeps for its own metadata
  kSlab,       // head of a slab: `slab` words belong to the slab layer (src/slab/slab_page.h)
  kSlabTail,   // another page of a slab; `order` is the slab's, so the head is found by masking
  kAllocExact, // head of an exact allocation of `reserved` pages (cut from a block of `order`)
};

enum PageFlags : uint8_t {
  kPageDirty = 1u << 0,     // free block whose pages may be resident (not yet given back)
  kPageOnDirty = 1u << 1,   // on the arena's dirty list (waiting for the decay time)
  kPageLargeCached = 1u << 2,  // head of an exact block that kmalloc's per-thread cache of
                               // large blocks holds: freed by the program, not by the heap
};

inline constexpr uint32_t kNoPageLink = 0xffffffffu;

struct PageDesc {
  PageKind kind;
  uint8_t order;
  uint8_t flags;
  // On every page of a slab whose cache has a page id (kmalloc's caches: the class + 1), that
  // id; 0 on every other page. With the slab_* words below it lets a free find the object's
  // class and check that the pointer starts an object from the page's own descriptor, without
  // the slab's head (kfree's fast path, src/kmalloc/kmalloc.h).
  uint8_t slab_id;
  uint32_t reserved;        // kAllocExact: the page count; otherwise 0
  union {
    struct {                // the head of a free block
      uint32_t dirty_prev;  // dirty list links (page indices), kNoPageLink at the ends
      uint32_t dirty_next;
      uint64_t freed_ns;    // when the block became free (for the decay time)
    };
    struct {                // a page of a slab with a page id (slab_id != 0)
      uint32_t slab_first;  // the address of the slab's first object, mod 2^32 (an object's
                            // offset from it is then a 32-bit difference)
      uint32_t slab_span;   // objects * slot size: the bytes the objects cover
      uint64_t slab_div;    // ceil(2^64 / slot size): off is a multiple of the slot size
                            // iff off * slab_div < slab_div (Lemire, for off < 2^32)
    };
  };
  uintptr_t slab[5];        // for the slab layer
};
static_assert(sizeof(PageDesc) == 64, "one cache line per page descriptor");

}  // namespace memkit
