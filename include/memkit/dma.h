/* memkit — DMA-style buffers, the kernel's dma_alloc_coherent and dma_pool in user space
 * (include/memkit/dma.h)
 *
 * For user-space drivers (the shape of DPDK's rte_malloc, SPDK's spdk_dma_malloc, VFIO users):
 * buffers that stay in RAM and whose physical address is known.
 *
 *   mk_dma_addr_t dma;
 *   void *ring = mk_dma_alloc_coherent(64 * 1024, &dma, 0);   // zeroed, locked
 *   if (ring == NULL) { ... errno: ENOMEM, EINVAL, EPERM ... }
 *   // program the device with dma (MK_DMA_ADDR_UNKNOWN without CAP_SYS_ADMIN)
 *   mk_dma_free_coherent(64 * 1024, ring, dma);
 *
 * Backing, tried in this order (the input flags below force or skip a step):
 *   1. explicit huge pages (hugetlbfs, MAP_HUGETLB) of the default size, when some are
 *      reserved (/proc/sys/vm/nr_hugepages): never swapped, never moved by compaction;
 *   2. transparent huge pages (MADV_HUGEPAGE, then MADV_COLLAPSE), when THP is not "never";
 *      kept only if the kernel really gave huge pages, else given back for step 3;
 *   3. normal pages: physically contiguous only within each page, which the result says
 *      (MK_DMA_INFO_NONCONTIG) unless pagemap shows the whole buffer contiguous by chance.
 * The buffer is the size rounded up to the backing's page size, aligned to that page size
 * (so a huge-page buffer is physically aligned to it too), zeroed (fresh from the kernel),
 * and locked with mlock(2): resident, counted in VmLck of /proc/self/status. Explicit huge
 * pages are mlocked as well, but the kernel does not count hugetlb pages in VmLck (nor mark
 * their VMA "lo"): they are unswappable anyway.
 *
 * The DMA address is the physical address of the buffer's first byte, from /proc/self/pagemap,
 * when this process may read page frame numbers (root or CAP_SYS_ADMIN); otherwise the kernel
 * hides them and the handle is MK_DMA_ADDR_UNKNOWN. Caveat: mlock keeps pages resident, not at
 * a fixed frame; the kernel may still migrate locked transparent or normal pages (compaction
 * when /proc/sys/vm/compact_unevictable_allowed is 1, NUMA balancing, memory hot-unplug).
 * Explicit huge pages are the safe choice for a device that keeps the address; a real driver
 * maps through VFIO, which pins.
 *
 * Errors (the kernel's conventions): NULL and errno. ENOMEM when memory, the huge pages asked
 * for, or the lock limit is short. RLIMIT_MEMLOCK (`ulimit -l`, 8 MiB by default on Debian 12
 * for a user, unlimited in effect for root with CAP_IPC_LOCK) bounds the bytes a process may
 * lock: a buffer that would go past it fails whole, never half locked. EINVAL for size 0 or
 * contradictory flags; EPERM for MK_DMA_CONTIGUOUS when the contiguity cannot be verified.
 * Freeing a pointer that is not a live DMA buffer, with another size or another handle, is a
 * fatal report ("memkit: ERROR: invalid-free mk_dma_free_coherent 0x... ...").
 * All functions are thread-safe.
 */
#ifndef MEMKIT_DMA_H
#define MEMKIT_DMA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A physical (bus) address, the kernel's dma_addr_t. */
typedef uint64_t mk_dma_addr_t;
/* The address is not known (PFNs hidden from this process), the kernel's DMA_MAPPING_ERROR. */
#define MK_DMA_ADDR_UNKNOWN (~(mk_dma_addr_t)0)

/* Input flags of mk_dma_alloc_coherent and mk_dma_pool_create_flags. */
#define MK_DMA_HUGETLB 0x1        /* explicit huge pages only: ENOMEM when none are free */
#define MK_DMA_NO_HUGETLB 0x2     /* skip explicit huge pages */
#define MK_DMA_NO_THP 0x4         /* skip transparent huge pages (normal pages unless hugetlb) */
#define MK_DMA_CONTIGUOUS 0x8     /* the whole buffer physically contiguous, or fail: ENOMEM
                                     when it is not, EPERM when it cannot be checked (more than
                                     one huge page, PFNs hidden) */

/* Output flags (struct mk_dma_info.flags). */
#define MK_DMA_INFO_HUGETLB 0x1     /* backed by explicit huge pages */
#define MK_DMA_INFO_THP 0x2         /* backed by transparent huge pages */
#define MK_DMA_INFO_LOCKED 0x4      /* mlocked (always, for a live buffer) */
#define MK_DMA_INFO_PHYS_KNOWN 0x8  /* dma_addr is the physical address */
#define MK_DMA_INFO_CONTIGUOUS 0x10 /* the whole buffer is one physical range: one huge page,
                                       or checked against pagemap */
#define MK_DMA_INFO_NONCONTIG 0x20  /* normal pages: not physically contiguous beyond a page */

