// memkit — the kernel's fragmentation figures (include/memkit/fragmentation.hpp)
//
// Pure functions over a free-area count vector n[0..max_order] (n[k] = free blocks of order k,
// as in /proc/buddyinfo), with the exact integer arithmetic of mm/vmstat.c:
//
//   F = Σ n[k] << k                 free pages
//   B = Σ n[k]                      free blocks
//   S(j) = Σ_{k>=j} n[k] << (k-j)   2^j-page blocks carvable from free blocks of order >= j
//
//   unusable_free_index(j)  = F == 0 ? 1000 : (F - (S << j)) * 1000 / F           (0..1000)
//   fragmentation_index(j)  = j > max ? 0 : B == 0 ? 0 : S > 0 ? -1000
//                             : 1000 - (1000 + F * 1000 / 2^j) / B
//   extfrag_for_order(j)    = F == 0 ? 0 : (F - (S << j)) * 100 / F                  (percent)
//
// fragmentation_index() can be negative without being -1000: with one free order-2 block and
// j = 4 it is 1000 - 1250 / 1 = -250 (the kernel's debugfs then prints " 0.-250"). memkit returns
// the integer and leaves printing to the caller; format_index() prints as the kernel does.
//
// Used by the BuddyAllocator's statistics and by `memkit buddyinfo` for the machine's zones.
// Header-only, no allocation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>

namespace memkit {

struct FreeAreaInfo {
  uint64_t free_pages = 0;             // F
  uint64_t free_blocks_total = 0;      // B
  uint64_t free_blocks_suitable = 0;   // S (for the order asked)
};

/// The kernel's fill_contig_page_info(): F, B and S(j) from n[0..max_order].
inline FreeAreaInfo fill_contig_page_info(const uint64_t* nr_free, unsigned max_order, unsigned j) {
  FreeAreaInfo info;
  for (unsigned k = 0; k <= max_order; ++k) {
    const uint64_t blocks = nr_free[k];
    info.free_blocks_total += blocks;
    info.free_pages += blocks << k;
    if (k >= j) info.free_blocks_suitable += blocks << (k - j);
  }
  return info;
}

/// Unusable free space index for order j, 0..1000 (1000 when nothing is free).
inline int unusable_free_index(const uint64_t* nr_free, unsigned max_order, unsigned j) {
  const FreeAreaInfo info = fill_contig_page_info(nr_free, max_order, j);
  if (info.free_pages == 0) return 1000;
  return static_cast<int>(((info.free_pages - (info.free_blocks_suitable << j)) * 1000) /
                          info.free_pages);
}

/// External fragmentation index for order j: -1000 when an order-j request would succeed,
/// otherwise toward 0 (lack of memory) or 1000 (fragmentation); may be negative (see above).
inline int fragmentation_index(const uint64_t* nr_free, unsigned max_order, unsigned j) {
  if (j > max_order) return 0;
  const FreeAreaInfo info = fill_contig_page_info(nr_free, max_order, j);
  if (info.free_blocks_total == 0) return 0;
  if (info.free_blocks_suitable > 0) return -1000;
  const uint64_t requested = uint64_t{1} << j;
  return 1000 - static_cast<int>((1000 + (info.free_pages * 1000) / requested) /
                                 info.free_blocks_total);
}

/// extfrag_for_order(): the unusable index in percent, 0 when nothing is free.
inline int extfrag_for_order(const uint64_t* nr_free, unsigned max_order, unsigned j) {
  const FreeAreaInfo info = fill_contig_page_info(nr_free, max_order, j);
  if (info.free_pages == 0) return 0;
  return static_cast<int>(((info.free_pages - (info.free_blocks_suitable << j)) * 100) /
                          info.free_pages);
}

/// Prints an index as mm/vmstat.c does: "%d.%03d" of (idx / 1000, idx % 1000), with the given
/// width for the integer part (1 for the unusable index, 2 for the fragmentation index).
/// Returns snprintf's result.
inline int format_index(char* buf, size_t len, int idx, int int_width) {
  return std::snprintf(buf, len, "%*d.%03d", int_width, idx / 1000, idx % 1000);
}

}  // namespace memkit
