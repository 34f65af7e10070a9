// memkit — the page heap (src/arena/page_heap.h)
//
// Page blocks for the whole process, over many arenas:
//
//   alloc_pages(order)  -> the first live arena whose free-order hint allows it, under that
//                          arena's lock; none: a new arena (under the heap lock)
//   free_pages(p, order)-> arena map lookup (O(1), lock-free) -> that arena, under its lock
//   vmalloc(bytes)      -> an arena block when it fits the largest order, else a direct
//                          mapping aligned to a map chunk (the vmalloc analogue), recorded in
//                          the arena map so vfree and owns() find it
//   purge()             -> every arena's dirty blocks back to the OS now; idle arenas unmapped
//   alloc_pages_exact(n)-> exactly n pages (the kernel's alloc_pages_exact): the covering block
//                          from an arena with its unused tail given straight back to the buddy;
//                          beyond the largest order, a direct mapping of n pages. kmalloc's
//                          large blocks. free_pages_exact / exact_pages / shrink_pages_exact
//                          take the block's address alone (the page count is recorded: the head
//                          descriptor's `reserved`, or the direct mapping's size).
//
// The direct-mapping cache: a freed direct mapping is not unmapped but kept, committed, on a
// list of cached pieces (oldest last) for later direct mappings, up to direct_cache_bytes and
// kMaxCached pieces, each until decay_ms has passed since its free (0: no cache; -1: until
// purge()). A cached piece is free memory: it is out of the arena map (owns() says no; a free
// of the block it was is refused as a double free, of a pointer inside it as one of memory not
// handed out) and out of direct_count_/bytes_. A
// request for size bytes takes, in this order:
//   1. in place: the smallest cached piece of >= size bytes that starts on the alignment (every
//      freed mapping does); its tail beyond size stays cached as a piece of its own;
//   2. else, with anything cached: a fresh reservation into which cached pieces (the largest
//      that fit, the last one split) are moved with os move (mremap), page tables only, so
//      the pages come with no page fault; the part not covered is fresh (faults, reads zero);
//   3. else a fresh reservation.
// Reused pages are not zero: MK_GFP_ZERO clears them (a memset costs less than the faults).
// Pieces are split, never merged (one piece is always inside one OS mapping, as a move needs).

// Decay: free blocks of order >= purge_order stay committed for decay_ms after their free
// (reuse is then free of page faults), then the next free_pages()/vfree() that finds the decay
// time passed gives them back; decay_ms = 0 gives back at once, -1 never (only purge()).
// A fully free arena is unmapped at that point (release_arenas), except the last one. With no
// frees to drive it (a program that frees and goes idle), the background purger does the same
// (background_purge.h; the drop-in malloc turns it on).
//
// Locks: heap lock (arena creation/release, direct-mapping records) before an arena's lock.
// Nothing here allocates through malloc: arenas live in a fixed table of slots, direct-mapping
// records in pages from the OS.
#pragma once

#include <pthread.h>

#include <atomic>
#include <new>
#include <cstddef>
#include <cstdint>

#include "arena/arena.h"
#include "arena/arena_map.h"
#include "memkit/memkit.h"
#include "os/os.h"

namespace memkit {

struct PageHeapConfig {
  ArenaConfig arena{};
  size_t direct_cache_bytes = size_t{128} << 20;  // freed direct mappings kept; 0: none
  long decay_ms = 1000;
  bool release_arenas = true;
  /// Exact blocks of this many bytes or more are direct mappings even when an arena could hold
  /// them (0: only those beyond the largest order). Set under an address-space limit.
  size_t direct_from_bytes = 0;
  /// Lists the arenas in fast_arena::g_table (arena_map.h) for kfree's fast path: only the
  /// heap under kmalloc (global_page_heap) does, and only with 256 MiB arenas of 4 KiB pages.
  bool fast_table = false;

  /// The configuration MEMKIT_OPTIONS asks for (see options.def).
  static PageHeapConfig from_options();
};

class PageHeap {
 public:
  static constexpr size_t kMaxArenas = 1024;
  /// The smallest arena made when the OS refuses larger ones (one arena-map chunk).
  static constexpr size_t kMinArenaBytes = ArenaMap::kChunkSize;

