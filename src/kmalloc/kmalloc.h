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
//   kfree(p)          -> SlabCache::slab_of(p) (arena map + page descriptor, no lock)
//     a slab          -> its cache must be one of the kmalloc caches (their SlabCache objects
//                        live in one static array, so that is a range check) -> cache->free
//     otherwise       -> PageHeap::free_pages_exact (refuses anything else: foreign pointers,
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

#include "kmalloc/size_classes.h"
#include "slab/slab_cache.h"

#if defined(__GNUC__)
#ifndef MK_FAST_PATH
#define MK_FAST_PATH inline __attribute__((always_inline))
#endif
#ifndef MK_SLOW_PATH
#define MK_SLOW_PATH __attribute__((noinline, cold))
#endif
#ifndef MK_LIKELY
#define MK_LIKELY(x) __builtin_expect(!!(x), 1)  // as slab/magazine.h
#endif
#else
#define MK_FAST_PATH inline
#define MK_SLOW_PATH
#define MK_LIKELY(x) (x)
#endif

namespace memkit {

namespace kmalloc_detail {
/// The cache of each class; valid once g_ready is true.
extern SlabCache* g_caches[size_class::kNumClasses];
/// Set (release) when every cache is made.
extern std::atomic<bool> g_ready;
}  // namespace kmalloc_detail

/// Everything that is not a class-sized request on a ready kmalloc: first use, large sizes.
MK_SLOW_PATH void* kmalloc_slow(size_t size, unsigned gfp);

/// size bytes (at least; mk_ksize tells how many), or nullptr with errno = ENOMEM.
/// gfp: MK_GFP_ZERO zeroes every usable byte; other bits are ignored.
MK_FAST_PATH void* kmalloc(size_t size, unsigned gfp) {
  using namespace kmalloc_detail;
  if (MK_LIKELY(size <= size_class::kMaxSize && g_ready.load(std::memory_order_acquire)))
    return g_caches[size_class::size_to_class(size)]->alloc(gfp);
  return kmalloc_slow(size, gfp);
}

/// npages pages aligned to max(align, page size) (align: 0 or a power of two) as a kmalloc
/// block: kfree, ksize and krealloc know it (large blocks, and memalign's). Counted with
/// kmalloc's large blocks. nullptr with errno ENOMEM.
void* kmalloc_pages(size_t npages, size_t align, unsigned gfp);

/// Frees a block of kmalloc (nullptr is ignored). Anything else is a fatal report naming
/// `caller`: a pointer memkit did not hand out, the inside of a block, an object of a user
/// cache, a page block of mk_alloc_pages/mk_vmalloc, a large block freed twice.
void kfree(const void* p, const char* caller);

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

/// Whether c is one of the kmalloc caches (a range check; c may be any pointer).
bool is_kmalloc_cache(const SlabCache* c);
/// The cache of class cls (made on first use), or nullptr if kmalloc could not start.
SlabCache* kmalloc_cache(unsigned cls);

/// The layout the cache of class cls has (or would have) over pages of page_size with slabs of
/// at most 2^max_order pages. 0 or EINVAL.
int kmalloc_class_geometry(unsigned cls, size_t page_size, unsigned max_order, SlabGeometry* out);

}  // namespace memkit
