// memkit — the object caches' C API (src/slab/slab_capi.cpp), over the process's page heap.
//
// mk_cache_t is a SlabCache, allocated from the bootstrap "kmem_cache" cache.
#include <errno.h>

#include <cstdio>
#include <cstring>
#include <new>

#include "memkit/memkit.h"
#include "slab/registry.h"
#include "slab/slab_cache.h"

using memkit::SlabCache;

struct mk_cache {};  // opaque: the pointer is a SlabCache*

namespace {

SlabCache* from(mk_cache_t* c) { return reinterpret_cast<SlabCache*>(c); }

constexpr unsigned kPublicFlags = MK_SLAB_RED_ZONE | MK_SLAB_POISON | MK_SLAB_HWCACHE_ALIGN;
static_assert(MK_SLAB_RED_ZONE == memkit::kSlabRedZone && MK_SLAB_POISON == memkit::kSlabPoison &&
                  MK_SLAB_HWCACHE_ALIGN == memkit::kSlabHwcacheAlign,
              "C flags and slab flags agree");

struct SlabinfoCtx {
  char* buf;
  size_t len;
  size_t used;
  int total;
};

void append(SlabinfoCtx* ctx, int n) {
  if (n <= 0) return;
  ctx->total += n;
  if (ctx->len == 0) return;
  const size_t room = ctx->len - ctx->used;
  ctx->used += static_cast<size_t>(n) < room ? static_cast<size_t>(n) : room - 1;
}

void slabinfo_line(SlabCache* c, void* arg) {
  SlabinfoCtx* ctx = static_cast<SlabinfoCtx*>(arg);
  append(ctx, c->format_slabinfo(ctx->len ? ctx->buf + ctx->used : nullptr,
                                 ctx->len ? ctx->len - ctx->used : 0));
}

}  // namespace

extern "C" {

mk_cache_t* mk_cache_create(const char* name, size_t size, size_t align, unsigned flags,
                            void (*ctor)(void*)) {
  if ((flags & ~kPublicFlags) != 0) {
    errno = EINVAL;
    return nullptr;
  }
  void* mem = memkit::bootstrap_cache(memkit::Bootstrap::kCache)->alloc(0);
  if (mem == nullptr) {
    errno = ENOMEM;
    return nullptr;
  }
  SlabCache* c = new (mem) SlabCache();
  const int err = c->init(&memkit::global_page_heap(), name, size, align, flags, ctor);
  if (err != 0) {
    memkit::bootstrap_cache(memkit::Bootstrap::kCache)->free(mem, "mk_cache_create");
    errno = err;
    return nullptr;
  }
  return reinterpret_cast<mk_cache_t*>(c);
}

void* mk_cache_alloc(mk_cache_t* cache, unsigned gfp) { return from(cache)->alloc(gfp); }

void mk_cache_free(mk_cache_t* cache, void* obj) {
  if (obj != nullptr) from(cache)->free(obj, "mk_cache_free");
}

size_t mk_cache_shrink(mk_cache_t* cache) { return from(cache)->shrink(); }

int mk_cache_destroy(mk_cache_t* cache) {
  if (cache == nullptr) return 0;
  SlabCache* c = from(cache);
  const int err = c->destroy();
  if (err != 0) return -err;
  c->~SlabCache();
  memkit::bootstrap_cache(memkit::Bootstrap::kCache)->free(c, "mk_cache_destroy");
  return 0;
}

size_t mk_cache_size(const mk_cache_t* cache) {
  return reinterpret_cast<const SlabCache*>(cache)->object_size();
}

int mk_slabinfo(char* buf, size_t len) {
  SlabinfoCtx ctx{buf, len, 0, 0};
  if (len > 0) buf[0] = '\0';
  append(&ctx, std::snprintf(buf, len, "slabinfo - version: 2.1\n"));
  append(&ctx, std::snprintf(len ? buf + ctx.used : nullptr, len ? len - ctx.used : 0,
                             "# name            <active_objs> <num_objs> <objsize> <objperslab> "
                             "<pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : "
                             "slabdata <active_slabs> <num_slabs> <sharedavail>\n"));
  memkit::registry_for_each(slabinfo_line, &ctx);
  return ctx.total;
}

}  // extern "C"
