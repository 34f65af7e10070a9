// memkit — the kmalloc backing of memory pools (src/mempool/mempool_kmalloc.cpp): the kernel's
// mempool_kmalloc / mempool_kfree / mempool_create_kmalloc_pool, with pool_data the element
// size cast to a pointer. kmalloc never sleeps, so MK_GFP_WAIT is not passed on.
#include <stdint.h>

#include "memkit/memkit.h"

extern "C" {

void* mk_mempool_kmalloc(unsigned gfp, void* size) {
  return mk_kmalloc(static_cast<size_t>(reinterpret_cast<uintptr_t>(size)), gfp & ~MK_GFP_WAIT);
}

void mk_mempool_kfree(void* element, void* /*size*/) { mk_kfree(element); }

mk_mempool_t* mk_mempool_create_kmalloc_pool(int min_nr, size_t size) {
  return mk_mempool_create(min_nr, mk_mempool_kmalloc, mk_mempool_kfree,
                           reinterpret_cast<void*>(static_cast<uintptr_t>(size)));
}

}  // extern "C"
