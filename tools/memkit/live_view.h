// memkit CLI — a live segment as text, JSON and a top frame (tools/memkit/live_view.h)
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "stats/live_segment.h"

namespace memkit::cli {

/// `memkit stats PID`: the heap's figures, a slabinfo-like line per size class and the arenas'
/// buddyinfo.
/// Sizes in KiB, MiB, GiB, or in bytes with `bytes` (`memkit stats -b`).
std::string live_text(const live::LiveSegment& s, uint64_t rss_bytes, bool bytes = false);
/// `memkit stats PID --json`: the same as one object.
nlohmann::json live_json(const live::LiveSegment& s, uint64_t rss_bytes);
/// `memkit top PID`: one frame of `rows` lines at most (0: no limit), the size classes sorted
/// by bytes, then the profiler's top sites.
std::string live_top_frame(const live::LiveSegment& s, uint64_t rss_bytes, unsigned rows);

}  // namespace memkit::cli
