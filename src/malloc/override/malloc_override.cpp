// memkit — the C library's allocation functions, replaced (src/malloc/override/malloc_override.cpp)
//
// Compiled only into libmemkit.so (for LD_PRELOAD) and libmemkit_malloc.a (to link statically),
// never into libmemkit.a, whose users keep their C library's malloc and call mk_malloc.
// Semantics are glibc's where C and POSIX leave room (see malloc/malloc.h for the data path).
#include <errno.h>
#include <malloc.h>
#include <stddef.h>
#include <stdint.h>

#include "malloc/lifecycle.h"
#include "malloc/malloc.h"
#include "memkit/memkit.h"
#include "stats/report.h"

#define MK_EXPORT extern "C" __attribute__((visibility("default")))

MK_EXPORT void* malloc(size_t size) { return memkit::malloc_impl(size); }

MK_EXPORT void free(void* p) { memkit::free_impl(p, "free"); }

MK_EXPORT void cfree(void* p) { memkit::free_impl(p, "cfree"); }

MK_EXPORT void* calloc(size_t n, size_t size) { return memkit::calloc_impl(n, size); }

MK_EXPORT void* realloc(void* p, size_t size) { return memkit::realloc_impl(p, size, "realloc"); }

MK_EXPORT void* reallocarray(void* p, size_t n, size_t size) {
  size_t bytes;
  if (__builtin_mul_overflow(n, size, &bytes)) {
    errno = ENOMEM;
    return nullptr;
  }
  return memkit::realloc_impl(p, bytes, "reallocarray");
}

MK_EXPORT void* aligned_alloc(size_t align, size_t size) {
  if (!memkit::aligned_alloc_alignment(align)) return nullptr;
  return memkit::memalign_impl(align, size);
}

MK_EXPORT int posix_memalign(void** out, size_t align, size_t size) {
  return memkit::posix_memalign_with(out, align, size,
                                     [](size_t a, size_t n) { return memkit::memalign_impl(a, n); });
}

// glibc: an alignment that is not a power of two is rounded up to one.
MK_EXPORT void* memalign(size_t align, size_t size) {
  if (!memkit::memalign_alignment(&align)) return nullptr;
  return memkit::memalign_impl(align, size);
}

MK_EXPORT void* valloc(size_t size) {
  return memkit::memalign_impl(memkit::malloc_page_size(), size);
}

MK_EXPORT void* pvalloc(size_t size) {
  size_t rounded;
  if (!memkit::pvalloc_size(size, &rounded)) return nullptr;
  return memkit::memalign_impl(memkit::malloc_page_size(), rounded);
}

MK_EXPORT size_t malloc_usable_size(void* p) {
  return memkit::usable_size_impl(p, "malloc_usable_size");
}

MK_EXPORT int malloc_trim(size_t /*pad*/) { return memkit::trim_impl() ? 1 : 0; }

MK_EXPORT void malloc_stats(void) { memkit::write_report(2, /*json=*/false); }

// Every parameter is accepted, as glibc accepts its own: 1 is success.
MK_EXPORT int mallopt(int /*param*/, int /*value*/) { return 1; }

MK_EXPORT struct mallinfo2 mallinfo2(void) { return memkit::mallinfo2_impl(); }

MK_EXPORT struct mallinfo mallinfo(void) { return memkit::mallinfo_impl(); }

// The library's start-up and exit report (malloc/lifecycle.cpp).
__attribute__((constructor)) static void memkit_malloc_init() { memkit::malloc_library_start(); }

__attribute__((destructor)) static void memkit_report_at_exit() { memkit::malloc_library_exit(); }
