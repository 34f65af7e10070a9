// memkit CLI — the PID argument of `memkit status` and `memkit cgroup` (tools/memkit/pid_arg.h)
#pragma once

#include <fmt/core.h>

#include <algorithm>
#include <string>

#include "command.h"

namespace memkit::cli {

/// `pid` if it is "self" or a process ID (1..4194304, the kernel's PID_MAX_LIMIT); a usage
/// error otherwise.
inline std::string checked_pid(const std::string& pid) {
  if (pid == "self") return pid;
  const bool digits = !pid.empty() && pid.size() <= 7 &&
                      std::all_of(pid.begin(), pid.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits || std::stoul(pid) == 0 || std::stoul(pid) > 4194304)
    throw usage_error(
        fmt::format("PID must be a process ID (1..4194304) or \"self\" (got \"{}\")", pid));
  return pid;
}

}  // namespace memkit::cli
