// memkit — Prometheus metrics of live segments (src/stats/metrics.h)
//
// The text exposition format (version 0.0.4) of one or more processes' live segments
// (live_segment.h), one sample per process in each family, labelled pid="N",program="NAME":
//
//   memkit_heap_bytes, memkit_heap_peak_bytes, memkit_in_use_bytes, memkit_rss_bytes,
//   memkit_arenas, memkit_arena_bytes, memkit_free_pages, memkit_dirty_pages,
//   memkit_direct_bytes (gauges); memkit_allocations_total, memkit_frees_total,
//   memkit_returned_bytes_total, memkit_purged_bytes_total, memkit_unmapped_bytes_total
//   (counters); per size class (label class="kmalloc-64"): memkit_class_objects,
//   memkit_class_in_use_objects, memkit_class_slabs, memkit_class_bytes (gauges),
//   memkit_class_allocations_total, memkit_class_frees_total (counters); per arena and order
//   (labels arena="0",order="3"): memkit_buddy_free_blocks (gauge).
//
// No allocation: the text goes out through `emit` in pieces. The CLI (`memkit metrics PID…`)
// reads the segments and the RSS (/proc/PID/statm), and calls this.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "stats/live_segment.h"

namespace memkit::live {

struct MetricsInput {
  const LiveSegment* segment;  // a consistent copy
  uint64_t rss_bytes;          // the process's resident set now
};

void format_metrics(const MetricsInput* in, size_t n, void (*emit)(void* ctx, const char* text, size_t len),
                    void* ctx);

}  // namespace memkit::live