struct mk_dma_info {
  void *vaddr;             /* the buffer's first byte */
  size_t size;             /* the size asked for */
  size_t mapped;           /* bytes mapped and locked: size rounded up to page_size */
  size_t page_size;        /* the backing's page size: a huge page size, or the base page */
  size_t contig_size;      /* physically contiguous in aligned runs of this many bytes at least
                              (page_size, or mapped with MK_DMA_INFO_CONTIGUOUS) */
  mk_dma_addr_t dma_addr;  /* physical address of vaddr, or MK_DMA_ADDR_UNKNOWN */
  unsigned flags;          /* MK_DMA_INFO_* */
};

/* A zeroed, locked buffer of at least size bytes; *dma_handle (if not NULL) gets its DMA
 * address (or MK_DMA_ADDR_UNKNOWN). NULL with errno on failure (see above). */
void *mk_dma_alloc_coherent(size_t size, mk_dma_addr_t *dma_handle, int flags);
/* Frees a buffer with the size and handle mk_dma_alloc_coherent gave. NULL is ignored. */
void mk_dma_free_coherent(size_t size, void *vaddr, mk_dma_addr_t dma_handle);

/* What memkit knows of the DMA buffer holding addr (any byte of it): 0, or -EINVAL when addr
 * is in no live buffer from mk_dma_alloc_coherent (a pool's blocks live in such buffers). */
int mk_dma_get_info(const void *addr, struct mk_dma_info *out);
/* The physical address of any byte of memory this process has touched, from pagemap (not only
 * DMA buffers): MK_DMA_ADDR_UNKNOWN when PFNs are hidden or the page is not present. */
mk_dma_addr_t mk_dma_virt_to_phys(const void *addr);

/* ---- DMA pools (the kernel's dma_pool, mm/dmapool.c) ----
 *
 * Small fixed-size blocks carved from coherent buffers, for descriptors and the like:
 *
 *   mk_dma_pool_t *pool = mk_dma_pool_create("rx-desc", 32, 16, 4096);
 *   mk_dma_addr_t dma;
 *   struct desc *d = mk_dma_pool_zalloc(pool, 0, &dma);
 *   ...
 *   mk_dma_pool_free(pool, d, dma);
 *   mk_dma_pool_destroy(pool);
 *
 * The kernel's rules for the arguments: align 0 means 1, else a power of two (here at most
 * the page size: chunks are page-aligned, not more, on normal pages); size (>0) is
 * rounded up to a multiple of align (at least 16 bytes); boundary 0 means none, else a power
 * of two >= size, and no block crosses an address multiple of boundary. Every block is
 * physically contiguous when it fits in the backing's contiguous run (a huge page, or a page
 * of a MK_DMA_INFO_NONCONTIG buffer: blocks of such a pool never cross a page). The pool's
 * buffers are mk_dma_alloc_coherent buffers of one huge page (or 64 KiB of normal pages, or
 * the block size if larger), with the pool's flags; its metadata lives in mappings of its own.
 * mk_dma_pool_alloc does not zero the block (it holds free-list bytes), mk_dma_pool_zalloc
 * does. Freeing a block that is not one of the pool's, a block twice, or with another handle
 * is a fatal report. All calls are thread-safe, except that destroy and the other calls on
 * the same pool must not overlap. */
typedef struct mk_dma_pool mk_dma_pool_t;

/* NULL with errno = EINVAL (bad size, align or boundary, as above) or ENOMEM. name (at most
 * 31 characters kept) is shown in reports. */
mk_dma_pool_t *mk_dma_pool_create(const char *name, size_t size, size_t align, size_t boundary);
/* The same with mk_dma_alloc_coherent flags for the pool's buffers. */
mk_dma_pool_t *mk_dma_pool_create_flags(const char *name, size_t size, size_t align,
                                        size_t boundary, int flags);
/* A block and its DMA address (*handle, may be NULL), or NULL with errno = ENOMEM. gfp: 0 or
 * MK_GFP_ZERO (0x100, memkit.h) to zero it. */
void *mk_dma_pool_alloc(mk_dma_pool_t *pool, unsigned gfp, mk_dma_addr_t *handle);
void *mk_dma_pool_zalloc(mk_dma_pool_t *pool, unsigned gfp, mk_dma_addr_t *handle);
/* Gives a block back (NULL is ignored). */
void mk_dma_pool_free(mk_dma_pool_t *pool, void *vaddr, mk_dma_addr_t handle);
/* Frees the pool and its buffers. NULL is ignored. Blocks still allocated: prints "memkit:
 * warning: dma pool NAME destroyed with N blocks still allocated" and, as the kernel does,
 * leaves the buffers holding them mapped and locked (a device may still write there). */
void mk_dma_pool_destroy(mk_dma_pool_t *pool);

/* A pool's geometry and counters. */
struct mk_dma_pool_stats {
  size_t size;            /* block size: the request rounded up to align */
  size_t align;
  size_t boundary;        /* as given (0: none) */
  size_t chunk_bytes;     /* bytes of each coherent buffer the pool carves */
  size_t blocks_per_chunk;
  size_t chunks;          /* coherent buffers held now */
  size_t in_use;          /* blocks handed out now */
  size_t free_blocks;     /* blocks on the free lists */
};
void mk_dma_pool_get_stats(const mk_dma_pool_t *pool, struct mk_dma_pool_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* MEMKIT_DMA_H */
