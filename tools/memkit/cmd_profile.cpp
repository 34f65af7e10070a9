// memkit CLI — `memkit profile` (tools/memkit/cmd_profile.cpp): the sampling heap profiler.
//
// Runs PROGRAM on libmemkit.so (as `memkit run` does) with MEMKIT_OPTIONS profile_sample=BYTES
// (the mean gap between sampled allocations), profile_fd (a memory file for the raw profile
// the library writes at exit), stats_pid (only PROGRAM itself writes it) and the live segment
// (stats_shm=1, refreshed every --interval ms). While PROGRAM runs, memkit reads the live
// segment every --interval ms for timeline.csv (time, heap bytes in use, RSS, the bytes of the
// top sites); once it has exited, the raw profile is symbolised (libdw) and written into DIR
// as heap.pb.gz, peak.pb.gz, heap.folded, peak.folded, sites.csv, timeline.csv,
// peak-buddyinfo.txt and peak-slabinfo.txt (heap_profile.h). The exit status is PROGRAM's.
#include <fcntl.h>
#include <fmt/core.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "child.h"
#include "command.h"
#include "heap_profile.h"
#include "install_paths.h"
#include "live_reader.h"
#include "profile_html.h"

namespace memkit::cli {
namespace cmd_profile_impl {

struct Args {
  uint64_t sample = 512 * 1024;
  unsigned interval_ms = 100;
  std::string out;
  std::vector<std::string> command;
};

// One row of the timeline: the live segment's figures, with the top sites' raw frames.
struct Tick {
  double time_s;
  uint64_t heap_bytes;
  uint64_t rss_bytes;
  std::vector<std::pair<uint64_t, uint64_t>> sites;  // (first frame, live bytes)
};

std::string read_all(int fd) {
  std::string text;
  char buf[65536];
  for (off_t at = 0;;) {
    const ssize_t n = pread(fd, buf, sizeof buf, at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, static_cast<size_t>(n));
    at += n;
  }
  return text;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Polls PROGRAM's live segment until it exits; returns its wait status.
int watch(pid_t pid, unsigned interval_ms, std::vector<Tick>* ticks) {
  const auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<LiveSource> source;
  auto segment = std::make_unique<live::LiveSegment>();
  int status = 0;
  for (;;) {
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) return status;
    if (done < 0 && errno != EINTR) throw internal_error(fmt::format("profile: waitpid: {}", std::strerror(errno)));
    try {
      if (!source) source = std::make_unique<LiveSource>(pid, "profile");
      source->snapshot(segment.get());
      Tick t{seconds_since(t0), segment->in_use_bytes, source->rss_bytes(), {}};
      for (unsigned k = 0; k < segment->nsites && k < live::kLiveMaxSites; ++k)
        if (segment->site[k].nframes > 0)
          t.sites.emplace_back(segment->site[k].frames[0], segment->site[k].bytes);
      ticks->push_back(std::move(t));
    } catch (const Failure&) {
      // Not started yet (the library makes the segment before main), or gone: try again.
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
  }
}

std::string csv_quote(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) {
    if (c == '"') q += '"';
    q += c;
  }
  return q + "\"";
}

// timeline.csv: a column per site seen among the top sites, named by its frame's text (sites
// that share it are added up), the largest first.
std::string timeline_csv(const std::vector<Tick>& ticks, Symbolizer& sym) {
  std::map<std::string, uint64_t> largest;
  for (const Tick& t : ticks)
    for (const auto& [frame, bytes] : t.sites) {
      uint64_t& m = largest[sym.frame(frame).text()];
      m = std::max(m, bytes);
    }
  std::vector<std::string> columns;
  for (const auto& [name, bytes] : largest) columns.push_back(name);
  std::stable_sort(columns.begin(), columns.end(),
                   [&](const std::string& a, const std::string& b) { return largest[a] > largest[b]; });
  std::string out = "time_s,heap_bytes,rss_bytes,";
  for (size_t i = 0; i < columns.size(); ++i) out += (i ? "," : "") + csv_quote(columns[i]);
  out += "\n";
  for (const Tick& t : ticks) {
    std::map<std::string, uint64_t> at;
    for (const auto& [frame, bytes] : t.sites) at[sym.frame(frame).text()] += bytes;
    out += fmt::format("{:.3f},{},{},", t.time_s, t.heap_bytes, t.rss_bytes);
    for (size_t i = 0; i < columns.size(); ++i) {
      auto it = at.find(columns[i]);
      out += fmt::format("{}{}", i ? "," : "", it == at.end() ? 0 : it->second);
    }
    out += "\n";
  }
  return out;
}

[[noreturn]] void profile(Args args) {
  const std::string preload = find_preload();
  const char* old = std::getenv("LD_PRELOAD");
  const std::string ld = old != nullptr && *old != '\0' ? preload + ":" + old : preload;
  const int mem = memfd_create("memkit-heap-profile", 0);
  if (mem < 0) throw internal_error(fmt::format("profile: memfd_create: {}", std::strerror(errno)));
  const int raw_fd = fcntl(mem, F_DUPFD, 100);  // out of PROGRAM's way, inherited across exec
  close(mem);
  if (raw_fd < 0) throw internal_error(fmt::format("profile: dup: {}", std::strerror(errno)));
  Child child(
      args.command,
      [&] {
        // The user's MEMKIT_OPTIONS first, then the profiler's keys (a later key wins).
        const char* mo = std::getenv("MEMKIT_OPTIONS");
        std::string options = mo != nullptr && *mo != '\0' ? std::string(mo) + ":" : "";
        options += fmt::format("stats_shm=1:stats_shm_ms={}:profile_sample={}:profile_fd={}:stats_pid={}",
                               std::clamp(args.interval_ms, 10u, 60000u), args.sample, raw_fd, getpid());
        setenv("MEMKIT_OPTIONS", options.c_str(), 1);
        setenv("LD_PRELOAD", ld.c_str(), 1);
      },
      "profile");
  const pid_t pid = child.pid();
  std::vector<Tick> ticks;
  const int status = watch(pid, std::max(args.interval_ms, 1u), &ticks);
  child.check_exec([&] { close(raw_fd); });
  const std::string text = read_all(raw_fd);
  close(raw_fd);
  const std::string dir = args.out.empty() ? fmt::format("memkit-profile.{}", pid) : args.out;
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
    throw internal_error(fmt::format("profile: cannot make {}: {}", dir, std::strerror(errno)));
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (text.empty()) {
    std::fprintf(stderr, "memkit: profile: %s wrote no heap profile (killed, exited through _exit, "
                         "or not on libmemkit.so: a static or setuid program?)\n",
                 printable(args.command[0]).c_str());
    throw Failure(code == 0 ? kExitInternal : code, "");
  }
  const RawProfile raw = parse_raw_profile(text);
  Symbolizer sym(raw.maps);
  write_profile_outputs(raw, sym, dir);
  {
    const std::string csv = timeline_csv(ticks, sym);
    FILE* f = std::fopen((dir + "/timeline.csv").c_str(), "w");
    if (f == nullptr || std::fwrite(csv.data(), 1, csv.size(), f) != csv.size() || std::fclose(f) != 0)
      throw internal_error(fmt::format("profile: cannot write {}/timeline.csv", dir));
  }
  {
    std::string error;
    if (write_profile_html(dir, "", &error) != 0) throw internal_error(error);
  }
  std::fprintf(stderr, "memkit: profile: %zu sites (sampling every %llu bytes on average%s) -> %s/\n",
               raw.sites.size(), static_cast<unsigned long long>(raw.sample),
               raw.dropped ? fmt::format(", {} samples dropped", raw.dropped).c_str() : "", dir.c_str());
  throw Failure(code, "");
}

void setup(CLI::App& sub) {
  auto args = std::make_shared<Args>();
  sub.add_option("--sample", args->sample,
                 "mean bytes between sampled allocations (default 524288; 1: every allocation)")
      ->type_name("BYTES")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40));
  sub.add_option("--interval", args->interval_ms, "milliseconds between the timeline's rows (default 100)")
      ->type_name("MS")
      ->check(CLI::Range(10u, 60000u));
  sub.add_option("--out", args->out, "directory for the output files (default memkit-profile.PID)")
      ->type_name("DIR");
  add_program_argument(sub, args->command, "PROGRAM [ARGS...] (\"--\" before it is optional)")
      ->required();
  sub.footer(
      "Runs PROGRAM on libmemkit.so with the sampling heap profiler on and writes into DIR: "
      "heap.pb.gz and peak.pb.gz (pprof, at exit and at the peak), heap.folded and peak.folded "
      "(collapsed stacks of live bytes), sites.csv (per allocation site: live, allocated and "
      "peak bytes), timeline.csv (heap, RSS and the top sites every --interval ms), "
      "peak-buddyinfo.txt and peak-slabinfo.txt, and report.html (all of it on one page that "
      "opens offline; `memkit report DIR` redraws it). Exits with PROGRAM's status.\n"
      "Examples: memkit profile -- python3 -c 'x = [str(i) for i in range(10**6)]'\n"
      "          go tool pprof -top -sample_index=inuse_space memkit-profile.PID/heap.pb.gz");
  sub.callback([args] { profile(*args); });
}

const Registration kProfile{"profile", "run a program with the sampling heap profiler (pprof, flame graphs)", setup};

}  // namespace cmd_profile_impl
}  // namespace memkit::cli
