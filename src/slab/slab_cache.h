// memkit — object caches (src/slab/slab_cache.h)
//
// Bonwick's slab allocator (USENIX 1994) with the magazine layer of Bonwick & Adams (2001):
//
//   mk_cache_alloc ──> this thread's CpuCache for the cache: pop from the loaded magazine
//        (fast path)    empty: swap with the previous magazine, or exchange with the depot
//                       (a full magazine), or fill from the slab layer (a batch)
//   mk_cache_free  ──> push on the loaded magazine
//        (fast path)    full: swap with the previous, or exchange with the depot (an empty one);
//                       the depot keeps up to 512 KiB of full magazines (4..64), the rest
//                       go back to slabs; an idle depot shrinks back to 4 at the background
//                       purger's rounds (magazine_decay_depots)
//   slab layer     ──> partial / full / empty slabs of one buddy block each (2^order pages from
//                       the page heap), under the cache's lock; empty slabs beyond a small limit
//                       go back to the page heap; shrink gives back all of them
//
// Why magazines rather than thread-owned slabs: a free from any thread is a push on that
// thread's own magazine (no atomic, no lock, whoever allocated the object), memory moves
// between threads through the depot a magazine at a time, and a thread's objects go back when
// it exits by handing its magazines to the depot. Producer/consumer patterns cost one depot
// exchange per M objects.
//
// Slab layout (no header in front of objects; the slab's metadata is its head page's
// descriptor, see slab_page.h):
//
//   | colour | obj 0 | obj 1 | ... | obj n-1 | leftover - colour |
//   each obj slot = size bytes:  [red zone L][object][red zone R][free words?][pad]
//
// A free object carries two words (its "free words"): the free key (g_free_key, a per-process
// random secret) and, on a slab's free list, the link to the next free object. They overlay the
// object's first 16 bytes (kmalloc's: the key is the object's first word), except when the
// object must keep its contents while free (a ctor, POISON), where they follow the object; a
// slot is at least 16 bytes. Links are stored encoded (safe-linking: ptr ^ (slot address >> 12)
// ^ a per-cache secret), so a write after free cannot aim a later allocation at an address of
// the attacker's choosing; a link that decodes to no object of the slab, or a free object whose
// key was overwritten (an overflow into it), is `slab-corruption` when the slab hands it out.
//
// Double frees (glibc tcache's key, made exact): every free writes the key into the object and
// every allocation clears it, so the fast path of a free is one load and compare more. A free
// that finds the key already there looks for the object where free objects wait — every
// thread's magazines, the depot, its slab's free list (find_free, under the locks) — and, found,
// is `double-free` and abort; not found (a program that stored the key's value itself), the free
// goes on. The search runs only on a key hit, so its cost is nothing in a correct program.
//
// Constructor semantics (Bonwick): the ctor runs when an object first enters a slab, i.e. when
// the slab is created, and never on alloc; objects come back to the cache in their constructed
// state. POISON does not overwrite objects of a cache with a ctor (their state must survive).
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "arena/page_desc.h"
#include "arena/page_heap.h"

