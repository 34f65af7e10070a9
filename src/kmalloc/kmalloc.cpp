// memkit — kmalloc: the caches, the large path, kfree, ksize, krealloc (src/kmalloc/kmalloc.cpp)
//
// Call tree (fast paths first):
//
//   kmalloc (kmalloc.h, inline)  -> a pop from the thread's CpuCache of the class
//     kmalloc_slow                -> init_once, then the class's SlabCache::alloc, or
//       kmalloc_large             -> PageHeap::alloc_pages_exact
//   kfree (kmalloc.h, inline)     -> fast_index_of (page descriptor) -> a push on the CpuCache
//     kfree_slow                  -> SlabCache::slab_of -> is_kmalloc_cache -> free_in_slab
//       kfree_large               -> this thread's cache of large blocks, or
//                                    PageHeap::free_pages_exact -> refuse (fatal) on error
//   ksize                         -> the class size, or PageHeap::exact_pages * page size
//   krealloc                      -> ksize -> in place (keep / shrink_pages_exact) or move
#include "kmalloc/kmalloc.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>

#include <cstdio>
#include <cstring>
#include <new>

#include "arena/background_purge.h"
#include "arena/page_heap.h"
#include "memkit/memkit.h"
#include "os/report.h"
#include "slab/magazine.h"
#include "slab/slab_page.h"

