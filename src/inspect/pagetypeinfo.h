// memkit — /proc/pagetypeinfo (src/inspect/pagetypeinfo.h)
//
// The buddy free lists split by migrate type, and the pageblocks of each type
// (mm/vmstat.c pagetypeinfo_show*). Root only (mode 0400), and costly for the kernel: it walks
// the free lists under zone->lock.
//
//   Page block order: 9
//   Pages per block:  512
//
//   Free pages count per migrate type at order       0      1 ...     10
//   Node    0, zone      DMA, type    Unmovable      0      0 ...      0      (per zone, per type)
//
//   Number of blocks type     Unmovable      Movable  Reclaimable   HighAtomic      Isolate
//   Node 0, zone      DMA            1            7            0            0            0
//
// A free count printed with a '>' prefix means the kernel stopped counting at 100000 entries
// (the value is a lower bound; `capped` records it). With CONFIG_PAGE_OWNER a third table,
// "Number of mixed blocks", follows in the blocks layout; it is kept in `mixed`.
//
// For each zone and order, the sum over types equals the buddyinfo column when both are read
// at the same instant. Malformed input is an InspectError naming the file and the line.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "inspect/procfs.h"

namespace memkit::inspect {

struct PageTypeFree {
  int node = 0;
  std::string zone;
  std::string type;               // "Unmovable", "Movable", "Reclaimable", "HighAtomic", ...
  std::vector<uint64_t> nr_free;  // per order
  bool capped = false;            // some count was printed as ">N" (a lower bound)
};

struct PageTypeBlocks {
  int node = 0;
  std::string zone;
  std::vector<uint64_t> blocks;  // per type, in the order of PageTypeInfo::block_types
};

struct PageTypeInfo {
  unsigned pageblock_order = 0;
  uint64_t pages_per_block = 0;
  unsigned orders = 0;
  std::vector<PageTypeFree> free;          // zone by zone, type by type
  std::vector<std::string> block_types;    // columns of the blocks tables
  std::vector<PageTypeBlocks> blocks;      // "Number of blocks type"
  std::vector<PageTypeBlocks> mixed;       // "Number of mixed blocks" (CONFIG_PAGE_OWNER only)
};

/// Parses the text of /proc/pagetypeinfo; `path` names the file in errors.
PageTypeInfo parse_pagetypeinfo(std::string_view text, const std::string& path);
/// Reads /proc/pagetypeinfo: "permission denied (needs root)" for others.
PageTypeInfo read_pagetypeinfo(const ProcFs& fs);

}  // namespace memkit::inspect
