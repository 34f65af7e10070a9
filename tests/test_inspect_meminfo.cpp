// memkit — tests of the /proc/meminfo parser and free's arithmetic (tests/test_inspect_meminfo.cpp)
//
// Fixtures (tests/data/views-a/) were captured on the development machine; free-b.expected in
// each is what procps-ng 4.0.2 `free -b` and `free -b -w` printed for that very meminfo
// (bind-mounted over /proc/meminfo), so compute_free() is checked against procps itself,
// including its fallbacks: no MemAvailable, MemAvailable 0, MemAvailable > MemTotal, and a
// negative "used".
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "inspect/meminfo.h"
#include "test_support.h"

#ifndef MEMKIT_SOURCE_DIR
#error "needs MEMKIT_SOURCE_DIR"
#endif

namespace {

using namespace memkit::inspect;

const std::string kData = std::string(MEMKIT_SOURCE_DIR) + "/tests/data/views-a/";

using memkit::testing::slurp;

Meminfo fixture(const std::string& dir) {
  const std::string path = kData + dir + "/meminfo";
  return parse_meminfo(slurp(path), path);
}

// The rows of procps free output: "Mem:" → numbers; the first table, or the second (-w).
std::map<std::string, std::vector<int64_t>> procps_table(const std::string& text, int which) {
  std::map<std::string, std::vector<int64_t>> rows;
  std::istringstream in(text);
  std::string line;
  int table = -1;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string label;
    words >> label;
    if (label == "total") {
      ++table;
      continue;
    }
    if (table != which) continue;
    std::vector<int64_t> v;
    int64_t x = 0;
    while (words >> x) v.push_back(x);
    rows[label] = v;
  }
  return rows;
}

TEST(Meminfo, ParsesEveryLineOfTheHostFixture) {
  const std::string text = slurp(kData + "host/proc/meminfo");
  const Meminfo info = parse_meminfo(text, "meminfo");
  size_t lines = 0;
  for (char c : text) lines += c == '\n';
  EXPECT_EQ(info.fields.size(), lines);
  EXPECT_EQ(info.fields.front().key, "MemTotal");
  EXPECT_TRUE(info.fields.front().kb);
  EXPECT_EQ(info.require("MemTotal"), info.fields.front().value * 1024);
  const MeminfoField* huge = info.find("HugePages_Total");
  ASSERT_NE(huge, nullptr);
  EXPECT_FALSE(huge->kb);  // a count
  EXPECT_EQ(huge->bytes(), huge->value);
  ASSERT_NE(info.find("Active(anon)"), nullptr);
  // VmallocTotal overflows the 8-wide column: still one value.
  EXPECT_EQ(info.find("VmallocTotal")->value, 34359738367u);
  EXPECT_FALSE(info.bytes("NoSuchField").has_value());
}

TEST(Meminfo, EveryFieldOfThisMachineHasADescription) {
  for (const MeminfoField& f : fixture("host/proc").fields)
    EXPECT_NE(meminfo_description(f.key), nullptr) << f.key;
  EXPECT_EQ(meminfo_description("NotAField"), nullptr);
}

struct ProcpsCase {
  const char* dir;
  const char* available_source;
};

class FreeAgainstProcps : public ::testing::TestWithParam<ProcpsCase> {};

TEST_P(FreeAgainstProcps, SameNumbersAsProcpsFree) {
  const ProcpsCase c = GetParam();
  const std::string dir = c.dir;
  const std::string meminfo_dir = dir == "host" ? "host/proc" : dir;
  const FreeSummary s = compute_free(fixture(meminfo_dir), FreeFormula::kAvailable);
  const std::string expected = slurp(kData + dir + "/free-b.expected");

  const auto narrow = procps_table(expected, 0);
  const std::vector<int64_t> mem = narrow.at("Mem:");
  ASSERT_EQ(mem.size(), 6u);
  EXPECT_EQ(mem[0], static_cast<int64_t>(s.total));
  EXPECT_EQ(mem[1], s.used);
  EXPECT_EQ(mem[2], static_cast<int64_t>(s.free));
  EXPECT_EQ(mem[3], static_cast<int64_t>(s.shared));
  EXPECT_EQ(mem[4], static_cast<int64_t>(s.buff_cache));
  EXPECT_EQ(mem[5], static_cast<int64_t>(s.available));
  const std::vector<int64_t> swap = narrow.at("Swap:");
  ASSERT_EQ(swap.size(), 3u);
  EXPECT_EQ(swap[0], static_cast<int64_t>(s.swap_total));
  EXPECT_EQ(swap[1], s.swap_used);
  EXPECT_EQ(swap[2], static_cast<int64_t>(s.swap_free));

  const std::vector<int64_t> wide = procps_table(expected, 1).at("Mem:");
  ASSERT_EQ(wide.size(), 7u);
  EXPECT_EQ(wide[4], static_cast<int64_t>(s.buffers));
  EXPECT_EQ(wide[5], static_cast<int64_t>(s.cache));

  EXPECT_STREQ(s.available_source, c.available_source);
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, FreeAgainstProcps,
    ::testing::Values(ProcpsCase{"host", "MemAvailable"}, ProcpsCase{"free-swap", "MemAvailable"},
                      ProcpsCase{"free-no-available",
                                 "MemFree (this kernel has no MemAvailable line)"},
                      ProcpsCase{"free-available-zero", "MemFree (MemAvailable is 0)"},
                      ProcpsCase{"free-available-gt-total",
                                 "MemFree (MemAvailable exceeds MemTotal)"},
                      ProcpsCase{"free-negative-used",
                                 "MemFree (this kernel has no MemAvailable line)"}),
    [](const ::testing::TestParamInfo<ProcpsCase>& param) {
      std::string name = param.param.dir;
      for (char& ch : name)
        if (ch == '-') ch = '_';
      return name;
    });

