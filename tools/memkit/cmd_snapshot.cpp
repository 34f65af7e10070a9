// memkit CLI — `memkit snapshot DIR` (tools/memkit/cmd_snapshot.cpp)
//
// Saves what every /proc view reads into DIR/proc/... and DIR/sys/... (inspect/snapshot.h), so
// that `memkit VIEW --proc-root DIR` shows the machine as it was. Unreadable files are skipped
// and counted in the one summary line.
#include <fmt/core.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <memory>
#include <nlohmann/json.hpp>

#include "command.h"
#include "inspect/snapshot.h"
#include "view.h"

namespace memkit::cli {
namespace cmd_snapshot_impl {

struct SnapshotArgs {
  ViewArgs view;
  std::string dir;
};

void run(const SnapshotArgs& a) {
  const inspect::ProcFs fs = open_procfs(a.view);
  const inspect::SnapshotResult r = inspect::take_snapshot(fs, a.dir);
  if (a.view.json) {
    fmt::print("{}\n", nlohmann::json{{"dir", r.dir},
                                      {"files", r.files},
                                      {"bytes", r.bytes},
                                      {"processes", r.processes},
                                      {"skipped", r.skipped},
                                      {"vanished", r.vanished}}
                           .dump(2));
    return;
  }
  std::string line = fmt::format("saved {} files ({}) from {} process{} to {}", r.files,
                                 format_size(r.bytes, a.view.bytes), r.processes,
                                 r.processes == 1 ? "" : "es", r.dir);
  line += fmt::format("; skipped {} unreadable file{}", r.skipped, r.skipped == 1 ? "" : "s");
  if (r.skipped > 0 && geteuid() != 0) line += " (run as root for all)";
  if (r.vanished > 0)
    line += fmt::format("; {} process{} exited meanwhile", r.vanished, r.vanished == 1 ? "" : "es");
  fmt::print("{}\n", line);
}

void setup(CLI::App& sub) {
  auto args = std::make_shared<SnapshotArgs>();
  add_view_options(sub, args->view);
  sub.add_option("dir", args->dir, "directory to write (must not hold a proc/ folder yet)")
      ->required();
  sub.footer(
      R"(Writes DIR/proc/{meminfo,vmstat,stat,buddyinfo,pagetypeinfo,slabinfo,zoneinfo},
DIR/proc/PID/{status,stat,statm,smaps_rollup,maps,smaps,cgroup,cmdline,comm} for every process,
DIR/proc/self/... (memkit's own, with mountinfo) and the memory cgroup files under
DIR/sys/fs/cgroup/. Read it back with --proc-root DIR on any view.)");
  sub.callback([args] { run(*args); });
}

const Registration kSnapshot{"snapshot", "save /proc and cgroup files for --proc-root", setup};

}  // namespace
}  // namespace memkit::cli
