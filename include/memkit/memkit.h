/* memkit — the C API (include/memkit/memkit.h)
 *
 * The kernel's page allocator interface, in user space, with the kernel's names and argument
 * order. Blocks come from memkit's page heap: arenas of buddy-managed pages, with blocks beyond
 * the maximum order (MK_MAX_PAGE_ORDER) mapped directly (the vmalloc analogue).
 *
 *   void *p = mk_alloc_pages(MK_GFP_ZERO, 2);    // 4 pages, zeroed
 *   ...
 *   mk_free_pages(p, 2);                          // same order as allocated
 *
 * Failure: the allocating calls return NULL (mk_get_free_pages: 0) with errno = ENOMEM (or
 * EINVAL for an order above MK_MAX_PAGE_ORDER). Freeing a pointer memkit did not hand out, a
 * double free or a wrong order prints "memkit: ERROR: ..." on stderr and aborts.
 * All functions are thread-safe. Tunables come from MEMKIT_OPTIONS (`memkit options`).
 */
#ifndef MEMKIT_MEMKIT_H
#define MEMKIT_MEMKIT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Allocation flags (the kernel's gfp_t, the part that makes sense in user space). */
#define MK_GFP_KERNEL 0u        /* the default: may take time, may map more memory */
#define MK_GFP_ZERO 0x100u      /* zero the memory (skipped for pages fresh from the OS) */

/* Page orders: a block of order k is 2^k pages; 0 .. MK_MAX_PAGE_ORDER (inclusive). */
#define MK_MAX_PAGE_ORDER 10
#define MK_NR_PAGE_ORDERS (MK_MAX_PAGE_ORDER + 1)

/* The page size memkit's page heap uses (the kernel's). */
size_t mk_page_size(void);

/* 2^order contiguous pages, aligned to their size. NULL + errno on failure. */
void *mk_alloc_pages(unsigned gfp, unsigned order);
/* Frees a block from mk_alloc_pages with the order it was allocated with. NULL is ignored. */
void mk_free_pages(void *p, unsigned order);
/* The same as an address (0 on failure), and its free. */
unsigned long mk_get_free_pages(unsigned gfp, unsigned order);
void mk_free_pages_addr(unsigned long addr, unsigned order);
/* The order of the allocated page block at p, or -1 if p is not the start of one. */
int mk_page_order(const void *p);

/* size bytes, rounded up to whole pages; any size (huge ones are mapped directly). Not
 * physically contiguous in the kernel; here always virtually contiguous. */
void *mk_vmalloc(size_t size);
void *mk_vzalloc(size_t size);
void mk_vfree(void *p);

/* Gives free page blocks back to the OS now, regardless of the decay time.
 * Returns the number of bytes given back. */
size_t mk_purge(void);

/* Page heap statistics. */
struct mk_page_stats {
  size_t arenas;              /* arenas mapped now */
  size_t arena_bytes;         /* bytes reserved for them */
  size_t free_pages;          /* free pages in the arenas' buddies */
  size_t allocated_pages;     /* pages handed out from the arenas (metadata excluded) */
  size_t metadata_pages;      /* pages the arenas keep for descriptors and bitmaps */
  size_t dirty_pages;         /* free pages waiting for the decay time to go back to the OS */
  size_t direct_mappings;     /* live mk_vmalloc/huge blocks mapped directly */
  size_t direct_bytes;
  size_t purged_bytes;        /* bytes given back with madvise (decay or mk_purge) so far */
  size_t unmapped_bytes;      /* bytes unmapped so far: idle arenas and freed direct mappings */
  size_t nr_free[MK_NR_PAGE_ORDERS]; /* free blocks per order, over all arenas */
};
void mk_get_page_stats(struct mk_page_stats *out);

/* The /proc/buddyinfo lines of memkit's arenas ("Node 0, zone   memkit ..."), one per arena,
 * into buf (NUL-terminated, truncated to len). Returns the length needed (like snprintf). */
int mk_buddyinfo(char *buf, size_t len);

/* ---- Object caches (the kernel's kmem_cache; Bonwick's slab allocator) ----
 *
 * A cache hands out objects of one size, carved from slabs (buddy blocks of the page heap)
 * with no header in front of them, through a per-thread magazine layer: alloc and free are a
 * pop and a push on the calling thread's magazine, and any thread may free any object.
 *
 * Constructor semantics (Bonwick): ctor, if given, runs once per object when the object first
 * enters a slab (when the cache grows), NOT on every mk_cache_alloc. Objects must be freed in
 * their constructed state, and mk_cache_alloc returns them in that state. MK_GFP_ZERO zeroes
 * the object after (and so defeats) construction. MK_SLAB_POISON does not poison objects of a
 * cache with a ctor, since their state must survive while they are free.
 *
 * Debugging flags: MK_SLAB_POISON fills free objects with 0x6b (last byte 0xa5), checks the
 * pattern on alloc (use after free) and hands objects out filled with 0x5a (POISON_INUSE); MK_SLAB_RED_ZONE puts guard bytes around each object and
 * checks them on free (overflow, underflow) and on alloc. A violation prints one line
 * "memkit: ERROR: <kind> <function> <object> cache NAME (object size N): <what>" and aborts.
 */
typedef struct mk_cache mk_cache_t;

#define MK_SLAB_RED_ZONE 0x0400u      /* guard bytes around each object */
#define MK_SLAB_POISON 0x0800u        /* poison free objects, check on alloc */
#define MK_SLAB_HWCACHE_ALIGN 0x2000u /* align objects to a cache line (or half, quarter, ...) */

/* A cache named `name` (1 to 31 characters, no whitespace: shown by slabinfo) of objects of `size` bytes
 * aligned to `align` (0: the minimum, 8; else a power of two up to the page size).
 * NULL with errno = EINVAL (bad argument) or ENOSPC (too many caches) or ENOMEM. */
mk_cache_t *mk_cache_create(const char *name, size_t size, size_t align, unsigned flags,
                            void (*ctor)(void *));
/* An object, or NULL with errno = ENOMEM. gfp: MK_GFP_ZERO. */
void *mk_cache_alloc(mk_cache_t *cache, unsigned gfp);
/* Frees an object of this cache (NULL is ignored). A pointer that is not an object of the
 * cache is a fatal report. */
void mk_cache_free(mk_cache_t *cache, void *obj);
/* Gives back the calling thread's cached objects, the cache's depot and every empty slab.
 * Returns the number of pages given back to the page heap. */
size_t mk_cache_shrink(mk_cache_t *cache);
/* Destroys the cache and returns 0. No other thread may use the cache during the call. If
 * objects are still allocated, prints "memkit: warning: N objects remaining in cache NAME ..."
 * and returns -EBUSY; the cache stays usable. NULL returns 0. */
int mk_cache_destroy(mk_cache_t *cache);
/* The object size the cache was created with. */
size_t mk_cache_size(const mk_cache_t *cache);

/* /proc/slabinfo (version 2.1) for memkit's caches: the two header lines, then one line per
 * cache. NUL-terminated, truncated to len; returns the length needed (like snprintf). */
int mk_slabinfo(char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* MEMKIT_MEMKIT_H */
