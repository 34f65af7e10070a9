// memkit — the stats layer: the heap report (src/stats/report.h)
//
// The stats layer (src/stats/) reads the counters and snapshots of every layer below it, never
// changes them, and is the one place where what they say is put into words: the heap report
// (malloc_stats, `memkit run --stats/--json`), the live shared-memory segment (live.h) and the
// Prometheus metrics built from it (metrics.h). Like the rest of the allocator core it never
// allocates through malloc: the report is formatted into a static buffer under one lock.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "slab/magazine.h"
#include "slab/slab_cache.h"

namespace memkit {

/// The objects of a cache the program holds: active in its slabs, less those waiting free in
/// the depot and the threads' magazines. The report and the live segment both count so.
inline size_t objects_in_use(const SlabCacheStats& st, const MagazineSnapshot& mags) {
  const size_t cached = st.depot_objects + mags.cached;
  return st.active_objs > cached ? st.active_objs - cached : 0;
}

/// The heap report to fd: calls, bytes in use, peak heap and RSS, memory given back to the OS,
/// one slabinfo line per size class in use, the arenas' buddyinfo with their fragmentation
/// indices; as text (malloc_stats, `memkit run --stats`) or as one JSON object (--json).
void write_report(int fd, bool json);

/// The figures of the report, for tests and the prefixed API.
struct HeapReport {
  uint64_t allocations;      // kmalloc blocks handed out (malloc, calloc, realloc moves, new...)
  uint64_t frees;            // and given back: allocations - frees blocks are live
  size_t in_use_bytes;       // usable bytes of the blocks live now
  size_t peak_heap_bytes;    // most pages held for blocks at once (slabs, large blocks, metadata)
  size_t heap_bytes;         // the same, now
  size_t peak_rss_bytes;     // the process's (getrusage)
  size_t returned_bytes;     // given back to the OS so far (purged + unmapped)
};
void heap_report(HeapReport* out);

/// The stats layer's lock (the report's buffer, the live segment's refresh), taken around fork()
/// by the library's fork handlers (malloc/lifecycle.h) before any other memkit lock.
void stats_lock();
void stats_unlock();

}  // namespace memkit
