// memkit CLI — the buddy range as an SVG picture (tools/memkit/svg.h)
//
// Draws every block of the range (buddy_sim.h MapBlock) as a rectangle in a horizontal strip
// that wraps into rows, width proportional to pages, green when free and blue when allocated,
// darker for higher orders, with a title and a legend. Rows hold a power of two of pages (at
// least 256, at most 64 rows), so a block never straddles a row unless it covers whole rows;
// each row is labelled with its first page's offset, and a scale above gives offsets in a row.
// Blocks narrower than 2 px are merged with their neighbours into runs of at least 2 px (when a
// run mixes kinds or orders it is grey, from blue to green by its share of free pages), which
// bounds the picture at about 40 000 rectangles for any range.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "buddy_sim.h"

namespace memkit::cli {

struct SvgInput {
  size_t pages = 0;
  unsigned max_order = 0;
  uint64_t free_pages = 0;
  std::vector<MapBlock> blocks;  // in page order, tiling [0, pages)
};

std::string render_svg(const SvgInput& input);

}  // namespace memkit::cli
