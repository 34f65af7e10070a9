// memkit — the slab-cache backing of memory pools (src/mempool/mempool_slab.cpp): the
// kernel's mempool_alloc_slab / mempool_free_slab / mempool_create_slab_pool, with pool_data
// the mk_cache_t. The object caches never sleep, so MK_GFP_WAIT means nothing to them and is
// not passed on.
#include <errno.h>

#include "memkit/memkit.h"

extern "C" {

void* mk_mempool_alloc_slab(unsigned gfp, void* cache) {
  return mk_cache_alloc(static_cast<mk_cache_t*>(cache), gfp & ~MK_GFP_WAIT);
}

void mk_mempool_free_slab(void* element, void* cache) {
  mk_cache_free(static_cast<mk_cache_t*>(cache), element);
}

mk_mempool_t* mk_mempool_create_slab_pool(int min_nr, mk_cache_t* cache) {
  if (cache == nullptr) {
    errno = EINVAL;
    return nullptr;
  }
  return mk_mempool_create(min_nr, mk_mempool_alloc_slab, mk_mempool_free_slab, cache);
}

}  // extern "C"
