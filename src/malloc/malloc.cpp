// memkit — the malloc layer (src/malloc/malloc.cpp): see malloc.h.
#include "malloc/malloc.h"

#include <errno.h>
#include <stdint.h>

#include <cstring>

#include "arena/page_heap.h"
#include "memkit/memkit.h"
#include "slab/registry.h"

namespace memkit {

size_t malloc_page_size() { return global_page_heap().page_size(); }

void* malloc_sampled(size_t size) {
  if (void* p = guard::sampled_alloc(size, kMallocMinSize, false)) return p;
  if (profile::sample_countdown(size)) return profile::sampled_alloc(size, 0, profile::AllocKind::kMalloc);
  return size <= size_class::kMaxSize ? kmalloc(size < kMallocMinSize ? kMallocMinSize : size, 0)
                                      : kmalloc_slow(size, 0);
}

void* calloc_impl(size_t n, size_t size) {
  size_t bytes;
  if (__builtin_mul_overflow(n, size, &bytes)) {
    errno = ENOMEM;
    return nullptr;
  }
  if (guard::sample_now())  // guard mode (guard.h)
    if (void* p = guard::sampled_alloc(bytes, kMallocMinSize, true)) return p;
  if (profile::sample_countdown(bytes))
    return profile::sampled_alloc(bytes, 0, profile::AllocKind::kCalloc);
  return kmalloc(bytes < kMallocMinSize ? kMallocMinSize : bytes, MK_GFP_ZERO);
}

// realloc of a guarded block (guard mode): a new block (guarded again if sampled), the bytes
// copied, the guarded one freed (its slot made inaccessible).
MK_SLOW_PATH void* realloc_guarded(void* p, size_t size, const char* caller) {
  const size_t old = guard::usable_size(p, caller);  // refuses a freed or inner pointer
  if (size == 0) {
    guard::free(p, caller);
    return nullptr;
  }
  void* q = malloc_impl(size);
  if (q == nullptr) return nullptr;
  std::memcpy(q, p, old < size ? old : size);
  guard::free(p, caller);
  return q;
}

namespace {

// realloc to a class size when the profiler is concerned: the countdown fired (the new block
// is sampled) or p is a sampled block (its table entry goes with the free). Always a move.
void* realloc_moving(void* p, size_t size, bool sample, const char* caller) {
  const size_t old = ksize(p, caller);  // also refuses what kmalloc did not hand out
  void* fresh = sample ? profile::sampled_alloc(size, 0, profile::AllocKind::kMalloc)
                       : kmalloc(size < kMallocMinSize ? kMallocMinSize : size, 0);
  if (fresh == nullptr) return nullptr;  // errno = ENOMEM; p is untouched
  std::memcpy(fresh, p, old < size ? old : size);
  kfree(p, caller);
  return fresh;
}

}  // namespace

void* realloc_impl(void* p, size_t size, const char* caller) {
  if (p == nullptr) return malloc_impl(size);
  if (MK_UNLIKELY(guard::owns(p))) return realloc_guarded(p, size, caller);  // guard mode
  if (size == 0) {
    kfree(p, caller);
    return nullptr;
  }
  const bool sample = profile::sample_countdown(size);
  if (MK_UNLIKELY(sample) || MK_UNLIKELY(profile::is_sampled(p))) {
    if (size <= size_class::kMaxSize) return realloc_moving(p, size, sample, caller);
    // Above the slab limit krealloc's result is whole pages, as a sampled block must be: in
    // place where the block has room (a growing buffer is not copied at every call).
    void* q = krealloc(p, size, 0, caller);
    if (q != nullptr) profile::realloced(p, q, size, sample);
    return q;
  }
  return krealloc(p, size < kMallocMinSize ? kMallocMinSize : size, 0, caller);
}

void* memalign_impl(size_t align, size_t size) {
  if (align > kMallocMinSize && guard::sample_now())  // guard mode (guard.h)
    if (void* p = guard::sampled_alloc(size, align, false)) return p;
  if (align > kMallocMinSize && profile::sample_countdown(size))
    return profile::sampled_alloc(size, align, profile::AllocKind::kMemalign);
  return memalign_unsampled(align, size);
}

void* memalign_unsampled(size_t align, size_t size) {
  if (align <= kMallocMinSize) return malloc_impl(size);
  if (size > static_cast<size_t>(PTRDIFF_MAX)) {
    errno = ENOMEM;
    return nullptr;
  }
  PageHeap& heap = global_page_heap();
  const size_t page = heap.page_size();
  const size_t npages = size == 0 ? 1 : (size + page - 1) / page;
  if (align > page) return kmalloc_pages(npages, align, 0);
  // Powers of two up to the page size are classes aligned to their size.
  const size_t want = size > align ? size : align;
  if (want <= page) {
    const size_t pow2 = size_t{1} << (64 - __builtin_clzll(want - 1));
    return kmalloc(pow2, 0);
  }
  return kmalloc_pages(npages, 0, 0);  // page-aligned; kfree and ksize know it
}

size_t usable_size_impl(const void* p, const char* caller) { return ksize(p, caller); }

struct mallinfo2 mallinfo2_impl() {
  mk_page_stats s;
  mk_get_page_stats(&s);
  const size_t page = malloc_page_size();
  struct mallinfo2 mi = {};
  mi.arena = s.arena_bytes;
  size_t blocks = 0;
  for (size_t n : s.nr_free) blocks += n;
  mi.ordblks = blocks;
  mi.hblks = s.direct_mappings;
  mi.hblkhd = s.direct_bytes;
  mi.uordblks = s.allocated_pages * page + s.direct_bytes;
  mi.fordblks = s.free_pages * page;
  mi.keepcost = s.dirty_pages * page + s.direct_cached_bytes;
  return mi;
}

struct mallinfo mallinfo_impl() {
  const struct mallinfo2 m = mallinfo2_impl();
  auto clamp = [](size_t v) { return v > INT32_MAX ? INT32_MAX : static_cast<int>(v); };
  struct mallinfo mi = {};
  mi.arena = clamp(m.arena);
  mi.ordblks = clamp(m.ordblks);
  mi.hblks = clamp(m.hblks);
  mi.hblkhd = clamp(m.hblkhd);
  mi.uordblks = clamp(m.uordblks);
  mi.fordblks = clamp(m.fordblks);
  mi.keepcost = clamp(m.keepcost);
  return mi;
}

bool memalign_alignment(size_t* align) {
  const size_t a = *align;
  if (a > SIZE_MAX / 2 + 1) {
    errno = EINVAL;
    return false;
  }
  if ((a & (a - 1)) != 0 || a == 0) *align = a <= 1 ? 1 : size_t{1} << (64 - __builtin_clzll(a - 1));
  return true;
}

bool pvalloc_size(size_t size, size_t* rounded) {
  const size_t page = malloc_page_size();
  if (size > SIZE_MAX - page) {
    errno = ENOMEM;
    return false;
  }
  *rounded = size == 0 ? page : (size + page - 1) & ~(page - 1);
  return true;
}

bool trim_impl() {
  const size_t cached = kmalloc_large_cached_bytes();
  kmalloc_flush_large_cache();  // this thread's; others keep theirs (512 KiB a thread at most)
  size_t pages = cached != kmalloc_large_cached_bytes() ? 1 : 0;
  for (unsigned c = 0; c < size_class::kNumClasses; ++c)
    if (SlabCache* cache = kmalloc_cache(c)) pages += cache->shrink();
  const size_t purged = global_page_heap().purge();
  return pages != 0 || purged != 0;
}

}  // namespace memkit

