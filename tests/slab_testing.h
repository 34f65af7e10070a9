// memkit tests — helpers shared by the slab tests (tests/test_slab*.cpp): reading
// mk_slabinfo and finding one cache's line, parsed by whitespace as /proc/slabinfo 2.1
// consumers must (long names push the columns right).
#pragma once

#include <string>
#include <vector>

#include <optional>
#include <sstream>

#include "memkit/memkit.h"

namespace memkit::test {

/// The whole of mk_slabinfo (retrying if caches appear between the two calls).
inline std::string slabinfo_text() {
  for (;;) {
    const int need = mk_slabinfo(nullptr, 0);
    std::string buf(static_cast<size_t>(need) + 256, '\0');
    const int got = mk_slabinfo(buf.data(), buf.size());
    if (got >= 0 && static_cast<size_t>(got) < buf.size()) {
      buf.resize(static_cast<size_t>(got));
      return buf;
    }
  }
}

inline std::vector<std::string> split_ws(const std::string& line) {
  std::vector<std::string> out;
  std::istringstream in(line);
  std::string tok;
  while (in >> tok) out.push_back(tok);
  return out;
}

inline std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    const size_t nl = text.find('\n', start);
    if (nl == std::string::npos) {
      out.push_back(text.substr(start));
      break;
    }
    out.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

/// One slabinfo 2.1 line, parsed.
struct SlabinfoRow {
  std::string line;
  std::vector<std::string> tokens;
  std::string name;
  unsigned long active_objs = 0, num_objs = 0, objsize = 0, objperslab = 0, pagesperslab = 0;
  unsigned long limit = 0, batchcount = 0, sharedfactor = 0;
  unsigned long active_slabs = 0, num_slabs = 0, sharedavail = 0;
  bool well_formed = false;  // 16 tokens with ':' 'tunables' ':' 'slabdata' where they belong
};

inline SlabinfoRow parse_slabinfo_line(const std::string& line) {
  SlabinfoRow r;
  r.line = line;
  r.tokens = split_ws(line);
  const auto& t = r.tokens;
  if (t.size() != 16 || t[6] != ":" || t[7] != "tunables" || t[11] != ":" || t[12] != "slabdata")
    return r;
  auto num = [&](size_t i) { return std::stoul(t[i]); };
  r.name = t[0];
  r.active_objs = num(1);
  r.num_objs = num(2);
  r.objsize = num(3);
  r.objperslab = num(4);
  r.pagesperslab = num(5);
  r.limit = num(8);
  r.batchcount = num(9);
  r.sharedfactor = num(10);
  r.active_slabs = num(13);
  r.num_slabs = num(14);
  r.sharedavail = num(15);
  r.well_formed = true;
  return r;
}

/// The line of the cache called `name` (the first, if several share it).
inline std::optional<SlabinfoRow> slabinfo_row(const std::string& name) {
  const std::vector<std::string> lines = split_lines(slabinfo_text());
  for (size_t i = 2; i < lines.size(); ++i) {
    const std::vector<std::string> t = split_ws(lines[i]);
    if (!t.empty() && t[0] == name) return parse_slabinfo_line(lines[i]);
  }
  return std::nullopt;
}

}  // namespace memkit::test
