// memkit CLI — `memkit vmstat [INTERVAL [COUNT]]` (tools/memkit/cmd_vmstat.cpp)
//
// procps vmstat's main columns (inspect/vmstat.h): the first line is the average since boot
// (with procps's per-CPU-second formula), then one line per INTERVAL seconds of rates over that
// interval; with COUNT, COUNT lines in all. Memory columns are sizes, si/so/bi/bo are sizes per
// second (human units, or bytes with -b), in/cs per second, us..st percent of CPU time.
// --json prints one JSON object per sample, one a line as it is measured (NDJSON), so that the
// output of a run stopped with Ctrl-C is still valid.
#include <fmt/core.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "command.h"
#include "number_arg.h"
#include "inspect/vmstat.h"
#include "view.h"

namespace memkit::cli {
namespace cmd_vmstat_impl {

struct VmstatArgs {
  ViewArgs view;
  double interval = 0;  // 0: one line
  int64_t count = -1;   // -1: forever (with an interval)
};

// "22.3G", "6.7M", "235K", "512": vmstat's columns are narrow.
std::string compact(uint64_t bytes) {
  static const char kUnits[] = "KMGTPE";
  if (bytes < 1024) return fmt::format("{}", bytes);
  double v = static_cast<double>(bytes) / 1024.0;
  size_t u = 0;
  while (v >= 1024.0 && u + 1 < sizeof kUnits - 1) {
    v /= 1024.0;
    ++u;
  }
  return v < 10 ? fmt::format("{:.1f}{}", v, kUnits[u]) : fmt::format("{:.0f}{}", v, kUnits[u]);
}

struct Widths {
  int mem, rate;
};

std::string group(const char* title, int width) {
  const int len = static_cast<int>(std::char_traits<char>::length(title));
  const int left = (width - len) / 2;
  const int right = width - len - left;
  return std::string(static_cast<size_t>(std::max(left, 0)), '-') + title +
         std::string(static_cast<size_t>(std::max(right, 0)), '-');
}

void print_header(const Widths& w) {
  // Column layout: " r  b" (5), memory 4 × (1 + mem), swap 2 × (1 + rate), io 2 × (1 + rate),
  // system 2 × 6, cpu 5 × 3.
  fmt::print("{}\n", header_style(fmt::format("{} {} {} {} {} {}", group("procs", 5), group("memory", 4 * (w.mem + 1) - 1),
             group("swap", 2 * (w.rate + 1) - 1), group("io", 2 * (w.rate + 1) - 1),
             group("system", 11), group("cpu", 14))));
  fmt::print("{}\n", header_style(fmt::format(
                         "{:>2} {:>2} {:>{}} {:>{}} {:>{}} {:>{}} {:>{}} {:>{}} {:>{}} {:>{}} "
                         "{:>5} {:>5} {:>2} {:>2} {:>2} {:>2} {:>2}",
                         "r", "b", "swpd", w.mem, "free", w.mem, "buff", w.mem, "cache", w.mem,
                         "si", w.rate, "so", w.rate, "bi", w.rate, "bo", w.rate, "in", "cs", "us",
                         "sy", "id", "wa", "st")));
}

void print_row(const inspect::VmstatRow& r, const Widths& w, bool bytes) {
  auto size = [bytes](uint64_t v) { return bytes ? fmt::format("{}", v) : compact(v); };
  fmt::print("{:>2} {:>2} {:>{}} {:>{}} {:>{}} {:>{}} {:>{}} {:>{}} {:>{}} {:>{}} {:>5} {:>5} "
             "{:>2} {:>2} {:>2} {:>2} {:>2}\n",
             r.r, r.b, size(r.swpd), w.mem, size(r.free), w.mem, size(r.buff), w.mem,
             size(r.cache), w.mem, size(r.si), w.rate, size(r.so), w.rate, size(r.bi), w.rate,
             size(r.bo), w.rate, r.in, r.cs, r.us, r.sy, r.id, r.wa, r.st);
}

nlohmann::json row_json(const inspect::VmstatRow& r, bool since_boot, double seconds) {
  nlohmann::json j = {
      {"since_boot", since_boot},
      {"procs", {{"r", r.r}, {"b", r.b}}},
      {"memory", {{"swpd", r.swpd}, {"free", r.free}, {"buff", r.buff}, {"cache", r.cache}}},
      {"swap", {{"si", r.si}, {"so", r.so}}},
      {"io", {{"bi", r.bi}, {"bo", r.bo}}},
      {"system", {{"in", r.in}, {"cs", r.cs}}},
      {"cpu", {{"us", r.us}, {"sy", r.sy}, {"id", r.id}, {"wa", r.wa}, {"st", r.st}}},
  };
  if (!since_boot) j["seconds"] = seconds;
  return j;
}

void sleep_for(double seconds) {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(seconds);
  ts.tv_nsec = static_cast<long>((seconds - static_cast<double>(ts.tv_sec)) * 1e9);
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

void run(const VmstatArgs& a, bool interval_given, bool count_given) {
  if (interval_given && !(a.interval > 0 && a.interval <= 86400))
    throw usage_error(fmt::format("INTERVAL must be in (0, 86400] seconds (got {})", a.interval));
  if (count_given && a.count < 1)
    throw usage_error(fmt::format("COUNT must be at least 1 (got {})", a.count));
  const int64_t lines = !interval_given ? 1 : count_given ? a.count : -1;
  if (!a.view.proc_root.empty() && lines != 1)
    throw usage_error("--proc-root: a snapshot holds one sample; INTERVAL and COUNT need the "
                      "live /proc");

  const inspect::ProcFs fs = open_procfs(a.view);
  const uint64_t page_size = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  const uint64_t hz = static_cast<uint64_t>(sysconf(_SC_CLK_TCK));
  const Widths w = a.view.bytes ? Widths{12, 9} : Widths{6, 5};

  inspect::VmstatSample prev = inspect::read_vmstat_sample(fs);
  const inspect::VmstatRow first = inspect::vmstat_row_since_boot(prev, page_size, hz);
  if (a.view.json) {
    fmt::print("{}\n", row_json(first, true, 0).dump());
  } else {
    print_header(w);
    print_row(first, w, a.view.bytes);
  }
  std::fflush(stdout);

  for (int64_t n = 1; lines < 0 || n < lines; ++n) {
    sleep_for(a.interval);
    const inspect::VmstatSample now = inspect::read_vmstat_sample(fs);
    const double seconds = now.time - prev.time;
    const inspect::VmstatRow row = inspect::vmstat_row_interval(prev, now, seconds, page_size);
    if (a.view.json) {
      fmt::print("{}\n", row_json(row, false, seconds).dump());
    } else {
      print_row(row, w, a.view.bytes);
    }
    std::fflush(stdout);
    prev = now;
  }
}

void setup(CLI::App& sub) {
  auto args = std::make_shared<VmstatArgs>();
  add_view_options(sub, args->view);
  auto* interval = sub.add_option("interval", args->interval,
                                  "seconds between lines (fractions allowed); without it, one "
                                  "line since boot")
                       ->check(real_arg());
  auto* count = sub.add_option("count", args->count, "number of lines in all (default: forever)")
                    ->transform(integer_arg<int64_t>());
  count->needs(interval);
  sub.footer(
      R"(Columns: r b = procs running, blocked (/proc/stat); swpd = SwapTotal - SwapFree,
free = MemFree, buff = Buffers, cache = Cached + SReclaimable; si so = swapped in/out
(pswpin/pswpout x page size) per second; bi bo = read from/written to block devices
(pgpgin/pgpgout) per second; in cs = interrupts, context switches per second; us sy id wa st =
user+nice, system+irq+softirq, idle, iowait, steal in % of CPU time.
The first line is since boot, computed as procps vmstat does (per CPU-second: divided by the
CPU ticks of all CPUs). --json: one JSON object per sample and per line (NDJSON, valid however
the run is stopped), sizes in bytes and bytes per second.)");
  sub.callback([args, interval, count] { run(*args, interval->count() > 0, count->count() > 0); });
}

const Registration kVmstat{"vmstat", "memory, swap, I/O and CPU rates, like procps vmstat", setup};

}  // namespace
}  // namespace memkit::cli
