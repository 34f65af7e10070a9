// memkit CLI — `memkit stats PID`, `memkit top PID`, `memkit metrics PID…`: the live view of a
// program running on libmemkit.so (tools/memkit/cmd_stats.cpp). The figures come from the
// program's live segment (src/stats/live_segment.h, read by live_reader.h).
#include <fmt/core.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "command.h"
#include "live_reader.h"
#include "live_view.h"
#include "number_arg.h"
#include "stats/metrics.h"

namespace memkit::cli {
namespace cmd_stats_impl {

void out(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

// ---- stats ----

struct StatsArgs {
  std::string pid;
  bool json = false;
};

void stats(const StatsArgs& args) {
  LiveSource source(parse_live_pid(args.pid), "stats");
  live::LiveSegment s;
  source.snapshot(&s);
  const uint64_t rss = source.rss_bytes();
  const FrameNamer name = s.nsites != 0 ? live_frame_namer(source.pid()) : FrameNamer{};
  out(args.json ? live_json(s, rss, name).dump() + "\n" : live_text(s, rss, name));
}

void setup_stats(CLI::App& sub) {
  auto args = std::make_shared<StatsArgs>();
  sub.add_option("pid", args->pid, "process ID of a program on libmemkit.so")->required();
  sub.add_flag("--json", args->json, "one JSON object");
  sub.footer(
      "Reads the live statistics a program on libmemkit.so publishes while it runs (memkit run "
      "turns them on; otherwise MEMKIT_OPTIONS=stats_shm=1): calls, bytes in use, heap and RSS, "
      "memory given back to the OS, one line per size class in use (objects in use, active, "
      "slabs, bytes, calls) and the arenas' buddyinfo. Only the program's user and root can "
      "read them. A PID that is gone, another user's, or not on libmemkit.so is one line, exit "
      "status 1.\n"
      "--json: {\"pid\", \"program\", \"allocations\", \"frees\", \"bytes_in_use\", \"heap_bytes\", "
      "\"rss_bytes\", ..., \"page_heap\": {...}, \"size_classes\": [{\"name\", \"in_use_objs\", ...}], "
      "\"arenas\": [{\"nr_free\": [...]}], \"top_sites\": []}\n"
      "Example: memkit run -- ./server & memkit stats $!");
  sub.callback([args] { stats(*args); });
}

const Registration kStats{"stats", "one snapshot of a running program's heap (live, on libmemkit.so)",
                          setup_stats};

// ---- top ----

struct TopArgs {
  std::string pid;
  bool once = false;
  double delay = 1.0;
};

unsigned terminal_rows() {
  winsize ws{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0) return ws.ws_row;
  return 0;
}

void top(const TopArgs& args) {
  if (!(args.delay >= 0.05)) throw usage_error("top: --delay must be at least 0.05 seconds");
  LiveSource source(parse_live_pid(args.pid), "top");
  const bool tty = isatty(STDOUT_FILENO) != 0;
  FrameNamer name;  // made once the profiler's sites appear
  for (;;) {
    live::LiveSegment s;
    source.snapshot(&s);
    if (!name && s.nsites != 0) name = live_frame_namer(source.pid());
    const std::string frame = live_top_frame(s, source.rss_bytes(), args.once ? 0 : terminal_rows(), name);
    if (args.once) {
      out(frame);
      return;
    }
    out((tty ? "\x1b[H\x1b[2J" : "") + frame + (tty ? "" : "\n"));
    const double whole = static_cast<double>(static_cast<long>(args.delay));
    timespec ts{static_cast<time_t>(whole), static_cast<long>((args.delay - whole) * 1e9)};
    while (nanosleep(&ts, &ts) != 0) {
    }
    if (!source.alive()) {
      out(fmt::format("memkit: top: process {} has exited\n", source.pid()));
      return;
    }
  }
}

void setup_top(CLI::App& sub) {
  auto args = std::make_shared<TopArgs>();
  sub.add_option("pid", args->pid, "process ID of a program on libmemkit.so")->required();
  sub.add_flag("--once", args->once, "print one frame and exit");
  sub.add_option("-d,--delay", args->delay, "seconds between frames (default 1)")->check(real_arg());
  sub.footer(
      "A full-screen view of a running program's heap, refreshed like top or slabtop: the "
      "summary (calls, bytes in use, heap, RSS, memory given back), the size classes sorted by "
      "the bytes of their slabs, and the sampling profiler's top sites when it is on. Ends when "
      "the program exits (or with Ctrl-C). See `memkit stats --help` for which programs qualify.");
  sub.callback([args] { top(*args); });
}

const Registration kTop{"top", "a running program's heap, refreshing, like slabtop (live, on libmemkit.so)",
                        setup_top};

// ---- metrics ----

struct MetricsArgs {
  std::vector<std::string> pids;
};

void metrics(const MetricsArgs& args) {
  std::vector<pid_t> pids;
  for (const std::string& p : args.pids) pids.push_back(parse_live_pid(p));
  std::vector<live::LiveSegment> segments(pids.size());
  std::vector<live::MetricsInput> inputs(pids.size());
  for (size_t i = 0; i < pids.size(); ++i) {
    LiveSource source(pids[i], "metrics");
    source.snapshot(&segments[i]);
    inputs[i] = {&segments[i], source.rss_bytes()};
  }
  std::string text;
  live::format_metrics(
      inputs.data(), inputs.size(),
      [](void* ctx, const char* t, size_t len) { static_cast<std::string*>(ctx)->append(t, len); }, &text);
  out(text);
}

void setup_metrics(CLI::App& sub) {
  auto args = std::make_shared<MetricsArgs>();
  sub.add_option("pid", args->pids, "process IDs of programs on libmemkit.so")->required();
  sub.footer(
      "Prints the Prometheus text exposition format (0.0.4) of the programs' live statistics, "
      "one sample per program labelled pid and program: memkit_heap_bytes, "
      "memkit_heap_peak_bytes, memkit_in_use_bytes, memkit_rss_bytes, memkit_arenas, "
      "memkit_arena_bytes, memkit_free_pages, memkit_dirty_pages, memkit_direct_bytes (gauges), "
      "memkit_allocations_total, memkit_frees_total, memkit_returned_bytes_total, "
      "memkit_purged_bytes_total, memkit_unmapped_bytes_total (counters); per size class "
      "(label class) memkit_class_objects, memkit_class_in_use_objects, memkit_class_slabs, "
      "memkit_class_bytes, memkit_class_allocations_total, memkit_class_frees_total; per arena "
      "and order memkit_buddy_free_blocks. For node_exporter's textfile collector: "
      "memkit metrics PID > DIR/memkit.prom.$$ && mv DIR/memkit.prom.$$ DIR/memkit.prom");
  sub.callback([args] { metrics(*args); });
}

const Registration kMetrics{"metrics", "Prometheus metrics of running programs' heaps (live, on libmemkit.so)",
                            setup_metrics};

}  // namespace cmd_stats_impl
}  // namespace memkit::cli
