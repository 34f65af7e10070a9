// memkit CLI — the `free` table (tools/memkit/free_view.cpp): see free_view.h.
#include "free_view.h"

#include <fmt/core.h>

#include <vector>

#include "view.h"

namespace memkit::cli {
namespace {

std::string signed_size(int64_t v, bool bytes) {
  if (v >= 0) return format_size(static_cast<uint64_t>(v), bytes);
  return fmt::format("-{}", format_size(static_cast<uint64_t>(-(v + 1)) + 1, bytes));
}

std::string row(const char* label, const std::vector<std::string>& cells) {
  std::string out = fmt::format("{:<8}", label);  // procps: "Mem:" then 12-wide columns
  for (const std::string& c : cells) out += fmt::format(" {:>11}", c);
  // Trailing blanks from empty cells are of no use.
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out + "\n";
}

}  // namespace

std::string free_table(const inspect::FreeSummary& s, const FreeLayout& layout) {
  const bool b = layout.bytes;
  std::vector<std::string> header = {"total", "used", "free", "shared"};
  std::vector<std::string> mem = {format_size(s.total, b), signed_size(s.used, b),
                                  format_size(s.free, b), format_size(s.shared, b)};
  if (layout.wide) {
    header.insert(header.end(), {"buffers", "cache"});
    mem.insert(mem.end(), {format_size(s.buffers, b), format_size(s.cache, b)});
  } else {
    header.push_back("buff/cache");
    mem.push_back(format_size(s.buff_cache, b));
  }
  header.push_back("available");
  mem.push_back(format_size(s.available, b));

  std::string out = row("", header);
  out = header_style(out.substr(0, out.size() - 1)) + "\n";
  out += row("Mem:", mem);
  out += row("Swap:", {format_size(s.swap_total, b), signed_size(s.swap_used, b),
                       format_size(s.swap_free, b)});
  if (layout.total)
    out += row("Total:", {format_size(s.total + s.swap_total, b),
                          signed_size(s.used + s.swap_used, b),
                          format_size(s.free + s.swap_free, b)});
  return out;
}

std::string free_footer(const inspect::FreeSummary& s) {
  std::string out = std::string(inspect::free_formula_text(s.formula)) + "\n";
  if (std::string(s.available_source) != "MemAvailable")
    out += fmt::format("available = {}\n", s.available_source);
  if (s.used_fell_back)
    out += "used = total - free: the formula above came out negative\n";
  return out;
}

nlohmann::json free_json(const inspect::FreeSummary& s, bool total) {
  nlohmann::json j;
  j["formula"] = s.formula == inspect::FreeFormula::kAvailable ? "total - available"
                                                               : "total - free - buffers - cache";
  j["used_fell_back"] = s.used_fell_back;
  j["mem"] = {{"total", s.total},   {"used", s.used},     {"free", s.free},
              {"shared", s.shared}, {"buffers", s.buffers}, {"cache", s.cache},
              {"buff_cache", s.buff_cache}, {"available", s.available}};
  j["available_source"] = s.available_source;
  j["swap"] = {{"total", s.swap_total}, {"used", s.swap_used}, {"free", s.swap_free}};
  if (total)
    j["total"] = {{"total", s.total + s.swap_total},
                  {"used", s.used + s.swap_used},
                  {"free", s.free + s.swap_free}};
  return j;
}

}  // namespace memkit::cli
