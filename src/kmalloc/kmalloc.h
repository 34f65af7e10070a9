// memkit — kmalloc: general-purpose memory in size classes (src/kmalloc/kmalloc.h)
//
// The kernel's kmalloc over memkit's slab caches and page heap:
//
//   kmalloc(size)
//     size <= 32 KiB  -> size_to_class (one table load) -> that class's SlabCache "kmalloc-N"
//                        -> the calling thread's magazine (fast path: a pop)
//     size <= 4 MiB   -> PageHeap::alloc_pages_exact(ceil(size / page)): the covering buddy
//                        block with its unused tail given straight back (alloc_pages_exact)
//     larger          -> a direct mapping of whole pages (the vmalloc analogue)
//
//   kfree(p)          -> the fast arena table, then p's page descriptor (fast_index_of) says
//                        the class and where the slab's objects are (PageDesc::slab_id ...),
//                        so that p is checked to start an object -> a push on the magazine
//     otherwise       -> kfree_slow: SlabCache::slab_of(p) (arena map + page descriptor)
//       a slab        -> its cache must be one of the kmalloc caches (their SlabCache objects
//                        live in one static array, so that is a range check) -> cache->free
//       otherwise     -> PageHeap::free_pages_exact (refuses anything else: foreign pointers,
//                        interiors, blocks of mk_alloc_pages / mk_vmalloc, double frees)
//
// The caches are made once (pthread_once) in static storage over global_page_heap(), with
// magazines, and show in mk_slabinfo as kmalloc-8 ... kmalloc-32768. Classes that are powers
// of two up to the page size are naturally aligned (their caches have align = size); every
// class from 16 B up is a multiple of 16 and 16-byte aligned (see size_classes.h).
//
// Every entry point takes the name of the public call it serves (`caller`), so that the
// malloc layer built on this reports "free" where the C API reports "mk_kfree".
#pragma once

#include <atomic>
#include <cstddef>

#include "arena/arena_map.h"
#include "kmalloc/size_classes.h"
#include "slab/magazine.h"
#include "slab/slab_cache.h"

#if defined(__GNUC__)
#ifndef MK_FAST_PATH
#define MK_FAST_PATH inline __attribute__((always_inline))
#endif
#ifndef MK_SLOW_PATH
#define MK_SLOW_PATH __attribute__((noinline, cold))
#endif
#else
#define MK_FAST_PATH inline
#define MK_SLOW_PATH
#endif

namespace memkit {

/// kmalloc's class cls is the SlabCache with registry index cls + 1 (reserved indices), so a
/// thread's CpuCache for it is t_hot.cache->first[cls + 1]. Index 0 is never given to any
/// cache: first[0] stays a sentinel (no rounds, no room), which kfree's fast path relies on.
constexpr unsigned class_index(unsigned cls) { return cls + 1; }

/// Everything but a pop from a loaded magazine: first use, empty magazines, MK_GFP_ZERO,
/// large sizes.
MK_SLOW_PATH void* kmalloc_slow(size_t size, unsigned gfp);

/// A pop from this thread's magazine of cache `index` (kmalloc's), or slow() if it has no
/// rounds: a sentinel (kmalloc not made yet, or no magazine loaded for the class) or empty.
template <typename Slow>
MK_FAST_PATH void* kmalloc_pop(unsigned index, Slow slow) {
  CpuCache& cc = t_hot.cache->first[index];
  const uint32_t rounds = cc.rounds;
  if (MK_UNLIKELY(rounds == 0)) return slow();
  cc.rounds = rounds - 1;
  ++cc.allocs;
  void* obj = cc.loaded->slots[rounds - 1];
  *static_cast<uintptr_t*>(obj) = 0;  // the free key's word (slab_cache.h): in use now
  return obj;
}

/// size bytes (at least; mk_ksize tells how many), or nullptr with errno = ENOMEM.
/// gfp: MK_GFP_ZERO zeroes every usable byte; other bits are ignored.
MK_FAST_PATH void* kmalloc(size_t size, unsigned gfp) {
  if (MK_LIKELY(size <= size_class::kMaxSize && (gfp & MK_GFP_ZERO) == 0))
    return kmalloc_pop(class_index(size_class::size_to_class(size)),
                       [=] { return kmalloc_slow(size, gfp); });
  return kmalloc_slow(size, gfp);
}

/// The descriptor of the page at a, which lies in one of the heap's arenas
/// (fast_arena::contains): the descriptor array starts at the arena's base, 64 bytes a page.
MK_FAST_PATH const PageDesc* fast_page_desc(uintptr_t a) {
  const uintptr_t base = a & ~((uintptr_t{1} << fast_arena::kShift) - 1);
  const uintptr_t page_bytes = (a >> (fast_arena::kPageShift - 6)) &
                               (((uintptr_t{1} << fast_arena::kShift) - 1) >> 6) & ~uintptr_t{63};
  return reinterpret_cast<const PageDesc*>(base + page_bytes);
}

/// Whether p starts an object of the slab whose page descriptor is d, from the slab_* words
/// (meaningful only when d->slab_id != 0): its offset from the first object, in 32 bits
/// (slab_first is that object's address mod 2^32, and an address before it wraps and fails the
/// span check), lies within the objects and is a multiple of the slot size.
MK_FAST_PATH bool fast_is_object_start(const PageDesc* d, uintptr_t a) {
  const uint32_t obj = static_cast<uint32_t>(a) - d->slab_first;
  return obj < d->slab_span && uint64_t{obj} * d->slab_div < d->slab_div;
}

/// The cache index (class + 1) of the kmalloc object p starts, or 0 if p is not the start of
/// an object of a kmalloc slab.
MK_FAST_PATH unsigned fast_index_of(const void* p) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  if (!fast_arena::contains(a)) return 0;
  const PageDesc* d = fast_page_desc(a);
  if (d->slab_id == 0 || !fast_is_object_start(d, a)) return 0;
  return d->slab_id;
}