TEST(Meminfo, NegativeUsedIsKeptSignedAsProcpsPrintsIt) {
  const FreeSummary s = compute_free(fixture("free-negative-used"), FreeFormula::kAvailable);
  EXPECT_EQ(s.used, -200000 * 1024);
  EXPECT_TRUE(s.used_fell_back);
}

TEST(Meminfo, ClassicFormulaIsTotalMinusFreeBuffersCache) {
  const Meminfo info = fixture("host/proc");
  const FreeSummary s = compute_free(info, FreeFormula::kClassic);
  const uint64_t expect = info.require("MemTotal") - info.require("MemFree") -
                          info.require("Buffers") - info.require("Cached") -
                          info.require("SReclaimable");
  EXPECT_EQ(s.used, static_cast<int64_t>(expect));
  EXPECT_FALSE(s.used_fell_back);
  // The other columns do not depend on the formula.
  const FreeSummary modern = compute_free(info, FreeFormula::kAvailable);
  EXPECT_EQ(s.available, modern.available);
  EXPECT_EQ(s.buff_cache, modern.buff_cache);
  EXPECT_NE(s.used, modern.used);
  EXPECT_NE(std::string(free_formula_text(FreeFormula::kClassic)),
            free_formula_text(FreeFormula::kAvailable));
}

TEST(Meminfo, SwapUsedIsTotalMinusFree) {
  const FreeSummary s = compute_free(fixture("free-swap"), FreeFormula::kAvailable);
  EXPECT_EQ(s.swap_total, 2097148u * 1024);
  EXPECT_EQ(s.swap_used, (2097148 - 1048572) * 1024);
}

TEST(Meminfo, MissingOptionalFieldsCountAsZero) {
  const Meminfo info = parse_meminfo(
      "MemTotal: 1000 kB\nMemFree: 400 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n", "m");
  const FreeSummary s = compute_free(info, FreeFormula::kAvailable);
  EXPECT_EQ(s.buff_cache, 0u);
  EXPECT_EQ(s.available, 400u * 1024);
  EXPECT_EQ(s.used, 600 * 1024);
}

struct Malformed {
  const char* file;
  const char* message;  // what the error says after "<path>: "
  bool at_parse;        // false: parses, and compute_free() fails
};

class MeminfoMalformed : public ::testing::TestWithParam<Malformed> {};

TEST_P(MeminfoMalformed, OneLineNamingTheFile) {
  const Malformed m = GetParam();
  const std::string path = kData + "malformed/" + m.file;
  const std::string text = slurp(path);
  try {
    const Meminfo info = parse_meminfo(text, path);
    ASSERT_FALSE(m.at_parse) << "parsed: " << m.file;
    (void)compute_free(info, FreeFormula::kAvailable);
    FAIL() << "no error for " << m.file;
  } catch (const InspectError& e) {
    const std::string what = e.what();
    EXPECT_EQ(e.path(), path);
    EXPECT_EQ(what.rfind(path + ": ", 0), 0u) << what;
    EXPECT_NE(what.find(m.message), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, MeminfoMalformed,
    ::testing::Values(
        Malformed{"meminfo.empty", "empty file", true},
        Malformed{"meminfo.truncated", "line 4: truncated: the last line \"Buffers:", true},
        Malformed{"meminfo.missing-memtotal", "no MemTotal line", false},
        Malformed{"meminfo.nonnumeric", "line 2: MemFree: \"12x4\" is not a number", true},
        Malformed{"meminfo.badline", "line 2: expected \"Key: value [kB]\", got \"MemFree 12\"",
                  true},
        Malformed{"meminfo.duplicate", "MemFree appears twice", true},
        Malformed{"meminfo.overflow", "line 1: MemTotal: value too large", true}));

TEST(Meminfo, OtherBadLines) {
  for (const char* text : {"MemTotal: 12 MB\n", ": 12 kB\n", "MemTotal:\n", "Mem Total: 1 kB\n",
                           "MemTotal: -1 kB\n", "MemTotal: 1 kB extra\n", "\n"}) {
    EXPECT_THROW(parse_meminfo(text, "m"), InspectError) << text;
  }
}

TEST(Meminfo, LiveFileParses) {
  const ProcFs fs;
  const Meminfo info = read_meminfo(fs);
  EXPECT_EQ(info.path, "/proc/meminfo");
  EXPECT_GT(info.require("MemTotal"), 0u);
  const FreeSummary s = compute_free(info, FreeFormula::kAvailable);
  EXPECT_LE(s.available, s.total);
}

}  // namespace
