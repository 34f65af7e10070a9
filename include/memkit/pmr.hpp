// memkit — std::pmr::memory_resource adapters (include/memkit/pmr.hpp)
//
// Four thin resources over memkit's C API, so that std::pmr containers run on memkit:
//
//   resource            allocate(bytes, align)                          deallocate
//   ------------------  ----------------------------------------------  --------------------------
//   PageResource        a 2^order-page block (order from bytes, align);  mk_free_pages, the order
//                       beyond the largest order: mk_vmalloc            recomputed; or mk_vfree
//   KmallocResource     mk_kmalloc, sized so that kmalloc's alignment   mk_kfree (or the page path)
//                       rule gives `align`; page blocks beyond that
//   SlabCacheResource   an object of its own cache if bytes and align   mk_cache_free, or upstream
//                       fit, else the upstream resource
//   MonotonicArena      bump pointer over page blocks of growing order  nothing; release() frees all
//
//   memkit::MonotonicArena arena;                        // one page first, then 2, 4, ... 4 MiB
//   std::pmr::vector<int> v(&arena);
//   std::pmr::unordered_map<int, int> m(&arena);
//   arena.release();                                     // after the containers are gone
//
// Contract (std::pmr's): allocate throws std::bad_alloc on failure, never returns nullptr;
// alignment is a power of two; deallocate gets the same bytes and alignment as allocate did (the
// page orders are recomputed from them, so a wrong size is memkit's "wrong order" report).
//
// Equality (do_is_equal): memory from a resource may be freed through an equal one.
// SlabCacheResource and MonotonicArena: identity (each owns its memory). PageResource and
// KmallocResource hold no state (every instance serves the one global heap), so all instances
// of the type are equal, as foonathan's memory_resource_adapter does for stateless allocators.
//
// Threads: PageResource, KmallocResource and SlabCacheResource are as thread-safe as the C calls
// they make. MonotonicArena is not (like std::pmr::monotonic_buffer_resource).
#pragma once

#include <errno.h>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory_resource>
#include <new>
#include <string>
#include <system_error>

#include "memkit/memkit.h"

