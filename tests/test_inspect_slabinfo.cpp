// memkit — tests of the /proc/slabinfo parser and slabtop's figures
// (tests/test_inspect_slabinfo.cpp)
//
// tests/data/slabinfo/slabinfo was captured on the development machine, and slabtop_o.txt is
// what procps-ng's `slabtop -o` printed for exactly that file (bind-mounted over
// /proc/slabinfo in a private mount namespace), so the summary lines and every row can be
// compared digit for digit with summarize_slabs() and the per-cache formulas.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "inspect/scan.h"
#include "inspect/slabinfo.h"

namespace {

using memkit::inspect::InspectError;
using memkit::inspect::parse_slabinfo;
using memkit::inspect::SlabCacheInfo;
using memkit::inspect::SlabInfo;

constexpr uint64_t kPage = 4096;  // the page size of the machine the fixture came from

// printf into a std::string (the tests do not link fmt).
__attribute__((format(printf, 1, 2))) std::string format(const char* f, ...) {
  char buf[256];
  va_list ap;
  va_start(ap, f);
  std::vsnprintf(buf, sizeof buf, f, ap);
  va_end(ap);
  return buf;
}

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(MEMKIT_SOURCE_DIR) + "/tests/data/slabinfo/" + name,
                   std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string error_of(const std::string& text) {
  try {
    parse_slabinfo(text, "/fake/slabinfo");
  } catch (const InspectError& e) {
    return e.what();
  }
  return "";
}

constexpr char kHeader[] =
    "slabinfo - version: 2.1\n"
    "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : "
    "tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> "
    "<sharedavail>\n";

// slabtop's lines after " ... : ", keyed by what comes before the colon.
std::map<std::string, std::string> slabtop_summary(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line) && !line.empty()) {
    const size_t colon = line.find(" : ");
    std::string key = line.substr(1, colon - 1);
    while (!key.empty() && key.back() == ' ') key.pop_back();
    out[key] = line.substr(colon + 3);
  }
  return out;
}

TEST(Slabinfo, ParsesTheCapturedFile) {
  const SlabInfo info = parse_slabinfo(fixture("slabinfo"), "slabinfo");
  EXPECT_EQ(info.version, "2.1");
  ASSERT_EQ(info.caches.size(), 235u);  // 237 lines, 2 of header
  const SlabCacheInfo& first = info.caches[0];
  EXPECT_EQ(first.name, "btrfs_delayed_node");  // longer than the 17-character column
  EXPECT_EQ(first.objsize, 312u);
  EXPECT_EQ(first.objperslab, 13u);
  EXPECT_EQ(first.pagesperslab, 1u);
  for (const SlabCacheInfo& c : info.caches) {
    EXPECT_EQ(c.active_slabs, c.num_slabs) << c.name;  // SLUB
    EXPECT_EQ(c.limit + c.batchcount + c.sharedfactor + c.sharedavail, 0u) << c.name;
  }
}

TEST(Slabinfo, SummaryIsSlabtopsDigitForDigit) {
  const SlabInfo info = parse_slabinfo(fixture("slabinfo"), "slabinfo");
  const auto s = memkit::inspect::summarize_slabs(info);
  const std::map<std::string, std::string> want = slabtop_summary(fixture("slabtop_o.txt"));
  ASSERT_EQ(want.size(), 5u);
  using memkit::inspect::percent;
  EXPECT_EQ(want.at("Active / Total Objects (% used)"),
            format("%lu / %lu (%.1f%%)", s.active_objs, s.total_objs,
                   percent(s.active_objs, s.total_objs)));
  EXPECT_EQ(want.at("Active / Total Slabs (% used)"),
            format("%lu / %lu (%.1f%%)", s.active_slabs, s.total_slabs,
                   percent(s.active_slabs, s.total_slabs)));
  EXPECT_EQ(want.at("Active / Total Caches (% used)"),
            format("%lu / %lu (%.1f%%)", s.active_caches, s.total_caches,
                   percent(s.active_caches, s.total_caches)));
  EXPECT_EQ(want.at("Active / Total Size (% used)"),
            format("%.2fK / %.2fK (%.1f%%)", s.active_size / 1024.0, s.total_size / 1024.0,
                   percent(s.active_size, s.total_size)));
  EXPECT_EQ(want.at("Minimum / Average / Maximum Object"),
            format("%.2fK / %.2fK / %.2fK", s.min_objsize / 1024.0, s.avg_objsize / 1024.0,
                   s.max_objsize / 1024.0));
}

