// memkit — /proc/vmstat, /proc/stat and vmstat's columns (src/inspect/vmstat.cpp): see vmstat.h.
#include "inspect/vmstat.h"

#include <time.h>

#include <cmath>
#include <unordered_set>

#include "inspect/scan.h"

namespace memkit::inspect {
namespace {

// Every file from the kernel ends in '\n'; an empty or cut file is reported before parsing.
uint64_t number(const std::string& path, const TextLine& line, std::string_view token) {
  uint64_t v = 0;
  if (!parse_u64(token, &v))
    throw line_error(path, line.number, quote(token) + " is not a number");
  return v;
}

double monotonic_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

uint64_t sat_sub(uint64_t a, uint64_t b) { return a > b ? a - b : 0; }

}  // namespace

std::optional<uint64_t> Vmstat::get(std::string_view name) const {
  for (const auto& [key, value] : counters)
    if (key == name) return value;
  return std::nullopt;
}

uint64_t Vmstat::require(std::string_view name) const {
  const std::optional<uint64_t> v = get(name);
  if (!v) throw InspectError(path, "no " + std::string(name) + " line");
  return *v;
}

Vmstat parse_vmstat(std::string_view text, const std::string& path) {
  Vmstat out;
  out.path = path;
  std::unordered_set<std::string_view> seen;
  for (const TextLine& line : complete_lines(text, path)) {
    const std::vector<std::string_view> tokens = split_ws(line.text);
    if (tokens.size() != 2) throw expected_error(path, line, "\"name value\"");
    const uint64_t value = number(path, line, tokens[1]);
    if (!seen.insert(tokens[0]).second)
      throw line_error(path, line.number, std::string(tokens[0]) + " appears twice");
    out.counters.emplace_back(std::string(tokens[0]), value);
  }
  return out;
}

Vmstat read_vmstat(const ProcFs& fs) {
  return parse_vmstat(fs.read("vmstat"), fs.proc_path("vmstat"));
}

ProcStat parse_proc_stat(std::string_view text, const std::string& path) {
  ProcStat out;
  out.path = path;
  bool have_cpu = false, have_intr = false, have_ctxt = false, have_running = false,
       have_blocked = false;
  for (const TextLine& line : complete_lines(text, path)) {
    const std::vector<std::string_view> tokens = split_ws(line.text);
    if (tokens.empty()) throw expected_error(path, line, "\"name value...\"");
    const std::string_view key = tokens[0];
    if (key == "cpu") {
      // user nice system idle [iowait irq softirq [steal [guest [guest_nice]]]]
      if (tokens.size() < 5 || tokens.size() > 11)
        throw expected_error(path, line, "\"cpu user nice system idle ...\" (4 to 10 numbers)");
      uint64_t* const fields[] = {&out.cpu.user,    &out.cpu.nice,  &out.cpu.system,
                                  &out.cpu.idle,    &out.cpu.iowait, &out.cpu.irq,
                                  &out.cpu.softirq, &out.cpu.steal, &out.cpu.guest,
                                  &out.cpu.guest_nice};
      for (size_t i = 1; i < tokens.size(); ++i) *fields[i - 1] = number(path, line, tokens[i]);
      have_cpu = true;
    } else if (key.size() > 3 && key.substr(0, 3) == "cpu") {
      ++out.cpus;
    } else if (key == "intr") {
      if (tokens.size() < 2) throw expected_error(path, line, "\"intr total ...\"");
      for (size_t i = 1; i < tokens.size(); ++i) {
        const uint64_t v = number(path, line, tokens[i]);
        if (i == 1) out.intr = v;
      }
      have_intr = true;
    } else if (key == "ctxt" || key == "btime" || key == "processes" || key == "procs_running" ||
               key == "procs_blocked") {
      if (tokens.size() != 2) throw expected_error(path, line, "\"name value\"");
      const uint64_t v = number(path, line, tokens[1]);
      if (key == "ctxt") {
        out.ctxt = v;
        have_ctxt = true;
      } else if (key == "btime") {
        out.btime = v;
      } else if (key == "processes") {
        out.processes = v;
      } else if (key == "procs_running") {
        out.procs_running = v;
        have_running = true;
      } else {
        out.procs_blocked = v;
        have_blocked = true;
      }
    }
    // softirq and future lines: not needed.
  }
  if (!have_cpu) throw InspectError(path, "no \"cpu\" line");
  if (!have_intr) throw InspectError(path, "no intr line");
  if (!have_ctxt) throw InspectError(path, "no ctxt line");
  if (!have_running) throw InspectError(path, "no procs_running line");
  if (!have_blocked) throw InspectError(path, "no procs_blocked line");
  return out;
}

ProcStat read_proc_stat(const ProcFs& fs) {
  return parse_proc_stat(fs.read("stat"), fs.proc_path("stat"));
}

VmstatSample make_vmstat_sample(const Meminfo& meminfo, const Vmstat& vmstat,
                                const ProcStat& stat) {
  VmstatSample s;
  s.procs_running = stat.procs_running;
  s.procs_blocked = stat.procs_blocked;
  s.swap_used = sat_sub(meminfo.require("SwapTotal"), meminfo.require("SwapFree"));
  s.mem_free = meminfo.require("MemFree");
  s.buffers = meminfo.bytes("Buffers").value_or(0);
  s.cache = meminfo.bytes("Cached").value_or(0) + meminfo.bytes("SReclaimable").value_or(0);
  // A kernel without swap support may lack the swap counters: no swapping then.
  s.pswpin = vmstat.get("pswpin").value_or(0);
  s.pswpout = vmstat.get("pswpout").value_or(0);
  s.pgpgin = vmstat.require("pgpgin");
  s.pgpgout = vmstat.require("pgpgout");
  s.intr = stat.intr;
  s.ctxt = stat.ctxt;
  s.cpu = stat.cpu;
  return s;
}

VmstatSample read_vmstat_sample(const ProcFs& fs) {
  const double t = monotonic_seconds();
  const Meminfo meminfo = read_meminfo(fs);
  const Vmstat vmstat = read_vmstat(fs);
  const ProcStat stat = read_proc_stat(fs);
  VmstatSample s = make_vmstat_sample(meminfo, vmstat, stat);
  s.time = fs.live() ? t : 0;
  return s;
}

namespace {

struct CpuSplit {
  uint64_t us = 0, sy = 0, id = 0, wa = 0, st = 0;
  uint64_t total() const { return us + sy + id + wa + st; }
};

// procps-ng vmstat: us = user + nice, sy = system + irq + softirq (guest time is already in
// user). Differences are clamped at 0: idle can run backwards for a moment.
CpuSplit cpu_split(const CpuTicks& now, const CpuTicks* before) {
  const CpuTicks zero{};
  const CpuTicks& b = before != nullptr ? *before : zero;
  CpuSplit c;
  c.us = sat_sub(now.user, b.user) + sat_sub(now.nice, b.nice);
  c.sy = sat_sub(now.system, b.system) + sat_sub(now.irq, b.irq) + sat_sub(now.softirq, b.softirq);
  c.id = sat_sub(now.idle, b.idle);
  c.wa = sat_sub(now.iowait, b.iowait);
  c.st = sat_sub(now.steal, b.steal);
  return c;
}

void fill_cpu(VmstatRow& row, CpuSplit c) {
  uint64_t div = c.total();
  if (div == 0) {
    div = 1;
    c.id = 1;
  }
  const uint64_t half = div / 2;
  row.us = static_cast<unsigned>((100 * c.us + half) / div);
  row.sy = static_cast<unsigned>((100 * c.sy + half) / div);
  row.id = static_cast<unsigned>((100 * c.id + half) / div);
  row.wa = static_cast<unsigned>((100 * c.wa + half) / div);
  row.st = static_cast<unsigned>((100 * c.st + half) / div);
}

void fill_memory(VmstatRow& row, const VmstatSample& s) {
  row.r = s.procs_running;
  row.b = s.procs_blocked;
  row.swpd = s.swap_used;
  row.free = s.mem_free;
  row.buff = s.buffers;
  row.cache = s.cache;
}

}  // namespace

VmstatRow vmstat_row_since_boot(const VmstatSample& now, uint64_t page_size, uint64_t hz) {
  VmstatRow row;
  fill_memory(row, now);
  const CpuSplit c = cpu_split(now.cpu, nullptr);
  const uint64_t div = c.total() == 0 ? 1 : c.total();
  const uint64_t half = div / 2;
  const uint64_t kb_per_page = page_size / 1024;
  // (x * hz + div/2) / div, as procps; KiB values become bytes after the division.
  auto rate = [&](uint64_t x) { return (x * hz + half) / div; };
  row.si = rate(now.pswpin * kb_per_page) * 1024;
  row.so = rate(now.pswpout * kb_per_page) * 1024;
  row.bi = rate(now.pgpgin) * 1024;
  row.bo = rate(now.pgpgout) * 1024;
  row.in = rate(now.intr);
  row.cs = rate(now.ctxt);
  fill_cpu(row, c);
  return row;
}

VmstatRow vmstat_row_interval(const VmstatSample& before, const VmstatSample& now,
                              double seconds, uint64_t page_size) {
  VmstatRow row;
  fill_memory(row, now);
  if (!(seconds > 0)) seconds = 1;
  const uint64_t kb_per_page = page_size / 1024;
  auto rate = [&](uint64_t a, uint64_t b) {
    return static_cast<uint64_t>(std::llround(static_cast<double>(sat_sub(b, a)) / seconds));
  };
  row.si = rate(before.pswpin * kb_per_page, now.pswpin * kb_per_page) * 1024;
  row.so = rate(before.pswpout * kb_per_page, now.pswpout * kb_per_page) * 1024;
  row.bi = rate(before.pgpgin, now.pgpgin) * 1024;
  row.bo = rate(before.pgpgout, now.pgpgout) * 1024;
  row.in = rate(before.intr, now.intr);
  row.cs = rate(before.ctxt, now.ctxt);
  fill_cpu(row, cpu_split(now.cpu, &before.cpu));
  return row;
}

}  // namespace memkit::inspect
