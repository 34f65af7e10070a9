// memkit — /proc/buddyinfo (src/inspect/buddyinfo.h)
//
// The kernel prints one line per populated zone (mm/vmstat.c frag_show_print):
//
//   "Node %d, zone %8s " then "%6lu " per order (free blocks of 2^order pages), then '\n'
//
// so every line ends with a space. parse_buddyinfo() checks the whole file before anything is
// printed: a line that is not "Node N, zone NAME COUNT...", a count that is not a number, lines
// with different numbers of orders, more than kMaxBuddyOrders orders, an empty file or a last
// line without its '\n' (a truncated copy) is an InspectError naming the file and the line.
//
// The per-order fragmentation figures (unusable free space index, external fragmentation
// index) are the kernel's, from include/memkit/fragmentation.hpp.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "inspect/procfs.h"

namespace memkit::inspect {

/// More orders than any kernel has (MAX_PAGE_ORDER is at most 15 on any architecture); the
/// bound keeps 2^order arithmetic defined on any input.
inline constexpr unsigned kMaxBuddyOrders = 32;

struct BuddyZone {
  int node = 0;
  std::string zone;               // "DMA", "DMA32", "Normal", ...
  std::vector<uint64_t> nr_free;  // free blocks per order, index = order
};

struct BuddyInfo {
  unsigned orders = 0;  // columns per line (NR_PAGE_ORDERS: 11 on x86-64)
  std::vector<BuddyZone> zones;
};

/// Reads the "Node N, zone NAME" prefix shared by buddyinfo and pagetypeinfo lines from
/// whitespace tokens ("Node", "N,", "zone", "NAME" — "NAME," when `zone_comma`). On success
/// sets *node, *zone and *next (the index of the first token after the prefix).
bool parse_zone_prefix(const std::vector<std::string_view>& tokens, bool zone_comma, int* node,
                       std::string* zone, size_t* next);

/// Parses the text of /proc/buddyinfo; `path` names the file in errors.
BuddyInfo parse_buddyinfo(std::string_view text, const std::string& path);
BuddyInfo read_buddyinfo(const ProcFs& fs);

}  // namespace memkit::inspect