TEST(Slabinfo, EveryRowIsSlabtopsDigitForDigit) {
  const SlabInfo info = parse_slabinfo(fixture("slabinfo"), "slabinfo");
  std::map<std::string, const SlabCacheInfo*> by_name;
  for (const SlabCacheInfo& c : info.caches) by_name[c.name] = &c;
  std::istringstream in(fixture("slabtop_o.txt"));
  std::string line;
  size_t rows = 0;
  bool table = false;
  while (std::getline(in, line)) {
    if (line.find("OBJS ACTIVE") != std::string::npos) {
      table = true;
      continue;
    }
    if (!table) continue;
    const auto t = memkit::inspect::split_ws(line);
    ASSERT_EQ(t.size(), 8u) << line;
    const std::string name(t[7]);
    ASSERT_TRUE(by_name.count(name)) << name;
    const SlabCacheInfo& c = *by_name[name];
    EXPECT_EQ(t[0], std::to_string(c.num_objs)) << name;
    EXPECT_EQ(t[1], std::to_string(c.active_objs)) << name;
    EXPECT_EQ(t[2], format("%u%%", c.use_percent())) << name;
    EXPECT_EQ(t[3], format("%.2fK", c.objsize / 1024.0)) << name;
    EXPECT_EQ(t[4], std::to_string(c.num_slabs)) << name;
    EXPECT_EQ(t[5], std::to_string(c.objperslab)) << name;
    EXPECT_EQ(t[6], format("%luK", c.cache_size(kPage) / 1024)) << name;
    ++rows;
  }
  EXPECT_EQ(rows, info.caches.size());
}

TEST(Slabinfo, UseIsTruncatedNotRounded) {
  const SlabInfo info = parse_slabinfo(
      std::string(kHeader) +
          "kmalloc-512         4696   4704    512   32    4 : tunables    0    0    0 : "
          "slabdata    147    147      0\n"
          "empty                  0      0     64   64    1 : tunables    0    0    0 : "
          "slabdata      0      0      0\n",
      "f");
  EXPECT_EQ(info.caches[0].use_percent(), 99u);
  EXPECT_EQ(info.caches[1].use_percent(), 0u);
  EXPECT_EQ(info.caches[0].cache_size(4096), 147u * 4 * 4096);
  const auto s = memkit::inspect::summarize_slabs(info);
  EXPECT_EQ(s.active_caches, 1u);
  EXPECT_EQ(s.total_caches, 2u);
  EXPECT_EQ(s.min_objsize, 64u);  // empty caches count for the minimum
  EXPECT_EQ(s.max_objsize, 512u);
  EXPECT_DOUBLE_EQ(s.avg_objsize, 512.0);
}

TEST(Slabinfo, NameWithSpacesIsKept) {
  const SlabInfo info = parse_slabinfo(
      std::string(kHeader) +
          "my cache  name        1      2     64   64    1 : tunables    0    0    0 : "
          "slabdata      1      1      0\n",
      "f");
  EXPECT_EQ(info.caches[0].name, "my cache  name");
  EXPECT_EQ(info.caches[0].num_objs, 2u);
}

TEST(Slabinfo, MalformedInputNamesTheFileAndLine) {
  const std::string row =
      "dentry            115502 128940    192   21    1 : tunables    0    0    0 : slabdata   "
      "6140   6140      0\n";
  EXPECT_EQ(error_of(""), "/fake/slabinfo: empty file");
  EXPECT_EQ(error_of("slabinfo - version: 2.0\n"),
            "/fake/slabinfo: line 1: version \"2.0\" (memkit reads 2.1)");
  EXPECT_EQ(error_of("hello\n"),
            "/fake/slabinfo: line 1: expected \"slabinfo - version: 2.1\", got \"hello\"");
  EXPECT_EQ(error_of("slabinfo - version: 2.1\n"),
            "/fake/slabinfo: line 2: expected the \"# name <active_objs> ...\" header, got \"\"");
  // The line is quoted up to 80 characters.
  EXPECT_EQ(error_of(std::string(kHeader) + row.substr(0, row.size() - 1)),
            "/fake/slabinfo: line 3: truncated: the last line \"" + row.substr(0, 80) +
                "\"... has no newline");
  std::string bad = row;
  bad.replace(bad.find("192"), 3, "19x");
  EXPECT_EQ(error_of(kHeader + bad), "/fake/slabinfo: line 3: dentry: objsize \"19x\" is not a number");
  bad = row;
  bad.replace(bad.find("tunables"), 8, "tunable");
  EXPECT_NE(error_of(kHeader + bad).find("/fake/slabinfo: line 3: expected"), std::string::npos);
  bad = row;
  bad.replace(bad.find(": slabdata"), 10, "slabdata");
  EXPECT_NE(error_of(kHeader + bad).find("line 3: expected"), std::string::npos);
  bad = row;
  bad.replace(bad.find("115502"), 6, "999999");
  EXPECT_EQ(error_of(kHeader + bad),
            "/fake/slabinfo: line 3: dentry: active_objs 999999 exceeds num_objs 128940");
  bad = row;
  bad.replace(bad.find("192"), 3, "99999999999");
  EXPECT_EQ(error_of(kHeader + bad),
            "/fake/slabinfo: line 3: dentry: objsize 99999999999 is implausibly large");
}

TEST(Slabinfo, LiveFileAsRootOrPermissionDenied) {
  const memkit::inspect::ProcFs fs;
  if (!fs.exists("slabinfo")) GTEST_SKIP() << "no /proc/slabinfo (kernel without CONFIG_SLUB_DEBUG)";
  if (geteuid() != 0) {
    try {
      memkit::inspect::read_slabinfo(fs);
      FAIL() << "slabinfo readable without root";
    } catch (const InspectError& e) {
      EXPECT_STREQ(e.what(), "/proc/slabinfo: permission denied (needs root)");
    }
    return;
  }
  const SlabInfo info = memkit::inspect::read_slabinfo(fs);
  EXPECT_GT(info.caches.size(), 10u);
}

}  // namespace
