// memkit CLI — a process's address space as an SVG picture (tools/memkit/maps_svg.h)
//
// `memkit maps PID --svg FILE`: every VMA is a horizontal band, highest address at the top as
// in the classic memory-layout drawings, coloured by its class (TEXT, DATA, BSS, HEAP, STACK,
// MMAP, VDSO, VVAR, VSYSCALL; MMAP lighter for anonymous memory), with its resident part as a
// darker bar inside. Sizes span 4 KiB to terabytes, so band heights grow with log2(pages) and
// the gaps between VMAs are drawn with log-scaled heights and labelled with their true size.
// Adjacent VMAs of the same class and mapping are merged into one band ("×N") when there are
// more than kMaxBands, which bounds the picture for processes with thousands of VMAs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "inspect/maps.h"

namespace memkit::cli {

struct MapsSvgBand {
  uint64_t start = 0;
  uint64_t end = 0;
  inspect::Region region;
  std::string perms;
  std::string name;  // path or pseudo-path, empty for anonymous memory
  uint64_t rss = 0;  // bytes
};

struct MapsSvgInput {
  int64_t pid = 0;
  std::string command;
  std::vector<MapsSvgBand> bands;  // ascending addresses, not overlapping
};

inline constexpr size_t kMaxBands = 400;

std::string render_maps_svg(const MapsSvgInput& input);

}  // namespace memkit::cli
