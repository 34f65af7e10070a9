// memkit — DMA pools (src/dma/dma_pool.cpp): the kernel's dma_pool (mm/dmapool.c).
//
// A pool carves blocks of one size out of coherent buffers ("chunks", dma.cpp). The carving
// is the kernel's pool_initialise_page: blocks one after another from the chunk's start,
// skipping to the next multiple of the boundary when a block would cross it. The boundary
// used is the caller's, lowered to the chunk's physically contiguous run (one page of a
// normal-page chunk) when a block fits in one, so that every block that can be physically
// contiguous is. Free blocks form one pool-wide list threaded through their first bytes (the
// kernel's dma_block). Each chunk has a metadata mapping of its own: its header, a bitmap of
// the blocks handed out (double frees are caught), and the physical address of each
// contiguous run (MK_DMA_ADDR_UNKNOWN when PFNs are hidden).
#include <errno.h>
#include <pthread.h>

#include <cstdio>
#include <cstring>
#include <new>

#include "dma/dma.h"
#include "memkit/memkit.h"
#include "os/os.h"
#include "os/report.h"

namespace {

using memkit::os::page_size;
using memkit::os::system_os;

constexpr size_t kMinBlock = 16;                   // the kernel's sizeof(struct dma_block)
constexpr size_t kPagesChunkBytes = 64 * 1024;     // a chunk's size on normal pages

// A free block holds the next free block's address in its first bytes. Blocks need not be
// 8-byte aligned (align 1, size 1500), so the link is read and written with memcpy.
struct FreeBlock;
FreeBlock* next_of(const FreeBlock* b) {
  FreeBlock* n;
  std::memcpy(&n, b, sizeof n);
  return n;
}
void set_next(FreeBlock* b, FreeBlock* n) { std::memcpy(static_cast<void*>(b), &n, sizeof(FreeBlock*)); }

struct Chunk {
  Chunk* next;
  char* vaddr;
  size_t request;      // the size passed to alloc_coherent (to free it with)
  size_t bytes;        // mapped bytes, all carved
  mk_dma_addr_t handle;
  size_t contig;       // bytes of each physically contiguous run
  size_t boundary;     // the carving boundary in this chunk
  size_t meta_bytes;   // this metadata mapping's size
  size_t in_use;
  uint64_t* bitmap;    // bit offset/size: handed out
  mk_dma_addr_t* run_phys;  // bytes / contig entries
};

size_t round_up(size_t v, size_t to) { return (v + to - 1) / to * to; }

}  // namespace

struct mk_dma_pool {
  char name[32];
  size_t size;        // block size (rounded up to align)
  size_t align;
  size_t boundary;    // as given, 0 = none
  int flags;          // for alloc_coherent
  size_t chunk_request;
  size_t chunk_bytes;  // of the last chunk made (0: none yet)
  size_t blocks_per_chunk;
  pthread_mutex_t lock;
  Chunk* chunks;
  size_t nchunks;
  FreeBlock* free_list;
  size_t free_blocks;
  size_t in_use;
};

