// memkit CLI — what every inspection view shares (tools/memkit/view.cpp)
#include "view.h"

#include <fmt/core.h>

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <cstring>

namespace memkit::cli {

void add_view_options(CLI::App& sub, ViewArgs& args, unsigned which) {
  if (which & kViewBytes)
    sub.add_flag("-b,--bytes", args.bytes, "print sizes in bytes instead of human units");
  if (which & kViewJson) sub.add_flag("--json", args.json, "print one JSON document instead of text");
  if (which & kViewProcRoot)
    sub.add_option("--proc-root", args.proc_root,
                   "read a saved /proc tree (from `memkit snapshot DIR`) instead of the live one");
}

inspect::ProcFs open_procfs(const ViewArgs& args) {
  if (args.proc_root.empty()) return inspect::ProcFs();
  return inspect::ProcFs(args.proc_root);
}

bool color_enabled(int fd) {
  const char* no_color = std::getenv("NO_COLOR");
  if (no_color != nullptr && *no_color != '\0') return false;
  const char* term = std::getenv("TERM");
  if (term != nullptr && std::strcmp(term, "dumb") == 0) return false;
  return isatty(fd) == 1;
}

std::string header_style(const std::string& line) {
  static const bool on = color_enabled(1);
  return on ? "\x1b[1m" + line + "\x1b[0m" : line;
}

std::string warn_style(const std::string& text) {
  static const bool on = color_enabled(1);
  return on ? "\x1b[1;33m" + text + "\x1b[0m" : text;
}

std::string format_size(uint64_t bytes, bool in_bytes) {
  if (in_bytes) return fmt::format("{}", bytes);
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) return fmt::format("{} B", bytes);
  double v = static_cast<double>(bytes);
  size_t u = 0;
  while (v >= 1024.0 && u + 1 < sizeof kUnits / sizeof kUnits[0]) {
    v /= 1024.0;
    ++u;
  }
  return fmt::format("{:.1f} {}", v, kUnits[u]);
}

}  // namespace memkit::cli