namespace memkit {

struct Magazine;
class SlabCache;

inline constexpr size_t kMaxSlabCaches = 4096;
/// Registry indices [0, kReservedCacheIndices) are given only on request (SlabCache::init's
/// fixed_index): kmalloc's classes, so that their CpuCaches are the thread's first chunk.
inline constexpr size_t kReservedCacheIndices = 64;
/// Lanes of partial slabs per cache (see SlabCache::partial_).
inline constexpr unsigned kSlabLanes = 4;
inline constexpr size_t kSlabNameLen = 32;

// Flags (the C API's MK_SLAB_* values; internal ones above 1 << 16).
inline constexpr unsigned kSlabHwcacheAlign = 0x2000u;
inline constexpr unsigned kSlabRedZone = 0x0400u;
inline constexpr unsigned kSlabPoison = 0x0800u;
inline constexpr unsigned kSlabNoMagazines = 1u << 16;  // bootstrap caches: straight to slabs

/// Per-cache statistics, the fields of a /proc/slabinfo 2.1 line and a few more.
struct SlabCacheStats {
  char name[kSlabNameLen];
  size_t object_size;     // what the user asked for
  size_t size;            // the slot: object + metadata + alignment (slabinfo's objsize)
  size_t align;
  unsigned order;         // pages per slab = 2^order
  unsigned objects_per_slab;
  size_t active_objs;     // not on a slab's free list (in use, or cached in magazines)
  size_t num_objs;
  size_t active_slabs;    // slabs with at least one object out
  size_t num_slabs;
  size_t magazine_size;   // slabinfo "limit"
  size_t batch;           // slabinfo "batchcount"
  size_t depot_objects;   // objects in full magazines in the depot (slabinfo "sharedavail")
  size_t colours;
  uint64_t allocs;        // slab-layer allocations (objects handed to magazines or callers)
  uint64_t frees;
  uint64_t grows;         // slabs created
  uint64_t reaps;         // slabs given back to the page heap
};

/// A cache's layout, which follows from its parameters alone (SlabCache::geometry).
struct SlabGeometry {
  size_t align;          // the objects' alignment (at least 8)
  size_t slot_size;      // object + red zones + free words + padding (slabinfo's objsize)
  size_t obj_offset;     // the object's start within its slot (after the left red zone)
  size_t key_offset;     // where the free key lives within the slot (a free object's first
                         // free word)
  size_t free_offset;    // where the free pointer (the link) lives within the slot
  size_t red_left;       // bytes of left red zone
  size_t red_right;      // bytes of right red zone
  unsigned order;        // pages per slab = 2^order
  unsigned objects;      // per slab
  size_t colours;        // distinct colour offsets
  size_t leftover;       // bytes of a slab after its objects (colouring uses them)
};

/// The free key: the word a free object holds at its key offset (the first word of a kmalloc
/// object), random per process, never 0 (allocation writes 0 there). Set before any cache is
/// made (SlabCache::init); hidden, so that the fast paths load it with one instruction.
extern uintptr_t g_free_key __attribute__((visibility("hidden")));

class SlabCache {
 public:
  /// The layout init() gives a cache of these parameters over pages of page_size with slabs of
  /// at most 2^max_order pages, without making one (`memkit sizeclasses` prints it). Returns 0,
  /// or EINVAL (size 0 or too large, align not a power of two or above the page size).
  static int geometry(size_t size, size_t align, unsigned flags, bool has_ctor, size_t page_size,
                      unsigned max_order, SlabGeometry* out);

  /// Sets up a cache in place. Returns 0, or EINVAL (size 0 or too large, align not a power of
  /// two or above the page size, name too long) / ENOSPC (no cache index left, or
  /// `fixed_index` taken).
  /// fixed_index: kAnyIndex, or the registry index the cache must have (one below
  /// kReservedCacheIndices: kmalloc's classes, whose CpuCaches its fast paths index directly).
  /// page_id: 0, or 1..255 to mark every page of its slabs (PageDesc::slab_id) for a fast
  /// free that starts from the page descriptor (kmalloc's; needs a page heap with
  /// fast_table).
  static constexpr unsigned kAnyIndex = ~0u;
  int init(PageHeap* heap, const char* name, size_t size, size_t align, unsigned flags,
           void (*ctor)(void*), unsigned fixed_index = kAnyIndex, uint8_t page_id = 0);

  /// An object, or nullptr (ENOMEM). gfp: MK_GFP_ZERO zeroes the object.
  void* alloc(unsigned gfp);
  /// Frees an object of this cache. A pointer that is not one of its objects is a fatal
  /// report naming `caller`.
  void free(void* p, const char* caller);
  /// free() for a caller that already looked up p's slab (slab_of(), nullptr if none), such as
  /// kfree: the same checks and path without a second lookup.
  void free_in_slab(const PageDesc* slab, void* p, const char* caller);