namespace {

struct PoolGuard {
  explicit PoolGuard(const mk_dma_pool* p) : lock(&const_cast<mk_dma_pool*>(p)->lock) {
    pthread_mutex_lock(lock);
  }
  ~PoolGuard() { pthread_mutex_unlock(lock); }
  PoolGuard(const PoolGuard&) = delete;
  PoolGuard& operator=(const PoolGuard&) = delete;
  pthread_mutex_t* lock;
};

bool is_block_start(const Chunk* c, size_t size, size_t off) {
  if (off + size > c->bytes) return false;
  const size_t within = off % c->boundary;
  return within % size == 0 && within + size <= c->boundary;
}

mk_dma_addr_t block_dma(const Chunk* c, size_t off) {
  const mk_dma_addr_t run = c->run_phys[off / c->contig];
  return run == MK_DMA_ADDR_UNKNOWN ? MK_DMA_ADDR_UNKNOWN : run + off % c->contig;
}

Chunk* find_chunk(const mk_dma_pool* pool, const void* p) {
  const char* a = static_cast<const char*>(p);
  for (Chunk* c = pool->chunks; c != nullptr; c = c->next)
    if (a >= c->vaddr && a < c->vaddr + c->bytes) return c;
  return nullptr;
}

// Under the pool's lock: a new chunk, its blocks pushed on the free list. 0 or an errno.
int grow(mk_dma_pool* pool) {
  mk_dma_info info;
  const int err = memkit::dma::alloc_coherent(pool->chunk_request, pool->flags, &info);
  if (err != 0) return err;
  const size_t ps = page_size();
  const size_t nbits = info.mapped / pool->size + 1;
  const size_t bitmap_words = (nbits + 63) / 64;
  const size_t runs = info.mapped / info.contig_size;
  const size_t meta = round_up(
      sizeof(Chunk) + bitmap_words * sizeof(uint64_t) + runs * sizeof(mk_dma_addr_t), ps);
  void* mem = nullptr;
  if (system_os().map(meta, ps, &mem) != 0) {
    memkit::dma::free_coherent(pool->chunk_request, info.vaddr, info.dma_addr,
                               "mk_dma_pool_alloc");
    return ENOMEM;
  }
  auto* c = static_cast<Chunk*>(mem);
  c->vaddr = static_cast<char*>(info.vaddr);
  c->request = pool->chunk_request;
  c->bytes = info.mapped;
  c->handle = info.dma_addr;
  c->contig = info.contig_size;
  size_t boundary = pool->boundary != 0 && pool->boundary < c->bytes ? pool->boundary : c->bytes;
  if (pool->size <= c->contig && c->contig < boundary) boundary = c->contig;
  c->boundary = boundary;
  c->meta_bytes = meta;
  c->in_use = 0;
  c->bitmap = reinterpret_cast<uint64_t*>(c + 1);  // zeroed: a fresh mapping
  c->run_phys = reinterpret_cast<mk_dma_addr_t*>(c->bitmap + bitmap_words);
  for (size_t r = 0; r < runs; ++r)
    c->run_phys[r] = (info.flags & MK_DMA_INFO_PHYS_KNOWN) == 0
                         ? MK_DMA_ADDR_UNKNOWN
                         : r == 0 ? info.dma_addr
                                  : memkit::dma::virt_to_phys(c->vaddr + r * c->contig);
  // The kernel's pool_initialise_page, pushing in reverse so that blocks go out in order.
  size_t offsets = 0;
  FreeBlock* head = pool->free_list;
  FreeBlock* tail_first = nullptr;
  FreeBlock* prev = nullptr;
  size_t next_boundary = boundary;
  for (size_t off = 0; off + pool->size <= c->bytes;) {
    if (off + pool->size > next_boundary) {
      off = next_boundary;
      next_boundary += boundary;
      continue;
    }
    auto* b = reinterpret_cast<FreeBlock*>(c->vaddr + off);
    if (prev != nullptr) {
      set_next(prev, b);
    } else {
      tail_first = b;
    }
    prev = b;
    ++offsets;
    off += pool->size;
  }
  if (prev != nullptr) {
    set_next(prev, head);
    pool->free_list = tail_first;
  }
  pool->free_blocks += offsets;
  pool->blocks_per_chunk = offsets;
  pool->chunk_bytes = c->bytes;
  c->next = pool->chunks;
  pool->chunks = c;
  ++pool->nchunks;
  return 0;
}

void release_chunk(Chunk* c) {
  memkit::dma::free_coherent(c->request, c->vaddr, c->handle, "mk_dma_pool_destroy");
  system_os().release(c, c->meta_bytes);
}

}  // namespace