namespace memkit {

namespace {

// The cache of each class; valid once g_ready is true (set with release when all are made).
constinit SlabCache* g_caches[size_class::kNumClasses] = {};
constinit std::atomic<bool> g_ready{false};
using size_class::kMaxSize;
using size_class::kNumClasses;

// The caches' own storage: one array, so "is this a kmalloc cache" is a range check.
alignas(SlabCache) unsigned char g_storage[kNumClasses][sizeof(SlabCache)];
constinit PageHeap* g_heap = nullptr;
constinit unsigned g_page_shift = 12;
constinit size_t g_max_exact_pages = 0;  // 2^max_order: larger blocks are direct mappings
pthread_once_t g_once = PTHREAD_ONCE_INIT;
pthread_key_t g_large_key;  // flushes a thread's cache of large blocks when it exits
void large_cache_thread_exit(void*);

void init_once() {
  PageHeap& heap = global_page_heap();
  g_heap = &heap;
  g_page_shift = heap.config().arena.page_shift;
  g_max_exact_pages = size_t{1} << heap.config().arena.max_order;
  const size_t page = heap.page_size();
  for (unsigned c = 0; c < kNumClasses; ++c) {
    char name[kSlabNameLen];
    std::snprintf(name, sizeof name, "kmalloc-%zu", size_class::class_size(c));
    SlabCache* cache = new (g_storage[c]) SlabCache();
    // Class c is cache index c + 1 (a reserved index: the thread's CpuCache is first[c + 1])
    // and marks its slab pages with the same number (PageDesc::slab_id), for the fast paths
    // in kmalloc.h.
    const unsigned index = class_index(c);
    // The fast paths in kmalloc.h find the free key in an object's first word (key_delta 0:
    // no ctor, no debug flags).
    if (cache->init(&heap, name, size_class::class_size(c), size_class::class_align(c, page), 0,
                    nullptr, index, static_cast<uint8_t>(index)) != 0 ||
        cache->key_delta() != 0) {
      // Cannot happen (the indices are reserved for kmalloc, the sizes valid); should it,
      // kmalloc stays unavailable (ENOMEM) rather than half made.
      cache->~SlabCache();
      for (unsigned k = 0; k < c; ++k) {
        g_caches[k]->destroy();
        g_caches[k]->~SlabCache();
        g_caches[k] = nullptr;
      }
      return;
    }
    g_caches[c] = cache;
  }
  pthread_key_create(&g_large_key, large_cache_thread_exit);
  g_ready.store(true, std::memory_order_release);
}

// The page heap, after kmalloc's start was attempted (g_heap is set even if it failed).
PageHeap* ready_heap() {
  if (MK_LIKELY(g_ready.load(std::memory_order_acquire))) return g_heap;
  pthread_once(&g_once, init_once);
  return g_heap;
}

void* kmalloc_large(size_t size, unsigned gfp) {
  if (size > static_cast<size_t>(PTRDIFF_MAX)) {
    errno = ENOMEM;
    return nullptr;
  }
  const size_t npages = (size + (size_t{1} << g_page_shift) - 1) >> g_page_shift;
  return kmalloc_pages(npages, 0, gfp);
}

[[noreturn]] void refuse_page_block(const char* caller, const void* p, BuddyStatus st) {
  switch (st) {
    case BuddyStatus::kOutOfRange:
      report_fatal("invalid-free", caller, p, "is not memory memkit handed out");
    case BuddyStatus::kDoubleFree:
      report_fatal("double-free", caller, p, "the block is already free");
    case BuddyStatus::kWrongOrder:
      report_fatal("invalid-free", caller, p,
                   "is a page block of mk_alloc_pages or mk_vmalloc, not of mk_kmalloc");
    case BuddyStatus::kMisaligned:
    case BuddyStatus::kNotBlockStart:
      report_fatal("invalid-free", caller, p, "is not the start of a block mk_kmalloc handed out");
    default:
      report_fatal("invalid-free", caller, p, to_string(st));
  }
}

[[noreturn]] void refuse_foreign_object(const char* kind, const char* caller, const void* p,
                                        const SlabCache* owner) {
  char detail[160];
  std::snprintf(detail, sizeof detail,
                "is an object of cache %s, not of mk_kmalloc (free it with mk_cache_free)",
                owner != nullptr ? owner->name() : "?");
  report_fatal(kind, caller, p, detail);
}

// ---- the per-thread cache of large blocks ----
//
// Large blocks of up to kLargeCacheMaxPages pages cost a trip to the page heap each way (the
// arena lock, a buddy split on alloc and the merges on free: about 1100 instructions a pair,
// and a lock two threads meet on). A thread keeps up to kLargeCacheEntries of the blocks it
// frees, at most kLargeCachePages pages in all, and hands one back to a request of the same
// page count: the kernel's per-CPU page lists, for exact blocks. The blocks stay allocated in
// the page heap, their head descriptor flagged kPageLargeCached, so that a second free of one is
// still a double free. The oldest goes back to the heap when the cache is full; all of them when
// the thread exits or calls malloc_trim. Small bounds: blocks of other sizes (a realloc'ed
// array growing) never match and only hold memory (2 MiB a thread doubled realloc_growth's
// peak RSS).
constexpr unsigned kLargeCacheEntries = 8;
constexpr size_t kLargeCacheMaxPages = 16;  // 64 KiB blocks with 4 KiB pages
constexpr size_t kLargeCachePages = 128;    // 512 KiB a thread

struct LargeCache {
  void* block[kLargeCacheEntries];  // oldest first
  uint32_t pages[kLargeCacheEntries];
  unsigned count;
  size_t total_pages;
  bool key_set;  // the pthread key that flushes it at thread exit is set for this thread
};

constinit thread_local LargeCache t_large __attribute__((tls_model("initial-exec"))) = {};
std::atomic<size_t> g_large_cached_pages{0};  // in every thread's cache

void large_cache_give_back(PageHeap* heap, void* p) {
  heap->page_desc(p)->flags &= static_cast<uint8_t>(~kPageLargeCached);
  const BuddyStatus st = heap->free_pages_exact(p);
  if (st != BuddyStatus::kOk) report_fatal("slab-corruption", "kfree", p, to_string(st));
}

// Takes entry i out of the cache (its flag cleared); returns the block.
void* large_cache_take(PageHeap* heap, unsigned i) {
  LargeCache& c = t_large;
  void* p = c.block[i];
  const size_t pages = c.pages[i];
  for (unsigned k = i + 1; k < c.count; ++k) {
    c.block[k - 1] = c.block[k];
    c.pages[k - 1] = c.pages[k];
  }
  --c.count;
  c.total_pages -= pages;
  g_large_cached_pages.fetch_sub(pages, std::memory_order_relaxed);
  heap->page_desc(p)->flags &= static_cast<uint8_t>(~kPageLargeCached);
  return p;
}

void large_cache_flush(PageHeap* heap) {
  while (t_large.count > 0) large_cache_give_back(heap, large_cache_take(heap, 0));
}

void large_cache_thread_exit(void*) { large_cache_flush(g_heap); }

// A cached block of exactly npages pages, or nullptr.
void* large_cache_get(PageHeap* heap, size_t npages, unsigned gfp) {
  LargeCache& c = t_large;
  for (unsigned i = c.count; i-- > 0;) {  // newest first: the warmest
    if (c.pages[i] != npages) continue;
    void* p = large_cache_take(heap, i);
    if (gfp & MK_GFP_ZERO) std::memset(p, 0, npages << g_page_shift);
    return p;
  }
  return nullptr;
}

// Keeps the freed block p of npages pages (<= kLargeCacheMaxPages) in this thread's cache.
void large_cache_put(PageHeap* heap, void* p, size_t npages) {
  LargeCache& c = t_large;
  if (!c.key_set) {
    c.key_set = true;
    pthread_setspecific(g_large_key, &c);
  }
  while (c.count > 0 && (c.count == kLargeCacheEntries || c.total_pages + npages > kLargeCachePages))
    large_cache_give_back(heap, large_cache_take(heap, 0));
  heap->page_desc(p)->flags |= kPageLargeCached;
  c.block[c.count] = p;
  c.pages[c.count] = static_cast<uint32_t>(npages);
  ++c.count;
  c.total_pages += npages;
  g_large_cached_pages.fetch_add(npages, std::memory_order_relaxed);
}

// Counts a large block in this thread's ThreadStats, or, for a thread not listed yet (no
// ThreadCache: it has made no small block), in the process-wide count of such threads' blocks,
// so that the heap report counts every thread's (without making a ThreadCache, whose slab
// would cost a large-only program an arena).
void count_large(uint64_t* counter, bool alloc) {
  if (t_hot.cache == &g_no_thread_cache)
    thread_stat_add_unlisted(alloc);
  else
    thread_stat_add(counter);
}

MK_SLOW_PATH void kfree_large(PageHeap* heap, const void* p, const char* caller) {
  void* block = const_cast<void*>(p);
  const size_t pages = heap->exact_pages(p);  // 0 unless p starts a live exact block
  PageDesc* head = pages != 0 && pages <= kLargeCacheMaxPages ? heap->page_desc(p) : nullptr;
  if (head != nullptr) {
    // An arena block (not a direct mapping, as an aligned one can be): its head descriptor
    // says if the program freed it before.
    if (head->flags & kPageLargeCached)
      report_fatal("double-free", caller, p, "the block is already free");
    large_cache_put(heap, block, pages);
  } else {
    const BuddyStatus st = heap->free_pages_exact(block);
    if (st != BuddyStatus::kOk) refuse_page_block(caller, p, st);
  }
  count_large(&t_thread_stats.frees, false);
  bg_purge::at_safe_point();  // no lock held here
}

// A key hit on realloc's block: a double free if p is a class object that is free.
MK_SLOW_PATH void krealloc_check_freed(const void* p, const char* caller) {
  PageDesc* slab = SlabCache::slab_of(g_heap, p);
  if (slab == nullptr) return;  // a large block: its own checks (ksize) passed
  slab_page::cache(slab)->check_double_free(slab, p, caller);
}

}  // namespace

// ---- allocation ----

void* kmalloc_slow(size_t size, unsigned gfp) {
  bg_purge::at_safe_point();  // no lock held here
  pthread_once(&g_once, init_once);
  if (!g_ready.load(std::memory_order_acquire)) {
    errno = ENOMEM;
    return nullptr;
  }
  if (size <= kMaxSize) return g_caches[size_class::size_to_class(size)]->alloc(gfp);
  return kmalloc_large(size, gfp);
}

void* kmalloc_pages(size_t npages, size_t align, unsigned gfp) {
  PageHeap* heap = ready_heap();
  void* p = nullptr;
  if (npages <= kLargeCacheMaxPages && align <= (size_t{1} << g_page_shift))
    p = large_cache_get(heap, npages, gfp);
  if (p == nullptr) p = heap->alloc_pages_exact_aligned(npages, align, gfp & MK_GFP_ZERO);
  if (p != nullptr) count_large(&t_thread_stats.allocs, true);
  return p;
}

void kmalloc_flush_large_cache() {
  if (g_ready.load(std::memory_order_acquire)) large_cache_flush(g_heap);
}

size_t kmalloc_large_cached_bytes() {
  return g_large_cached_pages.load(std::memory_order_relaxed) << g_page_shift;
}

bool is_kmalloc_cache(const SlabCache* c) {
  return reinterpret_cast<uintptr_t>(c) - reinterpret_cast<uintptr_t>(&g_storage[0][0]) <
         sizeof g_storage;
}

SlabCache* kmalloc_cache(unsigned cls) {
  if (cls >= kNumClasses) return nullptr;
  pthread_once(&g_once, init_once);
  return g_caches[cls];
}

int kmalloc_class_geometry(unsigned cls, size_t page_size, unsigned max_order, SlabGeometry* out) {
  if (cls >= kNumClasses) return EINVAL;
  return SlabCache::geometry(size_class::class_size(cls), size_class::class_align(cls, page_size),
                             0, false, page_size, max_order, out);
}

// ---- free and size ----

ForeignBlocks g_foreign = {0, 0, nullptr, nullptr};

void set_foreign_blocks(const ForeignBlocks& f) { g_foreign = f; }

std::atomic<LargeFreeHook> g_large_free_hook{nullptr};

void kfree_slow(const void* p, const char* caller) {
  if (p == nullptr) return;
  if (MK_UNLIKELY(reinterpret_cast<uintptr_t>(p) - g_foreign.lo < g_foreign.span)) return g_foreign.free(p, caller);
  PageHeap* heap = ready_heap();
  PageDesc* slab = SlabCache::slab_of(heap, p);
  if (MK_LIKELY(slab != nullptr)) {
    SlabCache* owner = slab_page::cache(slab);
    if (MK_LIKELY(is_kmalloc_cache(owner))) {
      owner->free_in_slab(slab, const_cast<void*>(p), caller);  // checks that p starts an object
      return;
    }
    refuse_foreign_object("invalid-free", caller, p, owner);
  }
  if (LargeFreeHook hook = g_large_free_hook.load(std::memory_order_acquire)) hook(p);
  kfree_large(heap, p, caller);
}

size_t ksize(const void* p, const char* caller) {
  const unsigned index = fast_index_of(p);
  if (MK_LIKELY(index - 1 < kNumClasses)) return size_class::class_size(index - 1);
  if (p == nullptr) return 0;
  if (MK_UNLIKELY(reinterpret_cast<uintptr_t>(p) - g_foreign.lo < g_foreign.span)) return g_foreign.size(p, caller);
  PageHeap* heap = ready_heap();
  if (PageDesc* slab = SlabCache::slab_of(heap, p)) {
    const SlabCache* owner = slab_page::cache(slab);
    if (!is_kmalloc_cache(owner)) refuse_foreign_object("invalid-pointer", caller, p, owner);
    if (!owner->is_object_start(slab, p)) {
      char detail[96];
      std::snprintf(detail, sizeof detail, "is not the start of an object of cache %s",
                    owner->name());
      report_fatal("invalid-pointer", caller, p, detail);
    }
    return owner->object_size();
  }
  const size_t pages = heap->exact_pages(p);
  if (pages == 0) report_fatal("invalid-pointer", caller, p, "is not a block mk_kmalloc handed out");
  return pages << heap->config().arena.page_shift;
}

// ---- krealloc ----

void* krealloc(const void* p, size_t size, unsigned gfp, const char* caller) {
  if (p == nullptr) return kmalloc(size, gfp);
  if (size == 0) {
    kfree(p, caller);
    return nullptr;
  }
  const size_t old = ksize(p, caller);  // also refuses what kmalloc did not hand out
  char* const block = static_cast<char*>(const_cast<void*>(p));
  // A freed class object must not be resized (nor used, nor freed again): its first word
  // holds the free key, and the slab layer says whether it is really free.
  if (MK_UNLIKELY(*reinterpret_cast<const uintptr_t*>(p) == g_free_key)) krealloc_check_freed(p, caller);
  if (fast_index_of(p) == 0) {
    // A large block: freed but kept in this thread's cache of large blocks, it is still
    // allocated in the page heap (ksize took it), and its head descriptor says it is free.
    const PageDesc* head = g_heap->page_desc(p);
    if (MK_UNLIKELY(head != nullptr && (head->flags & kPageLargeCached)))
      report_fatal("double-free", caller, p, "the block is already free");
  }
  if (size <= old) {
    size_t usable = 0;  // stays 0 if the block must move
    if (old <= kMaxSize) {
      // A class object: keep it unless the new size's class is less than half of it.
      if (size_class::class_size(size_class::size_to_class(size)) * 2 >= old) usable = old;
    } else if (size > kMaxSize) {
      const size_t old_pages = old >> g_page_shift;
      const size_t pages = (size + (size_t{1} << g_page_shift) - 1) >> g_page_shift;
      if (old_pages <= g_max_exact_pages &&
          (pages == old_pages || g_heap->shrink_pages_exact(block, pages) == BuddyStatus::kOk)) {
        usable = pages << g_page_shift;  // an arena block gave its tail pages back
      } else if (size * 2 >= old) {
        usable = old;  // a direct mapping (which cannot shrink) at most twice too big stays
      }
    }
    // (A large block for a class-sized request always moves: at most 32 KiB to copy.)
    if (usable != 0) {
      if (gfp & MK_GFP_ZERO) std::memset(block + size, 0, usable - size);
      return block;
    }
  }
  const int saved_errno = errno;
  void* fresh = kmalloc(size, gfp);
  if (fresh == nullptr) {
    if (size > old) return nullptr;  // errno = ENOMEM; p is untouched
    // A shrink never fails: the block that was to be replaced by a smaller one stays.
    errno = saved_errno;
    if (gfp & MK_GFP_ZERO) std::memset(block + size, 0, old - size);
    return block;
  }
  std::memcpy(fresh, block, old < size ? old : size);
  kfree(p, caller);
  return fresh;
}

}  // namespace memkit
