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
  size_t unmapped_bytes;      /* bytes unmapped so far: idle arenas and direct mappings (freed ones once out of the cache) */
  size_t nr_free[MK_NR_PAGE_ORDERS]; /* free blocks per order, over all arenas */
  size_t used_bytes;          /* handed out now: arena pages + direct mappings */
  size_t peak_used_bytes;     /* the most used_bytes has been */
  size_t direct_cached;       /* freed direct mappings kept committed for reuse (decay_ms) */
  size_t direct_cached_bytes; /* their bytes: neither used nor given back yet */
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
 * Debugging flags: MK_SLAB_POISON fills free objects with 0x6b (last byte 0xa5) and checks the
 * pattern on alloc (use after free); MK_SLAB_RED_ZONE puts guard bytes around each object and
 * checks them on free (overflow, underflow) and on alloc. A violation prints one line
 * "memkit: ERROR: <kind> <function> <object> cache NAME (object size N): <what>" and aborts.
 */
typedef struct mk_cache mk_cache_t;

#define MK_SLAB_RED_ZONE 0x0400u      /* guard bytes around each object */
#define MK_SLAB_POISON 0x0800u        /* poison free objects, check on alloc */
#define MK_SLAB_HWCACHE_ALIGN 0x2000u /* align objects to a cache line (or half, quarter, ...) */

/* A cache named `name` (at most 31 characters, shown by slabinfo) of objects of `size` bytes
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

/* ---- kmalloc: general-purpose memory in size classes ----
 *
 * Requests up to MK_KMALLOC_MAX_CACHE_SIZE come from the kmalloc-N object caches (classes from
 * 8 B, spaced so that the rounding waste above 64 B is at most 25 % of the request; `memkit
 * sizeclasses` prints the table); larger ones from the page heap rounded up to whole pages
 * (the unused tail of the buddy block goes back, as the kernel's alloc_pages_exact does); those
 * beyond the largest buddy order are mapped directly. Every result is aligned to at least 8
 * bytes (16 from 16 bytes up, the class size for powers of two up to the page size, the page
 * size for large blocks).
 *
 *   struct msg *m = mk_kzalloc(sizeof *m + len, MK_GFP_KERNEL);   // zeroed
 *   m = mk_krealloc(m, sizeof *m + 2 * len, 0);                    // NULL: m is untouched
 *   mk_kfree(m);
 *
 * A pointer mk_kmalloc did not hand out (the inside of a block, an object of a mk_cache_create
 * cache, a block of mk_alloc_pages or mk_vmalloc, a large block freed twice) passed to mk_kfree,
 * mk_ksize or mk_krealloc prints "memkit: ERROR: invalid-free mk_kfree 0x... <why>" (or
 * invalid-pointer, double-free) and aborts. Small objects freed twice are not always caught.
 */
#define MK_KMALLOC_MAX_CACHE_SIZE (32u * 1024u)

void *mk_kmalloc(size_t size, unsigned gfp);          /* NULL + ENOMEM on failure; size 0 -> a unique minimal object */
void *mk_kzalloc(size_t size, unsigned gfp);          /* mk_kmalloc(size, gfp | MK_GFP_ZERO): every usable byte zero */
void *mk_kcalloc(size_t n, size_t size, unsigned gfp); /* zeroed; NULL + ENOMEM if n * size overflows */
/* Resizes p (NULL: like mk_kmalloc) keeping the contents up to the smaller size; size 0 frees p
 * and returns NULL. In place when the size fits the block, unless the block would be much too
 * big (an object whose class is more than twice the new size's class, a directly mapped block
 * more than twice the new size, a large block for a size up to MK_KMALLOC_MAX_CACHE_SIZE); a
 * large block shrinking stays in place and gives its tail pages back. On failure to grow, NULL
 * with errno = ENOMEM and p is left as it was; a shrink never fails.
 * MK_GFP_ZERO (the kernel's __GFP_ZERO rule): a new block is zeroed before the copy, and a
 * resize in place zeroes the bytes from size to the end of the block, so if every allocation
 * and resize of a block passes MK_GFP_ZERO, whatever it grows by reads as zero. */
