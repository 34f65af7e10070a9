// memkit CLI — `memkit cgroup [PID]` (tools/memkit/cmd_cgroup.cpp)
//
// The memory limit and usage of a process's cgroup (default: memkit itself), on cgroup v1, v2
// or a hybrid of both (inspect/cgroup.h): where the controller is, limit, usage, the working set
// container tools report (usage − inactive_file), the tightest limit up the tree, every file
// read, and the main memory.stat lines, explained.
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>

#include "command.h"
#include "inspect/cgroup.h"
#include "pid_arg.h"
#include "view.h"

namespace memkit::cli {
namespace cmd_cgroup_impl {

struct CgroupArgs {
  ViewArgs view;
  std::string pid = "self";
};

// The memory.stat keys worth a line, in this order (the JSON has all of them).
constexpr const char* kV2Keys[] = {"anon",          "file",          "kernel",
                                   "kernel_stack",  "pagetables",    "sock",
                                   "shmem",         "file_mapped",   "file_dirty",
                                   "slab_reclaimable", "slab_unreclaimable", "active_anon",
                                   "inactive_anon", "active_file",   "inactive_file",
                                   "unevictable"};
constexpr const char* kV1Keys[] = {"cache",       "rss",         "rss_huge",     "shmem",
                                   "mapped_file", "dirty",       "writeback",    "swap",
                                   "active_anon", "inactive_anon", "active_file", "inactive_file",
                                   "unevictable"};

std::string limit_text(bool unlimited, uint64_t bytes, bool in_bytes) {
  return unlimited ? std::string("unlimited") : format_size(bytes, in_bytes);
}

nlohmann::json limit_json(const inspect::CgroupLimit& l) {
  return l.unlimited ? nlohmann::json("max") : nlohmann::json(l.bytes);
}

void run(const CgroupArgs& a) {
  const inspect::ProcFs fs = open_procfs(a.view);
  const inspect::CgroupMemory cg = inspect::read_cgroup_memory(fs, checked_pid(a.pid));
  const bool v2 = cg.where.version == inspect::CgroupVersion::kV2;
  const bool b = a.view.bytes;

  if (a.view.json) {
    nlohmann::json files = nlohmann::json::object();
    for (const inspect::CgroupFile& f : cg.files)
      files[f.name] = f.limit && f.unlimited ? nlohmann::json("max") : nlohmann::json(f.bytes);
    nlohmann::json stat = nlohmann::json::object();
    for (const auto& [k, v] : cg.stat) stat[k] = v;
    nlohmann::json j = {{"pid", cg.pid_number >= 0 ? nlohmann::json(cg.pid_number)
                                                    : nlohmann::json(a.pid)},
                        {"comm", cg.comm},
                        {"version", v2 ? "v2" : "v1"},
                        {"hierarchy", cg.where.hierarchy},
                        {"cgroup", cg.where.cgroup_path},
                        {"dir", cg.display_dir},
                        {"limit", cg.limit ? limit_json(*cg.limit) : nlohmann::json()},
                        {"usage", cg.usage ? nlohmann::json(*cg.usage) : nlohmann::json()},
                        {"working_set",
                         cg.working_set ? nlohmann::json(*cg.working_set) : nlohmann::json()},
                        {"effective_limit", cg.effective_limit ? limit_json(*cg.effective_limit)
                                                               : nlohmann::json()},
                        {"files", files},
                        {"stat", stat}};
    if (v2) {
      nlohmann::json events = nlohmann::json::object();
      for (const auto& [k, v] : cg.events) events[k] = v;
      j["events"] = events;
    }
    fmt::print("{}\n", j.dump(2));
    return;
  }

  fmt::print("{}\n", header_style(fmt::format(
                         "PID {}{}: memory controller on cgroup {} ({} hierarchy)",
                         cg.pid_number >= 0 ? std::to_string(cg.pid_number) : a.pid,
                         cg.comm.empty() ? "" : " (" + cg.comm + ")", v2 ? "v2" : "v1",
                         cg.where.hierarchy)));
  fmt::print("  cgroup          {}\n", cg.where.cgroup_path);
  fmt::print("  directory       {}\n", cg.display_dir);
  fmt::print("  limit           {}\n",
             cg.limit ? limit_text(cg.limit->unlimited, cg.limit->bytes, b)
                      : std::string("none (the root cgroup has no limit file)"));
  if (cg.effective_limit)
    fmt::print("  effective limit {}  (tightest up the tree: {})\n",
               limit_text(cg.effective_limit->unlimited, cg.effective_limit->bytes, b),
               cg.effective_limit_from);
  fmt::print("  usage           {}{}\n",
             cg.usage ? format_size(*cg.usage, b) : std::string("not reported"),
             v2 || !cg.usage ? "" : "  (v1: approximate; rss + cache in memory.stat is exact)");
  if (cg.working_set)
    fmt::print("  working set     {}  (usage - {}: what docker/podman/cAdvisor call usage)\n",
               format_size(*cg.working_set, b), v2 ? "inactive_file" : "total_inactive_file");

  fmt::print("{}\n", header_style("files:"));
  size_t name_w = 0;
  for (const inspect::CgroupFile& f : cg.files) name_w = std::max(name_w, f.name.size());
  for (const inspect::CgroupFile& f : cg.files) {
    const std::string value = f.name == "memory.failcnt" ? fmt::format("{}", f.bytes)
                              : f.limit ? limit_text(f.unlimited, f.bytes, b)
                                        : format_size(f.bytes, b);
    fmt::print("  {:<{}}  {:>12}  {}\n", f.name, name_w, value, f.role);
  }

  if (!cg.stat.empty()) {
    fmt::print("{}\n", header_style("memory.stat:"));
    size_t key_w = 0;
    for (const auto& [k, v] : cg.stat) key_w = std::max(key_w, k.size());
    auto print_key = [&](const char* key) {
      const auto v = inspect::find_value(cg.stat, key);
      if (!v) return;
      const char* d = inspect::memory_stat_description(key);
      fmt::print("  {:<{}}  {:>12}  {}\n", key, key_w, format_size(*v, b),
                 d ? d : "(no description)");
    };
    if (v2) {
      for (const char* k : kV2Keys) print_key(k);
    } else {
      for (const char* k : kV1Keys) print_key(k);
    }
  }
  if (v2 && !cg.events.empty()) {
    fmt::print("{}", header_style("memory.events:"));
    for (const auto& [k, v] : cg.events) fmt::print(" {} {}", k, v);
    fmt::print("\n");
  }
}

void setup(CLI::App& sub) {
  auto args = std::make_shared<CgroupArgs>();
  add_view_options(sub, args->view);
  sub.add_option("pid", args->pid, "process ID, or \"self\" (default)");
  sub.footer(
      R"(/proc/meminfo and `free` show the whole machine even inside a container; the cgroup
shows what bounds the process. v2: memory.max ("max" = unlimited), memory.current; v1:
memory.limit_in_bytes (9223372036854771712 = unlimited), memory.usage_in_bytes. --json: the
summary, every file read ("max" for unlimited) and all of memory.stat, in bytes.)");
  sub.callback([args] { run(*args); });
}

const Registration kCgroup{"cgroup", "memory limit and usage of a process's cgroup (v1, v2, hybrid)",
                           setup};

}  // namespace
}  // namespace memkit::cli
