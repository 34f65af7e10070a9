// memkit CLI — `memkit replay` (tools/memkit/cmd_replay.cpp): a recorded allocation trace
// (memkit run --trace) replayed on each allocator, compared as `memkit bench` compares them.
//
// The trace is checked first (a corrupt one: one error naming the byte offset, exit status 1).
// Then memkit-replay (tools/trace/replay.cpp, next to the workloads) runs it in a fresh process
// per allocator and run, with LD_PRELOAD set to the allocator, through bench's runner
// (bench_core.h): the same allocator names and checks, the interleaving, the medians and
// ratios, runs.csv, summary.json and chart.svg. The time is the replay's own (without reading
// the trace); peak RSS is the process's. Each --options adds a run of memkit with those
// MEMKIT_OPTIONS, named memkit[OPTIONS], beside the plain one: settings compared on one trace.
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <vector>

#include "bench_core.h"
#include "command.h"
#include "install_paths.h"
#include "number_arg.h"
#include "trace_cli.h"

namespace memkit::cli {
namespace cmd_replay_impl {

struct Args {
  std::string file;
  std::string allocators = "memkit,glibc,jemalloc,tcmalloc,mimalloc";
  int runs = 3;
  std::vector<std::string> options;
  std::string out = "replay-results";
  bool no_progress = false;
};

void replay(const Args& a) {
  if (a.runs < 1) throw usage_error("replay: --runs must be at least 1");
  const trace::TraceData t = load_trace_file(a.file, "replay");
  const std::string replayer = find_bundled("memkit-replay");
  if (replayer.empty())
    throw internal_error("replay: memkit-replay not found next to " + self_dir() +
                         " (or in the install's libexec/memkit)");
  using namespace cmd_bench_impl;
  std::vector<Allocator> allocators = resolve_allocators(a.allocators, a.allocators == Args{}.allocators);
  if (!a.options.empty()) {
    std::string preload;
    for (const Allocator& al : allocators)
      if (al.name == "memkit") preload = al.preload;
    if (preload.empty()) preload = find_preload();
    for (const std::string& o : a.options) {
      const std::string name = "memkit[" + o + "]";
      for (const Allocator& al : allocators)
        if (al.name == name) throw usage_error("replay: --options '" + o + "' given twice");
      allocators.push_back(Allocator{name, preload, {"MEMKIT_OPTIONS=" + o}});
    }
  }
  std::string name = a.file.substr(a.file.rfind('/') == std::string::npos ? 0 : a.file.rfind('/') + 1);
  if (name.empty()) name = "trace";
  cmd_bench_impl::Args b;
  b.runs = a.runs;
  b.threads = static_cast<int>(t.threads.size());
  b.out = a.out;
  b.no_progress = a.no_progress;
  b.command = "replay";
  run_and_report(b, {Workload{name, replayer, {a.file}}}, allocators);
}

void setup(CLI::App& sub) {
  auto args = std::make_shared<Args>();
  sub.add_option("FILE", args->file, "a trace from memkit run --trace FILE")->required();
  sub.add_option("--allocators", args->allocators,
                 "comma-separated: memkit, glibc, jemalloc, tcmalloc, mimalloc, or NAME=PATH of "
                 "any LD_PRELOAD allocator (default: all five; peers not installed are skipped)")
      ->capture_default_str();
  sub.add_option("--runs", args->runs, "replays of the trace under each allocator")
      ->capture_default_str()
      ->transform(integer_arg<int>());
  sub.add_option("--options", args->options,
                 "also replay on memkit with these MEMKIT_OPTIONS (key=value:key=value; "
                 "repeatable), shown as memkit[OPTIONS]")
      ->type_name("OPTIONS");
  sub.add_option("--out", args->out, "directory for runs.csv, summary.json and chart.svg")
      ->capture_default_str();
  sub.add_flag("--no-progress", args->no_progress, "no progress bar on stderr");
  sub.footer(
      "Each replay is a fresh process (memkit-replay) with LD_PRELOAD set to the allocator: the "
      "recorded threads, each making its calls in its recorded order with the recorded sizes "
      "and alignments, a free of another thread's block waiting for its allocation, each new "
      "block touched once a page. Blocks the trace never saw allocated are never freed. Time: "
      "the replay alone (median); peak RSS: the process's (wait4).\n"
      "Examples: memkit run --trace py.trace python3 -c 'import json; json.dumps(list(range(10**5)))'\n"
      "          memkit replay py.trace --runs 5\n"
      "          memkit replay py.trace --allocators memkit --options decay_ms=0 --options huge_pages=1");
  sub.callback([args] { replay(*args); });
}

const Registration kReplay{"replay", "replay an allocation trace on memkit, glibc, jemalloc, tcmalloc, mimalloc",
                           setup};

}  // namespace cmd_replay_impl
}  // namespace memkit::cli
