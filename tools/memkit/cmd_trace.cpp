// memkit CLI — `memkit trace` (tools/memkit/cmd_trace.cpp): what is in an allocation trace
// recorded by `memkit run --trace FILE`.
//
//   memkit trace stats FILE [--json]   events by kind, threads, size histogram, live bytes over
//                                      time and at the peak, lifetimes by size class,
//                                      cross-thread frees
//   memkit trace dump FILE [--json]    every event, one a line, in each thread's order
//
// The whole trace is read and checked first (tools/trace/trace_reader.h): a truncated or
// corrupt one is one error naming the byte offset, exit status 1.
#include <fmt/core.h>
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <unordered_map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "buddy_sim.h"
#include "command.h"
#include "memkit/memkit.h"
#include "trace_cli.h"
#include "trace_reader.h"

namespace memkit::cli {

trace::TraceData load_trace_file(const std::string& path, const std::string& command) {
  try {
    return trace::read_trace(path);
  } catch (const trace::FormatError& e) {
    throw Failure(kExitInternal, fmt::format("{}: {}: {}", command, path, e.what()));
  } catch (const std::runtime_error& e) {
    throw Failure(kExitInternal, fmt::format("{}: {}", command, e.what()));
  }
}

namespace cmd_trace_impl {

struct Args {
  std::string file;
  bool json = false;
};

// Power-of-two classes of requested bytes: 0, 1, 2-3, 4-7, ... (class k: [2^(k-1), 2^k)).
unsigned size_class(uint64_t bytes) { return bytes == 0 ? 0 : 64 - static_cast<unsigned>(__builtin_clzll(bytes)); }
std::string class_label(unsigned k) {
  if (k == 0) return "0";
  const uint64_t lo = uint64_t{1} << (k - 1), hi = (uint64_t{1} << k) - 1;
  auto human = [](uint64_t v) {
    if (v >= (1u << 30) && v % (1u << 30) == 0) return fmt::format("{}G", v >> 30);
    if (v >= (1u << 20) && (v + 1) % (1u << 20) == 0) return fmt::format("{}M", (v + 1) >> 20);
    if (v >= (1u << 20) && v % (1u << 20) == 0) return fmt::format("{}M", v >> 20);
    if (v >= 1024 && (v + 1) % 1024 == 0) return fmt::format("{}K", (v + 1) / 1024);
    if (v >= 1024 && v % 1024 == 0) return fmt::format("{}K", v / 1024);
    return fmt::format("{}", v);
  };
  return lo == hi ? human(lo) : human(lo) + "-" + (k >= 11 ? "<" + human(hi) : human(hi));
}

struct ThreadRow {
  uint64_t index = 0, tid = 0, events = 0, allocations = 0, frees = 0, bytes = 0;
};

struct ClassRow {
  uint64_t allocations = 0, bytes = 0, freed = 0, never_freed = 0;
  std::vector<double> lifetimes_us;
};

struct Stats {
  uint64_t file_bytes = 0, events = 0, pid = 0;
  double duration_s = 0;
  std::map<std::string, uint64_t> kinds;
  std::vector<ThreadRow> threads;
  std::map<unsigned, ClassRow> classes;
  std::vector<std::pair<double, uint64_t>> live;  // (seconds, live bytes) at even steps
  uint64_t peak_bytes = 0, peak_blocks = 0, end_bytes = 0, end_blocks = 0;
  double peak_s = 0;
  uint64_t frees = 0, cross_thread_frees = 0, foreign_frees = 0, null_frees = 0, failed = 0;
};

double percentile(std::vector<double>& v, double q) {
  if (v.empty()) return NAN;
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<ptrdiff_t>(i), v.end());
  return v[i];
}

Stats compute(const trace::TraceData& t, uint64_t file_bytes) {
  Stats s;
  s.file_bytes = file_bytes;
  s.events = t.events;
  s.pid = t.pid;
  const double tick_s = t.tick_ns() / 1e9;
  uint64_t last_tick = 0;
  for (const trace::ThreadTrace& th : t.threads) {
    trace::Cursor c(th);
    trace::Event e;
    while (c.next(&e)) last_tick = std::max(last_tick, e.tick);
  }
  s.duration_s = static_cast<double>(last_tick) * tick_s;
  constexpr int kSteps = 20;
  std::vector<uint64_t> size(t.max_id + 1, 0), born(t.max_id + 1, 0);
  std::vector<uint32_t> owner(t.max_id + 1, 0);
  s.threads.resize(t.threads.size());
  for (size_t i = 0; i < t.threads.size(); ++i) {
    s.threads[i].index = t.threads[i].index;
    s.threads[i].tid = t.threads[i].tid;
    s.threads[i].events = t.threads[i].events;
  }
  uint64_t live = 0, blocks = 0;
  int next_step = 0;
  auto sample_until = [&](uint64_t tick) {
    while (next_step <= kSteps &&
           static_cast<double>(tick) >= static_cast<double>(last_tick) * next_step / kSteps) {
      if (tick == last_tick && next_step == kSteps) break;  // the end: after the last event
      s.live.emplace_back(s.duration_s * next_step / kSteps, live);
      ++next_step;
    }
  };
  trace::for_each_in_time_order(t, [&](size_t thread, const trace::Event& e) {
    sample_until(e.tick);
    ++s.kinds[trace::kind_name(e)];
    ThreadRow& row = s.threads[thread];
    if (trace::frees_a_block(e.kind)) {
      if (e.kind != trace::kRealloc || e.ref_kind != trace::kRefNull) ++s.frees, ++row.frees;
      if (e.ref_kind == trace::kRefForeign) ++s.foreign_frees;
      if (e.ref_kind == trace::kRefNull && e.kind != trace::kRealloc) ++s.null_frees;
    }
    if (const uint64_t f = trace::freed_id(e); f != 0) {
      if (owner[f] != t.threads[thread].index) ++s.cross_thread_frees;
      ClassRow& cls = s.classes[size_class(size[f])];
      ++cls.freed;
      cls.lifetimes_us.push_back(static_cast<double>(e.tick - std::min(e.tick, born[f])) * tick_s * 1e6);
      live -= size[f];
      --blocks;
      owner[f] = 0;
    }
    const bool allocates = trace::is_allocation(e.kind) || e.kind == trace::kRealloc;
    if (allocates && e.id == 0 && !(e.kind == trace::kRealloc && e.size == 0)) ++s.failed;
    if (e.id != 0) {
      const uint64_t bytes = trace::requested_bytes(e);
      size[e.id] = bytes;
      born[e.id] = e.tick;
      owner[e.id] = static_cast<uint32_t>(t.threads[thread].index);
      ClassRow& cls = s.classes[size_class(bytes)];
      ++cls.allocations;
      cls.bytes += bytes;
      ++row.allocations;
      row.bytes += bytes;
      live += bytes;
      ++blocks;
      if (live > s.peak_bytes) {
        s.peak_bytes = live;
        s.peak_blocks = blocks;
        s.peak_s = static_cast<double>(e.tick) * tick_s;
      }
    }
  });
  sample_until(last_tick);
  s.live.emplace_back(s.duration_s, live);
  s.end_bytes = live;
  s.end_blocks = blocks;
  for (uint64_t id = 1; id <= t.max_id; ++id)
    if (owner[id] != 0) ++s.classes[size_class(size[id])].never_freed;
  return s;
}

std::string human_bytes(uint64_t b) {
  if (b >= (uint64_t{1} << 30)) return fmt::format("{:.2f} GiB", static_cast<double>(b) / (1 << 30));
  if (b >= (1u << 20)) return fmt::format("{:.2f} MiB", static_cast<double>(b) / (1 << 20));
  if (b >= 1024) return fmt::format("{:.1f} KiB", static_cast<double>(b) / 1024);
  return fmt::format("{} B", b);
}

std::string human_us(double us) {
  if (std::isnan(us)) return "-";
  if (us >= 1e6) return fmt::format("{:.2f} s", us / 1e6);
  if (us >= 1e3) return fmt::format("{:.2f} ms", us / 1e3);
  return fmt::format("{:.1f} us", us);
}

void print_text(const std::string& file, Stats& s) {
  fmt::print("trace {}: pid {}, {} events in {} threads over {:.3f} s; {} bytes, {:.2f} bytes/event\n",
             file, s.pid, s.events, s.threads.size(), s.duration_s, s.file_bytes,
             s.events ? static_cast<double>(s.file_bytes) / static_cast<double>(s.events) : 0.0);
  fmt::print("\nevents by kind\n");
  std::vector<std::pair<std::string, uint64_t>> kinds(s.kinds.begin(), s.kinds.end());
  std::stable_sort(kinds.begin(), kinds.end(), [](auto& a, auto& b) { return a.second > b.second; });
  for (const auto& [k, n] : kinds)
    fmt::print("  {:<28} {:>12} {:>6.1f}%\n", k, n, 100.0 * static_cast<double>(n) / static_cast<double>(s.events));
  fmt::print("\nthreads\n  {:>6} {:>8} {:>12} {:>12} {:>12} {:>12}\n", "index", "tid", "events",
             "allocations", "frees", "bytes");
  for (const ThreadRow& r : s.threads)
    fmt::print("  {:>6} {:>8} {:>12} {:>12} {:>12} {:>12}\n", r.index, r.tid, r.events, r.allocations,
               r.frees, human_bytes(r.bytes));
  fmt::print("\nsizes and lifetimes (requested bytes; lifetimes of the freed blocks)\n");
  fmt::print("  {:<14} {:>12} {:>12} {:>12} {:>11} {:>11} {:>12}\n", "size", "allocations", "bytes",
             "freed", "median", "p90", "never freed");
  for (auto& [k, c] : s.classes) {
    if (c.allocations == 0 && c.freed == 0) continue;
    const double med = percentile(c.lifetimes_us, 0.5), p90 = percentile(c.lifetimes_us, 0.9);
    fmt::print("  {:<14} {:>12} {:>12} {:>12} {:>11} {:>11} {:>12}\n", class_label(k), c.allocations,
               human_bytes(c.bytes), c.freed, human_us(med), human_us(p90), c.never_freed);
  }
  fmt::print("\nlive bytes over time\n");
  const double peak = static_cast<double>(std::max<uint64_t>(s.peak_bytes, 1));
  for (const auto& [sec, bytes] : s.live) {
    const int bar = static_cast<int>(std::lround(40.0 * static_cast<double>(bytes) / peak));
    fmt::print("  {:>9.3f} s {:>12}  {}\n", sec, human_bytes(bytes), std::string(static_cast<size_t>(bar), '#'));
  }
  fmt::print("peak: {} in {} blocks at {:.3f} s; at the end: {} in {} blocks\n", human_bytes(s.peak_bytes),
             s.peak_blocks, s.peak_s, human_bytes(s.end_bytes), s.end_blocks);
  fmt::print("cross-thread frees: {} of {} frees", s.cross_thread_frees, s.frees);
  fmt::print("; foreign frees (blocks allocated before recording): {}; free(NULL) and delete NULL: {}; "
             "failed allocations: {}\n",
             s.foreign_frees, s.null_frees, s.failed);
}

nlohmann::ordered_json to_json(const std::string& file, Stats& s) {
  nlohmann::ordered_json j;
  j["file"] = file;
  j["pid"] = s.pid;
  j["events"] = s.events;
  j["bytes"] = s.file_bytes;
  j["bytes_per_event"] = s.events ? static_cast<double>(s.file_bytes) / static_cast<double>(s.events) : 0.0;
  j["duration_s"] = s.duration_s;
  j["kinds"] = s.kinds;
  nlohmann::ordered_json threads = nlohmann::ordered_json::array();
  for (const ThreadRow& r : s.threads)
    threads.push_back({{"index", r.index}, {"tid", r.tid}, {"events", r.events},
                       {"allocations", r.allocations}, {"frees", r.frees}, {"bytes", r.bytes}});
  j["threads"] = threads;
  nlohmann::ordered_json classes = nlohmann::ordered_json::array();
  for (auto& [k, c] : s.classes) {
    if (c.allocations == 0 && c.freed == 0) continue;
    const double med = percentile(c.lifetimes_us, 0.5), p90 = percentile(c.lifetimes_us, 0.9);
    classes.push_back({{"size", class_label(k)},
                       {"min_bytes", k == 0 ? uint64_t{0} : uint64_t{1} << (k - 1)},
                       {"allocations", c.allocations},
                       {"bytes", c.bytes},
                       {"freed", c.freed},
                       {"never_freed", c.never_freed},
                       {"lifetime_median_us", std::isnan(med) ? nlohmann::ordered_json() : nlohmann::ordered_json(med)},
                       {"lifetime_p90_us", std::isnan(p90) ? nlohmann::ordered_json() : nlohmann::ordered_json(p90)}});
  }
  j["sizes"] = classes;
  nlohmann::ordered_json live = nlohmann::ordered_json::array();
  for (const auto& [sec, bytes] : s.live) live.push_back({{"s", sec}, {"bytes", bytes}});
  j["live"] = live;
  j["peak"] = {{"bytes", s.peak_bytes}, {"blocks", s.peak_blocks}, {"s", s.peak_s}};
  j["end"] = {{"bytes", s.end_bytes}, {"blocks", s.end_blocks}};
  j["frees"] = s.frees;
  j["cross_thread_frees"] = s.cross_thread_frees;
  j["foreign_frees"] = s.foreign_frees;
  j["null_frees"] = s.null_frees;
  j["failed_allocations"] = s.failed;
  return j;
}

uint64_t file_size(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

void stats(const Args& a) {
  const trace::TraceData t = load_trace_file(a.file, "trace stats");
  Stats s = compute(t, file_size(a.file));
  if (a.json) {
    fmt::print("{}\n", to_json(a.file, s).dump(2));
  } else {
    print_text(a.file, s);
  }
}

void dump(const Args& a) {
  const trace::TraceData t = load_trace_file(a.file, "trace dump");
  std::string out;
  for (const trace::ThreadTrace& th : t.threads) {
    trace::Cursor c(th);
    trace::Event e;
    while (c.next(&e)) {
      const double ns = static_cast<double>(e.tick) * t.tick_ns();
      const std::string ref = e.ref_kind == 0 ? "null" : e.ref_kind == 1 ? "foreign" : std::to_string(e.ref);
      const bool frees = trace::frees_a_block(e.kind);
      const bool allocates = trace::is_allocation(e.kind) || e.kind == trace::kRealloc;
      if (a.json) {
        nlohmann::ordered_json j;
        j["thread"] = th.index;
        j["ns"] = ns;
        j["kind"] = trace::kind_name(e);
        if (e.kind == trace::kThread) j["tid"] = e.tid;
        if (e.kind == trace::kCalloc) j["nmemb"] = e.nmemb;
        if (e.kind != trace::kThread && e.kind != trace::kFree &&
            !(e.kind != trace::kRealloc && frees && (e.flags & trace::kFlagSized) == 0))
          j["size"] = e.size;
        if (e.align != 0) j["align"] = e.align;
        if (frees) j["frees"] = e.ref_kind == 2 ? nlohmann::ordered_json(e.ref) : nlohmann::ordered_json(ref);
        if (allocates) j["id"] = e.id;
        out += j.dump() + "\n";
      } else {
        out += fmt::format("{} {:.0f} {}", th.index, ns, trace::kind_name(e));
        if (e.kind == trace::kThread) out += fmt::format(" tid={}", e.tid);
        if (e.kind == trace::kCalloc) out += fmt::format(" nmemb={}", e.nmemb);
        if (e.align != 0) out += fmt::format(" align={}", e.align);
        if (e.size != 0 || (allocates && e.kind != trace::kCalloc)) out += fmt::format(" size={}", e.size);
        if (frees) out += " frees=" + ref;
        if (allocates) out += fmt::format(" id={}", e.id);
        out += "\n";
      }
      if (out.size() > (1 << 16)) {
        fmt::print("{}", out);
        out.clear();
      }
    }
  }
  fmt::print("{}", out);
}

void setup(CLI::App& sub) {
  sub.require_subcommand(1);
  auto args = std::make_shared<Args>();
  CLI::App* st = sub.add_subcommand("stats", "what a trace holds: events by kind, threads, sizes, "
                                             "live bytes over time and at the peak, lifetimes, "
                                             "cross-thread frees");
  st->add_option("FILE", args->file, "a trace from memkit run --trace FILE")->required();
  st->add_flag("--json", args->json, "one JSON object instead of text");
  st->footer("A truncated or corrupt trace is one error naming the byte offset (exit status 1).\n"
             "Example: memkit run --trace py.trace python3 -c 'print(1)' && memkit trace stats py.trace");
  st->callback([args] { stats(*args); });
  CLI::App* du = sub.add_subcommand("dump", "every event of a trace, one a line, thread by thread");
  du->add_option("FILE", args->file, "a trace from memkit run --trace FILE")->required();
  du->add_flag("--json", args->json, "one JSON object a line (thread, ns, kind, size, align, id, frees)");
  du->footer("Text: THREAD NS KIND [tid=] [nmemb=] [align=] [size=] [frees=ID|null|foreign] [id=]; "
             "id=0 is a call that returned NULL. Block ids are the trace's own (1, 2, ...).");
  du->callback([args] { dump(*args); });
}

const Registration kTrace{"trace", "what an allocation trace (memkit run --trace) holds: stats, dump", setup};

}  // namespace cmd_trace_impl
}  // namespace memkit::cli

