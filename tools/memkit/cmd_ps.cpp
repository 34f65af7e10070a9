// memkit CLI — `memkit ps` (tools/memkit/cmd_ps.cpp)
//
// Per process RSS, PSS, USS and swap, as smem computes them (reference §4.8) but from
// /proc/PID/smaps_rollup (one read per process; /proc/PID/smaps summed where there is no
// rollup, before Linux 4.14, and then PSS is a little lower: smaps rounds each VMA's share
// down to a kB, the rollup sums the exact shares):
//
//   RSS = Rss    PSS = Pss    USS = Private_Clean + Private_Dirty    SWAP = Swap
//
// Kernel threads and zombies have no memory and are left out. A process whose files cannot be
// read (another user's, without root) or that exits while being read is skipped and counted at
// the end, as smem skips it; a file that reads but does not parse is an error.
#include <fmt/core.h>
#include <pwd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "address_space.h"
#include "command.h"
#include "number_arg.h"
#include "inspect/maps.h"
#include "inspect/scan.h"
#include "inspect/status.h"
#include "view.h"

namespace memkit::cli {
namespace cmd_ps_impl {

struct Args {
  ViewArgs view;
  std::string sort = "pss";
  std::vector<int> pids;
};

struct Proc {
  int pid = 0;
  unsigned uid = 0;
  std::string user;
  std::string command;
  uint64_t rss = 0;
  uint64_t pss = 0;
  uint64_t uss = 0;
  uint64_t swap = 0;
};

struct Scan {
  std::vector<Proc> procs;
  size_t unreadable = 0;  // permission denied, or gone while being read
  size_t kernel = 0;      // kernel threads and zombies
};

// The file's text, or nullopt when it cannot be read (the process is skipped). With `strict`
// (a process asked for by --pid) the InspectError saying why goes to the user instead.
std::optional<std::string> try_read(const inspect::ProcFs& fs, const std::string& rel,
                                    bool strict) {
  try {
    return fs.read(rel);
  } catch (const inspect::InspectError&) {
    if (strict) throw;
    return std::nullopt;
  }
}

std::string user_name(unsigned uid) {
  passwd pw{};
  passwd* found = nullptr;
  char buf[1024];
  if (::getpwuid_r(uid, &pw, buf, sizeof buf, &found) == 0 && found != nullptr)
    return pw.pw_name;
  return fmt::format("{}", uid);
}

// The real UID: the first number of status's "Uid:" line (0 when absent).
unsigned real_uid(std::string_view status) {
  for (const inspect::TextLine& line : inspect::split_lines(status)) {
    if (line.text.substr(0, 4) != "Uid:") continue;
    const std::vector<std::string_view> ids = inspect::split_ws(line.text.substr(4));
    uint64_t uid = 0;
    if (!ids.empty() && inspect::parse_u64(ids[0], &uid) && uid <= UINT32_MAX)
      return static_cast<unsigned>(uid);
  }
  return 0;
}

// The smaps_rollup fields of one process (smaps summed without a rollup); nullopt when
// unreadable or gone.
std::optional<inspect::SmapsFields> memory_of(const inspect::ProcFs& fs, const std::string& pid,
                                              bool strict) {
  const std::string rollup = pid + "/smaps_rollup";
  const std::string smaps = pid + "/smaps";
  const bool has_rollup = fs.exists(rollup) || !fs.exists(smaps);
  const std::string rel = has_rollup ? rollup : smaps;
  const std::optional<std::string> text = try_read(fs, rel, strict);
  if (!text || (text->empty() && !strict)) return std::nullopt;  // empty: exited meanwhile
  if (has_rollup) return inspect::parse_smaps_rollup(*text, fs.proc_path(rel));
  inspect::SmapsFields sum;
  const std::vector<inspect::SmapsVma> vmas = inspect::parse_smaps(*text, fs.proc_path(rel));
  for (const char* key : {"Rss", "Pss", "Private_Clean", "Private_Dirty", "Swap"}) {
    uint64_t kb = 0;
    for (const inspect::SmapsVma& v : vmas) kb += v.fields.bytes(key) / 1024;
    sum.kb.emplace_back(key, kb);
  }
  return sum;
}

Scan scan(const inspect::ProcFs& fs, const std::vector<int>& wanted) {
  const bool strict = !wanted.empty();
  Scan out;
  for (const int pid : strict ? wanted : fs.pids()) {
    const std::string p = std::to_string(pid);
    const std::optional<std::string> status_text = try_read(fs, p + "/status", strict);
    if (!status_text) {
      ++out.unreadable;
      continue;
    }
    const inspect::ProcStatus status =
        inspect::parse_status(*status_text, fs.proc_path(p + "/status"));
    if (!status.has_user_memory()) {
      if (strict) inspect::require_user_memory(status);
      ++out.kernel;
      continue;
    }
    const std::optional<inspect::SmapsFields> mem = memory_of(fs, p, strict);
    const std::optional<std::string> cmdline = try_read(fs, p + "/cmdline", strict);
    if (!mem || !cmdline) {
      ++out.unreadable;
      continue;
    }
    Proc proc;
    proc.pid = pid;
    proc.uid = real_uid(*status_text);
    proc.user = user_name(proc.uid);
    proc.command = display_command(*cmdline, status.name);
    proc.rss = mem->bytes("Rss");
    proc.pss = mem->bytes("Pss");
    proc.uss = mem->bytes("Private_Clean") + mem->bytes("Private_Dirty");
    proc.swap = mem->bytes("Swap");
    out.procs.push_back(std::move(proc));
  }
  return out;
}

struct SortKey {
  const char* name;
  uint64_t Proc::*field;
};
constexpr SortKey kSortKeys[] = {
    {"rss", &Proc::rss}, {"pss", &Proc::pss}, {"uss", &Proc::uss}, {"swap", &Proc::swap}};

const SortKey& find_sort_key(const std::string& s) {
  for (const SortKey& k : kSortKeys)
    if (s == k.name) return k;
  throw usage_error(fmt::format("--sort: unknown key \"{}\" (valid: rss, pss, uss, swap)", s));
}

std::string skipped_line(const Scan& s) {
  return fmt::format(
      "{} process{} skipped: smaps_rollup unreadable (permission denied: run as root) or exited; "
      "{} kernel thread{} and zombie{} left out",
      s.unreadable, s.unreadable == 1 ? "" : "es", s.kernel, s.kernel == 1 ? "" : "s",
      s.kernel == 1 ? "" : "s");
}

constexpr size_t kCommandWidth = 80;  // text output; --json has the whole command line

void print_text(const Scan& s, bool bytes) {
  size_t user_w = 4;
  for (const Proc& p : s.procs) user_w = std::max(user_w, p.user.size());
  const size_t w = bytes ? 11 : 10;
  fmt::print("{}\n", header_style(fmt::format("{:>7} {:<{}} {:>{}} {:>{}} {:>{}} {:>{}} {}", "PID",
                                               "USER", user_w, "SWAP", w, "USS", w, "PSS", w,
                                               "RSS", w, "COMMAND")));
  Proc total;
  for (const Proc& p : s.procs) {
    fmt::print("{:>7} {:<{}} {:>{}} {:>{}} {:>{}} {:>{}} {}\n", p.pid, p.user, user_w,
               format_size(p.swap, bytes), w, format_size(p.uss, bytes), w,
               format_size(p.pss, bytes), w, format_size(p.rss, bytes), w,
               p.command.size() > kCommandWidth ? p.command.substr(0, kCommandWidth - 3) + "..."
                                                : p.command);
    total.swap += p.swap;
    total.uss += p.uss;
    total.pss += p.pss;
    total.rss += p.rss;
  }
  fmt::print("{:>7} {:<{}} {:>{}} {:>{}} {:>{}} {:>{}} {} processes\n", "", "total", user_w,
             format_size(total.swap, bytes), w, format_size(total.uss, bytes), w,
             format_size(total.pss, bytes), w, format_size(total.rss, bytes), w,
             s.procs.size());
  fmt::print("{}\n", s.unreadable > 0 ? warn_style(skipped_line(s)) : skipped_line(s));
}

void run(const Args& a) {
  const SortKey& key = find_sort_key(a.sort);
  for (const int pid : a.pids)
    if (pid <= 0) throw usage_error(fmt::format("--pid: {} is not a process ID", pid));
  const inspect::ProcFs fs = open_procfs(a.view);
  Scan s = scan(fs, a.pids);
  std::stable_sort(s.procs.begin(), s.procs.end(), [&](const Proc& x, const Proc& y) {
    return x.*key.field > y.*key.field;
  });
  if (!a.view.json) {
    print_text(s, a.view.bytes);
    return;
  }
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const Proc& p : s.procs) {
    list.push_back({{"pid", p.pid}, {"uid", p.uid}, {"user", p.user}, {"command", p.command},
                    {"rss", p.rss}, {"pss", p.pss}, {"uss", p.uss}, {"swap", p.swap}});
  }
  nlohmann::ordered_json j;
  j["sort"] = key.name;
  j["processes"] = std::move(list);
  j["skipped_unreadable"] = s.unreadable;
  j["skipped_kernel"] = s.kernel;
  fmt::print("{}\n", j.dump(2));
}

void setup(CLI::App& sub) {
  auto args = std::make_shared<Args>();
  add_view_options(sub, args->view);
  sub.add_option("--sort", args->sort, "rss, pss (default), uss or swap; largest first")
      ->option_text("KEY");
  sub.add_option("-p,--pid", args->pids, "only these processes (an error if one cannot be read)")
      ->option_text("PID...")
      ->transform(integer_arg<int>());
  sub.footer(
      "From /proc/PID/smaps_rollup, as smem computes them: RSS = Rss, PSS = Pss (each page\n"
      "divided among the processes mapping it), USS = Private_Clean + Private_Dirty (what the\n"
      "process alone holds), SWAP = Swap. Kernel threads and zombies are left out; processes\n"
      "that cannot be read (not root) or that exit meanwhile are skipped and counted.\n"
      "--json: {\"sort\", \"processes\": [{\"pid\", \"uid\", \"user\", \"command\", \"rss\",\n"
      "\"pss\", \"uss\", \"swap\"}], \"skipped_unreadable\", \"skipped_kernel\"}, sizes in bytes.");
  sub.callback([args] { run(*args); });
}

const Registration kPs{"ps", "per process RSS, PSS, USS and swap (like smem)", setup};

}  // namespace
}  // namespace memkit::cli
