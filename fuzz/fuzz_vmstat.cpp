// memkit — fuzzing the /proc/vmstat and /proc/stat parsers and vmstat's rates
// (fuzz/fuzz_vmstat.cpp)
//
// The input is tried as /proc/vmstat and as /proc/stat; any input either parses or throws
// InspectError. When both parse, a sample made of them (with a fixed meminfo) goes through the
// since-boot and interval formulas, as `memkit vmstat` does.
//
// seeds: vmstat vmstat.* stat stat.*
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "inspect/meminfo.h"
#include "inspect/vmstat.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace memkit::inspect;
  const std::string text(reinterpret_cast<const char*>(data), size);
  static const Meminfo meminfo = parse_meminfo(
      "MemTotal: 1000 kB\nMemFree: 500 kB\nBuffers: 10 kB\nCached: 100 kB\nSwapTotal: 0 kB\n"
      "SwapFree: 0 kB\nSReclaimable: 5 kB\n",
      "meminfo");
  std::optional<Vmstat> vmstat;
  std::optional<ProcStat> stat;
  try {
    vmstat = parse_vmstat(text, "vmstat");
  } catch (const InspectError&) {
  }
  try {
    stat = parse_proc_stat(text, "stat");
  } catch (const InspectError&) {
  }
  if (vmstat && stat) {
    try {
      const VmstatSample now = make_vmstat_sample(meminfo, *vmstat, *stat);
      (void)vmstat_row_since_boot(now, 4096, 100);
      (void)vmstat_row_interval(VmstatSample{}, now, 0.5, 4096);
      (void)vmstat_row_interval(now, VmstatSample{}, 1.0, 4096);
    } catch (const InspectError&) {
    }
  }
  return 0;
}
