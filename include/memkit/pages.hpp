// memkit — the page allocator's C++ API (include/memkit/pages.hpp)
//
// Thin, header-only, over the C API in memkit.h: an owning PageBlock (move-only, frees on
// destruction with the order it was allocated with) and a VmBlock for mk_vmalloc memory.
//
//   memkit::PageBlock block = memkit::PageBlock::allocate(3, MK_GFP_ZERO);   // 8 pages
//   if (!block) { /* ENOMEM */ }
//   std::memset(block.data(), 1, block.size());
//
// Standalone buddy allocators over your own memory: memkit/buddy.hpp.
#pragma once

#include <cstddef>
#include <utility>

#include "memkit/memkit.h"

namespace memkit {

class PageBlock {
 public:
  PageBlock() = default;
  /// 2^order pages, or an empty block (check with operator bool; errno says why).
  static PageBlock allocate(unsigned order, unsigned gfp = MK_GFP_KERNEL) {
    return PageBlock(mk_alloc_pages(gfp, order), order);
  }
  PageBlock(PageBlock&& other) noexcept
      : p_(std::exchange(other.p_, nullptr)), order_(other.order_) {}
  PageBlock& operator=(PageBlock&& other) noexcept {
    if (this != &other) {
      reset();
      p_ = std::exchange(other.p_, nullptr);
      order_ = other.order_;
    }
    return *this;
  }
  PageBlock(const PageBlock&) = delete;
  PageBlock& operator=(const PageBlock&) = delete;
  ~PageBlock() { reset(); }

  explicit operator bool() const { return p_ != nullptr; }
  void* data() const { return p_; }
  unsigned order() const { return order_; }
  size_t size() const { return p_ ? mk_page_size() << order_ : 0; }

  /// Gives up ownership: the caller frees with mk_free_pages(p, order()).
  void* release() { return std::exchange(p_, nullptr); }
  void reset() {
    if (p_ != nullptr) mk_free_pages(std::exchange(p_, nullptr), order_);
  }

 private:
  PageBlock(void* p, unsigned order) : p_(p), order_(order) {}
  void* p_ = nullptr;
  unsigned order_ = 0;
};

class VmBlock {
 public:
  VmBlock() = default;
  /// `bytes` rounded up to whole pages (zeroed if zero is true), or an empty block.
  static VmBlock allocate(size_t bytes, bool zero = false) {
    return VmBlock(zero ? mk_vzalloc(bytes) : mk_vmalloc(bytes), bytes);
  }
  VmBlock(VmBlock&& other) noexcept
      : p_(std::exchange(other.p_, nullptr)), bytes_(other.bytes_) {}
  VmBlock& operator=(VmBlock&& other) noexcept {
    if (this != &other) {
      reset();
      p_ = std::exchange(other.p_, nullptr);
      bytes_ = other.bytes_;
    }
    return *this;
  }
  VmBlock(const VmBlock&) = delete;
  VmBlock& operator=(const VmBlock&) = delete;
  ~VmBlock() { reset(); }

  explicit operator bool() const { return p_ != nullptr; }
  void* data() const { return p_; }
  size_t size() const { return p_ ? bytes_ : 0; }
  void* release() { return std::exchange(p_, nullptr); }
  void reset() {
    if (p_ != nullptr) mk_vfree(std::exchange(p_, nullptr));
  }

 private:
  VmBlock(void* p, size_t bytes) : p_(p), bytes_(bytes) {}
  void* p_ = nullptr;
  size_t bytes_ = 0;
};

/// Gives free page blocks back to the OS now; returns the bytes.
inline size_t purge() { return mk_purge(); }

}  // namespace memkit