  /// Gives back this thread's cached objects, the depot's, and every empty slab. Returns the
  /// pages given back to the page heap.
  size_t shrink();
  /// fork(): the cache's lock, taken before and released after (registry_fork_*).
  void lock_for_fork() { pthread_mutex_lock(&lock_); }
  void unlock_after_fork() { pthread_mutex_unlock(&lock_); }
  /// Destroys the cache if no object is in use: drains every thread's magazines (the caller
  /// guarantees no other thread uses the cache meanwhile, as the kernel does), gives every slab
  /// back, returns 0. With objects in use, prints "N objects remaining in cache NAME" and
  /// returns EBUSY, leaving the cache usable.
  int destroy();

  void stats(SlabCacheStats* out);
  /// The /proc/slabinfo 2.1 line (without the header). Returns snprintf's result.
  int format_slabinfo(char* buf, size_t len);

  const char* name() const { return name_; }
  size_t object_size() const { return object_size_; }
  size_t slot_size() const { return size_; }
  unsigned index() const { return index_; }
  unsigned flags() const { return flags_; }

  /// The head descriptor of the slab holding p (nullptr if p is not inside a slab); its
  /// owner is slab_page::cache(). Lock-free: arena map + page descriptor.
  static PageDesc* slab_of(PageHeap* heap, const void* p);
  /// Whether p is the start of an object in `slab` (one of this cache's slabs).
  bool is_object_start(const PageDesc* slab, const void* p) const;
  /// The free key's offset from an object's start (0 for kmalloc's caches).
  ptrdiff_t key_delta() const { return key_delta_; }
  /// The free key's word of object p (the object itself for kmalloc's caches).
  uintptr_t* key_word(const void* p) const {
    return reinterpret_cast<uintptr_t*>(const_cast<char*>(static_cast<const char*>(p)) + key_delta_);
  }
  /// Where the object p (of `slab`, one of this cache's) waits free: "in this thread's
  /// magazine", "in another thread's magazine", "in the depot", "on its slab's free list"; or
  /// nullptr if it is nowhere free (it is in use). Takes the thread-list and cache locks; exact
  /// unless another thread allocates or frees p meanwhile. The slow confirmation of a key hit.
  const char* find_free(const PageDesc* slab, const void* p);
  /// A key hit on p, to be confirmed: reports a double free naming `caller` if p is free,
  /// returns if it is not.
  void check_double_free(const PageDesc* slab, const void* p, const char* caller);

  // ---- used by the magazine layer (magazine.cpp), under lock_ ----
  /// Moves up to n objects from the slab layer into out[]. Returns how many (0 on ENOMEM).
  size_t alloc_batch_locked(void** out, size_t n);
  /// Returns n objects to their slabs; empty slabs beyond a small reserve go back.
  void free_batch_locked(void* const* objs, size_t n);
  /// Whether p is on the free list of `slab` (checked to be one of this cache's slabs).
  bool on_free_list_locked(const PageDesc* slab, const void* p) const;

  pthread_mutex_t lock_ = PTHREAD_MUTEX_INITIALIZER;
  Magazine* depot_full_ = nullptr;   // under lock_
  Magazine* depot_empty_ = nullptr;  // under lock_
  size_t depot_full_count_ = 0;
  size_t depot_empty_count_ = 0;
  bool depot_used_ = false;          // under lock_: a full magazine went in or out since the
                                     // last decay round (magazine_decay_depots)
  unsigned magazine_size_ = 0;       // rounds per magazine (0: no magazine layer)
  uint64_t exited_allocs_ = 0;       // under lock_: CpuCache counts of threads gone
  uint64_t exited_frees_ = 0;

 private:
  struct SlabList {
    PageDesc* head = nullptr;
    size_t count = 0;
  };

