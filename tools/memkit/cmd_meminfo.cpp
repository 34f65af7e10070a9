// memkit CLI — `memkit meminfo` (tools/memkit/cmd_meminfo.cpp)
//
// Every /proc/meminfo line, in file order, with its value and one line on what it means
// (inspect/meminfo.h: meminfo_description); a field memkit does not know is still printed,
// with "(no description)". HugePages_* are counts, not sizes.
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>

#include "command.h"
#include "inspect/meminfo.h"
#include "view.h"

namespace memkit::cli {
namespace cmd_meminfo_impl {

void run(const ViewArgs& a) {
  const inspect::ProcFs fs = open_procfs(a);
  const inspect::Meminfo info = inspect::read_meminfo(fs);

  if (a.json) {
    nlohmann::json fields = nlohmann::json::array();
    for (const inspect::MeminfoField& f : info.fields) {
      const char* d = inspect::meminfo_description(f.key);
      fields.push_back({{"key", f.key},
                        {"value", f.bytes()},
                        {"unit", f.kb ? "bytes" : "count"},
                        {"description", d != nullptr ? nlohmann::json(d) : nlohmann::json()}});
    }
    fmt::print("{}\n", nlohmann::json{{"file", info.path}, {"fields", fields}}.dump(2));
    return;
  }

  size_t key_w = 0, value_w = 0;
  std::vector<std::string> values;
  for (const inspect::MeminfoField& f : info.fields) {
    key_w = std::max(key_w, f.key.size() + 1);
    values.push_back(f.kb ? format_size(f.bytes(), a.bytes) : fmt::format("{}", f.value));
    value_w = std::max(value_w, values.back().size());
  }
  for (size_t i = 0; i < info.fields.size(); ++i) {
    const inspect::MeminfoField& f = info.fields[i];
    const char* d = inspect::meminfo_description(f.key);
    fmt::print("{} {:>{}}  {}\n", header_style(fmt::format("{:<{}}", f.key + ":", key_w)),
               values[i], value_w, d != nullptr ? d : "(no description)");
  }
}

void setup(CLI::App& sub) {
  auto args = std::make_shared<ViewArgs>();
  add_view_options(sub, *args);
  sub.footer("--json: {\"file\", \"fields\": [{\"key\", \"value\", \"unit\": \"bytes\"|\"count\", "
             "\"description\"}]}, values in bytes for kB lines.");
  sub.callback([args] { run(*args); });
}

const Registration kMeminfo{"meminfo", "every /proc/meminfo field, with what it means", setup};

}  // namespace
}  // namespace memkit::cli
