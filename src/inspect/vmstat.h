// memkit — /proc/vmstat, /proc/stat and vmstat's columns (src/inspect/vmstat.h)
//
// /proc/vmstat is "name value" per line; which names appear depends on the kernel's
// configuration, so it is kept as a list and looked up by name, never by position (reference
// §5). /proc/stat gives the CPU time (in clock ticks, USER_HZ), the interrupt and context
// switch totals, and the procs_running / procs_blocked gauges.
//
// A VmstatSample is one reading of meminfo + vmstat + stat; vmstat_row() turns one sample (the
// averages since boot) or two (the rates over an interval) into procps vmstat's columns:
//
//   r b          procs_running, procs_blocked (gauges)
//   swpd free    SwapTotal - SwapFree, MemFree
//   buff cache   Buffers, Cached + SReclaimable
//   si so        pswpin, pswpout × page size, per second
//   bi bo        pgpgin, pgpgout (KiB, the kernel halves the sector count) per second
//   in cs        intr (first number), ctxt, per second
//   us sy id wa st   user+nice, system+irq+softirq, idle, iowait, steal: % of the CPU ticks
//
// The since-boot line follows procps-ng vmstat exactly, including its quirk: "per second" is
// x × USER_HZ / (CPU ticks summed over all CPUs), i.e. per CPU-second, so on N CPUs the
// first line's si/so/bi/bo/in/cs are about 1/N of the true average. The interval lines divide
// by the measured wall-clock time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "inspect/meminfo.h"
#include "inspect/procfs.h"

namespace memkit::inspect {

struct Vmstat {
  std::string path;
  std::vector<std::pair<std::string, uint64_t>> counters;  // file order

  std::optional<uint64_t> get(std::string_view name) const;
  /// Like get(), but a missing counter is an InspectError "no <name> line".
  uint64_t require(std::string_view name) const;
};

Vmstat parse_vmstat(std::string_view text, const std::string& path);
Vmstat read_vmstat(const ProcFs& fs);

/// The aggregate "cpu" line of /proc/stat, in USER_HZ ticks. Kernels before 2.6.11 have fewer
/// columns; missing ones are 0.
struct CpuTicks {
  uint64_t user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0,
           steal = 0, guest = 0, guest_nice = 0;
};

struct ProcStat {
  std::string path;
  CpuTicks cpu;
  unsigned cpus = 0;  // number of "cpuN" lines
  uint64_t intr = 0;  // total interrupts since boot
  uint64_t ctxt = 0;  // context switches since boot
  uint64_t btime = 0;
  uint64_t processes = 0;  // forks since boot
  uint64_t procs_running = 0;
  uint64_t procs_blocked = 0;
};

/// Needs the "cpu", "intr", "ctxt", "procs_running" and "procs_blocked" lines; other lines are
/// checked only for a leading name.
ProcStat parse_proc_stat(std::string_view text, const std::string& path);
ProcStat read_proc_stat(const ProcFs& fs);

/// One reading of the three files (in this order: meminfo, vmstat, stat).
struct VmstatSample {
  uint64_t procs_running = 0, procs_blocked = 0;
  uint64_t swap_used = 0, mem_free = 0, buffers = 0, cache = 0;  // bytes
  uint64_t pswpin = 0, pswpout = 0;                              // pages
  uint64_t pgpgin = 0, pgpgout = 0;                              // KiB
  uint64_t intr = 0, ctxt = 0;
  CpuTicks cpu;
  double time = 0;  // CLOCK_MONOTONIC seconds when read (0 for a snapshot)
};

VmstatSample make_vmstat_sample(const Meminfo& meminfo, const Vmstat& vmstat,
                                const ProcStat& stat);
VmstatSample read_vmstat_sample(const ProcFs& fs);

/// One line of `vmstat`.
struct VmstatRow {
  uint64_t r = 0, b = 0;
  uint64_t swpd = 0, free = 0, buff = 0, cache = 0;  // bytes
  uint64_t si = 0, so = 0, bi = 0, bo = 0;           // bytes per second
  uint64_t in = 0, cs = 0;                           // per second
  unsigned us = 0, sy = 0, id = 0, wa = 0, st = 0;   // percent of CPU time
};

/// The since-boot line (procps's formula: see above). `hz` = sysconf(_SC_CLK_TCK).
VmstatRow vmstat_row_since_boot(const VmstatSample& now, uint64_t page_size, uint64_t hz);
/// The line for the interval from `before` to `now` (`seconds` of wall-clock time, > 0).
VmstatRow vmstat_row_interval(const VmstatSample& before, const VmstatSample& now,
                              double seconds, uint64_t page_size);

}  // namespace memkit::inspect