  void* alloc_slow(unsigned gfp);
  void free_slow(void* p);  // after the checks: a full magazine, or no magazine layer
  [[noreturn]] void invalid_free(const PageDesc* slab, const void* p, const char* caller) const;
  /// is_object_start for a p known to lie inside `slab` (found from p itself).
  bool is_object_start_in(const PageDesc* slab, const void* p) const;
  void debug_on_alloc(void* obj);
  __attribute__((noinline)) void debug_on_free(void* obj, const char* caller);
  bool grow_locked();
  PageDesc* refill_slab_locked(unsigned lane);
  void* take_object_locked(PageDesc* slab);
  void put_object_locked(void* obj);
  void release_slab_locked(PageDesc* slab);
  void list_add(SlabList* list, PageDesc* slab);
  void list_del(SlabList* list, PageDesc* slab);
  size_t reap_empty_locked(size_t keep);
  void* encode(void* next, void* const* where) const;
  void* decode(void* stored, void* const* where) const;
  [[noreturn]] void corruption(const char* kind, const char* caller, const void* obj,
                               const char* what) const;

  PageHeap* heap_ = nullptr;
  char name_[kSlabNameLen] = {};
  size_t object_size_ = 0;
  size_t size_ = 0;             // slot size
  size_t align_ = 0;
  size_t obj_offset_ = 0;       // object start within its slot (after the left red zone)
  ptrdiff_t key_delta_ = 0;     // the free key's offset in the slot - obj_offset_
  size_t free_offset_ = 0;      // where the free pointer lives within the slot
  size_t red_left_ = 0;         // bytes of left red zone
  size_t red_right_ = 0;        // bytes of right red zone (after object [+ free pointer])
  uint64_t fastmod_m_ = 0;      // Lemire's fastmod constant for size_
  size_t span_ = 0;             // objects_ * size_: the bytes the objects of a slab cover
  uintptr_t slab_mask_ = 0;     // slab bytes - 1 (slabs are aligned to their size)
  unsigned slow_flags_ = 0;     // nonzero: alloc/free skip the inline fast path (debug flags,
                                // or no magazine layer)
  unsigned flags_ = 0;
  unsigned order_ = 0;
  unsigned objects_ = 0;        // per slab
  size_t colour_count_ = 1;     // distinct colours
  size_t colour_next_ = 0;
  void (*ctor_)(void*) = nullptr;
  uintptr_t secret_ = 0;
  unsigned index_ = 0;
  uint8_t page_id_ = 0;         // PageDesc::slab_id of this cache's slab pages (0: none)

  // Partial slabs in lanes (SLUB's per-cpu slabs, loosely): each thread refills its magazines
  // from the slabs of its own lane (ThreadCache::lane) while there are any, so that two threads
  // do not take their objects from the same slab and write to the same cache lines. A slab
  // joins the lane of the thread that takes its first object (PageDesc::reserved says which).
  SlabList partial_[kSlabLanes], full_, empty_;  // under lock_
  size_t active_objs_ = 0;           // under lock_: objects not on slab free lists
  size_t num_slabs_ = 0;
  uint64_t allocs_ = 0, frees_ = 0, grows_ = 0, reaps_ = 0;
};

inline PageDesc* SlabCache::slab_of(PageHeap* heap, const void* p) {
  PageDesc* d = heap->page_desc(p);
  if (d == nullptr) return nullptr;
  if (d->kind == PageKind::kSlabTail) {
    // Slabs are aligned to their size and a block's descriptors are consecutive: step back by
    // p's page index within its slab.
    const unsigned shift = heap->config().arena.page_shift;
    const uintptr_t in_slab = reinterpret_cast<uintptr_t>(p) & ((uintptr_t{1} << (shift + d->order)) - 1);
    d -= in_slab >> shift;
  }
  return d->kind == PageKind::kSlab ? d : nullptr;
}

}  // namespace memkit
