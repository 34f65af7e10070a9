// memkit — /proc/slabinfo version 2.1 and what slabtop makes of it (src/inspect/slabinfo.h)
//
// Format (mm/slab_common.c print_slabinfo_header, cache_show):
//
//   slabinfo - version: 2.1
//   # name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables ...
//   "%-17s %6lu %6lu %6u %4u %4d" " : tunables %4u %4u %4u" " : slabdata %6lu %6lu %6lu"
//
// Names longer than 17 characters push the columns right, so lines are read by whitespace: 16
// tokens, or more when a name holds spaces (the kernel warns about those; the 15 tokens from
// the right are the numbers). Root only (mode 0400); it exists only with CONFIG_SLUB_DEBUG.
// Under SLUB `objsize` is the slab size of an object including metadata and alignment,
// active_slabs == num_slabs and the tunables and sharedavail are 0.
//
// summarize_slabs() is slabtop's header (procps-ng 4.0.2, reference §2.3), exactly:
//
//   Active / Total Objects  ΣA / ΣN                          Active / Total Slabs  Σactive / Σnum
//   Active / Total Caches   #(A > 0) / #caches              Active / Total Size   Σ(A·objsize) / Σ(N·objsize)
//   Minimum / Average / Maximum Object: min objsize / Σ(N·objsize)/ΣN / max objsize
//                                       (min and max over every cache, empty ones included)
//
// and cache_size() its CACHE SIZE column: num_slabs · pagesperslab · page size.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "inspect/procfs.h"

namespace memkit::inspect {

struct SlabCacheInfo {
  std::string name;
  uint64_t active_objs = 0;
  uint64_t num_objs = 0;
  uint64_t objsize = 0;  // bytes per object, metadata and alignment included
  uint64_t objperslab = 0;
  uint64_t pagesperslab = 0;
  uint64_t limit = 0;  // the three tunables (0 under SLUB)
  uint64_t batchcount = 0;
  uint64_t sharedfactor = 0;
  uint64_t active_slabs = 0;
  uint64_t num_slabs = 0;
  uint64_t sharedavail = 0;

  /// slabtop's USE column: ⌊100·active/num⌋, 0 for an empty cache.
  unsigned use_percent() const;
  /// slabtop's CACHE SIZE: num_slabs · pagesperslab · page_size bytes.
  uint64_t cache_size(uint64_t page_size) const { return num_slabs * pagesperslab * page_size; }
};

struct SlabInfo {
  std::string version;  // "2.1"
  std::vector<SlabCacheInfo> caches;
};

/// Parses the text of /proc/slabinfo; `path` names the file in errors.
SlabInfo parse_slabinfo(std::string_view text, const std::string& path);
/// Reads /proc/slabinfo: "permission denied (needs root)" for others, "no such file (the
/// kernel has no CONFIG_SLUB_DEBUG)" when it is missing.
SlabInfo read_slabinfo(const ProcFs& fs);

/// slabtop's header lines, as numbers (sizes in bytes).
struct SlabSummary {
  uint64_t active_objs = 0;
  uint64_t total_objs = 0;
  uint64_t active_slabs = 0;
  uint64_t total_slabs = 0;
  uint64_t active_caches = 0;  // caches with active_objs > 0
  uint64_t total_caches = 0;
  uint64_t active_size = 0;  // Σ active_objs · objsize
  uint64_t total_size = 0;   // Σ num_objs · objsize
  uint64_t min_objsize = 0;
  uint64_t max_objsize = 0;
  double avg_objsize = 0;  // total_size / total_objs (0 when there are no objects)
};

SlabSummary summarize_slabs(const SlabInfo& info);

/// 100·part/whole with slabtop's rounding left to the printer (0 when whole is 0).
double percent(uint64_t part, uint64_t whole);

}  // namespace memkit::inspect
