// memkit CLI — `memkit slabinfo` and `memkit slabtop` (tools/memkit/cmd_slabinfo.cpp)
//
// Both read /proc/slabinfo 2.1 (inspect/slabinfo.h; root only). slabinfo lists every cache in
// file order with its memory (num_slabs · pagesperslab · page size); slabtop prints what
// `slabtop -o` prints: the five summary lines with slabtop's formulas, then the caches sorted
// by a slabtop key (default: number of objects), sizes in human units unless -b.
#include <fmt/core.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "command.h"
#include "inspect/slabinfo.h"
#include "view.h"

namespace memkit::cli {
namespace cmd_slabinfo_impl {

using inspect::SlabCacheInfo;
using inspect::SlabInfo;
using inspect::SlabSummary;

uint64_t page_size() { return static_cast<uint64_t>(::sysconf(_SC_PAGESIZE)); }

// slabtop's sort keys: the letter of `slabtop -s` and a word for each.
struct SortKey {
  char letter;
  const char* word;
  const char* help;
};
constexpr SortKey kSortKeys[] = {
    {'a', "active", "active objects"},
    {'b', "objs-per-slab", "objects per slab"},
    {'c', "cache-size", "cache size"},
    {'l', "slabs", "slabs"},
    {'v', "active-slabs", "active slabs"},
    {'n', "name", "name (ascending)"},
    {'o', "objs", "objects (the default)"},
    {'p', "pages-per-slab", "pages per slab"},
    {'s', "objsize", "object size"},
    {'u', "use", "utilization (USE)"},
};

const SortKey& find_sort_key(const std::string& s) {
  for (const SortKey& k : kSortKeys)
    if ((s.size() == 1 && s[0] == k.letter) || s == k.word) return k;
  std::string valid;
  for (const SortKey& k : kSortKeys) valid += fmt::format("{}{}|{}", valid.empty() ? "" : ", ",
                                                          k.letter, k.word);
  throw usage_error(fmt::format("--sort: unknown key \"{}\" (valid: {})", s, valid));
}

// The value a numeric sort key orders by (descending).
uint64_t sort_value(char letter, const SlabCacheInfo& c, uint64_t psize) {
  switch (letter) {
    case 'a': return c.active_objs;
    case 'b': return c.objperslab;
    case 'c': return c.cache_size(psize);
    case 'l': return c.num_slabs;
    case 'v': return c.active_slabs;
    case 'p': return c.pagesperslab;
    case 's': return c.objsize;
    case 'u': return c.use_percent();
    default: return c.num_objs;  // 'o'
  }
}

std::vector<SlabCacheInfo> sorted(const SlabInfo& info, char letter, uint64_t psize) {
  std::vector<SlabCacheInfo> caches = info.caches;
  std::stable_sort(caches.begin(), caches.end(), [&](const SlabCacheInfo& x,
                                                     const SlabCacheInfo& y) {
    if (letter == 'n') return x.name < y.name;
    return sort_value(letter, x, psize) > sort_value(letter, y, psize);
  });
  return caches;
}

nlohmann::ordered_json cache_json(const SlabCacheInfo& c, uint64_t psize) {
  return {{"name", c.name},
          {"active_objs", c.active_objs},
          {"num_objs", c.num_objs},
          {"objsize", c.objsize},
          {"objperslab", c.objperslab},
          {"pagesperslab", c.pagesperslab},
          {"active_slabs", c.active_slabs},
          {"num_slabs", c.num_slabs},
          {"use_percent", c.use_percent()},
          {"cache_size", c.cache_size(psize)},
          {"tunables", {{"limit", c.limit}, {"batchcount", c.batchcount},
                        {"sharedfactor", c.sharedfactor}}},
          {"sharedavail", c.sharedavail}};
}

// ---------------------------------------------------------------- memkit slabinfo

void run_slabinfo(const ViewArgs& a) {
  const inspect::ProcFs fs = open_procfs(a);
  const SlabInfo info = inspect::read_slabinfo(fs);
  const uint64_t psize = page_size();
  if (a.json) {
    nlohmann::ordered_json caches = nlohmann::ordered_json::array();
    for (const SlabCacheInfo& c : info.caches) caches.push_back(cache_json(c, psize));
    nlohmann::ordered_json j;
    j["version"] = info.version;
    j["page_size"] = psize;
    j["caches"] = std::move(caches);
    fmt::print("{}\n", j.dump(2));
    return;
  }
  size_t name_w = 4;
  for (const SlabCacheInfo& c : info.caches) name_w = std::max(name_w, c.name.size());
  const size_t size_w = a.bytes ? 11 : 10;
  fmt::print("{}\n", header_style(fmt::format(
                         "{:<{}} {:>9} {:>9} {:>4} {:>{}} {:>8} {:>10} {:>7} {:>{}}", "NAME", name_w,
                         "ACTIVE", "OBJS", "USE", "OBJSIZE", size_w, "OBJ/SLAB", "PAGES/SLAB",
                         "SLABS", "MEMORY", size_w)));
  uint64_t total = 0;
  for (const SlabCacheInfo& c : info.caches) {
    total += c.cache_size(psize);
    fmt::print("{:<{}} {:>9} {:>9} {:>3}% {:>{}} {:>8} {:>10} {:>7} {:>{}}\n", c.name, name_w,
               c.active_objs, c.num_objs, c.use_percent(), format_size(c.objsize, a.bytes),
               size_w, c.objperslab, c.pagesperslab, c.num_slabs,
               format_size(c.cache_size(psize), a.bytes), size_w);
  }
  fmt::print("{} caches, {} in slabs (MEMORY = slabs x pages/slab x {} bytes)\n",
             info.caches.size(), format_size(total, a.bytes), psize);
}

// ---------------------------------------------------------------- memkit slabtop

struct SlabtopArgs {
  ViewArgs view;
  std::string sort = "o";
};

std::string pct(uint64_t part, uint64_t whole) {
  return fmt::format("{:.1f}%", inspect::percent(part, whole));
}

void print_slabtop(const SlabSummary& s, const std::vector<SlabCacheInfo>& caches,
                   uint64_t psize, bool bytes) {
  fmt::print(" Active / Total Objects (% used)    : {} / {} ({})\n", s.active_objs, s.total_objs,
             pct(s.active_objs, s.total_objs));
  fmt::print(" Active / Total Slabs (% used)      : {} / {} ({})\n", s.active_slabs,
             s.total_slabs, pct(s.active_slabs, s.total_slabs));
  fmt::print(" Active / Total Caches (% used)     : {} / {} ({})\n", s.active_caches,
             s.total_caches, pct(s.active_caches, s.total_caches));
  fmt::print(" Active / Total Size (% used)       : {} / {} ({})\n",
             format_size(s.active_size, bytes), format_size(s.total_size, bytes),
             pct(s.active_size, s.total_size));
  fmt::print(" Minimum / Average / Maximum Object : {} / {} / {}\n",
             format_size(s.min_objsize, bytes),
             bytes ? fmt::format("{:.2f}", s.avg_objsize)
                   : format_size(static_cast<uint64_t>(std::llround(s.avg_objsize)), false),
             format_size(s.max_objsize, bytes));
  fmt::print("\n");
  const size_t size_w = bytes ? 8 : 9;
  const size_t cache_w = bytes ? 11 : 10;
  fmt::print("{}\n", header_style(fmt::format("{:>6} {:>6} {:>4} {:>{}} {:>6} {:>8} {:>{}} {}",
                                               "OBJS", "ACTIVE", "USE", "OBJ SIZE", size_w,
                                               "SLABS", "OBJ/SLAB", "CACHE SIZE", cache_w,
                                               "NAME")));
  for (const SlabCacheInfo& c : caches) {
    fmt::print("{:>6} {:>6} {:>3}% {:>{}} {:>6} {:>8} {:>{}} {}\n", c.num_objs, c.active_objs,
               c.use_percent(), format_size(c.objsize, bytes), size_w, c.num_slabs,
               c.objperslab, format_size(c.cache_size(psize), bytes), cache_w, c.name);
  }
}

void run_slabtop(const SlabtopArgs& a) {
  const SortKey& key = find_sort_key(a.sort);
  const inspect::ProcFs fs = open_procfs(a.view);
  const SlabInfo info = inspect::read_slabinfo(fs);
  const uint64_t psize = page_size();
  const SlabSummary s = inspect::summarize_slabs(info);
  const std::vector<SlabCacheInfo> caches = sorted(info, key.letter, psize);
  if (!a.view.json) {
    print_slabtop(s, caches, psize, a.view.bytes);
    return;
  }
  nlohmann::ordered_json j;
  j["summary"] = {{"active_objs", s.active_objs},   {"total_objs", s.total_objs},
                  {"active_slabs", s.active_slabs}, {"total_slabs", s.total_slabs},
                  {"active_caches", s.active_caches}, {"total_caches", s.total_caches},
                  {"active_size", s.active_size},   {"total_size", s.total_size},
                  {"min_objsize", s.min_objsize},   {"avg_objsize", s.avg_objsize},
                  {"max_objsize", s.max_objsize}};
  j["sort"] = key.word;
  j["page_size"] = psize;
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const SlabCacheInfo& c : caches) list.push_back(cache_json(c, psize));
  j["caches"] = std::move(list);
  fmt::print("{}\n", j.dump(2));
}

void setup_slabinfo(CLI::App& sub) {
  auto args = std::make_shared<ViewArgs>();
  add_view_options(sub, *args);
  sub.footer(
      "/proc/slabinfo is root only (mode 0400) and exists only with CONFIG_SLUB_DEBUG.\n"
      "--json: {\"version\", \"page_size\", \"caches\": [{\"name\", \"active_objs\", \"num_objs\",\n"
      "\"objsize\", \"objperslab\", \"pagesperslab\", \"active_slabs\", \"num_slabs\", \"use_percent\",\n"
      "\"cache_size\", \"tunables\", \"sharedavail\"}]}, sizes in bytes.");
  sub.callback([args] { run_slabinfo(*args); });
}

void setup_slabtop(CLI::App& sub) {
  auto args = std::make_shared<SlabtopArgs>();
  add_view_options(sub, args->view);
  std::string keys;
  for (const SortKey& k : kSortKeys) keys += fmt::format("  {} or {:<15} {}\n", k.letter, k.word,
                                                         k.help);
  sub.add_option("-s,--sort", args->sort, "sort key: a letter of slabtop -s or its word")
      ->option_text("KEY");
  sub.footer(
      "Like `slabtop -o`. Sort keys (numbers descending, names ascending):\n" + keys +
      "Summary (procps-ng slabtop): objects, slabs and caches active/total (a cache is active\n"
      "with active objects); size = Σ objects·objsize; average object = total size / objects;\n"
      "minimum and maximum over every cache. USE = ⌊100·active/objects⌋; CACHE SIZE = slabs ·\n"
      "pages per slab · page size. --json: {\"summary\": {...}, \"sort\", \"page_size\",\n"
      "\"caches\": [as in `memkit slabinfo --json`, sorted]}, sizes in bytes.");
  sub.callback([args] { run_slabtop(*args); });
}

const Registration kSlabinfo{"slabinfo", "the kernel's slab caches from /proc/slabinfo (root)",
                             setup_slabinfo};
const Registration kSlabtop{"slabtop", "slab caches like `slabtop -o`, sorted (root)",
                            setup_slabtop};

}  // namespace
}  // namespace memkit::cli
