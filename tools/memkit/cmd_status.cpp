// memkit CLI — `memkit status PID` (tools/memkit/cmd_status.cpp)
//
// The Vm*/Rss*/HugetlbPages lines of /proc/PID/status (inspect/status.h), each with one line on
// what it means, and the check VmRSS = RssAnon + RssFile + RssShmem. A kernel thread or a
// zombie has no such lines: that is an error naming the PID, not an empty table.
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>

#include "command.h"
#include "inspect/status.h"
#include "pid_arg.h"
#include "view.h"

namespace memkit::cli {
namespace cmd_status_impl {

struct StatusArgs {
  ViewArgs view;
  std::string pid = "self";
};

void run(const StatusArgs& a) {
  const inspect::ProcFs fs = open_procfs(a.view);
  const inspect::ProcStatus st = inspect::read_status(fs, checked_pid(a.pid));
  inspect::require_user_memory(st);

  const auto* rss = st.find("VmRSS");
  const auto* anon = st.find("RssAnon");
  const auto* file = st.find("RssFile");
  const auto* shmem = st.find("RssShmem");
  const bool can_check = rss && anon && file && shmem;
  const bool holds = can_check && rss->kb == anon->kb + file->kb + shmem->kb;

  if (a.view.json) {
    nlohmann::json fields = nlohmann::json::array();
    for (const inspect::StatusMemField& f : st.memory) {
      const char* d = inspect::status_description(f.key);
      fields.push_back({{"key", f.key},
                        {"bytes", f.bytes()},
                        {"description", d ? nlohmann::json(d) : nlohmann::json()}});
    }
    nlohmann::json j = {{"pid", st.pid}, {"name", st.name}, {"file", st.path}, {"fields", fields}};
    if (can_check) j["rss_check"] = {{"formula", "VmRSS = RssAnon + RssFile + RssShmem"}, {"holds", holds}};
    fmt::print("{}\n", j.dump(2));
    return;
  }

  fmt::print("{}\n", header_style(fmt::format("PID {} ({}): {}", st.pid, st.name, st.path)));
  size_t key_w = 0, value_w = 0;
  std::vector<std::string> values;
  for (const inspect::StatusMemField& f : st.memory) {
    key_w = std::max(key_w, f.key.size() + 1);
    values.push_back(format_size(f.bytes(), a.view.bytes));
    value_w = std::max(value_w, values.back().size());
  }
  for (size_t i = 0; i < st.memory.size(); ++i) {
    const char* d = inspect::status_description(st.memory[i].key);
    fmt::print("{} {:>{}}  {}\n", header_style(fmt::format("{:<{}}", st.memory[i].key + ":", key_w)),
               values[i], value_w, d ? d : "(no description)");
  }
  if (can_check) {
    const bool b = a.view.bytes;
    fmt::print("VmRSS {} = RssAnon {} + RssFile {} + RssShmem {}{}\n",
               format_size(rss->bytes(), b), format_size(anon->bytes(), b),
               format_size(file->bytes(), b), format_size(shmem->bytes(), b),
               holds ? "" : " " + warn_style("does NOT hold (an edited or inconsistent file)"));
  }
}

void setup(CLI::App& sub) {
  auto args = std::make_shared<StatusArgs>();
  add_view_options(sub, args->view);
  sub.add_option("pid", args->pid, "process ID, or \"self\" (default)");
  sub.footer("Sizes are the kernel's per-process counters (approximate); `memkit maps`/smaps walk "
             "the page tables. --json: {\"pid\", \"name\", \"file\", \"fields\": [{\"key\", "
             "\"bytes\", \"description\"}], \"rss_check\"}.");
  sub.callback([args] { run(*args); });
}

const Registration kStatus{"status", "the memory lines of /proc/PID/status, explained", setup};

}  // namespace
}  // namespace memkit::cli
