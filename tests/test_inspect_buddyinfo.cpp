// memkit — tests of the /proc/buddyinfo and /proc/pagetypeinfo parsers
// (tests/test_inspect_buddyinfo.cpp)
//
// On files captured from the development machine (tests/data/buddyinfo/, read one right after
// the other so that pagetypeinfo's per-type counts sum to buddyinfo's columns), on the live
// files, and on malformed variants: every one must be an InspectError naming the file and the
// line, never a partial result.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <numeric>
#include <sstream>
#include <string>

#include "inspect/buddyinfo.h"
#include "inspect/pagetypeinfo.h"
#include "memkit/fragmentation.hpp"

namespace {

using memkit::inspect::BuddyInfo;
using memkit::inspect::InspectError;
using memkit::inspect::PageTypeInfo;
using memkit::inspect::parse_buddyinfo;
using memkit::inspect::parse_pagetypeinfo;

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(MEMKIT_SOURCE_DIR) + "/tests/data/buddyinfo/" + name,
                   std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The message of the InspectError that parsing `text` throws ("" if none).
template <typename Parse>
std::string error_of(Parse parse, const std::string& text) {
  try {
    parse(text, "/fake/file");
  } catch (const InspectError& e) {
    return e.what();
  }
  return "";
}

std::string buddy_error(const std::string& text) { return error_of(parse_buddyinfo, text); }
std::string pagetype_error(const std::string& text) { return error_of(parse_pagetypeinfo, text); }

TEST(Buddyinfo, ParsesTheCapturedFile) {
  const BuddyInfo info = parse_buddyinfo(fixture("buddyinfo"), "buddyinfo");
  ASSERT_EQ(info.zones.size(), 3u);
  EXPECT_EQ(info.orders, 11u);
  EXPECT_EQ(info.zones[0].zone, "DMA");
  EXPECT_EQ(info.zones[1].zone, "DMA32");
  EXPECT_EQ(info.zones[2].zone, "Normal");
  for (const auto& z : info.zones) EXPECT_EQ(z.node, 0);
  EXPECT_EQ(info.zones[0].nr_free, (std::vector<uint64_t>{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 3}));
  EXPECT_EQ(info.zones[1].nr_free[10], 752u);
  EXPECT_EQ(info.zones[2].nr_free[0], 44u);
}

// The kernel's indices for the DMA zone, as debugfs printed them on the research machine
// (reference §1.9): 0.066 for order 9, 0.200 for order 10, -1.000 everywhere.
TEST(Buddyinfo, FragmentationOfTheCapturedDmaZone) {
  const BuddyInfo info = parse_buddyinfo(fixture("buddyinfo"), "buddyinfo");
  const std::vector<uint64_t>& n = info.zones[0].nr_free;
  EXPECT_EQ(memkit::unusable_free_index(n.data(), 10, 9), 66);
  EXPECT_EQ(memkit::unusable_free_index(n.data(), 10, 10), 200);
  EXPECT_EQ(memkit::unusable_free_index(n.data(), 10, 8), 0);
  for (unsigned j = 0; j <= 10; ++j) EXPECT_EQ(memkit::fragmentation_index(n.data(), 10, j), -1000);
}

TEST(Buddyinfo, ParsesTheLiveFile) {
  const std::string text = memkit::inspect::read_file("/proc/buddyinfo");
  const BuddyInfo info = parse_buddyinfo(text, "/proc/buddyinfo");
  EXPECT_FALSE(info.zones.empty());
  EXPECT_GE(info.orders, 1u);
}

TEST(Buddyinfo, AcceptsLinesWithoutTheTrailingSpaceAndOtherNodes) {
  const BuddyInfo info =
      parse_buddyinfo("Node 0, zone DMA 1 2 3\nNode 1, zone   Normal      4      5      6 \n", "f");
  ASSERT_EQ(info.zones.size(), 2u);
  EXPECT_EQ(info.zones[1].node, 1);
  EXPECT_EQ(info.zones[1].nr_free, (std::vector<uint64_t>{4, 5, 6}));
}

TEST(Buddyinfo, MalformedInputNamesTheFileAndLine) {
  EXPECT_EQ(buddy_error(""), "/fake/file: empty file (no zones)");
  EXPECT_EQ(buddy_error("Node 0, zone DMA 1 2 3"),
            "/fake/file: line 1: truncated: the last line \"Node 0, zone DMA 1 2 3\" has no "
            "newline");
  EXPECT_EQ(buddy_error("Node 0, zone DMA 1 2 3\nNode 0, zone DMA32 1 x 3\n"),
            "/fake/file: line 2: order 1: \"x\" is not a number");
  EXPECT_EQ(buddy_error("Node 0, zone DMA 1 2 3\nNode 0, zone DMA32 1 2\n"),
            "/fake/file: line 2: 2 orders where line 1 has 3");
  EXPECT_EQ(buddy_error("Nod 0, zone DMA 1\n"),
            "/fake/file: line 1: expected \"Node N, zone NAME COUNT...\", got \"Nod 0, zone DMA "
            "1\"");
  EXPECT_EQ(buddy_error("Node 0, zone DMA\n"),
            "/fake/file: line 1: expected \"Node N, zone NAME COUNT...\", got \"Node 0, zone "
            "DMA\"");
  EXPECT_EQ(buddy_error("Node 0 zone DMA 1\n"),
            "/fake/file: line 1: expected \"Node N, zone NAME COUNT...\", got \"Node 0 zone DMA "
            "1\"");
  EXPECT_EQ(buddy_error("Node 0, zone DMA 1 -2\n"),
            "/fake/file: line 1: order 1: \"-2\" is not a number");
  EXPECT_EQ(buddy_error("Node 0, zone DMA 99999999999999999999999\n"),
            "/fake/file: line 1: order 0: \"99999999999999999999999\" is not a number");
  std::string many = "Node 0, zone DMA";
  for (int i = 0; i < 40; ++i) many += " 1";
  EXPECT_EQ(buddy_error(many + "\n"), "/fake/file: line 1: 40 orders (at most 32 are plausible)");
  // Control bytes are escaped in the message, which stays one line.
  EXPECT_EQ(buddy_error("Node 0, zone DMA 1\n\x01\n"),
            "/fake/file: line 2: expected \"Node N, zone NAME COUNT...\", got \"\\x01\"");
}

TEST(Buddyinfo, EveryPrefixOfTheCapturedFileIsWholeOrAnError) {
  const std::string text = fixture("buddyinfo");
  for (size_t n = 0; n < text.size(); ++n) {
    const std::string cut = text.substr(0, n);
    if (!cut.empty() && cut.back() == '\n') continue;  // whole lines: a valid shorter file
    EXPECT_NE(buddy_error(cut), "") << "prefix of " << n << " bytes";
  }
}

TEST(Pagetypeinfo, ParsesTheCapturedFile) {
  const PageTypeInfo p = parse_pagetypeinfo(fixture("pagetypeinfo"), "pagetypeinfo");
  EXPECT_EQ(p.pageblock_order, 9u);
  EXPECT_EQ(p.pages_per_block, 512u);
  EXPECT_EQ(p.orders, 11u);
  ASSERT_EQ(p.free.size(), 15u);  // 3 zones × 5 types
  EXPECT_EQ(p.free[0].zone, "DMA");
  EXPECT_EQ(p.free[0].type, "Unmovable");
  EXPECT_EQ(p.free[0].nr_free[8], 1u);
  EXPECT_EQ(p.block_types, (std::vector<std::string>{"Unmovable", "Movable", "Reclaimable",
                                                     "HighAtomic", "Isolate"}));
  ASSERT_EQ(p.blocks.size(), 3u);
  EXPECT_EQ(p.blocks[1].zone, "DMA32");
  EXPECT_EQ(p.blocks[1].blocks[1], 1528u);
  EXPECT_TRUE(p.mixed.empty());
}

// Reference §1.8: per zone and order, the sum over migrate types is buddyinfo's column when
// both are read at the same instant (the fixtures were).
TEST(Pagetypeinfo, TypesSumToBuddyinfo) {
  const PageTypeInfo p = parse_pagetypeinfo(fixture("pagetypeinfo"), "pagetypeinfo");
  const BuddyInfo b = parse_buddyinfo(fixture("buddyinfo"), "buddyinfo");
  for (const auto& zone : b.zones) {
    std::vector<uint64_t> sum(p.orders, 0);
    for (const auto& row : p.free)
      if (row.zone == zone.zone)
        for (size_t k = 0; k < p.orders; ++k) sum[k] += row.nr_free[k];
    EXPECT_EQ(sum, zone.nr_free) << zone.zone;
  }
}

TEST(Pagetypeinfo, CappedCountsAndTheMixedBlocksTable) {
  const std::string text =
      "Page block order: 9\n"
      "Pages per block:  512\n"
      "\n"
      "Free pages count per migrate type at order       0      1 \n"
      "Node    0, zone   Normal, type    Unmovable >100000      3 \n"
      "Node    0, zone   Normal, type      Movable      1      2 \n"
      "\n"
      "Number of blocks type     Unmovable      Movable \n"
      "Node 0, zone   Normal            4            5 \n"
      "\n"
      "Number of mixed blocks    Unmovable      Movable \n"
      "Node 0, zone   Normal            1            0 \n";
  const PageTypeInfo p = parse_pagetypeinfo(text, "f");
  EXPECT_TRUE(p.free[0].capped);
  EXPECT_EQ(p.free[0].nr_free[0], 100000u);
  EXPECT_FALSE(p.free[1].capped);
  ASSERT_EQ(p.mixed.size(), 1u);
  EXPECT_EQ(p.mixed[0].blocks, (std::vector<uint64_t>{1, 0}));
}

// `text` with its line `n` (1-based) replaced by `line`.
std::string replace_line(const std::string& text, size_t n, const std::string& line) {
  size_t start = 0;
  for (size_t i = 1; i < n; ++i) start = text.find('\n', start) + 1;
  return text.substr(0, start) + line + text.substr(text.find('\n', start));
}

TEST(Pagetypeinfo, MalformedInputNamesTheFileAndLine) {
  const std::string good = fixture("pagetypeinfo");
  EXPECT_EQ(pagetype_error(""), "/fake/file: empty file");
  EXPECT_NE(pagetype_error(good.substr(0, good.size() - 1)).find("truncated"), std::string::npos);
  EXPECT_EQ(pagetype_error(replace_line(good, 1, "Page block order: x")),
            "/fake/file: line 1: expected \"Page block order: N\", got \"Page block order: x\"");
  EXPECT_EQ(pagetype_error(replace_line(good, 3, "x")),
            "/fake/file: line 3: expected an empty line, got \"x\"");
  EXPECT_EQ(pagetype_error(replace_line(good, 4, "Free pages count per migrate type at order 0 2")),
            "/fake/file: line 4: expected order 1, got \"2\"");
  EXPECT_EQ(pagetype_error(replace_line(
                good, 6, "Node    0, zone      DMA, type      Movable 0 0 0 0 0 0 0 0 0 1 y")),
            "/fake/file: line 6: \"y\" is not a count");
  EXPECT_EQ(pagetype_error(replace_line(
                good, 7, "Node    0, zone      DMA, type  Reclaimable 0 0 0 0 0 0 0 0 0 0")),
            "/fake/file: line 7: 10 counts where the header has 11 orders");
  EXPECT_EQ(pagetype_error(replace_line(good, 8, "Node    0, zone      DMA type HighAtomic 0")),
            "/fake/file: line 8: expected \"Node N, zone NAME, type TYPE COUNT...\", got "
            "\"Node    0, zone      DMA type HighAtomic 0\"");
  EXPECT_EQ(pagetype_error(replace_line(good, 23, "Node 0, zone    DMA32 0 1528 0 0")),
            "/fake/file: line 23: 4 counts where the header has 5 types");
  EXPECT_EQ(pagetype_error(replace_line(good, 21, "Number of blocks type")),
            "/fake/file: line 21: no migrate types");
  // The file ends before the blocks table (20 lines, the last one empty).
  EXPECT_EQ(pagetype_error(good.substr(0, good.find("\nNumber of blocks") + 1)),
            "/fake/file: line 21: the file ends too early");
  // Garbage after the tables.
  EXPECT_EQ(pagetype_error(good + "rubbish\n"),
            "/fake/file: line 25: expected \"Node N, zone NAME COUNT...\", got \"rubbish\"");
  EXPECT_EQ(pagetype_error(good + "\nrubbish\n"),
            "/fake/file: line 26: expected \"Number of mixed blocks TYPE...\", got \"rubbish\"");
}

TEST(Pagetypeinfo, EveryPrefixOfTheCapturedFileIsWholeOrAnError) {
  const std::string text = fixture("pagetypeinfo");
  const PageTypeInfo whole = parse_pagetypeinfo(text, "f");
  for (size_t n = 0; n < text.size(); ++n) {
    const std::string cut = text.substr(0, n);
    try {
      const PageTypeInfo p = parse_pagetypeinfo(cut, "f");
      // Only a cut after a whole blocks row parses: then it is a shorter, consistent file.
      EXPECT_EQ(cut.back(), '\n');
      EXPECT_LT(p.blocks.size(), whole.blocks.size());
    } catch (const InspectError&) {
    }
  }
}

TEST(Pagetypeinfo, LiveFileAsRootOrPermissionDenied) {
  if (geteuid() != 0) {
    try {
      memkit::inspect::read_file("/proc/pagetypeinfo");
      FAIL() << "pagetypeinfo readable without root";
    } catch (const InspectError& e) {
      EXPECT_STREQ(e.what(), "/proc/pagetypeinfo: permission denied (needs root)");
    }
    return;
  }
  const PageTypeInfo p =
      parse_pagetypeinfo(memkit::inspect::read_file("/proc/pagetypeinfo"), "/proc/pagetypeinfo");
  EXPECT_FALSE(p.free.empty());
  EXPECT_FALSE(p.blocks.empty());
}

}  // namespace
