// memkit — fuzzing the cgroup readers: /proc/PID/cgroup, mountinfo, memory.stat and the limit
// files (fuzz/fuzz_cgroup.cpp)
//
// The input is tried as each file; any input either parses or throws InspectError. If it
// holds a NUL byte, the part before is taken as /proc/PID/cgroup and the part after as
// mountinfo, and the memory controller is located from the two, as `memkit cgroup` does.
//
// seeds: cgroup cgroup.* mountinfo mountinfo.* memory.*
#include <cstddef>
#include <cstdint>
#include <string>

#include "inspect/cgroup.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace memkit::inspect;
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    (void)parse_proc_cgroup(text, "cgroup");
  } catch (const InspectError&) {
  }
  try {
    (void)parse_mountinfo(text, "mountinfo");
  } catch (const InspectError&) {
  }
  try {
    for (const auto& [key, value] : parse_key_values(text, "memory.stat"))
      (void)memory_stat_description(key);
  } catch (const InspectError&) {
  }
  try {
    (void)parse_limit(text, "memory.max");
  } catch (const InspectError&) {
  }
  try {
    (void)parse_single_value(text, "memory.current");
  } catch (const InspectError&) {
  }
  const size_t nul = text.find('\0');
  if (nul != std::string::npos) {
    try {
      const auto cgroups = parse_proc_cgroup(text.substr(0, nul), "cgroup");
      const auto mounts = parse_mountinfo(text.substr(nul + 1), "mountinfo");
      (void)locate_memory_cgroup(cgroups, mounts, "cgroup", "mountinfo");
    } catch (const InspectError&) {
    }
  }
  return 0;
}
