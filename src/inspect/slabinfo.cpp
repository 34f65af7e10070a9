// memkit — /proc/slabinfo version 2.1 (src/inspect/slabinfo.cpp): see slabinfo.h.
#include "inspect/slabinfo.h"

#include <algorithm>

#include "inspect/scan.h"

namespace memkit::inspect {
namespace {

constexpr std::string_view kVersionPrefix = "slabinfo - version: ";
constexpr size_t kFieldTokens = 15;  // everything after the name

}  // namespace

unsigned SlabCacheInfo::use_percent() const {
  return num_objs == 0 ? 0 : static_cast<unsigned>(active_objs * 100 / num_objs);
}

SlabInfo parse_slabinfo(std::string_view text, const std::string& path) {
  static const char kFormat[] =
      "\"NAME A N SIZE OBJ/SLAB PAGES/SLAB : tunables L B S : slabdata A N S\"";
  const std::vector<TextLine> lines = complete_lines(text, path);

  SlabInfo info;
  const TextLine& first = lines[0];
  if (first.text.substr(0, kVersionPrefix.size()) != kVersionPrefix)
    throw expected_error(path, first, "\"slabinfo - version: 2.1\"");
  info.version = std::string(first.text.substr(kVersionPrefix.size()));
  if (info.version != "2.1")
    throw line_error(path, 1, "version " + quote(info.version) + " (memkit reads 2.1)");
  if (lines.size() < 2 || lines[1].text.substr(0, 7) != "# name ")
    throw expected_error(path, lines.size() < 2 ? TextLine{2, {}} : lines[1],
                         "the \"# name <active_objs> ...\" header");

  for (size_t l = 2; l < lines.size(); ++l) {
    const TextLine& line = lines[l];
    const std::vector<std::string_view> tokens = split_ws(line.text);
    if (tokens.size() < kFieldTokens + 1) throw expected_error(path, line, kFormat);
    const size_t f = tokens.size() - kFieldTokens;  // first field token
    if (tokens[f + 5] != ":" || tokens[f + 6] != "tunables" || tokens[f + 10] != ":" ||
        tokens[f + 11] != "slabdata")
      throw expected_error(path, line, kFormat);

    SlabCacheInfo c;
    // The name runs from the first token to the end of token f-1 (it may hold spaces).
    const size_t name_end =
        static_cast<size_t>(tokens[f - 1].data() - line.text.data()) + tokens[f - 1].size();
    const size_t name_start = static_cast<size_t>(tokens[0].data() - line.text.data());
    c.name = std::string(line.text.substr(name_start, name_end - name_start));
    uint64_t* const fields[] = {&c.active_objs, &c.num_objs,     &c.objsize,
                                &c.objperslab,  &c.pagesperslab, &c.limit,
                                &c.batchcount,  &c.sharedfactor, &c.active_slabs,
                                &c.num_slabs,   &c.sharedavail};
    static const size_t kOffsets[] = {0, 1, 2, 3, 4, 7, 8, 9, 12, 13, 14};
    static const char* const kNames[] = {"active_objs", "num_objs",     "objsize",
                                         "objperslab",  "pagesperslab", "limit",
                                         "batchcount",  "sharedfactor", "active_slabs",
                                         "num_slabs",   "sharedavail"};
    for (size_t i = 0; i < std::size(kOffsets); ++i) {
      const std::string_view t = tokens[f + kOffsets[i]];
      if (!parse_u64(t, fields[i]))
        throw line_error(path, line.number,
                         c.name + ": " + kNames[i] + " " + quote(t) + " is not a number");
      // Sizes below 2^24 and counts below 2^36, far above any kernel's, so that one cache's
      // products (objects × size, slabs × pages × page size) stay within 64 bits.
      const uint64_t bound = i >= 2 && i <= 4 ? uint64_t{1} << 24 : uint64_t{1} << 36;
      if (*fields[i] >= bound)
        throw line_error(path, line.number,
                         c.name + ": " + kNames[i] + " " + std::string(t) + " is implausibly large");
    }
    if (c.active_objs > c.num_objs)
      throw line_error(path, line.number,
                       c.name + ": active_objs " + std::to_string(c.active_objs) +
                           " exceeds num_objs " + std::to_string(c.num_objs));
    info.caches.push_back(std::move(c));
  }
  return info;
}

SlabInfo read_slabinfo(const ProcFs& fs) {
  if (!fs.exists("slabinfo"))
    throw InspectError(fs.proc_path("slabinfo"),
                       "no such file (the kernel has no CONFIG_SLUB_DEBUG)");
  return parse_slabinfo(fs.read("slabinfo"), fs.proc_path("slabinfo"));
}

SlabSummary summarize_slabs(const SlabInfo& info) {
  SlabSummary s;
  bool first = true;
  for (const SlabCacheInfo& c : info.caches) {
    s.active_objs += c.active_objs;
    s.total_objs += c.num_objs;
    s.active_slabs += c.active_slabs;
    s.total_slabs += c.num_slabs;
    s.active_caches += c.active_objs > 0 ? 1 : 0;
    s.total_caches += 1;
    s.active_size += c.active_objs * c.objsize;
    s.total_size += c.num_objs * c.objsize;
    s.min_objsize = first ? c.objsize : std::min(s.min_objsize, c.objsize);
    s.max_objsize = first ? c.objsize : std::max(s.max_objsize, c.objsize);
    first = false;
  }
  if (s.total_objs > 0)
    s.avg_objsize = static_cast<double>(s.total_size) / static_cast<double>(s.total_objs);
  return s;
}

double percent(uint64_t part, uint64_t whole) {
  return whole == 0 ? 0.0 : 100.0 * static_cast<double>(part) / static_cast<double>(whole);
}

}  // namespace memkit::inspect
