// memkit — DMA-style buffers, C++ API (include/memkit/dma.hpp)
//
// Thin, header-only, over memkit/dma.h: an owning DmaBuffer (move-only, freed with its size
// and handle on destruction) and an owning DmaPool.
//
//   memkit::DmaBuffer ring = memkit::DmaBuffer::allocate(64 * 1024);
//   if (!ring) { /* errno: ENOMEM, EINVAL, EPERM */ }
//   program_device(ring.dma_addr(), ring.size());   // MK_DMA_ADDR_UNKNOWN without CAP_SYS_ADMIN
//
//   memkit::DmaPool descs("rx-desc", 32, 16, 4096);
//   memkit::DmaPool::Block d = descs.zalloc();      // d.vaddr, d.dma
//   descs.free(d);
#pragma once

#include <cstddef>
#include <utility>

#include "memkit/dma.h"

namespace memkit {

class DmaBuffer {
 public:
  DmaBuffer() = default;
  /// A zeroed, locked buffer of `bytes` (mk_dma_alloc_coherent), or an empty one (errno).
  static DmaBuffer allocate(size_t bytes, int flags = 0) {
    DmaBuffer b;
    b.p_ = mk_dma_alloc_coherent(bytes, &b.dma_, flags);
    b.bytes_ = b.p_ != nullptr ? bytes : 0;
    return b;
  }
  DmaBuffer(DmaBuffer&& o) noexcept
      : p_(std::exchange(o.p_, nullptr)), bytes_(std::exchange(o.bytes_, 0)), dma_(o.dma_) {}
  DmaBuffer& operator=(DmaBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      p_ = std::exchange(o.p_, nullptr);
      bytes_ = std::exchange(o.bytes_, 0);
      dma_ = o.dma_;
    }
    return *this;
  }
  DmaBuffer(const DmaBuffer&) = delete;
  DmaBuffer& operator=(const DmaBuffer&) = delete;
  ~DmaBuffer() { reset(); }

  explicit operator bool() const { return p_ != nullptr; }
  void* data() const { return p_; }
  size_t size() const { return bytes_; }
  /// The physical address of data(), or MK_DMA_ADDR_UNKNOWN.
  mk_dma_addr_t dma_addr() const { return p_ != nullptr ? dma_ : MK_DMA_ADDR_UNKNOWN; }
  /// Backing, contiguity and lock (mk_dma_get_info); all zero for an empty buffer.
  mk_dma_info info() const {
    mk_dma_info i{};
    if (p_ != nullptr) mk_dma_get_info(p_, &i);
    return i;
  }
  void reset() {
    if (p_ != nullptr) mk_dma_free_coherent(std::exchange(bytes_, 0), std::exchange(p_, nullptr), dma_);
  }

 private:
  void* p_ = nullptr;
  size_t bytes_ = 0;
  mk_dma_addr_t dma_ = MK_DMA_ADDR_UNKNOWN;
};

class DmaPool {
 public:
  struct Block {
    void* vaddr = nullptr;
    mk_dma_addr_t dma = MK_DMA_ADDR_UNKNOWN;
  };

  /// mk_dma_pool_create_flags; check with operator bool (errno says why).
  DmaPool(const char* name, size_t size, size_t align = 0, size_t boundary = 0, int flags = 0)
      : pool_(mk_dma_pool_create_flags(name, size, align, boundary, flags)) {}
  DmaPool(DmaPool&& o) noexcept : pool_(std::exchange(o.pool_, nullptr)) {}
  DmaPool& operator=(DmaPool&& o) noexcept {
    if (this != &o) {
      mk_dma_pool_destroy(pool_);
      pool_ = std::exchange(o.pool_, nullptr);
    }
    return *this;
  }
  DmaPool(const DmaPool&) = delete;
  DmaPool& operator=(const DmaPool&) = delete;
  ~DmaPool() { mk_dma_pool_destroy(pool_); }

  explicit operator bool() const { return pool_ != nullptr; }
  mk_dma_pool_t* get() const { return pool_; }
  /// A block (vaddr nullptr when out of memory), not zeroed / zeroed.
  Block alloc() {
    Block b;
    b.vaddr = mk_dma_pool_alloc(pool_, 0, &b.dma);
    return b;
  }
  Block zalloc() {
    Block b;
    b.vaddr = mk_dma_pool_zalloc(pool_, 0, &b.dma);
    return b;
  }
  void free(const Block& b) { mk_dma_pool_free(pool_, b.vaddr, b.dma); }
  mk_dma_pool_stats stats() const {
    mk_dma_pool_stats s{};
    mk_dma_pool_get_stats(pool_, &s);
    return s;
  }

 private:
  mk_dma_pool_t* pool_ = nullptr;
};

}  // namespace memkit