namespace memkit {

namespace detail {

// The page order that holds `bytes` bytes aligned to `align` (a 2^k-page block is aligned to its
// size), or MK_NR_PAGE_ORDERS if no buddy block is large enough.
inline unsigned page_order_for(size_t bytes, size_t align) noexcept {
  const size_t page = mk_page_size();
  const size_t need = bytes > align ? bytes : align;
  const size_t max_bytes = page << MK_MAX_PAGE_ORDER;
  if (need > max_bytes) return MK_NR_PAGE_ORDERS;
  const size_t pages = need == 0 ? 1 : (need + page - 1) / page;
  return static_cast<unsigned>(std::bit_width(std::bit_ceil(pages)) - 1);
}

// Page blocks for (bytes, align): a buddy block while one is large enough, else mk_vmalloc
// (page-aligned only: a larger alignment there fails). nullptr on failure.
inline void* page_alloc(size_t bytes, size_t align) noexcept {
  const unsigned order = page_order_for(bytes, align);
  if (order <= MK_MAX_PAGE_ORDER) return mk_alloc_pages(MK_GFP_KERNEL, order);
  if (align > mk_page_size()) return nullptr;
  return mk_vmalloc(bytes);
}

inline void page_free(void* p, size_t bytes, size_t align) noexcept {
  const unsigned order = page_order_for(bytes, align);
  if (order <= MK_MAX_PAGE_ORDER)
    mk_free_pages(p, order);
  else
    mk_vfree(p);
}

// kmalloc for (bytes, align), using kmalloc's alignment rule (memkit.h): at least 8, 16 from 16
// bytes up, the size itself for powers of two up to the page size. So align <= 16 asks for at
// least `align` bytes; align up to the page size asks for the power of two >= max(bytes,
// align) (up to 2x the request: the price of no header); beyond, page blocks. nullptr on failure.
inline bool kmalloc_serves(size_t bytes, size_t align) noexcept {
  return align <= 16 || (bytes <= mk_page_size() && align <= mk_page_size());
}

inline size_t kmalloc_size(size_t bytes, size_t align) noexcept {
  if (align <= 16) return bytes < align && align == 16 ? 16 : bytes;
  return std::bit_ceil(bytes > align ? bytes : align);
}

inline void* kmalloc_aligned(size_t bytes, size_t align) noexcept {
  if (kmalloc_serves(bytes, align)) return mk_kmalloc(kmalloc_size(bytes, align), MK_GFP_KERNEL);
  return page_alloc(bytes, align);
}

inline void kfree_aligned(void* p, size_t bytes, size_t align) noexcept {
  if (kmalloc_serves(bytes, align))
    mk_kfree(p);
  else
    page_free(p, bytes, align);
}

inline void* or_throw(void* p) {
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

}  // namespace detail

/// Page blocks: a request becomes the smallest 2^order-page block that holds `bytes` aligned
/// to `align` (any alignment up to 4 MiB); beyond the largest order, mk_vmalloc (alignment up
/// to the page size; larger throws). For big buffers (vectors of MiBs, I/O buffers): a small
/// request still costs a whole page.
class PageResource final : public std::pmr::memory_resource {
 protected:
  void* do_allocate(size_t bytes, size_t align) override {
    return detail::or_throw(detail::page_alloc(bytes, align));
  }
  void do_deallocate(void* p, size_t bytes, size_t align) override {
    detail::page_free(p, bytes, align);
  }
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override {
    return dynamic_cast<const PageResource*>(&other) != nullptr;
  }
};

/// kmalloc: any size, any alignment. Alignments up to 16 cost nothing; up to the page size,
/// requests up to the page size are rounded to a power of two (kmalloc aligns those naturally);
/// anything else aligned beyond 16 bytes takes page blocks as PageResource does.
class KmallocResource final : public std::pmr::memory_resource {
 protected:
  void* do_allocate(size_t bytes, size_t align) override {
    return detail::or_throw(detail::kmalloc_aligned(bytes, align));
  }
  void do_deallocate(void* p, size_t bytes, size_t align) override {
    detail::kfree_aligned(p, bytes, align);
  }
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override {
    return dynamic_cast<const KmallocResource*>(&other) != nullptr;
  }
};

/// An object cache of its own as a resource: requests of at most object_size bytes and at most
/// its alignment get one object; anything larger goes to `upstream` (by default the default
/// resource when constructed; pass std::pmr::null_memory_resource() to make them throw
/// std::bad_alloc). Made for node containers (std::pmr::list, map, unordered_map nodes) whose
/// node size you size the cache for; their other allocations (bucket arrays) pass through.
///
/// The destructor destroys the cache; if objects are still live memkit prints its warning and
/// the cache is leaked on purpose (as ObjectCache<T> does; memkit/slab.hpp). Not copyable or
/// movable: containers hold its address.
class SlabCacheResource final : public std::pmr::memory_resource {
 public:
  /// Throws std::bad_alloc (ENOMEM) or std::system_error (EINVAL: bad name, size or alignment;
  /// ENOSPC). flags: the MK_SLAB_* flags of mk_cache_create.
  SlabCacheResource(const char* name, size_t object_size,
                    size_t align = alignof(std::max_align_t), unsigned flags = 0,
                    std::pmr::memory_resource* upstream = std::pmr::get_default_resource())
      : cache_(mk_cache_create(name, object_size, align, flags, nullptr)),
        object_size_(object_size),
        align_(align < 8 ? 8 : align),  // memkit's minimum object alignment
        upstream_(upstream) {
    if (cache_ == nullptr) {
      const int err = errno;
      if (err == ENOMEM) throw std::bad_alloc();
      throw std::system_error(err, std::generic_category(),
                              std::string("mk_cache_create(") + (name ? name : "null") + ")");
    }
  }
  SlabCacheResource(const SlabCacheResource&) = delete;
  SlabCacheResource& operator=(const SlabCacheResource&) = delete;
  ~SlabCacheResource() override { (void)mk_cache_destroy(cache_); }  // -EBUSY: leaked on purpose

  size_t object_size() const noexcept { return object_size_; }
  size_t alignment() const noexcept { return align_; }
  std::pmr::memory_resource* upstream() const noexcept { return upstream_; }
  mk_cache_t* native_handle() const noexcept { return cache_; }
  /// mk_cache_shrink: cached objects and empty slabs back to the page heap; returns pages.
  size_t shrink() noexcept { return mk_cache_shrink(cache_); }

 protected:
  void* do_allocate(size_t bytes, size_t align) override {
    if (!fits(bytes, align)) return upstream_->allocate(bytes, align);
    return detail::or_throw(mk_cache_alloc(cache_, MK_GFP_KERNEL));
  }
  void do_deallocate(void* p, size_t bytes, size_t align) override {
    if (fits(bytes, align))
      mk_cache_free(cache_, p);
    else
      upstream_->deallocate(p, bytes, align);
  }
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override {
    return this == &other;
  }

 private:
  bool fits(size_t bytes, size_t align) const noexcept {
    return bytes <= object_size_ && align <= align_;
  }

