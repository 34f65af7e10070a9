// memkit — the malloc layer (src/malloc/malloc.h): malloc semantics over kmalloc
//
//   malloc(n)            -> kmalloc(max(n, 16)): the 8-byte class is never used, so every
//                           result is 16-byte aligned (glibc's guarantee on x86-64); size 0 is a
//                           unique 16-byte object
//   free(p)              -> kfree (a fatal report for anything memkit did not hand out)
//   realloc(p, n)        -> krealloc: in place while n fits the block and the block is not
//                           much too big for it (see kmalloc.h); n == 0 frees (glibc)
//   memalign(a, n)       -> a <= 16: malloc; a <= page: the power-of-two class of max(n, a)
//                           (naturally aligned up to the page size), else exact pages; a > page:
//                           exact pages cut from a block (or a direct mapping) aligned to a
//   calloc(n, s)         -> kmalloc(n * s, MK_GFP_ZERO) (pages fresh from the OS skip the
//                           memset); overflow -> ENOMEM
//
// Every entry point takes the name of the public call it serves, for the fatal reports.
// The prefixed C API (mk_malloc ...) is in memkit.h; the unprefixed malloc/free/operator new
// that replace the C library's are in override/ (libmemkit.so and libmemkit_malloc.a only).
#pragma once

#include <errno.h>
#include <malloc.h>
#include <stddef.h>

#include "kmalloc/kmalloc.h"
#include "malloc/guard.h"
#include "profile/profile.h"

namespace memkit {

inline constexpr size_t kMallocMinSize = 16;  // and the minimum alignment

/// malloc_impl's sampled allocation (guard mode, guard.h): a guarded block, else the rest of
/// malloc_impl (the profiler's countdown included: its first-call arming must not skip one).
MK_SLOW_PATH void* malloc_sampled(size_t size);

/// The fast path is the profiler's countdown (profile.h: one subtraction and a branch never
/// taken), the guard mode's (guard.h: one decrement and a branch never taken while it is off)
/// and kmalloc's pop, with malloc's own class lookup (16-byte steps, so that the 16-byte
/// minimum costs nothing); everything else is kmalloc_slow.
MK_FAST_PATH void* malloc_impl(size_t size) {
  if (guard::sample_now()) return malloc_sampled(size);  // guard mode (guard.h): one decrement
  if (profile::sample_countdown(size)) return profile::sampled_alloc(size, 0, profile::AllocKind::kMalloc);
  static_assert(kMallocMinSize == 16, "malloc_class_index maps sizes below 16 to 16");
  if (MK_LIKELY(size <= size_class::kMaxSize))
    return kmalloc_pop(size_class::malloc_class_index(size),
                       [=] { return kmalloc_slow(size < kMallocMinSize ? kMallocMinSize : size, 0); });
  return kmalloc_slow(size, 0);
}
void* calloc_impl(size_t n, size_t size);
void* realloc_impl(void* p, size_t size, const char* caller);
/// align: a power of two (callers check their own rules first).
void* memalign_impl(size_t align, size_t size);
/// memalign_impl without the profiler's countdown (its sampled_alloc's plain case).
void* memalign_unsampled(size_t align, size_t size);
inline void free_impl(void* p, const char* caller) { kfree(p, caller); }
size_t usable_size_impl(const void* p, const char* caller);
/// Empty slabs of the kmalloc caches back to the page heap, free pages back to the OS.
/// True if any memory went back.
bool trim_impl();
/// The page size of the heap under malloc.
size_t malloc_page_size();

/// The argument rules both override libraries apply before allocating (glibc's):
/// memalign rounds an alignment that is not a power of two up to one; false, with errno
/// EINVAL, if there is none (align above 2^63).
bool memalign_alignment(size_t* align);
/// pvalloc's size, rounded up to whole pages (one page for 0); false, with errno ENOMEM, if
/// that overflows.
bool pvalloc_size(size_t size, size_t* rounded);
/// aligned_alloc's rule: false, with errno EINVAL, for an alignment that is not a power of two.
inline bool aligned_alloc_alignment(size_t align) {
  if (align != 0 && (align & (align - 1)) == 0) return true;
  errno = EINVAL;
  return false;
}
/// posix_memalign around alloc(align, size) (a block or nullptr): EINVAL for an alignment that
/// is not a power of two multiple of sizeof(void*), ENOMEM when alloc fails; errno untouched.
template <typename Alloc>
int posix_memalign_with(void** out, size_t align, size_t size, Alloc alloc) {
  if (align == 0 || (align & (align - 1)) != 0 || align % sizeof(void*) != 0) return EINVAL;
  const int saved = errno;
  void* p = alloc(align, size);
  if (p == nullptr) {
    errno = saved;
    return ENOMEM;
  }
  *out = p;
  return 0;
}

/// mallinfo2() and mallinfo() of the heap (both override libraries export them): arena =
/// bytes reserved for arenas, ordblks = free buddy blocks, hblks/hblkhd = direct mappings,
/// uordblks = pages handed out (slabs included) and direct bytes, fordblks = free arena pages,
/// keepcost = free memory not given back yet (dirty pages, cached direct mappings); mallinfo's
/// int fields are clamped to INT_MAX.
struct mallinfo2 mallinfo2_impl();
struct mallinfo mallinfo_impl();

}  // namespace memkit