  explicit PageHeap(const os::OsApi& os = os::system_os(),
                    const PageHeapConfig& config = PageHeapConfig::from_options());
  ~PageHeap();  // unmaps everything (for tests; the process heap is never destroyed)
  PageHeap(const PageHeap&) = delete;
  PageHeap& operator=(const PageHeap&) = delete;

  /// 2^order pages aligned to their size, or nullptr (errno ENOMEM, or EINVAL for a bad order).
  /// gfp: MK_GFP_ZERO zeroes (skipped when the pages are fresh from the OS).
  void* alloc_pages(unsigned order, unsigned gfp);
  /// Frees a block from alloc_pages(). Returns kOk or why the pointer was refused (nothing is
  /// changed then): kOutOfRange (not memkit's), kDoubleFree, kWrongOrder, kNotBlockStart, ...
  BuddyStatus free_pages(void* p, unsigned order);
  /// The order of the page block at p.
  BuddyStatus order_of(const void* p, unsigned* order) const;

  /// bytes rounded up to pages: an arena block when it fits, else a direct mapping.
  void* vmalloc(size_t bytes, unsigned gfp);
  /// Frees a vmalloc() block. An exact allocation is refused (kNotBlockStart).
  BuddyStatus vfree(void* p);

  /// Exactly npages pages (not rounded up to an order), aligned to the page size (and to the
  /// covering order when npages <= 2^max_order): the covering block with its tail given back
  /// to the buddy, or beyond the largest order a direct mapping. nullptr with errno ENOMEM
  /// (EINVAL for npages == 0). gfp: MK_GFP_ZERO (skipped when the pages are fresh).
  void* alloc_pages_exact(size_t npages, unsigned gfp);
  /// The same, aligned to `align` bytes (a power of two; at most the page size changes
  /// nothing): an arena block of order >= log2(align / page size) when npages fits the largest
  /// order, else a direct mapping reserved at that alignment. Freed by free_pages_exact.
  void* alloc_pages_exact_aligned(size_t npages, size_t align, unsigned gfp);
  /// Frees a block of alloc_pages_exact(). kOk, or why p was refused (nothing changes then):
  /// kOutOfRange (not memkit's), kDoubleFree, kWrongOrder (a block of alloc_pages or vmalloc,
  /// not an exact one), kMisaligned / kNotBlockStart (inside a block), ...
  BuddyStatus free_pages_exact(void* p);
  /// Gives the pages of an exact allocation beyond its first npages back, keeping its address
  /// (1 <= npages <= its page count; kInvalidArgument otherwise). Arena blocks only: a direct
  /// mapping cannot shrink in place (kInvalidArgument). Statuses as free_pages_exact.
  BuddyStatus shrink_pages_exact(void* p, size_t npages);
  /// The page count of the exact allocation starting at p, or 0 if p is not the start of one.
  /// Lock-free; like page_desc(), for a caller that owns the block it asks about.
  size_t exact_pages(const void* p) const;

  /// fork(): takes the heap's lock, then every arena's (the order alloc takes them in), and
  /// releases them after the fork in the parent and the child.
  void fork_prepare();
  void fork_release();

  /// Whether p lies in memory memkit handed out or keeps (an arena or a direct mapping).
  bool owns(const void* p) const;

  /// The descriptor of the arena page holding p, or nullptr if p is not in an arena. Lock-free;
  /// the caller owns the block it asks about (the slab layer describes its slabs here).
  PageDesc* page_desc(const void* p) const {
    Arena* a = arena_for(p);
    return a != nullptr ? a->page_of(p) : nullptr;
  }
  /// The address of the page a descriptor describes: the descriptor array starts at its
  /// arena's base, and arenas are aligned to their size.
  /// Arenas differ in size (smaller ones when the OS refuses the configured size), so the
  /// arena is found through the arena map unless it is one of the fast table's.
  void* page_address(const PageDesc* d) const {
    const uintptr_t du = reinterpret_cast<uintptr_t>(d);
    uintptr_t arena;
    if (uses_fast_table() && fast_arena::contains(du)) {
      arena = du & ~((uintptr_t{1} << fast_arena::kShift) - 1);
    } else {
      const Arena* a = arena_for(d);
      if (a == nullptr) return nullptr;
      arena = a->base();
    }
    const uintptr_t index = (du - arena) / sizeof(PageDesc);
    return reinterpret_cast<void*>(arena + (index << config_.arena.page_shift));
  }

