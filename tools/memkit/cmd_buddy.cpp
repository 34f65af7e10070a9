// memkit CLI — `memkit buddy simulate` (tools/memkit/cmd_buddy.cpp)
//
// Runs a random or recorded workload (workload.h) through a BuddyAllocator and reports its
// free areas as the kernel does: the /proc/buddyinfo line, and per order the free blocks, the
// unusable free space index and the external fragmentation index (debugfs extfrag format),
// as text or as one JSON object; optionally the final block map as an SVG picture.
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "buddy_sim.h"
#include "command.h"
#include "memkit/fragmentation.hpp"
#include "number_arg.h"
#include "svg.h"
#include "trace.h"
#include "trace_cli.h"
#include "workload.h"

namespace memkit::cli {
namespace cmd_buddy_impl {

struct SimulateArgs {
  int64_t pages = 4096;
  int max_order = static_cast<int>(kMaxPageOrder);
  int64_t ops = 100000;
  uint64_t seed = 1;
  std::string trace;
  int64_t every = 0;  // 0: no periodic reports
  bool json = false;
  std::string svg;
};

constexpr const char* kSimulateFooter =
    R"(Random workload (without --trace), one draw per operation:
  allocate when nothing is live, or when live blocks hold under 7/8 of the pages and a
  3-in-5 draw says so; otherwise free a uniformly chosen live block. The order k of an
  allocation is in 0..min(max-order, 6) with P(k) proportional to 2^-k. Failed allocations
  are counted. The generator is xoshiro256** seeded from --seed: same seed, same output.

Trace format (--trace FILE, '-' for stdin; --ops and --seed are then ignored):
  a ID ORDER    allocate a block of 2^ORDER pages, named ID
  f ID          free the block named ID
  '#' starts a comment, blank lines are ignored. An allocation that fails is counted and
  the later f of its ID skipped. A malformed line, an order above --max-order, an a of a
  live ID, an f of an unknown ID or a second f is an error naming the line (exit status 2).

Output: the buddyinfo line and, per order, free blocks, unusable free space index and
external fragmentation index as the kernel prints them (" 0.-250" is the kernel's way of
printing -250), then a summary. --json prints one object instead:
  {"pages","max_order","ops","free_pages","free_blocks":[per order],
   "unusable_index":[...],"extfrag_index":[...],"failed_allocs", ...}
with the indices as the kernel's integers (x1000).)";

void validate(const SimulateArgs& a, bool every_given) {
  if (a.pages < 1) throw usage_error(fmt::format("--pages must be at least 1 (got {})", a.pages));
  if (a.max_order < 0 || a.max_order > static_cast<int>(kBuddyMaxSupportedOrder)) {
    throw usage_error(
        fmt::format("--max-order must be in 0..{} (got {})", kBuddyMaxSupportedOrder, a.max_order));
  }
  if (a.ops < 0) throw usage_error(fmt::format("--ops must be at least 0 (got {})", a.ops));
  if (every_given && a.every < 1) {
    throw usage_error(fmt::format("--every must be at least 1 (got {})", a.every));
  }
}

Trace load_trace(const std::string& path, unsigned max_order) {
  // An allocation trace (memkit run --trace): its page-level blocks.
  if (path != "-" && is_allocation_trace(path)) {
    uint64_t skipped = 0;
    Trace ops = buddy_ops_of(load_trace_file(path, "buddy simulate"), max_order, &skipped);
    if (skipped > 0)
      std::fprintf(stderr, "memkit: buddy simulate: %llu blocks above order %u left out (direct "
                   "mappings in memkit)\n", static_cast<unsigned long long>(skipped), max_order);
    return ops;
  }
  const bool from_stdin = path == "-";
  const std::string name = from_stdin ? "<stdin>" : path;
  std::ifstream file;
  if (!from_stdin) {
    file.open(path);
    if (!file) throw usage_error(fmt::format("cannot open {}: {}", path, std::strerror(errno)));
  }
  std::istream& in = from_stdin ? std::cin : file;
  std::variant<Trace, TraceError> parsed = parse_trace(in, max_order);
  if (in.bad()) throw usage_error(fmt::format("cannot read {}", name));
  if (const TraceError* err = std::get_if<TraceError>(&parsed)) {
    throw usage_error(fmt::format("{}:{}: {}", name, err->line, err->message));
  }
  return std::get<Trace>(std::move(parsed));
}

void print_report(const BuddyReport& r) {
  fmt::print("{}\n", r.buddyinfo);
  fmt::print("order  free blocks  unusable  extfrag\n");
  char unusable[32];
  char extfrag[32];
  for (size_t k = 0; k < r.free_blocks.size(); ++k) {
    format_index(unusable, sizeof unusable, r.unusable_index[k], 1);
    format_index(extfrag, sizeof extfrag, r.extfrag_index[k], 2);
    fmt::print("{:>5}  {:>11}  {:>8}  {:>7}\n", k, r.free_blocks[k], unusable, extfrag);
  }
}

nlohmann::ordered_json indices_json(const BuddyReport& r) {
  nlohmann::ordered_json j;
  j["ops"] = r.ops;
  j["free_blocks"] = r.free_blocks;
  j["unusable_index"] = r.unusable_index;
  j["extfrag_index"] = r.extfrag_index;
  return j;
}

void print_json(const SimulateArgs& a, const BuddySim& sim, const BuddyReport& end,
                const std::vector<BuddyReport>& snapshots) {
  const BuddyAllocator& buddy = sim.buddy();
  const SimCounters& c = sim.counters();
  nlohmann::ordered_json j;
  j["pages"] = buddy.pages();
  j["max_order"] = buddy.max_order();
  j["ops"] = c.ops;
  j["free_pages"] = buddy.free_pages();
  j["free_blocks"] = end.free_blocks;
  j["unusable_index"] = end.unusable_index;
  j["extfrag_index"] = end.extfrag_index;
  j["failed_allocs"] = c.failed_allocs;
  if (a.trace.empty()) {
    j["seed"] = a.seed;
  } else {
    j["trace"] = a.trace;
  }
  j["allocs"] = c.allocs;
  j["frees"] = c.frees;
  j["skipped_frees"] = c.skipped_frees;
  j["largest_free_order"] = buddy.largest_free_order();
  j["buddyinfo"] = end.buddyinfo;
  if (a.every > 0) {
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const BuddyReport& s : snapshots) list.push_back(indices_json(s));
    j["snapshots"] = std::move(list);
  }
  fmt::print("{}\n", j.dump());
}

void print_text(const BuddySim& sim, const BuddyReport& end,
                const std::vector<BuddyReport>& snapshots) {
  for (const BuddyReport& s : snapshots) {
    fmt::print("after {} ops:\n", s.ops);
    print_report(s);
    fmt::print("\n");
  }
  const SimCounters& c = sim.counters();
  fmt::print("after {} ops (end):\n", c.ops);
  print_report(end);
  fmt::print("{} pages, {} free pages; {} allocations done, {} failed; {} frees, {} skipped\n",
             sim.buddy().pages(), sim.buddy().free_pages(), c.allocs, c.failed_allocs, c.frees,
             c.skipped_frees);
}

void simulate(const SimulateArgs& a, bool every_given) {
  validate(a, every_given);
  const auto pages = static_cast<size_t>(a.pages);
  const auto max_order = static_cast<unsigned>(a.max_order);

  // Everything that can fail on bad input happens before the first line of output.
  std::optional<Trace> trace;
  if (!a.trace.empty()) trace = load_trace(a.trace, max_order);
  std::ofstream svg_file;
  if (!a.svg.empty()) {
    svg_file.open(a.svg);
    if (!svg_file)
      throw usage_error(fmt::format("cannot write {}: {}", a.svg, std::strerror(errno)));
  }

  BuddySim sim(pages, max_order);
  const uint64_t total = trace ? trace->ops.size() : static_cast<uint64_t>(a.ops);
  std::vector<BuddyReport> snapshots;  // after every `every` ops, before the end
  const AfterOp after_op = [&] {
    const uint64_t done = sim.counters().ops;
    if (a.every > 0 && done % static_cast<uint64_t>(a.every) == 0 && done < total) {
      snapshots.push_back(sim.report());
    }
  };
  const std::vector<Block> live =
      trace ? run_trace(sim, *trace, after_op) : run_random(sim, total, a.seed, after_op);
  const BuddyReport end = sim.report();

  if (svg_file.is_open()) {
    SvgInput picture{pages, max_order, sim.buddy().free_pages(), sim.block_map(live)};
    svg_file << render_svg(picture);
    svg_file.close();
    if (!svg_file) throw usage_error(fmt::format("cannot write {}", a.svg));
  }

  if (a.json) {
    print_json(a, sim, end, snapshots);
  } else {
    print_text(sim, end, snapshots);
  }
}

void setup_simulate(CLI::App& sub) {
  auto args = std::make_shared<SimulateArgs>();
  sub.add_option("--pages", args->pages, "pages in the range (4 KiB each; default 4096)")
      ->transform(integer_arg<int64_t>());
  sub.add_option("--max-order", args->max_order,
                 fmt::format("largest block order, 0..{} (default {})", kBuddyMaxSupportedOrder,
                             kMaxPageOrder))
      ->transform(integer_arg<int>());
  sub.add_option("--ops", args->ops,
                 "operations of the random workload (default 100000; ignored with --trace)")
      ->transform(integer_arg<int64_t>());
  sub.add_option("--seed", args->seed,
                 "seed of the random workload (default 1; ignored with --trace)")
      ->transform(integer_arg<uint64_t>());
  sub.add_option("--trace", args->trace,
                 "run the operations of FILE ('-': stdin) instead: a buddy trace (below), or an "
                 "allocation trace from memkit run --trace, whose blocks above the slab limit "
                 "become buddy blocks of the order that holds them")
      ->option_text("FILE");
  CLI::Option* every =
      sub.add_option("--every", args->every, "also report the state after every N operations")
          ->transform(integer_arg<int64_t>());
  sub.add_flag("--json", args->json, "print one JSON object instead of text");
  sub.add_option("--svg", args->svg, "draw the final blocks of the range into FILE (SVG)")
      ->option_text("FILE");
  sub.footer(kSimulateFooter);
  sub.callback([args, every] { simulate(*args, every->count() > 0); });
}

void setup_buddy(CLI::App& sub) {
  sub.require_subcommand(1);
  setup_simulate(
      *sub.add_subcommand("simulate",
                          "run a random or recorded workload through a BuddyAllocator and report "
                          "buddyinfo and fragmentation"));
}

const Registration kBuddy{
    "buddy", "the buddy page allocator: simulate workloads, watch fragmentation", setup_buddy};

}  // namespace
}  // namespace memkit::cli