/// Called by kfree's slow path with every block that is not a slab object, before it is freed,
/// when set (the heap profiler's: its sampled blocks are such blocks; profile/profile.h).
using LargeFreeHook = void (*)(const void* p);
extern std::atomic<LargeFreeHook> g_large_free_hook;

/// kfree for everything but a push on a magazine with room: nullptr, full magazines, large
/// blocks, and the reports for pointers kmalloc did not hand out.
__attribute__((noinline)) void kfree_slow(const void* p, const char* caller);

/// npages pages aligned to max(align, page size) (align: 0 or a power of two) as a kmalloc
/// block: kfree, ksize and krealloc know it (large blocks, and memalign's). Counted with
/// kmalloc's large blocks. nullptr with errno ENOMEM.
void* kmalloc_pages(size_t npages, size_t align, unsigned gfp);

/// Frees a block of kmalloc (nullptr is ignored). Anything else is a fatal report naming
/// `caller`: a pointer memkit did not hand out, the inside of a block, an object of a user
/// cache, a page block of mk_alloc_pages/mk_vmalloc, a large block freed twice.
///
/// The fast path reads p's page descriptor and pushes p on the magazine of the cache it names,
/// without testing slab_id: on a page that is not a kmalloc slab's it is 0, and first[0] is
/// the sentinel, whose magazine has no room, so the slow path sorts it out. Only then, p known
/// to start an object of a live kmalloc slab, its first word is read: the free key there
/// (g_free_key, see slab_cache.h) sends the free to the slow path, which looks for p among the
/// free objects and reports a double free if it finds it; otherwise the key is written.
MK_FAST_PATH void kfree(const void* p, const char* caller) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  if (MK_LIKELY(fast_arena::contains(a))) {
    const PageDesc* d = fast_page_desc(a);
    if (MK_LIKELY(fast_is_object_start(d, a))) {
      CpuCache& cc = t_hot.cache->first[d->slab_id];
      const uint32_t rounds = cc.rounds;
      uintptr_t* key = reinterpret_cast<uintptr_t*>(a);
      const uintptr_t k = g_free_key;
      if (MK_LIKELY(rounds < cc.capacity) && MK_LIKELY(*key != k)) {
        *key = k;
        cc.loaded->slots[rounds] = const_cast<void*>(p);
        ++cc.rounds;  // one add to memory: rounds is not needed again
        ++cc.frees;
        return;
      }
    }
  }
  kfree_slow(p, caller);
}

/// Blocks that the layer above hands out from an address range of its own (the malloc layer's
/// guard mode, malloc/guard.h): kfree_slow and ksize pass a pointer in [lo, lo + span) to these
/// (a range check on their slow paths; span 0: none). Set once, before any such block exists.
struct ForeignBlocks {
  uintptr_t lo;
  size_t span;
  void (*free)(const void* p, const char* caller);
  size_t (*size)(const void* p, const char* caller);
};
void set_foreign_blocks(const ForeignBlocks& f);

/// The usable bytes of a kmalloc block (0 for nullptr); a fatal report for anything else.
size_t ksize(const void* p, const char* caller);

/// The kernel's krealloc. nullptr -> kmalloc; size 0 -> kfree, nullptr. In place when size
/// fits the block, unless the block is much too big for it (a class object more than twice
/// the new size's class, a direct mapping more than twice the new size, a large block for a
/// class-sized request); a large arena block shrinks in place by giving its tail pages back.
/// Otherwise a new block gets min(ksize, size) bytes and p is freed. On failure to grow,
/// nullptr (errno ENOMEM) and p is untouched; a shrink never fails (if the smaller block cannot
/// be had, p stays). MK_GFP_ZERO: the kernel's __GFP_ZERO rule — the new
/// block is allocated zeroed, and an in-place resize zeroes the bytes between size and the
/// usable end, so that if every call for a block passes MK_GFP_ZERO, any grown part reads zero.
void* krealloc(const void* p, size_t size, unsigned gfp, const char* caller);

/// Gives the calling thread's cached large blocks back to the page heap (malloc_trim).
void kmalloc_flush_large_cache();
/// Bytes of freed large blocks that threads' caches hold (allocated in the page heap, not in
/// use by the program).
size_t kmalloc_large_cached_bytes();

/// Whether c is one of the kmalloc caches (a range check; c may be any pointer).
bool is_kmalloc_cache(const SlabCache* c);
/// The cache of class cls (made on first use), or nullptr if kmalloc could not start.
SlabCache* kmalloc_cache(unsigned cls);

/// The layout the cache of class cls has (or would have) over pages of page_size with slabs of
/// at most 2^max_order pages. 0 or EINVAL.
int kmalloc_class_geometry(unsigned cls, size_t page_size, unsigned max_order, SlabGeometry* out);

}  // namespace memkit
