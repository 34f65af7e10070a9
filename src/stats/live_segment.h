// memkit — the live statistics segment's layout (src/stats/live_segment.h)
//
// A program on libmemkit.so with stats_shm=1 (`memkit run` sets it) publishes its heap's
// figures in a small shared-memory file, which `memkit stats/top/metrics PID` read while it
// runs, without ptrace and without stopping it:
//
//   - the file is a memfd (memfd_create "memkit-stats", os::shared_file_create): no name in any
//     filesystem, gone with the process even after SIGKILL. A reader finds it among
//     /proc/PID/fd/* by its link, "/memfd:memkit-stats (deleted)", and opens it there, which
//     the kernel allows to the process's user and root only (ptrace-read access);
//   - the writer (stats/live.cpp) refreshes it from the background purger's thread every
//     stats_shm_ms and at its rounds, never from a malloc or free path, under a sequence
//     counter: odd while a refresh is under way, so a reader copies the segment, checks that
//     `seq` was even and unchanged across the copy, and tries again otherwise;
//   - fixed-size arrays, no pointers: the size classes, the arenas' buddyinfo (the first
//     kLiveMaxArenas; `arenas` counts them all) and a section for the sampling profiler's top
//     sites (`nsites` stays 0 until a profiler fills it). A new field goes at the end of its
//     struct's reserved space or bumps kLiveVersion; a reader checks magic, version, size and
//     pid before it trusts anything.
//
// This header is shared by the library (no STL, no allocation) and the CLI's reader.
#pragma once

#include <stdint.h>

namespace memkit::live {

inline constexpr uint64_t kLiveMagic = 0x5354534b4d454d31ull;  // "1MEMKSTS" little-endian
inline constexpr uint32_t kLiveVersion = 1;
inline constexpr const char kLiveName[] = "memkit-stats";  // memfd name: "/memfd:memkit-stats"
inline constexpr unsigned kLiveMaxClasses = 64;
inline constexpr unsigned kLiveMaxArenas = 16;
inline constexpr unsigned kLiveMaxOrders = 25;  // orders 0..24 (kBuddyMaxSupportedOrder)
inline constexpr unsigned kLiveMaxSites = 32;
inline constexpr unsigned kLiveSiteFrames = 16;

/// One kmalloc size class (slabinfo's fields, plus its calls from the magazine layer).
struct LiveClass {
  char name[32];            // "kmalloc-64"
  uint64_t object_size;     // bytes a block of the class holds
  uint64_t slot_size;       // slabinfo's objsize
  uint64_t active_objs;     // not free on a slab (in use, or cached in magazines and depots)
  uint64_t num_objs;
  uint64_t in_use_objs;     // in use by the program (active_objs less the cached ones)
  uint64_t active_slabs;
  uint64_t num_slabs;
  uint64_t pages_per_slab;
  uint64_t allocs;          // malloc-level calls served by the class
  uint64_t frees;
  uint64_t reserved[6];
};

/// One arena: its buddyinfo line.
struct LiveArena {
  uint64_t bytes;
  uint64_t pages;
  uint64_t free_pages;
  uint64_t dirty_pages;
  uint32_t max_order;
  uint32_t pad;
  uint64_t nr_free[kLiveMaxOrders];  // free blocks per order, 0..max_order
};

/// One allocation site of the sampling profiler (filled by a profiler; none yet).
struct LiveSite {
  uint64_t bytes;           // estimated bytes live from this site
  uint64_t blocks;          // estimated blocks live
  uint64_t allocs;          // estimated allocations so far
  uint32_t nframes;
  uint32_t pad;
  uint64_t frames[kLiveSiteFrames];  // return addresses, innermost first
};

struct LiveSegment {
  // ---- identity (written once) ----
  uint64_t magic;
  uint32_t version;
  uint32_t size;            // sizeof(LiveSegment) of the writer
  int32_t pid;              // the writer's process
  uint32_t page_size;
  uint64_t start_ns;        // CLOCK_REALTIME of the segment's creation
  // ---- the sequence counter: odd while the writer is at work ----
  uint64_t seq;
  // ---- the figures (under seq) ----
  uint64_t updates;         // refreshes so far
  uint64_t update_ns;       // CLOCK_REALTIME of this one
  uint64_t interval_ms;     // the refresh period (stats_shm_ms)
  char program[32];
  uint64_t allocations;     // calls: blocks handed out and given back
  uint64_t frees;
  uint64_t in_use_bytes;    // usable bytes of the blocks live now
  uint64_t heap_bytes;      // pages held for blocks (slabs, large blocks, metadata)
  uint64_t peak_heap_bytes;
  uint64_t peak_rss_bytes;  // getrusage's
  uint64_t returned_bytes;  // given back to the OS so far: purged + unmapped
  uint64_t purged_bytes;
  uint64_t unmapped_bytes;
  uint64_t arenas;          // mapped now (the first kLiveMaxArenas are in arena[])
  uint64_t arena_bytes;
  uint64_t allocated_pages;
  uint64_t free_pages;
  uint64_t dirty_pages;
  uint64_t direct_mappings;
  uint64_t direct_bytes;
  uint64_t direct_cached;
  uint64_t direct_cached_bytes;
  uint64_t purger_rounds;   // the background purger's
  uint64_t purger_bytes;
  uint64_t reserved[16];
  uint32_t nclasses;        // entries used in cls[]
  uint32_t narenas;         // in arena[]
  uint32_t nsites;          // in site[] (0 without a profiler)
  uint32_t site_sample_bytes;  // the profiler's mean sampling interval (0: none)
  LiveClass cls[kLiveMaxClasses];
  LiveArena arena[kLiveMaxArenas];
  LiveSite site[kLiveMaxSites];
};

/// A snapshot is consistent if seq was even and the same before and after the copy.
inline uint64_t seq_begin_read(const LiveSegment* s) {
  return __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
}
inline bool seq_end_read(const LiveSegment* s, uint64_t begin) {
  __atomic_thread_fence(__ATOMIC_ACQUIRE);
  return (begin & 1) == 0 && __atomic_load_n(&s->seq, __ATOMIC_RELAXED) == begin;
}

}  // namespace memkit::live