  /// Gives every dirty free block back now, whatever its order and age (malloc_trim), unmaps
  /// idle arenas and cached direct mappings.
  /// Returns the bytes.
  size_t purge();
  /// Gives back what has waited longer than the decay time (called by the free paths).
  size_t purge_expired(uint64_t now);

  /// Called after a free that leaves dirty blocks in an arena (with decay_ms >= 0), whatever
  /// locks of the layers above are held: the background purger's wake-up (background_purge.h).
  void set_dirty_hook(void (*hook)()) { dirty_hook_.store(hook, std::memory_order_release); }

  void stats(mk_page_stats* out) const;
  /// fn(ctx, stats) for each live arena (each arena's stats taken under its lock).
  void for_each_arena(void (*fn)(void* ctx, const ArenaStats& stats), void* ctx) const;
  /// One buddyinfo line per live arena. Returns the length needed.
  int format_buddyinfo(char* buf, size_t len) const;

  size_t page_size() const { return size_t{1} << config_.arena.page_shift; }
  const PageHeapConfig& config() const { return config_; }

 private:
  // A live direct mapping (on live_direct_), a cached piece (on cached_, with freed_ns) or a
  // free record (on free_records_, via next). base, size and exact are read without the lock
  // (direct_for), so through atomic_ref.
  struct DirectMapping {
    uintptr_t base;
    size_t size;
    uintptr_t exact;  // 1: made by alloc_pages_exact (freed by free_pages_exact), 0: vmalloc;
                      // cached: 1 if base is where a freed block started
    DirectMapping* prev;
    DirectMapping* next;
    uint64_t freed_ns;  // cached: when it was freed (os::now_ns)
  };
  // Address ranges to unmap or move once the lock is dropped.
  struct Span {
    uintptr_t base;
    size_t size;
  };
  static constexpr size_t kMaxCached = 64;      // cached pieces at most
  static constexpr size_t kMaxGather = 8;       // pieces moved into one new mapping at most
  static constexpr size_t kReleaseBatch = 16;   // pieces unmapped per lock hold

  Arena* arena_for(const void* p) const;
  bool uses_fast_table() const {
    return config_.fast_table && config_.arena.size == (size_t{1} << fast_arena::kShift) &&
           config_.arena.page_shift == fast_arena::kPageShift;
  }
  DirectMapping* direct_for(const void* p) const;
  // The configuration of an arena of `size` bytes: the heap's, with the largest order that
  // fits beside the metadata.
  ArenaConfig arena_config_for(size_t size) const;
  // Whether arena a is listed in fast_arena::g_table (the heap's configured 256 MiB arenas).
  bool in_fast_table(const Arena& a) const {
    return uses_fast_table() && a.size() == (size_t{1} << fast_arena::kShift);
  }
  // A new live arena that can serve blocks of `order`, or nullptr.
  Arena* new_arena_locked(unsigned order);
  // An arena block: 2^order pages (exact_pages == 0) or exactly exact_pages pages (order is
  // then their covering order). Tries the arenas, then a new one.
  void* alloc_in_arenas(unsigned order, size_t exact_pages, bool* zeroed);
  void* direct_map(size_t size, bool exact, size_t align, unsigned gfp);
  // Step 1 above: a cached piece reused in place, published as a live mapping, or nullptr.
  void* take_cached_locked(size_t size, bool exact, size_t align);
  // Step 2: detaches cached pieces worth up to size bytes (under the lock), then moves them
  // into [dst, dst+size) (after it). Returns how many spans of dst now hold reused pages
  // (written to moved[], offsets from dst in base).
  size_t gather_cached(uintptr_t dst, size_t size, Span* moved);
  // Publishes [mem, mem+size) as a live direct mapping (nullptr, errno ENOMEM if it cannot).
  void* publish_direct_locked(void* mem, size_t size, bool exact);
  // Frees a live mapping: cached (*cached; then the oldest pieces beyond the bounds are added
  // to release[]), or itself added to release[]. Returns the count in release[] (<= kReleaseBatch).
  size_t retire_direct_locked(DirectMapping* d, Span* release, bool* cached);
  /// Frees the direct mapping that starts at p, made by vmalloc (exact false) or
  /// alloc_pages_exact (exact true); the statuses of vfree / free_pages_exact.
  BuddyStatus free_direct(void* p, bool exact);
  // Why a free of p, not a live mapping, is refused: kDoubleFree if p starts a cached piece
  // that a freed block left, else kOutOfRange.
  BuddyStatus cached_status_locked(const void* p) const;
  void unlink_live_locked(DirectMapping* d);
  void unlink_cached_locked(DirectMapping* d);
  void free_record_locked(DirectMapping* d);
  // Unmaps spans taken off the lists (no lock held), counting them as unmapped.
  size_t release_spans(const Span* spans, size_t n);
  // Unmaps the cached pieces freed before `before` (all: UINT64_MAX). Returns the bytes.
  size_t release_cached(uint64_t before);
  // After a free that cached a mapping: the purger's wake-up and the decay clock.
  void after_direct_cached();
  void run_decay_clock();
  void release_idle_arenas(bool require_purged, bool keep_one);
  DirectMapping* new_record_locked();
  /// Puts d (size bytes, its base and exact set) at the head of the cached mappings, stamped
  /// now; the cached bytes after it.
  size_t push_cached_locked(DirectMapping* d, size_t size);
  void maybe_purge(const Arena* a);
  // Pages handed out from the arenas (and the peak of those plus direct mappings), kept for
  // the statistics.
  void note_used(size_t pages);
  void note_unused(size_t pages);