void *mk_krealloc(void *p, size_t size, unsigned gfp);
void mk_kfree(const void *p);                         /* NULL is ignored; a foreign pointer is a fatal report */
size_t mk_ksize(const void *p);                       /* usable bytes of the block (>= the request); 0 for NULL */

/* ---- malloc: the C library's API on memkit, prefixed ----
 *
 * What libmemkit.so (LD_PRELOAD) and libmemkit_malloc.a install as malloc, free, operator new
 * ..., callable under these names by a program that keeps its C library's malloc. glibc's
 * semantics: every result is 16-byte aligned; mk_malloc(0) is a unique pointer;
 * mk_realloc(NULL, n) = mk_malloc(n); mk_realloc(p, 0) frees p and returns NULL; a size that
 * cannot be had (> PTRDIFF_MAX, or more than can be mapped) is NULL with errno = ENOMEM;
 * mk_calloc overflow is NULL with ENOMEM and skips zeroing pages fresh from the OS;
 * alignments are powers of two, up to 2^62. A pointer that memkit did not hand out (the stack,
 * a global, the middle of a block) or a large block freed twice is a fatal report
 * ("memkit: ERROR: invalid-free mk_free 0x... ..."). */
void *mk_malloc(size_t size);
void mk_free(void *p);
void *mk_calloc(size_t n, size_t size);
void *mk_realloc(void *p, size_t size);
void *mk_aligned_alloc(size_t align, size_t size);   /* align not a power of two: NULL, EINVAL */
int mk_posix_memalign(void **out, size_t align, size_t size); /* 0, EINVAL or ENOMEM */
size_t mk_malloc_usable_size(const void *p);         /* >= the request, all of it writable */
int mk_malloc_trim(void);   /* empty slabs and free pages back to the OS; 1 if any went back */
void mk_malloc_stats(void); /* memkit's page, slab and buddy statistics to stderr */

/* ---- mempool: a guaranteed reserve (the kernel's mempool_t) ----
 *
 * A pool keeps min_nr pre-allocated elements in reserve for the moment the backing allocator
 * (alloc_fn/free_fn) fails, so that code which must make progress (a writeback path, a
 * request that must complete to free memory) always gets its element:
 *
 *   mk_mempool_t *pool = mk_mempool_create_kmalloc_pool(16, sizeof(struct request));
 *   struct request *rq = mk_mempool_alloc(pool, MK_GFP_WAIT);   // never NULL
 *   ...
 *   mk_mempool_free(rq, pool);                                  // refills the reserve first
 *   mk_mempool_destroy(pool);
 *
 * mk_mempool_alloc tries alloc_fn first (without MK_GFP_WAIT), then the reserve (last freed,
 * first out), then alloc_fn again with the caller's full gfp. If all fail: without MK_GFP_WAIT
 * it returns NULL (errno ENOMEM); with MK_GFP_WAIT it sleeps until mk_mempool_free puts an
 * element back (or 5 s pass, the kernel's io_schedule_timeout), then starts over, so with
 * MK_GFP_WAIT it never fails. Progress is guaranteed as long as every element handed out is
 * eventually given back through mk_mempool_free, and no thread sleeps for an element while
 * holding another from the same pool (with more such holders than min_nr, all may sleep).
 * mk_mempool_free puts the element in the reserve while the reserve holds fewer than min_nr
 * (and wakes the waiters), else gives it to free_fn.
 * MK_GFP_ZERO is not supported (a reserved element is not zeroed): it is ignored, with a
 * warning printed once per process. All calls are thread-safe, except that destroy and the
 * other calls on the same pool must not overlap.
 */
#define MK_GFP_WAIT 0x400u  /* may sleep until an element is freed (the kernel's __GFP_DIRECT_RECLAIM) */

typedef struct mk_mempool mk_mempool_t;
/* The backing allocator: gfp is the caller's mask (MK_GFP_WAIT removed on the first try;
 * MK_GFP_KERNEL when the pool fills its reserve). Returns NULL on failure. */
typedef void *mk_mempool_alloc_t(unsigned gfp, void *pool_data);
typedef void mk_mempool_free_t(void *element, void *pool_data);