extern "C" {

mk_dma_pool_t* mk_dma_pool_create_flags(const char* name, size_t size, size_t align,
                                        size_t boundary, int flags) {
  // The kernel's checks (dma_pool_create).
  if (align == 0) align = 1;
  const size_t ps = page_size();
  if ((align & (align - 1)) != 0 || align > ps || size == 0 || size > (size_t{1} << 31) ||
      (flags & ~0xf) != 0) {
    errno = EINVAL;
    return nullptr;
  }
  if (size < kMinBlock) size = kMinBlock;
  size = round_up(size, align);
  if (boundary != 0 && (boundary < size || (boundary & (boundary - 1)) != 0)) {
    errno = EINVAL;
    return nullptr;
  }
  void* mem = nullptr;
  if (system_os().map(round_up(sizeof(mk_dma_pool), ps), ps, &mem) != 0) {
    errno = ENOMEM;
    return nullptr;
  }
  auto* pool = new (mem) mk_dma_pool{};
  std::snprintf(pool->name, sizeof pool->name, "%s", name != nullptr ? name : "");
  pool->size = size;
  pool->align = align;
  pool->boundary = boundary;
  pool->flags = flags;
  pool->chunk_request = size > kPagesChunkBytes ? size : kPagesChunkBytes;
  pthread_mutex_init(&pool->lock, nullptr);
  return pool;
}

mk_dma_pool_t* mk_dma_pool_create(const char* name, size_t size, size_t align, size_t boundary) {
  return mk_dma_pool_create_flags(name, size, align, boundary, 0);
}

void* mk_dma_pool_alloc(mk_dma_pool_t* pool, unsigned gfp, mk_dma_addr_t* handle) {
  void* block;
  mk_dma_addr_t dma;
  {
    PoolGuard g(pool);
    if (pool->free_list == nullptr) {
      const int err = grow(pool);
      if (err != 0) {
        errno = ENOMEM;
        return nullptr;
      }
    }
    FreeBlock* b = pool->free_list;
    pool->free_list = next_of(b);
    --pool->free_blocks;
    ++pool->in_use;
    Chunk* c = find_chunk(pool, b);
    const size_t off = static_cast<size_t>(reinterpret_cast<char*>(b) - c->vaddr);
    const size_t bit = off / pool->size;
    c->bitmap[bit / 64] |= uint64_t{1} << (bit % 64);
    ++c->in_use;
    dma = block_dma(c, off);
    block = b;
  }
  if ((gfp & MK_GFP_ZERO) != 0) std::memset(block, 0, pool->size);
  if (handle != nullptr) *handle = dma;
  return block;
}

void* mk_dma_pool_zalloc(mk_dma_pool_t* pool, unsigned gfp, mk_dma_addr_t* handle) {
  return mk_dma_pool_alloc(pool, gfp | MK_GFP_ZERO, handle);
}

void mk_dma_pool_free(mk_dma_pool_t* pool, void* vaddr, mk_dma_addr_t handle) {
  if (vaddr == nullptr) return;
  PoolGuard g(pool);
  char detail[160];
  Chunk* c = find_chunk(pool, vaddr);
  if (c == nullptr) {
    std::snprintf(detail, sizeof detail, "is not a block of dma pool %s", pool->name);
    memkit::report_fatal("invalid-free", "mk_dma_pool_free", vaddr, detail);
  }
  const size_t off = static_cast<size_t>(static_cast<char*>(vaddr) - c->vaddr);
  if (!is_block_start(c, pool->size, off)) {
    std::snprintf(detail, sizeof detail, "is inside a block of dma pool %s (block size %zu)",
                  pool->name, pool->size);
    memkit::report_fatal("invalid-free", "mk_dma_pool_free", vaddr, detail);
  }
  const size_t bit = off / pool->size;
  uint64_t& word = c->bitmap[bit / 64];
  if ((word & (uint64_t{1} << (bit % 64))) == 0) {
    std::snprintf(detail, sizeof detail, "the block of dma pool %s is already free", pool->name);
    memkit::report_fatal("double-free", "mk_dma_pool_free", vaddr, detail);
  }
  const mk_dma_addr_t dma = block_dma(c, off);
  if (handle != dma) {
    std::snprintf(detail, sizeof detail, "dma handle %#llx, but the block's is %#llx (pool %s)",
                  static_cast<unsigned long long>(handle), static_cast<unsigned long long>(dma),
                  pool->name);
    memkit::report_fatal("invalid-free", "mk_dma_pool_free", vaddr, detail);
  }
  word &= ~(uint64_t{1} << (bit % 64));
  --c->in_use;
  --pool->in_use;
  auto* b = static_cast<FreeBlock*>(vaddr);
  set_next(b, pool->free_list);
  pool->free_list = b;
  ++pool->free_blocks;
}

void mk_dma_pool_destroy(mk_dma_pool_t* pool) {
  if (pool == nullptr) return;
  if (pool->in_use != 0) {
    char text[128];
    std::snprintf(text, sizeof text, "dma pool %s destroyed with %zu blocks still allocated",
                  pool->name, pool->in_use);
    memkit::report_warning(text);
  }
  for (Chunk* c = pool->chunks; c != nullptr;) {
    Chunk* next = c->next;
    if (c->in_use == 0) release_chunk(c);  // busy ones stay mapped and locked (the kernel's rule)
    c = next;
  }
  pthread_mutex_destroy(&pool->lock);
  system_os().release(pool, round_up(sizeof(mk_dma_pool), page_size()));
}

void mk_dma_pool_get_stats(const mk_dma_pool_t* pool, struct mk_dma_pool_stats* out) {
  PoolGuard g(pool);
  out->size = pool->size;
  out->align = pool->align;
  out->boundary = pool->boundary;
  out->chunk_bytes = pool->chunk_bytes;
  out->blocks_per_chunk = pool->blocks_per_chunk;
  out->chunks = pool->nchunks;
  out->in_use = pool->in_use;
  out->free_blocks = pool->free_blocks;
}

}  // extern "C"
