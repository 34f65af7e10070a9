// memkit CLI — one process's address space, read for `memkit maps` and `memkit v2p`
// (tools/memkit/address_space.h)
//
// Reads /proc/PID/status (a kernel thread or a zombie is an error naming the file), stat (the
// code/data/brk boundaries), cmdline and smaps (or maps), classifies every VMA
// (inspect/maps.h) and, with smaps, recomputes the status counters. status is read before and
// after smaps; when the two disagree the process changed meanwhile and the reads are tried
// again (three times at most), so the counters compared come from one instant when possible.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "inspect/maps.h"
#include "inspect/procfs.h"
#include "inspect/status.h"

namespace memkit::cli {

struct AddressSpace {
  int64_t pid = 0;                        // from status's Pid: line
  std::string command;                    // cmdline with spaces, or [Name]
  inspect::ProcStatus status;             // the last status read
  inspect::ProcessLayout layout;          // from /proc/PID/stat
  std::vector<inspect::SmapsVma> vmas;    // fields empty when read from maps
  std::vector<inspect::Region> regions;   // one per VMA
  inspect::VmCounters computed;           // from smaps (zero when read from maps)
  bool stable = true;                     // status was the same before and after smaps
};

/// A /proc/PID/cmdline for display: NULs as spaces, other control bytes as '?', or "[name]"
/// when it is empty (a kernel thread's or a zombie's).
std::string display_command(std::string cmdline, const std::string& name);

/// "[locked, hugetlb]", "[locked, THP 4.0 MiB]", ...: the VMA's memory marks
/// (inspect::memory_marks) for a text line, "" when it has none.
std::string marks_text(const inspect::MemoryMarks& m);

/// with_smaps: read smaps (sizes, RSS, PSS, ...) rather than maps (addresses only).
/// `pid` as checked by checked_pid() (pid_arg.h): a number or "self".
AddressSpace load_address_space(const inspect::ProcFs& fs, const std::string& pid,
                                bool with_smaps, uint64_t page_size);

}  // namespace memkit::cli