  const os::OsApi* os_;
  PageHeapConfig config_;
  mutable pthread_mutex_t lock_ = PTHREAD_MUTEX_INITIALIZER;
  std::atomic<size_t> arena_slots_{0};  // slots [0, arena_slots_) have been used
  std::atomic<uint64_t> next_purge_ns_{0};
  std::atomic<void (*)()> dirty_hook_{nullptr};
  std::atomic<size_t> direct_count_{0};
  std::atomic<size_t> direct_bytes_{0};
  std::atomic<size_t> arena_used_pages_{0};
  std::atomic<size_t> peak_used_bytes_{0};
  std::atomic<size_t> purged_bytes_{0};
  std::atomic<size_t> unmapped_bytes_{0};
  std::atomic<size_t> cached_count_{0};
  std::atomic<size_t> cached_bytes_{0};
  DirectMapping* live_direct_ = nullptr;   // under lock_
  DirectMapping* cached_ = nullptr;        // under lock_: newest first
  DirectMapping* cached_tail_ = nullptr;   // under lock_: the oldest
  DirectMapping* free_records_ = nullptr;  // under lock_
  void* record_pages_ = nullptr;  // chain of record pages (first word links them)
  ArenaMap map_;
  // Arena slots come in groups of kSlotGroup, each group a mapping made when its first slot is
  // first used (new_arena_locked, under lock_) and published before arena_slots_ counts the
  // slot. A heap that has used two arenas maps one group (about 23 KiB): a small program pays
  // neither RSS nor, under an address-space limit, address space for the other 1022 slots.
  static constexpr size_t kSlotGroup = 8;
  static constexpr size_t kSlotGroupBytes = (kSlotGroup * sizeof(Arena) + 4095) & ~size_t{4095};
  Arena& arena_at(size_t i) {
    return *std::launder(reinterpret_cast<Arena*>(slot_groups_[i / kSlotGroup] + (i % kSlotGroup) * sizeof(Arena)));
  }
  const Arena& arena_at(size_t i) const {
    return *std::launder(
        reinterpret_cast<const Arena*>(slot_groups_[i / kSlotGroup] + (i % kSlotGroup) * sizeof(Arena)));
  }
  unsigned char* slot_groups_[kMaxArenas / kSlotGroup] = {};
};

/// The process's page heap (created on first use; never destroyed).
PageHeap& global_page_heap();

}  // namespace memkit
