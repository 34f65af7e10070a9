// memkit — a process's memory cgroup: its limit and usage (src/inspect/cgroup.h)
//
// /proc/meminfo is not namespaced: inside a container `free` shows the host. What bounds a
// process is its memory cgroup (reference §4.10), found in three steps:
//
//   /proc/PID/cgroup     "ID:controllers:path" per hierarchy: "4:memory:/a/b" (v1) or
//                        "0::/a/b" (v2, the unified hierarchy)
//   /proc/self/mountinfo where each hierarchy is mounted: fstype "cgroup" with super option
//                        "memory" (v1), or fstype "cgroup2"
//   the cgroup directory = mount point + (path − the mount's root), whose files give
//     v2: memory.current, memory.max ("max" = unlimited), memory.high, memory.low, memory.min,
//         memory.swap.current, memory.swap.max, memory.peak, memory.stat, memory.events
//     v1: memory.usage_in_bytes ("fuzzy"), memory.limit_in_bytes (9223372036854771712 =
//         unlimited), memory.soft_limit_in_bytes, memory.max_usage_in_bytes,
//         memory.memsw.usage_in_bytes, memory.memsw.limit_in_bytes, memory.failcnt, memory.stat
//
// The memory controller is on v1 when /proc/PID/cgroup has a "memory" line, else on v2; the
// hierarchy is "hybrid" when v1 controllers and a cgroup2 mount coexist (as on this machine:
// memory on v1, only hugetlb on /sys/fs/cgroup/unified). A file that does not exist (the root
// cgroup has no memory.max) is left out; any other failure is an InspectError.
//
// The cgroup files are read through ProcFs::read_sys, so a snapshot (DIR/sys/fs/cgroup/...)
// reproduces the view; a hierarchy mounted outside /sys can only be read live.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "inspect/procfs.h"

namespace memkit::inspect {

/// One line of /proc/PID/cgroup.
struct CgroupLine {
  uint64_t id = 0;
  std::vector<std::string> controllers;  // empty for the v2 line "0::/path"
  std::string path;
};
std::vector<CgroupLine> parse_proc_cgroup(std::string_view text, const std::string& path);

/// One line of /proc/PID/mountinfo (octal escapes such as \040 decoded).
struct MountInfo {
  std::string root;         // the mount's root within its filesystem
  std::string mount_point;  // where it is mounted
  std::string fstype;       // "cgroup", "cgroup2", "ext4", ...
  std::string source;
  std::vector<std::string> super_options;  // "rw", "memory", ...
};
std::vector<MountInfo> parse_mountinfo(std::string_view text, const std::string& path);

/// "key value" lines (memory.stat, memory.events).
using KeyValues = std::vector<std::pair<std::string, uint64_t>>;
KeyValues parse_key_values(std::string_view text, const std::string& path);
std::optional<uint64_t> find_value(const KeyValues& kv, std::string_view key);

/// A limit file: a byte count, or unlimited ("max" in v2, 9223372036854771712 or more in v1).
struct CgroupLimit {
  bool unlimited = false;
  uint64_t bytes = 0;
};
CgroupLimit parse_limit(std::string_view text, const std::string& path);
/// A one-number file (memory.current, memory.usage_in_bytes, memory.failcnt).
uint64_t parse_single_value(std::string_view text, const std::string& path);

enum class CgroupVersion { kV1, kV2 };

/// Where the memory controller of a process is.
struct CgroupLocation {
  CgroupVersion version = CgroupVersion::kV2;
  std::string hierarchy;    // "v1", "v2" or "hybrid"
  std::string cgroup_path;  // as in /proc/PID/cgroup: "/process_api/06ae..."
  std::string mount_point;  // "/sys/fs/cgroup/memory"
  std::string dir;          // the live path: "/sys/fs/cgroup/memory/process_api/06ae..."
};

/// Picks the memory controller's hierarchy (see the top of this file). `cgroup_file` and
/// `mountinfo_file` name the files in errors.
CgroupLocation locate_memory_cgroup(const std::vector<CgroupLine>& cgroups,
                                    const std::vector<MountInfo>& mounts,
                                    const std::string& cgroup_file,
                                    const std::string& mountinfo_file);

/// One file of the cgroup directory, as read.
struct CgroupFile {
  std::string name;   // "memory.max"
  std::string role;   // "limit", "usage", "high", "swap limit", ...
  bool limit = false; // a limit file (may be unlimited)
  bool unlimited = false;
  uint64_t bytes = 0;  // the value (a count for memory.failcnt)
};

struct CgroupMemory {
  std::string pid;   // as given: "1234" or "self"
  int64_t pid_number = -1;  // the Pid: line of its status ("self" resolved), -1 if unreadable
  std::string comm;  // the process's name, if readable
  CgroupLocation where;
  std::string display_dir;         // where the files were read (the snapshot's path if any)
  std::vector<CgroupFile> files;   // present files, in a fixed order
  KeyValues stat;                  // memory.stat (empty if absent)
  KeyValues events;                // memory.events (v2; empty if absent)

  // Summary.
  std::optional<CgroupLimit> limit;  // memory.max / memory.limit_in_bytes
  std::optional<uint64_t> usage;     // memory.current / memory.usage_in_bytes
  /// usage − inactive_file (v2 "inactive_file", v1 "total_inactive_file"), what docker,
  /// containerd, cAdvisor and podman report as "usage".
  std::optional<uint64_t> working_set;
  /// The tightest limit on the way to the root: v1 hierarchical_memory_limit, v2 the smallest
  /// memory.max of this cgroup and its ancestors.
  std::optional<CgroupLimit> effective_limit;
  std::string effective_limit_from;  // the file or cgroup it came from

  const CgroupFile* find(std::string_view name) const;
};

/// Reads everything for the process `pid` ("self" or a number).
CgroupMemory read_cgroup_memory(const ProcFs& fs, const std::string& pid);

/// The files (relative to /sys) the view would read for `pid`, for `memkit snapshot`; empty
/// if the memory cgroup cannot be located or is mounted outside /sys.
std::vector<std::string> cgroup_memory_sys_files(const ProcFs& fs, const std::string& pid);

/// One line on what a memory.stat key means, or nullptr.
const char* memory_stat_description(std::string_view key);

}  // namespace memkit::inspect
