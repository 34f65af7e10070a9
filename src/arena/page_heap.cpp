// memkit — the page heap (src/arena/page_heap.cpp)
#include "arena/page_heap.h"


#include <errno.h>
#include <stdint.h>

#include <algorithm>
#include <cstring>
#include <new>

#include "options/options.h"

namespace memkit {
namespace {

struct LockGuard {
  explicit LockGuard(pthread_mutex_t* m) : m_(m) { pthread_mutex_lock(m_); }
  ~LockGuard() { pthread_mutex_unlock(m_); }
  LockGuard(const LockGuard&) = delete;
  LockGuard& operator=(const LockGuard&) = delete;
  pthread_mutex_t* m_;
};

constexpr size_t kRecordPageBytes = 64 * 1024;

unsigned log2_floor(size_t x) { return 63u - static_cast<unsigned>(__builtin_clzll(x)); }

}  // namespace

PageHeapConfig PageHeapConfig::from_options() {
  const Options& o = options();
  PageHeapConfig c;
  c.arena.page_shift = log2_floor(os::page_size());
  if (c.arena.page_shift < 12) c.arena.page_shift = 12;
  c.arena.purge_order = o.purge_order < 0 ? 0 : static_cast<unsigned>(o.purge_order);
  c.arena.lazy_decommit = o.madv_free;
  c.arena.hugepage_hint = o.huge_pages;
  c.decay_ms = o.decay_ms;
  c.release_arenas = o.release_arenas;
  // Under an address-space limit (ulimit -v, or -d), arenas of 1/32 of it at most (4 MiB at
  // least), so that an arena's unused reservation never keeps much of the limit from a program;
  // new_arena_locked() halves further when the OS refuses.
  // Exact blocks (beyond the slab classes) are then direct mappings of just their pages: an
  // arena block rounds them up to an order, whose tail the next block of that size cannot use.
  const size_t limit = os::address_space_limit();
  while (c.arena.size > PageHeap::kMinArenaBytes && c.arena.size > limit / 32) c.arena.size /= 2;
  if (c.arena.size < ArenaConfig{}.size) c.direct_from_bytes = size_t{1} << c.arena.page_shift;
  c.direct_cache_bytes = o.direct_cache_mb <= 0 ? 0 : static_cast<size_t>(std::min(o.direct_cache_mb, 1L << 30)) << 20;
  return c;
}

PageHeap::PageHeap(const os::OsApi& os, const PageHeapConfig& config)
    : os_(&os), config_(config), map_(&os) {}

PageHeap::~PageHeap() {
  const size_t slots = arena_slots_.load(std::memory_order_acquire);
  for (size_t i = 0; i < slots; ++i) {
    Arena& a = arena_at(i);
    if (!a.live()) continue;
    if (in_fast_table(a)) fast_arena::set(a.base(), false);
    map_.clear(a.base(), a.size());
    a.retire();
    a.destroy();
  }
  for (size_t i = 0; i < slots; ++i) arena_at(i).~Arena();
  for (unsigned char* group : slot_groups_)
    if (group != nullptr) os::system_os().release(group, kSlotGroupBytes);
  for (DirectMapping* d = live_direct_; d != nullptr; d = d->next) {
    map_.clear(d->base, d->size);
    os_->release(reinterpret_cast<void*>(d->base), d->size);
  }
  for (DirectMapping* d = cached_; d != nullptr; d = d->next)
    os_->release(reinterpret_cast<void*>(d->base), d->size);
  while (record_pages_ != nullptr) {
    void* next = *static_cast<void**>(record_pages_);
    os_->release(record_pages_, kRecordPageBytes);
    record_pages_ = next;
  }
}

// ---- lookups ----

Arena* PageHeap::arena_for(const void* p) const {
  const uintptr_t e = map_.lookup(p);
  if (e == 0 || (e & ArenaMap::kDirectTag)) return nullptr;
  Arena* a = reinterpret_cast<Arena*>(e);
  return a->contains(p) ? a : nullptr;
}

PageHeap::DirectMapping* PageHeap::direct_for(const void* p) const {
  const uintptr_t e = map_.lookup(p);
  if ((e & ArenaMap::kDirectTag) == 0) return nullptr;
  DirectMapping* d = reinterpret_cast<DirectMapping*>(e & ~ArenaMap::kDirectTag);
  // Read without the lock: the record may be in the middle of vfree() by another thread.
  const uintptr_t base = std::atomic_ref<uintptr_t>(d->base).load(std::memory_order_relaxed);
  const size_t size = std::atomic_ref<size_t>(d->size).load(std::memory_order_relaxed);
  return reinterpret_cast<uintptr_t>(p) - base < size ? d : nullptr;
}

bool PageHeap::owns(const void* p) const { return arena_for(p) != nullptr || direct_for(p) != nullptr; }

// ---- page blocks ----

ArenaConfig PageHeap::arena_config_for(size_t size) const {
  ArenaConfig c = config_.arena;
  c.size = size;
  // The largest order whose block fits beside the metadata (Arena::create's rule); a smaller
  // arena serves smaller orders (a 4 MiB arena: up to order 9 with 4 KiB pages).
  const size_t pages = size >> c.page_shift;
  const size_t meta_pages =
      (pages * sizeof(PageDesc) + BuddyAllocator::metadata_bytes(pages, c.max_order) +
       (size_t{1} << c.page_shift) - 1) >> c.page_shift;
  while (c.max_order > 0) {
    const size_t block = size_t{1} << c.max_order;
    if (((meta_pages + block - 1) & ~(block - 1)) + block <= pages) break;
    --c.max_order;
  }
  return c;
}

Arena* PageHeap::new_arena_locked(unsigned order) {
  const size_t slots = arena_slots_.load(std::memory_order_relaxed);
  for (size_t i = 0; i <= slots && i < kMaxArenas; ++i) {
    // Slots are constructed when first used: untouched ones cost no memory.
    if (i == slots) {
      // The slot's group is mapped from the system OS (not os_, whose failures and counts
      // tests script for the arenas themselves); kept until the heap is destroyed.
      unsigned char*& group = slot_groups_[i / kSlotGroup];
      if (group == nullptr) {
        void* mem = nullptr;
        if (os::system_os().reserve(kSlotGroupBytes, 4096, &mem) != 0) return nullptr;
        group = static_cast<unsigned char*>(mem);
      }
      new (group + (i % kSlotGroup) * sizeof(Arena)) Arena();
    }
    Arena& a = arena_at(i);
    if (a.live()) continue;
    // The configured size first; when the OS refuses it (an address-space limit, a full
    // address space), halves down to kMinArenaBytes. Each new arena starts again from the
    // configured size (a failed mmap costs little, and the limit may have been raised).
    int err = ENOMEM;
    size_t size = config_.arena.size;
    for (; size >= kMinArenaBytes; size /= 2) {
      const ArenaConfig c = arena_config_for(size);
      if (c.max_order < order) break;  // too small to serve the request
      err = a.create(os_, c);
      if (err != ENOMEM && err != EAGAIN && err != EPERM) break;
    }
    if (err != 0) return nullptr;
    if (map_.set(a.base(), a.size(), reinterpret_cast<uintptr_t>(&a)) != 0) {
      a.destroy();  // never live: nobody can have allocated from it
      return nullptr;
    }
    a.publish();
    if (in_fast_table(a)) fast_arena::set(a.base(), true);
    if (i >= arena_slots_.load(std::memory_order_relaxed))
      arena_slots_.store(i + 1, std::memory_order_release);
    return &a;
  }
  return nullptr;
}

void* PageHeap::alloc_in_arenas(unsigned order, size_t exact_pages, bool* zeroed) {
  // Exact pages are cut from a block of `order`, which may exceed their covering order (an
  // aligned request).
  auto take = [&](Arena& a) {
    return exact_pages != 0 ? a.alloc_exact(exact_pages, zeroed, order) : a.alloc(order, zeroed);
  };
  void* p = nullptr;
  // Fast scan: only arenas whose hint says a block of this order or larger is free.
  const size_t slots = arena_slots_.load(std::memory_order_acquire);
  for (size_t i = 0; i < slots && p == nullptr; ++i) {
    Arena& a = arena_at(i);
    if (a.live() && (a.free_orders_hint() >> order) != 0) p = take(a);
  }
  if (p == nullptr) {
    LockGuard guard(&lock_);
    // Another thread may have freed or mapped meanwhile: try every arena, then a new one.
    const size_t n = arena_slots_.load(std::memory_order_relaxed);
    for (size_t i = 0; i < n && p == nullptr; ++i)
      if (arena_at(i).live()) p = take(arena_at(i));
    if (p == nullptr) {
      Arena* a = new_arena_locked(order);
      if (a != nullptr) p = take(*a);
    }
  }
  // The OS refused a new arena: cached direct mappings hold address space that the limit
  // counts; give them back and try once more.
  if (p == nullptr && cached_bytes_.load(std::memory_order_relaxed) != 0 && release_cached(UINT64_MAX) != 0) {
    LockGuard guard(&lock_);
    if (Arena* a = new_arena_locked(order)) p = take(*a);
  }
  if (p != nullptr) note_used(exact_pages != 0 ? exact_pages : size_t{1} << order);
  return p;
}

void PageHeap::note_used(size_t pages) {
  const size_t now =
      ((arena_used_pages_.fetch_add(pages, std::memory_order_relaxed) + pages) << config_.arena.page_shift) +
      direct_bytes_.load(std::memory_order_relaxed);
  size_t peak = peak_used_bytes_.load(std::memory_order_relaxed);
  while (now > peak &&
         !peak_used_bytes_.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
}

void PageHeap::note_unused(size_t pages) {
  arena_used_pages_.fetch_sub(pages, std::memory_order_relaxed);
}

void* PageHeap::alloc_pages(unsigned order, unsigned gfp) {
  if (order > config_.arena.max_order) {
    errno = EINVAL;
    return nullptr;
  }
  bool zeroed = false;
  void* p = alloc_in_arenas(order, 0, &zeroed);
  if (p == nullptr) {
    errno = ENOMEM;
    return nullptr;
  }
  if ((gfp & MK_GFP_ZERO) && !zeroed) std::memset(p, 0, (size_t{1} << order) << config_.arena.page_shift);
  return p;
}

BuddyStatus PageHeap::free_pages(void* p, unsigned order) {
  Arena* a = arena_for(p);
  if (a == nullptr) return BuddyStatus::kOutOfRange;
  const BuddyStatus st = a->free(p, order);
  if (st != BuddyStatus::kOk) return st;
  note_unused(size_t{1} << order);
  maybe_purge(a);
  return st;
}

BuddyStatus PageHeap::order_of(const void* p, unsigned* order) const {
  Arena* a = arena_for(p);
  if (a == nullptr) return BuddyStatus::kOutOfRange;
  return a->order_of(p, order);
}

// ---- direct mappings (vmalloc) ----

PageHeap::DirectMapping* PageHeap::new_record_locked() {
  if (free_records_ == nullptr) {
    void* mem = nullptr;
    if (os_->reserve(kRecordPageBytes, page_size(), &mem) != 0) return nullptr;
    *static_cast<void**>(mem) = record_pages_;
    record_pages_ = mem;
    // The first record's worth of bytes holds the link; carve the rest.
    DirectMapping* recs = static_cast<DirectMapping*>(mem);
    const size_t n = kRecordPageBytes / sizeof(DirectMapping);
    for (size_t i = 1; i < n; ++i) {
      recs[i].next = free_records_;
      free_records_ = &recs[i];
    }
  }
  DirectMapping* d = free_records_;
  free_records_ = d->next;
  return d;
}

void* PageHeap::vmalloc(size_t bytes, unsigned gfp) {
  if (bytes == 0 || bytes > static_cast<size_t>(PTRDIFF_MAX)) {
    errno = bytes == 0 ? EINVAL : ENOMEM;
    return nullptr;
  }
  const size_t page = page_size();
  const unsigned order = BuddyAllocator::order_for_bytes(bytes, page);
  if (order <= config_.arena.max_order) {
    if (void* p = alloc_pages(order, gfp)) return p;
    // No arena could take it (the OS refused a new one): a mapping of just these pages.
  }
  return direct_map((bytes + page - 1) & ~(page - 1), /*exact=*/false, 0, gfp);
}

void* PageHeap::publish_direct_locked(void* mem, size_t size, bool exact) {
  DirectMapping* d = new_record_locked();
  if (d != nullptr) {  // filled before the map publishes it
    std::atomic_ref<uintptr_t>(d->base).store(reinterpret_cast<uintptr_t>(mem), std::memory_order_relaxed);
    std::atomic_ref<size_t>(d->size).store(size, std::memory_order_relaxed);
    std::atomic_ref<uintptr_t>(d->exact).store(exact ? 1 : 0, std::memory_order_relaxed);
  }
  if (d == nullptr ||
      map_.set(reinterpret_cast<uintptr_t>(mem), size,
               reinterpret_cast<uintptr_t>(d) | ArenaMap::kDirectTag) != 0) {
    if (d != nullptr) free_record_locked(d);
    errno = ENOMEM;
    return nullptr;
  }
  d->prev = nullptr;
  d->next = live_direct_;
  if (live_direct_ != nullptr) live_direct_->prev = d;
  live_direct_ = d;
  direct_count_.fetch_add(1, std::memory_order_relaxed);
  direct_bytes_.fetch_add(size, std::memory_order_relaxed);
  note_used(0);  // the peak
  return mem;
}

void* PageHeap::direct_map(size_t size, bool exact, size_t align, unsigned gfp) {
  align = std::max<size_t>(align, ArenaMap::kChunkSize);
  if (cached_bytes_.load(std::memory_order_relaxed) != 0) {
    void* p;
    {
      LockGuard guard(&lock_);
      p = take_cached_locked(size, exact, align);
    }
    if (p != nullptr) {
      if (gfp & MK_GFP_ZERO) std::memset(p, 0, size);
      return p;
    }
  }
  void* mem = nullptr;
  // Accounted (no MAP_NORESERVE): a request the kernel's overcommit policy refuses fails here,
  // as glibc's would. Refused with cached mappings in hand (an address-space limit counts
  // them): give those back, then try once more.
  if (os_->map(size, align, &mem) != 0 &&
      (cached_bytes_.load(std::memory_order_relaxed) == 0 || release_cached(UINT64_MAX) == 0 ||
       os_->map(size, align, &mem) != 0)) {
    errno = ENOMEM;
    return nullptr;
  }
  const bool cache = cached_bytes_.load(std::memory_order_relaxed) != 0;
  Span moved[kMaxGather];
  const size_t nmoved = cache ? gather_cached(reinterpret_cast<uintptr_t>(mem), size, moved) : 0;
  void* p;
  {
    LockGuard guard(&lock_);
    p = publish_direct_locked(mem, size, exact);
  }
  if (p == nullptr) {
    os_->release(mem, size);  // with any pages moved into it
    return nullptr;
  }
  // The fresh parts read as zero; the moved ones hold what their last user left.
  if (gfp & MK_GFP_ZERO)
    for (size_t i = 0; i < nmoved; ++i) std::memset(static_cast<char*>(p) + moved[i].base, 0, moved[i].size);
  return p;
}

size_t PageHeap::push_cached_locked(DirectMapping* d, size_t size) {
  d->freed_ns = os::now_ns();
  d->prev = nullptr;
  d->next = cached_;
  if (cached_ != nullptr) cached_->prev = d; else cached_tail_ = d;
  cached_ = d;
  cached_count_.fetch_add(1, std::memory_order_relaxed);
  // seq_cst: ordered before the purger hook's look at whether the purger sleeps.
  return cached_bytes_.fetch_add(size, std::memory_order_seq_cst) + size;
}

void* PageHeap::take_cached_locked(size_t size, bool exact, size_t align) {
  DirectMapping* best = nullptr;
  for (DirectMapping* c = cached_; c != nullptr; c = c->next)
    if ((c->base & (align - 1)) == 0 && c->size >= size && (best == nullptr || c->size < best->size))
      best = c;
  if (best == nullptr) return nullptr;
  // The tail stays cached as a piece of its own, at the same age (the same place in the list).
  DirectMapping* tail = nullptr;
  if (best->size > size) {
    tail = new_record_locked();
    if (tail == nullptr) return nullptr;  // no record for the tail: map fresh instead
    tail->base = best->base + size;
    tail->size = best->size - size;
    tail->exact = 0;
    tail->freed_ns = best->freed_ns;
    tail->prev = best;
    tail->next = best->next;
    if (best->next != nullptr) best->next->prev = tail; else cached_tail_ = tail;
    best->next = tail;
    cached_count_.fetch_add(1, std::memory_order_relaxed);
  }
  const uintptr_t base = best->base;
  unlink_cached_locked(best);
  cached_bytes_.fetch_sub(size, std::memory_order_relaxed);  // the tail's bytes stay counted
  free_record_locked(best);
  void* p = publish_direct_locked(reinterpret_cast<void*>(base), size, exact);
  if (p == nullptr) {
    // No leaf for the map (cannot happen for a range that was mapped before; handled anyway):
    // the head goes back as a piece of its own. A record was just freed, so one is there.
    DirectMapping* d = new_record_locked();
    d->base = base;
    d->size = size;
    d->exact = 1;  // it started a block
    push_cached_locked(d, size);
  }
  return p;
}

size_t PageHeap::gather_cached(uintptr_t dst, size_t size, Span* moved) {
  Span from[kMaxGather];
  size_t n = 0, filled = 0;
  {
    LockGuard guard(&lock_);
    while (filled < size && n < kMaxGather && cached_ != nullptr) {
      const size_t want = size - filled;
      // The largest piece that fits whole, else the head of the smallest larger one.
      DirectMapping* fit = nullptr;
      DirectMapping* over = nullptr;
      for (DirectMapping* c = cached_; c != nullptr; c = c->next) {
        if (c->size <= want) {
          if (fit == nullptr || c->size > fit->size) fit = c;
        } else if (over == nullptr || c->size < over->size) {
          over = c;
        }
      }
      if (fit != nullptr) {
        from[n] = {fit->base, fit->size};
        unlink_cached_locked(fit);
        cached_bytes_.fetch_sub(fit->size, std::memory_order_relaxed);
        free_record_locked(fit);
      } else {
        from[n] = {over->base, want};
        over->base += want;  // the rest stays cached, at its age
        over->size -= want;
        over->exact = 0;
        cached_bytes_.fetch_sub(want, std::memory_order_relaxed);
      }
      moved[n] = {filled, from[n].size};
      filled += from[n].size;
      ++n;
    }
  }
  // Page tables only, outside the lock: the detached pieces belong to this call alone.
  size_t kept = 0;
  for (size_t i = 0; i < n; ++i) {
    if (os_->move(reinterpret_cast<void*>(from[i].base), from[i].size,
                  reinterpret_cast<void*>(dst + moved[i].base)) == 0) {
      moved[kept++] = moved[i];
    } else {
      // Could not move (e.g. the kernel's mapping count): give the piece back; that part of
      // dst stays fresh.
      release_spans(&from[i], 1);
    }
  }
  return kept;
}

BuddyStatus PageHeap::cached_status_locked(const void* p) const {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  for (const DirectMapping* c = cached_; c != nullptr; c = c->next)
    if (a - c->base < c->size)
      return a == c->base && c->exact ? BuddyStatus::kDoubleFree : BuddyStatus::kOutOfRange;
  return BuddyStatus::kOutOfRange;
}

void PageHeap::unlink_live_locked(DirectMapping* d) {
  if (d->prev != nullptr) d->prev->next = d->next; else live_direct_ = d->next;
  if (d->next != nullptr) d->next->prev = d->prev;
}

void PageHeap::unlink_cached_locked(DirectMapping* d) {
  if (d->prev != nullptr) d->prev->next = d->next; else cached_ = d->next;
  if (d->next != nullptr) d->next->prev = d->prev; else cached_tail_ = d->prev;
  cached_count_.fetch_sub(1, std::memory_order_relaxed);
}

void PageHeap::free_record_locked(DirectMapping* d) {
  std::atomic_ref<uintptr_t>(d->base).store(0, std::memory_order_relaxed);
  std::atomic_ref<size_t>(d->size).store(0, std::memory_order_relaxed);
  d->next = free_records_;
  free_records_ = d;
}

size_t PageHeap::retire_direct_locked(DirectMapping* d, Span* release, bool* cached) {
  const size_t size = d->size;
  map_.clear(d->base, size);
  unlink_live_locked(d);
  direct_count_.fetch_sub(1, std::memory_order_relaxed);
  direct_bytes_.fetch_sub(size, std::memory_order_relaxed);
  const size_t limit = config_.direct_cache_bytes;
  *cached = config_.decay_ms != 0 && size <= limit;
  if (!*cached) {
    release[0] = {d->base, size};
    free_record_locked(d);
    return 1;
  }
  // Cached, newest first; a pointer into it is no longer ours (the map entry is gone). `exact`
  // now says whether base is where a block started (a second free of it is a double free).
  std::atomic_ref<uintptr_t>(d->exact).store(1, std::memory_order_relaxed);
  size_t bytes = push_cached_locked(d, size);
  size_t n = 0;
  while ((bytes > limit || cached_count_.load(std::memory_order_relaxed) > kMaxCached) &&
         n < kReleaseBatch) {
    DirectMapping* old = cached_tail_;
    release[n++] = {old->base, old->size};
    unlink_cached_locked(old);
    cached_bytes_.fetch_sub(old->size, std::memory_order_relaxed);
    bytes -= old->size;
    free_record_locked(old);
  }
  return n;
}

size_t PageHeap::release_spans(const Span* spans, size_t n) {
  size_t bytes = 0;
  for (size_t i = 0; i < n; ++i) {
    os_->release(reinterpret_cast<void*>(spans[i].base), spans[i].size);
    bytes += spans[i].size;
  }
  unmapped_bytes_.fetch_add(bytes, std::memory_order_relaxed);
  return bytes;
}

size_t PageHeap::release_cached(uint64_t before) {
  size_t bytes = 0;
  for (;;) {
    Span spans[kReleaseBatch];
    size_t n = 0;
    {
      LockGuard guard(&lock_);
      while (n < kReleaseBatch && cached_tail_ != nullptr && cached_tail_->freed_ns < before) {
        DirectMapping* old = cached_tail_;
        spans[n++] = {old->base, old->size};
        unlink_cached_locked(old);
        cached_bytes_.fetch_sub(old->size, std::memory_order_relaxed);
        free_record_locked(old);
      }
    }
    if (n == 0) return bytes;
    bytes += release_spans(spans, n);
  }
}

void PageHeap::after_direct_cached() {
  if (config_.decay_ms < 0) return;
  if (void (*hook)() = dirty_hook_.load(std::memory_order_acquire)) hook();
  run_decay_clock();
}

BuddyStatus PageHeap::vfree(void* p) {
  if (p == nullptr) return BuddyStatus::kOk;
  if (arena_for(p) != nullptr) {
    unsigned order;
    const BuddyStatus st = order_of(p, &order);
    if (st != BuddyStatus::kOk) return st;
    return free_pages(p, order);
  }
  return free_direct(p, /*exact=*/false);
}

BuddyStatus PageHeap::free_direct(void* p, bool exact) {
  Span release[kReleaseBatch];
  size_t n;
  bool cached;
  {
    LockGuard guard(&lock_);
    DirectMapping* d = direct_for(p);
    if (d == nullptr) return cached_status_locked(p);
    if (d->base != reinterpret_cast<uintptr_t>(p)) return BuddyStatus::kNotBlockStart;
    // vfree of an exact block: not one of vmalloc's; free_pages_exact of a vmalloc block: the
    // wrong kind of block (as for arena blocks).
    if ((d->exact != 0) != exact) return exact ? BuddyStatus::kWrongOrder : BuddyStatus::kNotBlockStart;
    n = retire_direct_locked(d, release, &cached);
  }
  release_spans(release, n);
  if (cached) after_direct_cached();
  return BuddyStatus::kOk;
}

// ---- exact allocations (alloc_pages_exact) ----

void* PageHeap::alloc_pages_exact(size_t npages, unsigned gfp) {
  if (npages == 0) {
    errno = EINVAL;
    return nullptr;
  }
  const unsigned shift = config_.arena.page_shift;
  if (npages > (static_cast<size_t>(PTRDIFF_MAX) >> shift)) {
    errno = ENOMEM;
    return nullptr;
  }
  if (npages > (size_t{1} << config_.arena.max_order) ||
      (config_.direct_from_bytes != 0 && (npages << shift) >= config_.direct_from_bytes))
    return direct_map(npages << shift, true, 0, gfp);
  const unsigned order = npages <= 1 ? 0 : 64u - static_cast<unsigned>(__builtin_clzll(npages - 1));
  bool zeroed = false;
  void* p = alloc_in_arenas(order, npages, &zeroed);
  // No arena could take it (the OS refused a new one, e.g. under an address-space limit): a
  // mapping of just these pages may still fit.
  if (p == nullptr) return direct_map(npages << shift, true, 0, gfp);
  if ((gfp & MK_GFP_ZERO) && !zeroed) std::memset(p, 0, npages << shift);
  return p;
}

void* PageHeap::alloc_pages_exact_aligned(size_t npages, size_t align, unsigned gfp) {
  const unsigned shift = config_.arena.page_shift;
  if (align <= (size_t{1} << shift)) return alloc_pages_exact(npages, gfp);
  if (npages == 0 || (align & (align - 1)) != 0) {
    errno = EINVAL;
    return nullptr;
  }
  if (npages > (static_cast<size_t>(PTRDIFF_MAX) >> shift) || align > (size_t{1} << 62)) {
    errno = ENOMEM;
    return nullptr;
  }
  const unsigned align_order = static_cast<unsigned>(__builtin_ctzll(align)) - shift;
  const unsigned max_order = config_.arena.max_order;
  if (npages > (size_t{1} << max_order) || align_order > max_order ||
      (config_.direct_from_bytes != 0 && (npages << shift) >= config_.direct_from_bytes))
    return direct_map(npages << shift, true, align, gfp);
  const unsigned cover = npages <= 1 ? 0 : 64u - static_cast<unsigned>(__builtin_clzll(npages - 1));
  bool zeroed = false;
  void* p = alloc_in_arenas(std::max(cover, align_order), npages, &zeroed);
  if (p == nullptr) return direct_map(npages << shift, true, align, gfp);  // as alloc_pages_exact
  if ((gfp & MK_GFP_ZERO) && !zeroed) std::memset(p, 0, npages << shift);
  return p;
}

void PageHeap::fork_prepare() {
  pthread_mutex_lock(&lock_);
  const size_t n = arena_slots_.load(std::memory_order_relaxed);
  for (size_t i = 0; i < n; ++i) pthread_mutex_lock(arena_at(i).lock());
}

void PageHeap::fork_release() {
  const size_t n = arena_slots_.load(std::memory_order_relaxed);
  for (size_t i = n; i-- > 0;) pthread_mutex_unlock(arena_at(i).lock());
  pthread_mutex_unlock(&lock_);
}

BuddyStatus PageHeap::free_pages_exact(void* p) {
  if (Arena* a = arena_for(p)) {
    const size_t pages = exact_pages(p);  // meaningful only if the free succeeds
    const BuddyStatus st = a->free_exact(p);
    if (st != BuddyStatus::kOk) return st;
    note_unused(pages);
    maybe_purge(a);
    return st;
  }
  return free_direct(p, /*exact=*/true);
}

BuddyStatus PageHeap::shrink_pages_exact(void* p, size_t npages) {
  Arena* a = arena_for(p);
  if (a == nullptr) return owns(p) ? BuddyStatus::kInvalidArgument : BuddyStatus::kOutOfRange;
  const size_t before = exact_pages(p);  // meaningful only if the shrink succeeds
  const BuddyStatus st = a->shrink_exact(p, npages);
  if (st != BuddyStatus::kOk) return st;
  note_unused(before - npages);
  maybe_purge(a);
  return st;
}

size_t PageHeap::exact_pages(const void* p) const {
  const unsigned shift = config_.arena.page_shift;
  if (reinterpret_cast<uintptr_t>(p) & ((uintptr_t{1} << shift) - 1)) return 0;
  if (Arena* a = arena_for(p)) {
    const PageDesc* d = a->page_of(p);
    return d->kind == PageKind::kAllocExact ? d->reserved : 0;
  }
  DirectMapping* d = direct_for(p);
  if (d == nullptr ||
      std::atomic_ref<uintptr_t>(d->base).load(std::memory_order_relaxed) !=
          reinterpret_cast<uintptr_t>(p) ||
      std::atomic_ref<uintptr_t>(d->exact).load(std::memory_order_relaxed) == 0)
    return 0;
  return std::atomic_ref<size_t>(d->size).load(std::memory_order_relaxed) >> shift;
}

// ---- giving memory back ----

void PageHeap::release_idle_arenas(bool require_purged, bool keep_one) {
  if (!config_.release_arenas) return;
  LockGuard guard(&lock_);
  const size_t slots = arena_slots_.load(std::memory_order_relaxed);
  size_t live = 0;
  for (size_t i = 0; i < slots; ++i) live += arena_at(i).live() ? 1 : 0;
  for (size_t i = 0; i < slots; ++i) {
    Arena& a = arena_at(i);
    if (!a.live() || (keep_one && live <= 1)) continue;
    if (!a.retire_if_idle(require_purged)) continue;
    if (in_fast_table(a)) fast_arena::set(a.base(), false);
    map_.clear(a.base(), a.size());
    a.destroy();
    unmapped_bytes_.fetch_add(a.size(), std::memory_order_relaxed);
    --live;
  }
}

size_t PageHeap::purge() {
  const uint64_t now = os::now_ns();
  size_t bytes = 0;
  const size_t slots = arena_slots_.load(std::memory_order_acquire);
  for (size_t i = 0; i < slots; ++i) bytes += arena_at(i).purge(now, 0, true);
  purged_bytes_.fetch_add(bytes, std::memory_order_relaxed);
  release_idle_arenas(/*require_purged=*/false, /*keep_one=*/false);
  return bytes + release_cached(UINT64_MAX);
}

size_t PageHeap::purge_expired(uint64_t now) {
  const uint64_t decay_ns = static_cast<uint64_t>(config_.decay_ms) * 1000000u;
  size_t bytes = 0;
  const size_t slots = arena_slots_.load(std::memory_order_acquire);
  for (size_t i = 0; i < slots; ++i) bytes += arena_at(i).purge(now, decay_ns, false);
  purged_bytes_.fetch_add(bytes, std::memory_order_relaxed);
  release_idle_arenas(/*require_purged=*/true, /*keep_one=*/true);
  // Cached direct mappings freed at least decay_ns ago (now - decay_ns + 1 > freed_ns).
  if (config_.decay_ms >= 0 && cached_bytes_.load(std::memory_order_relaxed) != 0 && now >= decay_ns)
    bytes += release_cached(now - decay_ns + 1);
  return bytes;
}

void PageHeap::maybe_purge(const Arena* a) {
  if (config_.decay_ms < 0) return;
  if (a->dirty_pages_hint() != 0) {
    if (void (*hook)() = dirty_hook_.load(std::memory_order_acquire)) hook();
  }
  run_decay_clock();
}

void PageHeap::run_decay_clock() {
  const uint64_t now = os::now_ns();
  uint64_t due = next_purge_ns_.load(std::memory_order_relaxed);
  if (now < due) return;
  // One thread at a time does the work; the others go on.
  const uint64_t period = static_cast<uint64_t>(config_.decay_ms) * 1000000u / 4;
  if (!next_purge_ns_.compare_exchange_strong(due, now + period, std::memory_order_relaxed))
    return;
  purge_expired(now);
}

// ---- statistics ----

void PageHeap::stats(mk_page_stats* out) const {
  std::memset(out, 0, sizeof *out);
  const size_t slots = arena_slots_.load(std::memory_order_acquire);
  for (size_t i = 0; i < slots; ++i) {
    Arena& a = const_cast<Arena&>(arena_at(i));
    ArenaStats s;
    a.stats(&s);
    if (s.pages == 0) continue;
    out->arenas++;
    out->arena_bytes += s.bytes;
    out->free_pages += s.free_pages;
    out->allocated_pages += s.pages - s.free_pages;
    out->metadata_pages += s.meta_pages;
    out->dirty_pages += s.dirty_pages;
    for (unsigned k = 0; k <= s.max_order && k < MK_NR_PAGE_ORDERS; ++k) out->nr_free[k] += s.nr_free[k];
  }
  out->direct_mappings = direct_count_.load(std::memory_order_relaxed);
  out->direct_bytes = direct_bytes_.load(std::memory_order_relaxed);
  out->purged_bytes = purged_bytes_.load(std::memory_order_relaxed);
  out->unmapped_bytes = unmapped_bytes_.load(std::memory_order_relaxed);
  out->used_bytes = (arena_used_pages_.load(std::memory_order_relaxed) << config_.arena.page_shift) +
                    out->direct_bytes;
  out->peak_used_bytes = peak_used_bytes_.load(std::memory_order_relaxed);
  if (out->peak_used_bytes < out->used_bytes) out->peak_used_bytes = out->used_bytes;
  out->direct_cached = cached_count_.load(std::memory_order_relaxed);
  out->direct_cached_bytes = cached_bytes_.load(std::memory_order_seq_cst);
}

void PageHeap::for_each_arena(void (*fn)(void* ctx, const ArenaStats& stats), void* ctx) const {
  const size_t slots = arena_slots_.load(std::memory_order_acquire);
  for (size_t i = 0; i < slots; ++i) {
    Arena& a = const_cast<Arena&>(arena_at(i));
    if (!a.live()) continue;
    ArenaStats s;
    a.stats(&s);
    if (s.bytes != 0) fn(ctx, s);  // 0: retired meanwhile
  }
}

int PageHeap::format_buddyinfo(char* buf, size_t len) const {
  size_t used = 0;
  int total = 0;
  if (len > 0) buf[0] = '\0';
  const size_t slots = arena_slots_.load(std::memory_order_acquire);
  for (size_t i = 0; i < slots; ++i) {
    Arena& a = const_cast<Arena&>(arena_at(i));
    if (!a.live()) continue;
    const int n = a.format_buddyinfo(len ? buf + used : nullptr, len ? len - used : 0);
    if (n <= 0) continue;
    total += n;
    if (len > 0) used = used + static_cast<size_t>(n) < len ? used + static_cast<size_t>(n) : len - 1;
  }
  return total;
}

// ---- the process's heap ----

namespace {
alignas(PageHeap) unsigned char g_heap_storage[sizeof(PageHeap)];
PageHeap* g_heap = nullptr;
pthread_once_t g_heap_once = PTHREAD_ONCE_INIT;
void make_global_heap() {
  PageHeapConfig config = PageHeapConfig::from_options();
  config.fast_table = true;
  g_heap = new (g_heap_storage) PageHeap(os::system_os(), config);
}
}  // namespace

PageHeap& global_page_heap() {
  pthread_once(&g_heap_once, make_global_heap);
  return *g_heap;
}

}  // namespace memkit
