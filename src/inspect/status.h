// memkit — the memory lines of /proc/PID/status (src/inspect/status.h)
//
// /proc/PID/status is "Key:\tvalue" per line (fs/proc/array.c); its memory lines come from
// task_mem() in fs/proc/task_mmu.c, each "Vm...:\t%8lu kB" (reference §4.4):
//
//   VmPeak VmSize VmLck VmPin VmHWM VmRSS RssAnon RssFile RssShmem VmData VmStk VmExe VmLib
//   VmPTE VmSwap HugetlbPages
//
// with VmRSS = RssAnon + RssFile + RssShmem. A kernel thread has no mm and so no Vm* lines at
// all; neither has a zombie. parse_status() checks every line ("Key:" then anything; the
// memory lines "N kB") before anything is printed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "inspect/procfs.h"

namespace memkit::inspect {

struct StatusMemField {
  std::string key;
  uint64_t kb = 0;
  uint64_t bytes() const { return kb * 1024; }
};

struct ProcStatus {
  std::string path;
  std::string name;   // Name:
  std::string state;  // State: e.g. "S (sleeping)"
  int64_t pid = -1;   // Pid:
  std::optional<bool> kthread;          // Kthread: (6.x kernels), when present
  std::vector<StatusMemField> memory;   // the Vm*/Rss*/HugetlbPages lines, in file order

  const StatusMemField* find(std::string_view key) const;
  bool zombie() const { return !state.empty() && state[0] == 'Z'; }
  /// No Vm* lines: a kernel thread or a zombie (no user memory).
  bool has_user_memory() const { return find("VmSize") != nullptr; }
};

/// Whether `key` is one of the memory lines kept in ProcStatus::memory.
bool is_status_memory_key(std::string_view key);

ProcStatus parse_status(std::string_view text, const std::string& path);
/// /proc/PID/status (PID as text: "1234" or "self").
ProcStatus read_status(const ProcFs& fs, const std::string& pid);

/// One line on what a status memory field means, or nullptr.
const char* status_description(std::string_view key);

/// For a process with user memory: throws, for a kernel thread or zombie, the InspectError
/// "<path>: PID N is a kernel thread: it has no user memory" (or "... is a zombie ...").
void require_user_memory(const ProcStatus& status);

}  // namespace memkit::inspect
