// memkit CLI — a live segment as text, JSON and a top frame (tools/memkit/live_view.h)
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "stats/live_segment.h"

namespace memkit::cli {

/// The text of a return address of the profiler's top sites (`function (file:line)`, from the
/// process's /proc/PID/maps and libdw: live_frame_namer); none: the raw address.
using FrameNamer = std::function<std::string(uint64_t)>;
/// A namer for process pid's addresses (empty if its maps cannot be read).
FrameNamer live_frame_namer(int pid);

/// `memkit stats PID`: the heap's figures, a slabinfo-like line per size class and the arenas'
/// buddyinfo.
std::string live_text(const live::LiveSegment& s, uint64_t rss_bytes, const FrameNamer& name = {});
/// `memkit stats PID --json`: the same as one object.
nlohmann::json live_json(const live::LiveSegment& s, uint64_t rss_bytes, const FrameNamer& name = {});
/// `memkit top PID`: one frame of `rows` lines at most (0: no limit), the size classes sorted
/// by bytes, then the profiler's top sites.
std::string live_top_frame(const live::LiveSegment& s, uint64_t rss_bytes, unsigned rows,
                           const FrameNamer& name = {});

}  // namespace memkit::cli
