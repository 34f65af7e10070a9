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
  return c;
}

PageHeap::PageHeap(const os::OsApi& os, const PageHeapConfig& config)
    : os_(&os), config_(config), map_(&os) {}

PageHeap::~PageHeap() {
  const size_t slots = arena_slots_.load(std::memory_order_acquire);
  for (size_t i = 0; i < slots; ++i) {
    Arena& a = arena_at(i);
    if (!a.live()) continue;
    if (uses_fast_table()) fast_arena::set(a.base(), false);
    map_.clear(a.base(), a.size());
    a.retire();
    a.destroy();
  }
  for (size_t i = 0; i < slots; ++i) arena_at(i).~Arena();
  for (DirectMapping* d = live_direct_; d != nullptr; d = d->next) {
    map_.clear(d->base, d->size);
    os_->release(reinterpret_cast<void*>(d->base), d->size);
  }
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

Arena* PageHeap::new_arena_locked() {
  const size_t slots = arena_slots_.load(std::memory_order_relaxed);
  for (size_t i = 0; i <= slots && i < kMaxArenas; ++i) {
    // Slots are constructed when first used: untouched ones cost no memory.
    if (i == slots) new (arena_storage_[i]) Arena();
    Arena& a = arena_at(i);
    if (a.live()) continue;
    if (a.create(os_, config_.arena) != 0) return nullptr;
    if (map_.set(a.base(), a.size(), reinterpret_cast<uintptr_t>(&a)) != 0) {
      a.destroy();  // never live: nobody can have allocated from it
      return nullptr;
    }
    a.publish();
    if (uses_fast_table()) fast_arena::set(a.base(), true);
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
      Arena* a = new_arena_locked();
      if (a != nullptr) p = take(*a);
    }
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
  if (order <= config_.arena.max_order) return alloc_pages(order, gfp);
  return direct_map((bytes + page - 1) & ~(page - 1), /*exact=*/false);
}

void* PageHeap::direct_map(size_t size, bool exact, size_t align) {
  void* mem = nullptr;
  const int err = os_->reserve(size, std::max<size_t>(align, ArenaMap::kChunkSize), &mem);
  if (err != 0) {
    errno = ENOMEM;
    return nullptr;
  }
  LockGuard guard(&lock_);
  DirectMapping* d = new_record_locked();
  if (d != nullptr) {  // filled before the map publishes it
    std::atomic_ref<uintptr_t>(d->base).store(reinterpret_cast<uintptr_t>(mem), std::memory_order_relaxed);
    std::atomic_ref<size_t>(d->size).store(size, std::memory_order_relaxed);
    std::atomic_ref<uintptr_t>(d->exact).store(exact ? 1 : 0, std::memory_order_relaxed);
  }
  if (d == nullptr ||
      map_.set(reinterpret_cast<uintptr_t>(mem), size,
               reinterpret_cast<uintptr_t>(d) | ArenaMap::kDirectTag) != 0) {
    if (d != nullptr) {
      std::atomic_ref<uintptr_t>(d->base).store(0, std::memory_order_relaxed);
      std::atomic_ref<size_t>(d->size).store(0, std::memory_order_relaxed);
      d->next = free_records_;
      free_records_ = d;
    }
    os_->release(mem, size);
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
  return mem;  // fresh from the OS: already zero
}

void PageHeap::unmap_direct_locked(DirectMapping* d) {
  const size_t size = d->size;
  map_.clear(d->base, size);
  os_->release(reinterpret_cast<void*>(d->base), size);
  if (d->prev != nullptr) d->prev->next = d->next; else live_direct_ = d->next;
  if (d->next != nullptr) d->next->prev = d->prev;
  direct_count_.fetch_sub(1, std::memory_order_relaxed);
  direct_bytes_.fetch_sub(size, std::memory_order_relaxed);
  unmapped_bytes_.fetch_add(size, std::memory_order_relaxed);
  std::atomic_ref<uintptr_t>(d->base).store(0, std::memory_order_relaxed);
  std::atomic_ref<size_t>(d->size).store(0, std::memory_order_relaxed);
  d->next = free_records_;
  free_records_ = d;
}

BuddyStatus PageHeap::vfree(void* p) {
  if (p == nullptr) return BuddyStatus::kOk;
  if (arena_for(p) != nullptr) {
    unsigned order;
    const BuddyStatus st = order_of(p, &order);
    if (st != BuddyStatus::kOk) return st;
    return free_pages(p, order);
  }
  LockGuard guard(&lock_);
  DirectMapping* d = direct_for(p);
  if (d == nullptr) return BuddyStatus::kOutOfRange;
  if (d->base != reinterpret_cast<uintptr_t>(p) || d->exact) return BuddyStatus::kNotBlockStart;
  unmap_direct_locked(d);
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
  if (npages > (size_t{1} << config_.arena.max_order)) return direct_map(npages << shift, true);
  const unsigned order = npages <= 1 ? 0 : 64u - static_cast<unsigned>(__builtin_clzll(npages - 1));
  bool zeroed = false;
  void* p = alloc_in_arenas(order, npages, &zeroed);
  if (p == nullptr) {
    errno = ENOMEM;
    return nullptr;
  }
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
  if (npages > (size_t{1} << max_order) || align_order > max_order)
    return direct_map(npages << shift, true, align);  // fresh from the OS: zero
  const unsigned cover = npages <= 1 ? 0 : 64u - static_cast<unsigned>(__builtin_clzll(npages - 1));
  bool zeroed = false;
  void* p = alloc_in_arenas(std::max(cover, align_order), npages, &zeroed);
  if (p == nullptr) {
    errno = ENOMEM;
    return nullptr;
  }
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
  LockGuard guard(&lock_);
  DirectMapping* d = direct_for(p);
  if (d == nullptr) return BuddyStatus::kOutOfRange;
  if (d->base != reinterpret_cast<uintptr_t>(p)) return BuddyStatus::kNotBlockStart;
  if (!d->exact) return BuddyStatus::kWrongOrder;  // a vmalloc block
  unmap_direct_locked(d);
  return BuddyStatus::kOk;
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
    if (uses_fast_table()) fast_arena::set(a.base(), false);
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
  return bytes;
}

size_t PageHeap::purge_expired(uint64_t now) {
  const uint64_t decay_ns = static_cast<uint64_t>(config_.decay_ms) * 1000000u;
  size_t bytes = 0;
  const size_t slots = arena_slots_.load(std::memory_order_acquire);
  for (size_t i = 0; i < slots; ++i) bytes += arena_at(i).purge(now, decay_ns, false);
  purged_bytes_.fetch_add(bytes, std::memory_order_relaxed);
  release_idle_arenas(/*require_purged=*/true, /*keep_one=*/true);
  return bytes;
}

void PageHeap::maybe_purge(const Arena* a) {
  if (config_.decay_ms < 0) return;
  if (a->dirty_pages_hint() != 0) {
    if (void (*hook)() = dirty_hook_.load(std::memory_order_acquire)) hook();
  }
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
