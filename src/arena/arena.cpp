// memkit — one arena (src/arena/arena.cpp)
#include "arena/arena.h"


#include <errno.h>

#include <algorithm>
#include <cstring>

namespace memkit {
namespace {

struct LockGuard {
  explicit LockGuard(pthread_mutex_t* m) : m_(m) { pthread_mutex_lock(m_); }
  ~LockGuard() { pthread_mutex_unlock(m_); }
  LockGuard(const LockGuard&) = delete;
  LockGuard& operator=(const LockGuard&) = delete;
  pthread_mutex_t* m_;
};

size_t round_up(size_t x, size_t to) { return (x + to - 1) & ~(to - 1); }

// The order of the smallest block of at least n pages (n >= 1).
unsigned order_for_pages(size_t n) {
  return n <= 1 ? 0 : 64u - static_cast<unsigned>(__builtin_clzll(n - 1));
}

}  // namespace

int Arena::create(const os::OsApi* os, const ArenaConfig& config) {
  const size_t page = size_t{1} << config.page_shift;
  if (config.size == 0 || (config.size & (config.size - 1)) != 0 || config.size < (page << config.max_order))
    return EINVAL;
  const size_t pages = config.size >> config.page_shift;
  const size_t desc_bytes = pages * sizeof(PageDesc);
  const size_t buddy_meta = BuddyAllocator::metadata_bytes(pages, config.max_order);
  const size_t meta_bytes = round_up(desc_bytes + buddy_meta, page);
  // A block of max_order must fit beside the metadata, or the arena cannot serve that order.
  const size_t max_block_pages = size_t{1} << config.max_order;
  if (round_up(meta_bytes >> config.page_shift, max_block_pages) + max_block_pages > pages)
    return EINVAL;

  void* mem = nullptr;
  const int err = os->reserve(config.size, config.size, &mem);
  if (err != 0) return err;
  if (config.hugepage_hint) os->hugepage_hint(mem, config.size);

  LockGuard guard(&lock_);
  os_ = os;
  config_ = config;
  base_ = static_cast<char*>(mem);
  size_ = config.size;
  pub_base_.store(reinterpret_cast<uintptr_t>(mem), std::memory_order_relaxed);
  pub_size_.store(config.size, std::memory_order_relaxed);
  page_shift_ = config.page_shift;
  pages_ = pages;
  meta_pages_ = meta_bytes >> config.page_shift;
  desc_ = reinterpret_cast<PageDesc*>(base_);  // fresh memory: every descriptor reads kNone
  dirty_head_ = dirty_tail_ = kNoPageLink;
  dirty_pages_ = 0;
  dirty_hint_.store(0, std::memory_order_relaxed);
  purged_bytes_ = 0;
  op_dirty_ = false;  // fresh pages read as zero
  op_now_ = 0;

  const BuddyEvents events{this, &Arena::on_add, &Arena::on_del};
  const BuddyConfig bc{page, config.max_order};
  BuddyStatus st = buddy_.init(base_, pages, bc, base_ + desc_bytes, buddy_meta, &events);
  if (st == BuddyStatus::kOk) st = buddy_.reserve_range(0, meta_pages_);
  if (st != BuddyStatus::kOk) {
    os->release(mem, config.size);
    base_ = nullptr;
    pub_base_.store(0, std::memory_order_relaxed);
    pub_size_.store(0, std::memory_order_relaxed);
    return EINVAL;
  }
  return 0;
}

void Arena::publish() {
  LockGuard guard(&lock_);
  publish_hint();
  live_.store(true, std::memory_order_release);
}

bool Arena::retire_if_idle(bool require_purged) {
  LockGuard guard(&lock_);
  if (!live_.load(std::memory_order_relaxed) || buddy_.free_pages() != pages_ - meta_pages_)
    return false;
  if (require_purged && dirty_head_ != kNoPageLink) return false;
  live_.store(false, std::memory_order_release);
  free_hint_.store(0, std::memory_order_relaxed);
  return true;
}

void Arena::retire() {
  LockGuard guard(&lock_);
  live_.store(false, std::memory_order_release);
  free_hint_.store(0, std::memory_order_relaxed);
}

void Arena::destroy() {
  LockGuard guard(&lock_);
  os_->release(base_, size_);
  base_ = nullptr;
  pub_base_.store(0, std::memory_order_relaxed);
  desc_ = nullptr;
}

// ---- buddy events: keep the descriptors and the dirty list in step ----

void Arena::on_add(void* ctx, size_t page, unsigned order) {
  Arena* a = static_cast<Arena*>(ctx);
  PageDesc& d = a->desc_[page];
  d.kind = PageKind::kFree;
  d.order = static_cast<uint8_t>(order);
  d.flags = a->op_dirty_ ? kPageDirty : 0;
  if (a->op_dirty_ && order >= a->config_.purge_order) {
    if (a->op_now_ == 0) a->op_now_ = os::now_ns();  // read the clock only when needed
    d.freed_ns = a->op_now_;
    a->dirty_push(page);
  }
}

void Arena::on_del(void* ctx, size_t page, unsigned order) {
  (void)order;
  Arena* a = static_cast<Arena*>(ctx);
  PageDesc& d = a->desc_[page];
  if (d.flags & kPageDirty) a->op_dirty_ = true;
  if (d.flags & kPageOnDirty) a->dirty_remove(page);
  d.kind = PageKind::kNone;
  d.flags = 0;
}

void Arena::dirty_push(size_t page) {
  PageDesc& d = desc_[page];
  d.flags |= kPageOnDirty;
  d.dirty_next = kNoPageLink;
  d.dirty_prev = dirty_tail_;
  if (dirty_tail_ != kNoPageLink)
    desc_[dirty_tail_].dirty_next = static_cast<uint32_t>(page);
  else
    dirty_head_ = static_cast<uint32_t>(page);
  dirty_tail_ = static_cast<uint32_t>(page);
  dirty_pages_ += size_t{1} << d.order;
  dirty_hint_.store(dirty_pages_, std::memory_order_relaxed);
}

void Arena::dirty_remove(size_t page) {
  PageDesc& d = desc_[page];
  if (d.dirty_prev != kNoPageLink)
    desc_[d.dirty_prev].dirty_next = d.dirty_next;
  else
    dirty_head_ = d.dirty_next;
  if (d.dirty_next != kNoPageLink)
    desc_[d.dirty_next].dirty_prev = d.dirty_prev;
  else
    dirty_tail_ = d.dirty_prev;
  d.flags &= static_cast<uint8_t>(~kPageOnDirty);
  dirty_pages_ -= size_t{1} << d.order;
  dirty_hint_.store(dirty_pages_, std::memory_order_relaxed);
}

void Arena::publish_hint() {
  free_hint_.store(buddy_.free_orders_mask(), std::memory_order_relaxed);
}

// ---- allocation ----

void* Arena::alloc(unsigned order, bool* zeroed) {
  LockGuard guard(&lock_);
  if (!live_.load(std::memory_order_relaxed)) return nullptr;
  op_dirty_ = false;
  op_now_ = 0;
  size_t page;
  if (buddy_.alloc_index(order, &page) != BuddyStatus::kOk) {
    publish_hint();
    return nullptr;
  }
  PageDesc& d = desc_[page];
  d.kind = PageKind::kAlloc;
  d.order = static_cast<uint8_t>(order);
  d.flags = 0;
  *zeroed = !op_dirty_;
  publish_hint();
  return base_ + (page << page_shift_);
}

BuddyStatus Arena::order_of(const void* p, unsigned* order) {
  LockGuard guard(&lock_);
  if (!live_.load(std::memory_order_relaxed) || !contains(p)) return BuddyStatus::kOutOfRange;
  const uintptr_t off = reinterpret_cast<uintptr_t>(p) - base();
  if (off & ((uintptr_t{1} << page_shift_) - 1)) return BuddyStatus::kMisaligned;
  const size_t page = off >> page_shift_;
  if (page < meta_pages_) return BuddyStatus::kNotBlockStart;
  const PageDesc& d = desc_[page];
  if (d.kind != PageKind::kAlloc) {
    if (d.kind == PageKind::kFree) return BuddyStatus::kDoubleFree;
    return buddy_.check_index(page, 0) == BuddyStatus::kDoubleFree ? BuddyStatus::kDoubleFree
                                                                    : BuddyStatus::kNotBlockStart;
  }
  *order = d.order;
  return BuddyStatus::kOk;
}

BuddyStatus Arena::free(void* p, unsigned order) {
  LockGuard guard(&lock_);
  if (!live_.load(std::memory_order_relaxed) || !contains(p)) return BuddyStatus::kOutOfRange;
  const uintptr_t off = reinterpret_cast<uintptr_t>(p) - base();
  if (off & ((uintptr_t{1} << page_shift_) - 1)) return BuddyStatus::kMisaligned;
  const size_t page = off >> page_shift_;
  if (page < meta_pages_) return BuddyStatus::kNotBlockStart;  // the arena's own metadata
  if (order > buddy_.max_order()) return BuddyStatus::kBadOrder;
  PageDesc& d = desc_[page];
  if (d.kind != PageKind::kAlloc) {
    const BuddyStatus st = buddy_.check_index(page, order);
    return st == BuddyStatus::kOk ? BuddyStatus::kNotBlockStart : st;
  }
  if (d.order != order) return BuddyStatus::kWrongOrder;
  d.kind = PageKind::kNone;
  op_dirty_ = true;  // the caller has used the pages
  op_now_ = 0;
  const BuddyStatus st = buddy_.free_index(page, order);
  publish_hint();
  return st;
}

// ---- exact allocations (alloc_pages_exact) ----

void* Arena::alloc_exact(size_t npages, bool* zeroed, unsigned min_order) {
  if (npages == 0) return nullptr;
  const unsigned order = std::max(order_for_pages(npages), min_order);
  LockGuard guard(&lock_);
  if (!live_.load(std::memory_order_relaxed) || order > buddy_.max_order()) return nullptr;
  op_dirty_ = false;
  op_now_ = 0;
  size_t page;
  if (buddy_.alloc_index(order, &page) != BuddyStatus::kOk) {
    publish_hint();
    return nullptr;
  }
  // Known before the tail goes back (whose events must not change the answer). The tail's
  // tiles go back as dirty as the block they were cut from: op_dirty_ is still the block's.
  const bool clean = !op_dirty_;
  // Cannot fail: (page, order) was allocated just now. A whole block has no tail (64 KiB,
  // 256 KiB, ...: the common kmalloc sizes), so the check and re-tiling are skipped.
  if (npages != size_t{1} << order) buddy_.trim(page, order, npages);
  PageDesc& d = desc_[page];
  d.kind = PageKind::kAllocExact;
  d.order = static_cast<uint8_t>(order);
  d.flags = 0;
  d.reserved = static_cast<uint32_t>(npages);
  *zeroed = clean;
  publish_hint();
  return base_ + (page << page_shift_);
}

// Under the lock: the page index of the exact allocation starting at p, or why p is not one.
BuddyStatus Arena::exact_head(const void* p, size_t* page) {
  if (!live_.load(std::memory_order_relaxed) || !contains(p)) return BuddyStatus::kOutOfRange;
  const uintptr_t off = reinterpret_cast<uintptr_t>(p) - base();
  if (off & ((uintptr_t{1} << page_shift_) - 1)) return BuddyStatus::kMisaligned;
  const size_t index = off >> page_shift_;
  if (index < meta_pages_) return BuddyStatus::kNotBlockStart;
  switch (desc_[index].kind) {
    case PageKind::kAllocExact:
      *page = index;
      return BuddyStatus::kOk;
    case PageKind::kAlloc:
      return BuddyStatus::kWrongOrder;  // a block of alloc(): it goes back with free()
    case PageKind::kFree:
      return BuddyStatus::kDoubleFree;
    default:
      return buddy_.check_index(index, 0) == BuddyStatus::kDoubleFree ? BuddyStatus::kDoubleFree
                                                                      : BuddyStatus::kNotBlockStart;
  }
}

BuddyStatus Arena::free_exact(void* p) {
  LockGuard guard(&lock_);
  size_t page = 0;
  BuddyStatus st = exact_head(p, &page);
  if (st != BuddyStatus::kOk) return st;
  PageDesc& d = desc_[page];
  const uint32_t npages = d.reserved;
  const uint8_t order = d.order;
  d.kind = PageKind::kNone;  // the buddy's events describe the freed blocks from here
  d.reserved = 0;
  op_dirty_ = true;  // the caller has used the pages
  op_now_ = 0;
  // A whole block (never trimmed nor shrunk) is one tile: free it as such, skipping the
  // range walk's second check.
  st = npages == uint32_t{1} << order ? buddy_.free_index(page, order)
                                      : buddy_.unreserve_range(page, npages);
  if (st != BuddyStatus::kOk) {  // all or nothing: nothing was freed, the record stays
    d.kind = PageKind::kAllocExact;
    d.order = order;
    d.reserved = npages;
  }
  publish_hint();
  return st;
}

BuddyStatus Arena::shrink_exact(void* p, size_t npages) {
  LockGuard guard(&lock_);
  size_t page = 0;
  BuddyStatus st = exact_head(p, &page);
  if (st != BuddyStatus::kOk) return st;
  PageDesc& d = desc_[page];
  if (npages == 0 || npages > d.reserved) return BuddyStatus::kInvalidArgument;
  if (npages == d.reserved) return BuddyStatus::kOk;
  op_dirty_ = true;
  op_now_ = 0;
  st = buddy_.shrink_range(page, d.reserved, npages);
  if (st == BuddyStatus::kOk) d.reserved = static_cast<uint32_t>(npages);
  publish_hint();
  return st;
}

// ---- giving memory back ----

size_t Arena::purge(uint64_t now, uint64_t decay_ns, bool force) {
  LockGuard guard(&lock_);
  if (!live_.load(std::memory_order_relaxed)) return 0;
  size_t bytes = 0;
  while (dirty_head_ != kNoPageLink) {
    const size_t page = dirty_head_;
    PageDesc& d = desc_[page];
    if (!force && d.freed_ns + decay_ns > now) break;  // the rest is younger
    const size_t len = (size_t{1} << d.order) << page_shift_;
    if (os_->decommit(base_ + (page << page_shift_), len, config_.lazy_decommit) != 0) break;
    dirty_remove(page);
    // MADV_FREE may keep the old contents: only MADV_DONTNEED makes the pages read as zero.
    if (!config_.lazy_decommit) d.flags &= static_cast<uint8_t>(~kPageDirty);
    bytes += len;
  }
  // An explicit purge (malloc_trim) also gives back the free blocks below purge_order, which
  // the decay leaves alone: the holes between live slabs of a fragmented heap.
  if (force) {
    for (unsigned order = 0; order < config_.purge_order && order <= buddy_.max_order(); ++order) {
      buddy_.for_each_free_block(order, [&](size_t page) {
        PageDesc& d = desc_[page];
        if (!(d.flags & kPageDirty)) return;
        const size_t len = (size_t{1} << order) << page_shift_;
        if (os_->decommit(base_ + (page << page_shift_), len, config_.lazy_decommit) != 0) return;
        if (!config_.lazy_decommit) d.flags &= static_cast<uint8_t>(~kPageDirty);
        bytes += len;
      });
    }
  }
  purged_bytes_ += bytes;
  return bytes;
}

void Arena::stats(ArenaStats* out) {
  LockGuard guard(&lock_);
  *out = ArenaStats{};
  if (!live_.load(std::memory_order_relaxed)) return;
  out->bytes = size_;
  out->pages = pages_ - meta_pages_;
  out->free_pages = buddy_.free_pages();
  out->dirty_pages = dirty_pages_;
  out->meta_pages = meta_pages_;
  out->purged_bytes = purged_bytes_;
  out->max_order = buddy_.max_order();
  for (unsigned k = 0; k <= buddy_.max_order(); ++k) out->nr_free[k] = buddy_.nr_free(k);
}

int Arena::format_buddyinfo(char* buf, size_t len) {
  LockGuard guard(&lock_);
  if (!live_.load(std::memory_order_relaxed)) {
    if (len > 0) buf[0] = '\0';
    return 0;
  }
  return buddy_.format_buddyinfo(buf, len, 0, "memkit");
}

}  // namespace memkit
