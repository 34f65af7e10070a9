// memkit — /proc/meminfo and what `free` makes of it (src/inspect/meminfo.h)
//
// /proc/meminfo is one "Key:   value kB" line per field (fs/proc/meminfo.c); the HugePages_*
// counts have no unit, and the set of keys depends on the kernel's configuration, so every
// line is kept, in file order. The parser checks the whole file before anything is printed:
// a line that is not "Key: value [kB]", a value that is not a number, a repeated key, an empty
// file or a last line without its '\n' (a truncated copy) is an InspectError naming the file
// and the line.
//
// compute_free() is procps-ng's free, exactly (reference §4.2, library/meminfo.c of 4.0.2):
//
//   available = MemAvailable, or MemFree when the line is absent, is 0, or exceeds MemTotal
//   used      = MemTotal - available            (procps-ng >= 4.0.1; FreeFormula::kAvailable)
//             = MemTotal - MemFree - Buffers - cache   (procps-ng 3.3; FreeFormula::kClassic)
//             falling back to MemTotal - MemFree when negative (and then printed signed)
//   cache     = Cached + SReclaimable           buff/cache = Buffers + cache
//   shared    = Shmem                           swap used  = SwapTotal - SwapFree
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "inspect/procfs.h"

namespace memkit::inspect {

struct MeminfoField {
  std::string key;     // "MemTotal", "Active(anon)", "HugePages_Total"
  uint64_t value = 0;  // as written: kB when `kb`, else a plain count
  bool kb = false;     // the line ends in " kB"

  /// The value in bytes (kB × 1024) for kB fields, the count otherwise.
  uint64_t bytes() const { return kb ? value * 1024 : value; }
};

struct Meminfo {
  std::string path;  // the file it came from, for errors about missing fields
  std::vector<MeminfoField> fields;

  const MeminfoField* find(std::string_view key) const;
  /// The field's value in bytes (counts for unitless fields), or nullopt if absent.
  std::optional<uint64_t> bytes(std::string_view key) const;
  /// Like bytes(), but a missing field is an InspectError "no <key> line".
  uint64_t require(std::string_view key) const;
};

/// Parses the text of /proc/meminfo; `path` names the file in errors.
Meminfo parse_meminfo(std::string_view text, const std::string& path);
Meminfo read_meminfo(const ProcFs& fs);

enum class FreeFormula {
  kAvailable,  // used = total - available (procps-ng >= 4.0.1, the default)
  kClassic,    // used = total - free - buffers - cache (procps-ng 3.3.x, htop)
};

/// One description of a formula for the footer of `memkit free`.
const char* free_formula_text(FreeFormula formula);

/// What `free` prints, in bytes.
struct FreeSummary {
  FreeFormula formula = FreeFormula::kAvailable;
  uint64_t total = 0;
  int64_t used = 0;  // may be negative on a strange kernel or container, as in procps
  uint64_t free = 0;
  uint64_t shared = 0;
  uint64_t buffers = 0;
  uint64_t cache = 0;       // Cached + SReclaimable
  uint64_t buff_cache = 0;  // Buffers + cache
  uint64_t available = 0;
  const char* available_source = "MemAvailable";  // or why MemFree stood in for it
  bool used_fell_back = false;                    // used came out negative: total - free
  uint64_t swap_total = 0;
  int64_t swap_used = 0;
  uint64_t swap_free = 0;
};

/// Needs MemTotal, MemFree, SwapTotal and SwapFree (an InspectError naming the file if one is
/// missing); Buffers, Cached, SReclaimable, Shmem and MemAvailable count as 0 when absent, as
/// in procps.
FreeSummary compute_free(const Meminfo& info, FreeFormula formula);

/// One line on what a /proc/meminfo field means, or nullptr for a key memkit does not know.
const char* meminfo_description(std::string_view key);

}  // namespace memkit::inspect
