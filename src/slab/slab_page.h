// memkit — a slab's metadata in its head page descriptor (src/slab/slab_page.h)
//
// SLUB keeps a slab's state in its struct page; memkit does the same with PageDesc::slab:
//
//   slab[0]  SlabCache*          the owning cache
//   slab[1]  void*               head of the slab's free list (objects link through their
//                                free pointer, encoded)
//   slab[2]  inuse | colour<<32  objects out of the slab, and the colour offset in bytes
//   slab[3]  PageDesc*           next slab on the cache's partial/full/empty list
//   slab[4]  PageDesc*           previous slab
//
// The slab's other pages say kSlabTail with the slab's order, so an object's page leads to the
// head by masking the address: slab blocks are naturally aligned (buddy blocks in an arena
// that is aligned to its size).
#pragma once

#include <atomic>
#include <cstdint>

#include "arena/page_desc.h"

namespace memkit {

class SlabCache;

namespace slab_page {

inline SlabCache* cache(const PageDesc* d) { return reinterpret_cast<SlabCache*>(d->slab[0]); }
inline void set_cache(PageDesc* d, SlabCache* c) { d->slab[0] = reinterpret_cast<uintptr_t>(c); }
inline void* freelist(const PageDesc* d) { return reinterpret_cast<void*>(d->slab[1]); }
inline void set_freelist(PageDesc* d, void* p) { d->slab[1] = reinterpret_cast<uintptr_t>(p); }
// slab[2] is written under the cache lock (inuse changes) but its colour half is read without
// it, by any thread freeing an object of the slab (is_object_start): relaxed atomic accesses,
// plain moves on x86, keep that a non-race.
inline uint64_t counts(const PageDesc* d) {
  return std::atomic_ref<uintptr_t>(const_cast<uintptr_t&>(d->slab[2]))
      .load(std::memory_order_relaxed);
}
inline uint32_t inuse(const PageDesc* d) { return static_cast<uint32_t>(counts(d)); }
inline uint32_t colour(const PageDesc* d) { return static_cast<uint32_t>(counts(d) >> 32); }
inline void set_counts(PageDesc* d, uint32_t inuse_objs, uint32_t colour_bytes) {
  std::atomic_ref<uintptr_t>(d->slab[2]).store((uint64_t{colour_bytes} << 32) | inuse_objs,
                                               std::memory_order_relaxed);
}
inline PageDesc* next(const PageDesc* d) { return reinterpret_cast<PageDesc*>(d->slab[3]); }
inline PageDesc* prev(const PageDesc* d) { return reinterpret_cast<PageDesc*>(d->slab[4]); }
inline void set_next(PageDesc* d, PageDesc* n) { d->slab[3] = reinterpret_cast<uintptr_t>(n); }
inline void set_prev(PageDesc* d, PageDesc* p) { d->slab[4] = reinterpret_cast<uintptr_t>(p); }

}  // namespace slab_page
}  // namespace memkit