/* A pool with min_nr (>= 0) elements pre-allocated with alloc_fn(MK_GFP_KERNEL, pool_data).
 * NULL with errno = EINVAL (min_nr < 0, no alloc_fn or free_fn) or ENOMEM (the pool's memory,
 * or one of the min_nr elements, could not be had: the elements already made are given back
 * with free_fn, nothing is leaked). A pool with min_nr = 0 keeps at most one freed element for
 * a waiter (the kernel's rule). The pool and its reserve array live in page-heap pages. */
mk_mempool_t *mk_mempool_create(int min_nr, mk_mempool_alloc_t *alloc_fn,
                                mk_mempool_free_t *free_fn, void *pool_data);
/* An element, see above. gfp: MK_GFP_WAIT, plus flags passed on to alloc_fn. */
void *mk_mempool_alloc(mk_mempool_t *pool, unsigned gfp);
/* Like mk_mempool_alloc with MK_GFP_WAIT, but gives up after timeout_ms: NULL with errno =
 * ETIMEDOUT. timeout_ms = 0 never sleeps; a negative timeout_ms waits without limit. */
void *mk_mempool_alloc_timeout(mk_mempool_t *pool, unsigned gfp, long timeout_ms);
/* Gives back an element from mk_mempool_alloc (NULL is ignored): to the reserve if it is
 * short, waking the waiters, else to free_fn. */
void mk_mempool_free(void *element, mk_mempool_t *pool);
/* Changes min_nr. Shrinking gives reserved elements to free_fn until at most new_min_nr are
 * left; growing enlarges the reserve array and fills it with alloc_fn(MK_GFP_KERNEL), stopping
 * quietly at the first failure (later frees refill it). Returns 0, -EINVAL if new_min_nr <= 0
 * (or pool is NULL), or -ENOMEM if a larger array could not be allocated (the pool is
 * unchanged then). */
int mk_mempool_resize(mk_mempool_t *pool, int new_min_nr);
/* Gives the reserve to free_fn and frees the pool. NULL is ignored. Every element should have
 * come back first; if some have not, prints "memkit: warning: mempool destroyed with N
 * elements still allocated" and destroys the pool anyway: those elements then belong to the
 * caller, to be freed with the backing allocator (free_fn), not with mk_mempool_free. */
void mk_mempool_destroy(mk_mempool_t *pool);

/* A pool's counters (a snapshot; the counts are since creation). */
struct mk_mempool_stats {
  int min_nr;                 /* the reserve the pool keeps */
  int curr_nr;                /* elements in the reserve now */
  int waiters;                /* threads sleeping in mk_mempool_alloc now */
  long outstanding;           /* handed out by mk_mempool_alloc, not yet back via mk_mempool_free */
  uint64_t allocs;            /* elements handed out (from alloc_fn or the reserve) */
  uint64_t frees;             /* elements given back through mk_mempool_free */
  uint64_t backing_failures;  /* alloc_fn calls from mk_mempool_alloc that returned NULL */
  uint64_t reserve_hits;      /* elements handed out from the reserve */
  uint64_t refills;           /* freed elements that went into the reserve */
  uint64_t waits;             /* times a caller went to sleep waiting for a free */
  uint64_t timeouts;          /* mk_mempool_alloc_timeout calls that gave up */
};
void mk_mempool_get_stats(const mk_mempool_t *pool, struct mk_mempool_stats *out);

/* Backings (pool_data as the kernel's helpers take it). The slab helpers take any cache; the
 * kernel forbids caches with a constructor (its debug poisoning of reserved elements would
 * break their state); memkit does not poison reserved elements, so a ctor cache works as long
 * as elements are given back in their constructed state. */
void *mk_mempool_alloc_slab(unsigned gfp, void *cache);        /* pool_data: mk_cache_t * */
void mk_mempool_free_slab(void *element, void *cache);
void *mk_mempool_kmalloc(unsigned gfp, void *size);            /* pool_data: (void *)(uintptr_t)size */
void mk_mempool_kfree(void *element, void *size);
/* NULL with errno = EINVAL for a NULL cache, else as mk_mempool_create. */
mk_mempool_t *mk_mempool_create_slab_pool(int min_nr, mk_cache_t *cache);
mk_mempool_t *mk_mempool_create_kmalloc_pool(int min_nr, size_t size);

#ifdef __cplusplus
}
#endif

#endif /* MEMKIT_MEMKIT_H */
