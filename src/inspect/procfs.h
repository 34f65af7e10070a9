// memkit — reading /proc and /sys (src/inspect/procfs.h)
//
// The inspection views read the kernel's files through a ProcFs, which knows where /proc and
// /sys are (the live ones, or a saved snapshot: `memkit snapshot DIR` writes DIR/proc/... and
// DIR/sys/...; `--proc-root DIR` reads it back) and turns every failure into an InspectError
// whose message is one line naming the file and what was wrong:
//
//   /proc/slabinfo: permission denied (needs root)
//   /proc/4242/status: no such process (it exited?)
//   /proc/meminfo: line 3: expected "Key: value [kB]", got "MemFree 12"
//
// This layer may use the STL (it is never used by the allocator).
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace memkit::inspect {

class InspectError : public std::runtime_error {
 public:
  InspectError(const std::string& path, const std::string& what)
      : std::runtime_error(path + ": " + what), path_(path) {}
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class ProcFs {
 public:
  /// The live system: /proc and /sys.
  ProcFs();
  /// A snapshot: DIR/proc and DIR/sys; if DIR has no proc/ subfolder, DIR itself is taken as
  /// the /proc tree (a plain copy of /proc files) and sys is DIR/sys.
  explicit ProcFs(const std::string& root);

  /// Whole file under /proc (rel like "meminfo" or "1234/smaps_rollup"). Throws InspectError.
  std::string read(const std::string& rel) const;
  /// Whole file under /sys (rel like "fs/cgroup/memory.max"). Throws InspectError.
  std::string read_sys(const std::string& rel) const;
  bool exists(const std::string& rel) const;
  bool exists_sys(const std::string& rel) const;
  /// Numeric entries of /proc, sorted.
  std::vector<int> pids() const;

  /// The displayed path of a /proc file (as the user would write it for the live system, or
  /// the snapshot's real path).
  std::string proc_path(const std::string& rel) const;
  std::string sys_path(const std::string& rel) const;
  bool live() const { return live_; }

 private:
  std::string proc_;
  std::string sys_;
  bool live_ = true;
};

/// Reads a file at an absolute path, with InspectError on failure (errno explained: permission
/// denied → "(needs root)" hint, ENOENT under /proc/PID → "no such process").
std::string read_file(const std::string& path);

/// The InspectError for a failed system call on `path` with errno `err`, explained as
/// read_file() does (for readers that need open + pread, such as pagemap).
InspectError errno_error(const std::string& path, int err);

}  // namespace memkit::inspect
