// memkit — kmalloc's C API (src/kmalloc/kmalloc_capi.cpp): thin forwards to kmalloc.h, which
// name the C call in their fatal reports ("memkit: ERROR: invalid-free mk_kfree 0x... ...").
#include <errno.h>

#include "kmalloc/kmalloc.h"
#include "memkit/memkit.h"

extern "C" {

void* mk_kmalloc(size_t size, unsigned gfp) { return memkit::kmalloc(size, gfp); }

void* mk_kzalloc(size_t size, unsigned gfp) { return memkit::kmalloc(size, gfp | MK_GFP_ZERO); }

void* mk_kcalloc(size_t n, size_t size, unsigned gfp) {
  size_t bytes;
  if (__builtin_mul_overflow(n, size, &bytes)) {
    errno = ENOMEM;
    return nullptr;
  }
  return memkit::kmalloc(bytes, gfp | MK_GFP_ZERO);
}

void* mk_krealloc(void* p, size_t size, unsigned gfp) {
  return memkit::krealloc(p, size, gfp, "mk_krealloc");
}

void mk_kfree(const void* p) { memkit::kfree(p, "mk_kfree"); }

size_t mk_ksize(const void* p) { return memkit::ksize(p, "mk_ksize"); }

}  // extern "C"
