// memkit CLI — what every inspection view shares (tools/memkit/view.h)
//
// The /proc views (free, meminfo, vmstat, buddyinfo, slabinfo, slabtop, ps, status, maps, v2p,
// cgroup, drop-caches) all take the same three options and print sizes the same way:
//
//   -b, --bytes        sizes in bytes instead of human units (KiB, MiB, GiB with one decimal)
//   --json             one JSON document on stdout instead of text
//   --proc-root DIR    read a snapshot (`memkit snapshot DIR`) instead of the live /proc
//
// Errors from the files (inspect::InspectError) propagate to main, which prints them as one
// "memkit: <file>: <what was wrong>" line and exits 1.
#pragma once

#include <cstdint>
#include <string>

#include "inspect/procfs.h"

namespace CLI {
class App;
}

namespace memkit::cli {

struct ViewArgs {
  bool bytes = false;
  bool json = false;
  std::string proc_root;
};

/// Which of the shared options a view offers: only those that change what it prints (a view
/// that prints no size takes no -b).
enum ViewOption : unsigned { kViewBytes = 1, kViewJson = 2, kViewProcRoot = 4, kViewAll = 7 };

/// Adds -b/--bytes, --json and --proc-root (those in `which`) to a view subcommand.
void add_view_options(CLI::App& sub, ViewArgs& args, unsigned which = kViewAll);

/// The ProcFs the options ask for (live, or the snapshot at --proc-root).
inspect::ProcFs open_procfs(const ViewArgs& args);

/// Whether what goes to `fd` may be coloured: a terminal, NO_COLOR unset or empty
/// (no-color.org), TERM not "dumb". Never in a pipe or a file.
bool color_enabled(int fd);

/// `line` (a view's column header or title, without its newline) in bold when stdout is
/// coloured.
std::string header_style(const std::string& line);

/// `text` (a warning or a check that failed) in bold yellow when stdout is coloured.
std::string warn_style(const std::string& text);

/// "812.0 MiB", "23.5 GiB", "512 B" — or the plain byte count with --bytes.
std::string format_size(uint64_t bytes, bool in_bytes);

}  // namespace memkit::cli