namespace memkit::cli {

bool is_allocation_trace(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  char magic[sizeof trace::kMagic] = {};
  return f.read(magic, sizeof magic) && std::equal(magic, magic + sizeof magic, trace::kMagic);
}

Trace buddy_ops_of(const trace::TraceData& t, unsigned max_order, uint64_t* skipped) {
  Trace out;
  *skipped = 0;
  std::unordered_map<uint64_t, size_t> dense;  // block id -> buddy id, for the page-level blocks
  trace::for_each_in_time_order(t, [&](size_t, const trace::Event& e) {
    if (const uint64_t f = trace::freed_id(e); f != 0) {
      if (auto it = dense.find(f); it != dense.end()) {
        out.ops.push_back(TraceOp{TraceOp::Kind::kFree, it->second, 0, 0});
        dense.erase(it);
      }
    }
    if (e.id == 0) return;
    const uint64_t bytes = trace::requested_bytes(e);
    if (bytes <= MK_KMALLOC_MAX_CACHE_SIZE) return;
    const uint64_t pages = (bytes + kSimPageSize - 1) / kSimPageSize;
    unsigned order = 0;
    while ((uint64_t{1} << order) < pages && order < 63) ++order;
    if (order > max_order) {
      ++*skipped;
      return;
    }
    dense[e.id] = out.ids;
    out.ops.push_back(TraceOp{TraceOp::Kind::kAlloc, out.ids++, order, 0});
  });
  return out;
}

}  // namespace memkit::cli