// ---- the prefixed C API ----

extern "C" {

void* mk_malloc(size_t size) { return memkit::malloc_impl(size); }
void mk_free(void* p) { memkit::free_impl(p, "mk_free"); }
void* mk_calloc(size_t n, size_t size) { return memkit::calloc_impl(n, size); }
void* mk_realloc(void* p, size_t size) { return memkit::realloc_impl(p, size, "mk_realloc"); }
void* mk_aligned_alloc(size_t align, size_t size) {
  if (align == 0 || (align & (align - 1)) != 0) {
    errno = EINVAL;
    return nullptr;
  }
  return memkit::memalign_impl(align, size);
}
int mk_posix_memalign(void** out, size_t align, size_t size) {
  if (align < sizeof(void*) || (align & (align - 1)) != 0) return EINVAL;
  const int saved = errno;
  void* p = memkit::memalign_impl(align, size);
  if (p == nullptr) {
    const int err = errno;
    errno = saved;
    return err != 0 ? err : ENOMEM;
  }
  *out = p;
  return 0;
}
size_t mk_malloc_usable_size(const void* p) {
  return memkit::usable_size_impl(p, "mk_malloc_usable_size");
}
int mk_malloc_trim(void) { return memkit::trim_impl() ? 1 : 0; }

}  // extern "C"
