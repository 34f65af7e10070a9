// memkit — saving what every /proc view needs into a directory (src/inspect/snapshot.h)
//
// `memkit snapshot DIR` copies, with the same relative paths, so that `--proc-root DIR`
// reproduces every view (ProcFs reads DIR/proc and DIR/sys):
//
//   DIR/proc/{meminfo,vmstat,stat,buddyinfo,pagetypeinfo,slabinfo,zoneinfo}
//   DIR/proc/PID/{status,stat,statm,smaps_rollup,maps,smaps,cgroup,cmdline,comm}  every PID
//   DIR/proc/self/{status,stat,statm,cgroup,mountinfo,cmdline,comm}   the snapshotting process
//                                                   (a real directory: `cgroup` defaults to it)
//   DIR/sys/fs/cgroup/...   the memory cgroup files `memkit cgroup` reads, for every process
//
// A file that cannot be read (permission denied: slabinfo, pagetypeinfo, other users' smaps as
// non-root) is skipped and counted; a file that does not exist on this kernel is left out
// silently; a process that exits while being copied is dropped and counted. Failing to write
// DIR is an InspectError.
#pragma once

#include <cstdint>
#include <string>

#include "inspect/procfs.h"

namespace memkit::inspect {

struct SnapshotResult {
  std::string dir;
  uint64_t files = 0;      // files written
  uint64_t bytes = 0;      // their total size
  uint64_t processes = 0;  // PIDs saved
  uint64_t skipped = 0;    // files that could not be read (permission denied, I/O error)
  uint64_t vanished = 0;   // processes that exited during the snapshot
};

/// Copies from `fs` (normally the live /proc and /sys) into `dir`, which must not already hold
/// a proc/ folder (it is created if missing).
SnapshotResult take_snapshot(const ProcFs& fs, const std::string& dir);

}  // namespace memkit::inspect
