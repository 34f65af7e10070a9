// memkit CLI — the allocator comparison shared by `memkit bench` and `memkit replay`
// (tools/memkit/bench_core.h; implemented in cmd_bench.cpp)
//
// Allocators are resolved by name (memkit, glibc, jemalloc, tcmalloc, mimalloc) or NAME=PATH
// and checked by preloading them; each workload runs in a fresh process per allocator and run,
// interleaved; the medians, memkit's ratio to the best peer, runs.csv, summary.json and
// chart.svg come out the same for both commands.
#pragma once

#include <cmath>
#include <map>
#include <string>
#include <vector>

namespace memkit::cli::cmd_bench_impl {

struct Args {
  std::string allocators = "memkit,glibc,jemalloc,tcmalloc,mimalloc";
  std::string workloads;  // empty: all
  int runs = 5;
  int threads = 2;
  double scale = 1.0;
  std::string out = "bench-results";
  bool no_progress = false;
  bool list = false;
  std::string command = "bench";  // the subcommand, in messages and the chart's title
};

struct Allocator {
  std::string name;
  std::string preload;  // empty: the C library's malloc
  std::vector<std::string> env;  // VAR=VALUE set for its runs (replacing an inherited VAR)
};

struct Workload {
  std::string name;
  std::string path;
  std::vector<std::string> args;
};

struct Run {
  std::string workload;
  std::string allocator;
  int run = 0;
  double wall = 0, user = 0, sys = 0;
  long max_rss_kb = 0;
  int status = 0;  // wait status decoded: exit code, or 128 + signal
  std::string checksum;
  std::string error;  // first line of stderr when the run failed
};

struct Cell {
  double time = NAN;    // median wall seconds
  double rss_mib = NAN;  // median peak RSS
  bool ok = false;
};

struct Summary {
  std::vector<std::string> workloads, allocators;
  std::map<std::string, std::map<std::string, Cell>> cells;  // [workload][allocator]
  std::map<std::string, std::string> problems;               // workload -> what went wrong
  std::string command = "bench";
};

/// NAME, or NAME=PATH for any other LD_PRELOAD allocator; a default list skips peers that are
/// not installed (with a note), an explicit one fails on them.
std::vector<Allocator> resolve_allocators(const std::string& list, bool is_default);

/// Runs every workload under every allocator args.runs times, prints the tables and writes
/// args.out/{runs.csv,summary.json,chart.svg}; throws Failure (status 1) when a run failed or
/// the checksums disagree.
void run_and_report(const Args& args, const std::vector<Workload>& workloads,
                    const std::vector<Allocator>& allocators);

}  // namespace memkit::cli::cmd_bench_impl
