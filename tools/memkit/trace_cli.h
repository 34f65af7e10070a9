// memkit CLI — allocation traces in the CLI (tools/memkit/trace_cli.h; implemented in
// cmd_trace.cpp): loading a trace with the CLI's errors, and the page-level part of a trace for
// `memkit buddy simulate --trace`.
#pragma once

#include <cstdint>
#include <string>

#include "trace.h"
#include "trace_reader.h"

namespace memkit::cli {

/// Reads and checks a trace (memkit run --trace); a truncated or corrupt one, or one that cannot
/// be read, is a Failure with exit status 1 naming `command`, the file and the byte offset.
trace::TraceData load_trace_file(const std::string& path, const std::string& command);

/// Whether FILE starts as an allocation trace does (its magic), rather than a buddy text trace.
bool is_allocation_trace(const std::string& path);

/// The page-level part of an allocation trace as buddy operations, in time order: every block
/// above the slab limit (MK_KMALLOC_MAX_CACHE_SIZE) as a block of 2^order pages; blocks above
/// max_order (direct mappings in memkit) are left out and counted in *skipped.
Trace buddy_ops_of(const trace::TraceData& t, unsigned max_order, uint64_t* skipped);

}  // namespace memkit::cli
