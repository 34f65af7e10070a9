// memkit CLI — the `free` table, shared by `memkit free` and `memkit drop-caches`
// (tools/memkit/free_view.h)
//
// Text: procps free's layout (total used free shared buff/cache available; -w splits buffers
// and cache; -t adds a Total row), sizes in human units or bytes (format_size). JSON: one object
// with every figure in bytes, whatever -b says:
//
//   {"formula": "total - available" | "total - free - buffers - cache",
//    "mem": {"total","used","free","shared","buffers","cache","buff_cache","available"},
//    "available_source": "MemAvailable" | "MemFree (...)",
//    "swap": {"total","used","free"}, ["total": {"total","used","free"}]}
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "inspect/meminfo.h"

namespace memkit::cli {

struct FreeLayout {
  bool bytes = false;  // -b
  bool wide = false;   // -w: buffers and cache in separate columns
  bool total = false;  // -t: a Total row (Mem + Swap)
};

/// The table (header, Mem, Swap[, Total]) without the formula footer.
std::string free_table(const inspect::FreeSummary& s, const FreeLayout& layout);
/// The footer lines: the formula, and where `available` came from when not MemAvailable.
std::string free_footer(const inspect::FreeSummary& s);
nlohmann::json free_json(const inspect::FreeSummary& s, bool total);

}  // namespace memkit::cli