  mk_cache_t* cache_;
  size_t object_size_;
  size_t align_;
  std::pmr::memory_resource* upstream_;
};

/// A monotonic arena: allocation bumps a pointer through the current block; deallocate does
/// nothing; release() (and the destructor) give every block back at once. Blocks are buddy
/// blocks from mk_alloc_pages of growing order (initial_order, then one more each time, up to
/// MK_MAX_PAGE_ORDER = 4 MiB); a request too large for a block of the largest order gets a
/// block of its own from mk_vmalloc. Any alignment. A block starts with a small header (its
/// order and the previous block), so the arena needs no memory besides its blocks.
///
///   block:  [ header | object | pad | object | ...   free ...   ]
///                                             ^ptr_             ^end_
///
/// For phases whose data dies together (a request, a parse, a frame). Not thread-safe.
class MonotonicArena final : public std::pmr::memory_resource {
 public:
  /// initial_order: the first block is 2^initial_order pages (capped at MK_MAX_PAGE_ORDER).
  explicit MonotonicArena(unsigned initial_order = 0) noexcept
      : initial_order_(initial_order < MK_MAX_PAGE_ORDER ? initial_order : MK_MAX_PAGE_ORDER),
        next_order_(initial_order_) {}
  MonotonicArena(const MonotonicArena&) = delete;
  MonotonicArena& operator=(const MonotonicArena&) = delete;
  ~MonotonicArena() override { release(); }

  /// Gives every block back; the next allocation starts over at initial_order. Everything the
  /// arena handed out becomes invalid.
  void release() noexcept {
    for (Block* b = last_; b != nullptr;) {
      Block* prev = b->prev;
      if (b->order == kVmallocBlock)
        mk_vfree(b);
      else
        mk_free_pages(b, b->order);
      b = prev;
    }
    last_ = nullptr;
    ptr_ = end_ = 0;
    next_order_ = initial_order_;
    blocks_ = 0;
    block_bytes_ = 0;
  }

  /// Blocks held, and their bytes (headers and unused tails included).
  size_t blocks() const noexcept { return blocks_; }
  size_t block_bytes() const noexcept { return block_bytes_; }

 protected:
  void* do_allocate(size_t bytes, size_t align) override {
    if (bytes == 0) bytes = 1;  // distinct pointers for distinct calls
    const uintptr_t p = (ptr_ + align - 1) & ~(uintptr_t{align} - 1);
    if (ptr_ != 0 && p >= ptr_ && p <= end_ && end_ - p >= bytes) {
      ptr_ = p + bytes;
      return reinterpret_cast<void*>(p);
    }
    return allocate_block(bytes, align);
  }
  void do_deallocate(void*, size_t, size_t) override {}
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override {
    return this == &other;
  }

 private:
  struct Block {
    Block* prev;
    unsigned order;  // kVmallocBlock: from mk_vmalloc
  };
  static constexpr unsigned kVmallocBlock = ~0u;
  static constexpr size_t kHeader = sizeof(Block);

  static uintptr_t align_up(uintptr_t v, size_t align) noexcept {
    return (v + align - 1) & ~(uintptr_t{align} - 1);
  }

  // The slow path: a new block of the next order (or the smallest larger one that holds the
  // request), which becomes the current block; or a vmalloc block for this request alone,
  // leaving the current block current.
  void* allocate_block(size_t bytes, size_t align) {
    const size_t page = mk_page_size();
    const size_t offset = align_up(kHeader, align);  // in a block aligned to >= align
    if (offset <= (page << MK_MAX_PAGE_ORDER) && bytes <= (page << MK_MAX_PAGE_ORDER) - offset) {
      unsigned order = next_order_;
      while ((page << order) < offset + bytes) ++order;
      void* mem = detail::or_throw(mk_alloc_pages(MK_GFP_KERNEL, order));
      push(mem, order, page << order);
      next_order_ = order < MK_MAX_PAGE_ORDER ? order + 1 : MK_MAX_PAGE_ORDER;
      const uintptr_t base = reinterpret_cast<uintptr_t>(mem);
      ptr_ = base + offset + bytes;
      end_ = base + (page << order);
      return reinterpret_cast<void*>(base + offset);
    }
    // Huge: vmalloc is page-aligned only, so room for any alignment.
    const size_t slack = kHeader + align - 1;
    if (bytes > std::numeric_limits<size_t>::max() - slack) throw std::bad_alloc();
    void* mem = detail::or_throw(mk_vmalloc(bytes + slack));
    push(mem, kVmallocBlock, bytes + slack);
    return reinterpret_cast<void*>(align_up(reinterpret_cast<uintptr_t>(mem) + kHeader, align));
  }

  void push(void* mem, unsigned order, size_t size) noexcept {
    last_ = ::new (mem) Block{last_, order};
    ++blocks_;
    block_bytes_ += size;
  }

  unsigned initial_order_;
  unsigned next_order_;
  Block* last_ = nullptr;  // newest block; each links to the one before
  uintptr_t ptr_ = 0;      // the current block's free space: [ptr_, end_)
  uintptr_t end_ = 0;
  size_t blocks_ = 0;
  size_t block_bytes_ = 0;
};

}  // namespace memkit
