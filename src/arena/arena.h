// memkit — one arena (src/arena/arena.h)
//
// An arena is one large reservation from os/, aligned to its size, managed by a BuddyAllocator
// and described page by page by a PageDesc array (the kernel's mem_map) kept at its start:
//
//   base                                                              base + size
//   | PageDesc[pages] | buddy metadata | ...... pages handed out in buddy blocks ...... |
//   |<------ meta_pages (reserved in the buddy) ------>|
//
// The descriptors follow the buddy through its free-list events: a free block's head says
// kFree, its order, and whether its pages may still be resident (dirty). Free blocks of order
// >= purge_order that are dirty sit on a dirty list (oldest first, linked through their
// descriptors) until purge() gives them back to the OS with decommit (MADV_DONTNEED, or
// MADV_FREE when asked); a block that is allocated before that simply leaves the list. Fresh
// and purged pages are known to read as zero, so a zeroing allocation can skip the memset.
//
// An Arena object is a slot in the page heap's fixed table and is never freed: a thread that
// raced with the arena's release still finds a valid lock and a `live` flag that says no.
// Every method that touches the buddy or the descriptors takes the arena's lock.
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "arena/page_desc.h"
#include "memkit/buddy.hpp"
#include "os/os.h"

namespace memkit {

struct ArenaConfig {
  size_t size = size_t{256} << 20;  // bytes, a power of two, a multiple of the chunk size
  unsigned page_shift = 12;
  unsigned max_order = kMaxPageOrder;
  unsigned purge_order = 6;         // free blocks of this order and above go back to the OS
  bool lazy_decommit = false;       // MADV_FREE instead of MADV_DONTNEED
  bool hugepage_hint = false;
};

struct ArenaStats {
  size_t bytes = 0;           // the arena's size (0 if not live)
  size_t pages = 0;           // usable pages (metadata excluded)
  size_t free_pages = 0;
  size_t dirty_pages = 0;     // on the dirty list
  size_t meta_pages = 0;
  size_t purged_bytes = 0;
  uint64_t nr_free[kBuddyMaxSupportedOrder + 1] = {};
  unsigned max_order = 0;
};

class Arena {
 public:
  Arena() = default;
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  /// Maps and initialises the arena (the caller holds the page heap's lock and the slot is not
  /// live). Returns 0 or an errno value; on failure nothing stays mapped.
  int create(const os::OsApi* os, const ArenaConfig& config);
  /// Makes a created arena live (allocations may use it): only once it is in the arena map.
  void publish();
  /// Marks the slot dead if every usable page is free (under the arena lock, so no allocation
  /// can slip in between) and, when require_purged, nothing waits for the decay time; then the
  /// caller unmaps it with destroy(). True if retired.
  bool retire_if_idle(bool require_purged);
  /// Marks the slot dead whatever it holds (page heap teardown).
  void retire();
  /// Unmaps a retired arena (caller holds the heap lock).
  void destroy();

  bool live() const { return live_.load(std::memory_order_acquire); }
  /// Pages on the dirty list at the last change (a hint read without the lock).
  size_t dirty_pages_hint() const { return dirty_hint_.load(std::memory_order_relaxed); }
  /// Orders that had a free block at the last change (a hint read without the lock).
  uint32_t free_orders_hint() const { return free_hint_.load(std::memory_order_relaxed); }
  // Read without the lock by lookups of any pointer (arena_for), so atomics.
  uintptr_t base() const { return pub_base_.load(std::memory_order_relaxed); }
  size_t size() const { return pub_size_.load(std::memory_order_relaxed); }
  bool contains(const void* p) const {
    return reinterpret_cast<uintptr_t>(p) - base() < size();
  }

  /// A block of 2^order pages, or nullptr. *zeroed says whether it is known to read as zero.
  void* alloc(unsigned order, bool* zeroed);
  /// Frees a block alloc() returned. Anything else (metadata, the middle of a block, a free
  /// block, a wrong order) is refused with the buddy's status and changes nothing.
  BuddyStatus free(void* p, unsigned order);
  /// The order of the allocated block at p (kOk), or why p is not one.
  BuddyStatus order_of(const void* p, unsigned* order);

  /// Exactly npages pages (1 <= npages <= 2^max_order), the kernel's alloc_pages_exact: the
  /// covering block of order ceil(log2(npages)) is allocated and its unused tail goes straight
  /// back to the buddy (BuddyAllocator::trim). The head descriptor says kAllocExact with the
  /// page count in `reserved`. nullptr if no block is free. *zeroed as for alloc().
  /// min_order > the covering order cuts the pages from a larger block, so that they are
  /// aligned to 2^min_order pages (aligned allocations).
  void* alloc_exact(size_t npages, bool* zeroed, unsigned min_order = 0);
  /// Frees an exact allocation. kWrongOrder if p is a block of alloc() (not an exact one);
  /// otherwise the statuses of free().
  BuddyStatus free_exact(void* p);
  /// Gives the pages of an exact allocation beyond its first npages back (1 <= npages <= its
  /// count); statuses as free_exact, kInvalidArgument for a bad npages.
  BuddyStatus shrink_exact(void* p, size_t npages);

  /// Gives dirty free blocks back to the OS: those on the dirty list freed at least decay_ns
  /// before now; when force, every dirty free block of any order (also those below
  /// purge_order, which the decay leaves alone). Returns the bytes decommitted.
  size_t purge(uint64_t now, uint64_t decay_ns, bool force);

  void stats(ArenaStats* out);
  int format_buddyinfo(char* buf, size_t len);

  /// The descriptor of p's page (p inside the arena). Pure arithmetic.
  PageDesc* page_of(const void* p) const {
    return desc_ + ((reinterpret_cast<uintptr_t>(p) - base()) >> page_shift_);
  }

  pthread_mutex_t* lock() { return &lock_; }

 private:
  static void on_add(void* ctx, size_t page, unsigned order);
  static void on_del(void* ctx, size_t page, unsigned order);
  void dirty_push(size_t page);
  void dirty_remove(size_t page);
  void publish_hint();
  BuddyStatus exact_head(const void* p, size_t* page);

  pthread_mutex_t lock_ = PTHREAD_MUTEX_INITIALIZER;
  std::atomic<bool> live_{false};
  std::atomic<uint32_t> free_hint_{0};
  const os::OsApi* os_ = nullptr;
  ArenaConfig config_{};
  char* base_ = nullptr;
  std::atomic<uintptr_t> pub_base_{0};
  std::atomic<size_t> pub_size_{0};
  size_t size_ = 0;
  unsigned page_shift_ = 12;
  size_t pages_ = 0;
  size_t meta_pages_ = 0;
  PageDesc* desc_ = nullptr;
  BuddyAllocator buddy_;
  // Dirty list of free blocks >= purge_order, oldest first.
  uint32_t dirty_head_ = kNoPageLink;
  uint32_t dirty_tail_ = kNoPageLink;
  size_t dirty_pages_ = 0;
  std::atomic<size_t> dirty_hint_{0};  // dirty_pages_, for readers without the lock
  size_t purged_bytes_ = 0;
  // Scratch for the buddy events of the operation in progress (under the lock).
  bool op_dirty_ = false;
  uint64_t op_now_ = 0;  // 0 until an event needs the time
};

}  // namespace memkit
