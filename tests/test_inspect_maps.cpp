// memkit — tests of the maps, smaps and smaps_rollup parsers, the region classification and
// the status counters recomputed from the VMAs (tests/test_inspect_maps.cpp)
//
// Fixtures (tests/data/maps/NAME/proc/PID/...) were captured on the development machine from
// `sleep 120` and from bss_demo, a small C program with initialized data, a 1 MiB .bss and a
// malloc'd heap (source in tests/data/maps/bss_demo/bss.c); pmap_x.txt is `pmap -x PID` taken
// right after, so the smaps sums can be compared with pmap's totals.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "inspect/maps.h"
#include "inspect/scan.h"
#include "inspect/status.h"
#include "test_support.h"

namespace {

namespace fs = std::filesystem;
using memkit::inspect::InspectError;
using memkit::inspect::RegionKind;
using memkit::inspect::SmapsVma;
using memkit::inspect::Vma;

constexpr uint64_t kPage = 4096;

using memkit::testing::slurp;

// The /proc/PID directory of a captured process.
fs::path proc_dir(const std::string& name) {
  const fs::path root = fs::path(MEMKIT_SOURCE_DIR) / "tests/data/maps" / name / "proc";
  for (const auto& e : fs::directory_iterator(root)) return e.path();
  return {};
}

struct Captured {
  std::vector<SmapsVma> smaps;
  std::vector<Vma> maps;
  memkit::inspect::ProcessLayout layout;
  memkit::inspect::ProcStatus status;
  memkit::inspect::SmapsFields rollup;
  std::string pmap_total;  // "total kB  K R D" line of pmap -x
};

Captured capture(const std::string& name) {
  const fs::path d = proc_dir(name);
  Captured c;
  c.smaps = memkit::inspect::parse_smaps(slurp(d / "smaps"), "smaps");
  c.maps = memkit::inspect::parse_maps(slurp(d / "maps"), "maps");
  c.layout = memkit::inspect::parse_stat_layout(slurp(d / "stat"), "stat");
  c.status = memkit::inspect::parse_status(slurp(d / "status"), "status");
  c.rollup = memkit::inspect::parse_smaps_rollup(slurp(d / "smaps_rollup"), "smaps_rollup");
  std::istringstream pmap(slurp(fs::path(MEMKIT_SOURCE_DIR) / "tests/data/maps" / name /
                                "pmap_x.txt"));
  std::string line;
  while (std::getline(pmap, line)) c.pmap_total = line;
  return c;
}

template <typename Parse>
std::string error_of(Parse parse, const std::string& text) {
  try {
    parse(text, "/fake/maps");
  } catch (const InspectError& e) {
    return e.what();
  }
  return "";
}

std::string maps_error(const std::string& t) { return error_of(memkit::inspect::parse_maps, t); }
std::string smaps_error(const std::string& t) { return error_of(memkit::inspect::parse_smaps, t); }
std::string rollup_error(const std::string& t) {
  return error_of(memkit::inspect::parse_smaps_rollup, t);
}

uint64_t status_kb(const memkit::inspect::ProcStatus& s, const char* key) {
  const auto* f = s.find(key);
  return f != nullptr ? f->kb : ~uint64_t{0};
}

TEST(Maps, ParsesTheCapturedFiles) {
  const Captured c = capture("bss_demo");
  ASSERT_EQ(c.maps.size(), 25u);
  ASSERT_EQ(c.smaps.size(), c.maps.size());
  for (size_t i = 0; i < c.maps.size(); ++i) {
    EXPECT_EQ(c.smaps[i].vma.start, c.maps[i].start);
    EXPECT_EQ(c.smaps[i].vma.name, c.maps[i].name);
  }
  const Vma& exe = c.maps[1];
  EXPECT_EQ(exe.start, 0x561ddcf13000u);
  EXPECT_EQ(exe.end, 0x561ddcf14000u);
  EXPECT_EQ(exe.perms(), "r-xp");
  EXPECT_EQ(exe.offset, 0x1000u);
  EXPECT_EQ(exe.dev_major, 0xfeu);
  EXPECT_EQ(exe.dev_minor, 0u);
  EXPECT_EQ(exe.inode, 10994170u);
  EXPECT_EQ(exe.name, "/tmp/cap/bss_demo");
  EXPECT_EQ(c.maps[5].name, "");  // the .bss: anonymous
  EXPECT_EQ(c.maps.back().name, "[vsyscall]");
  EXPECT_EQ(c.smaps[0].fields.bytes("Size"), 4096u);
  EXPECT_TRUE(c.smaps[0].fields.has("THPeligible"));
  EXPECT_EQ(c.smaps[0].fields.bytes("THPeligible"), 0u);  // a count, not a kB field
  EXPECT_TRUE(c.smaps.back().fields.has_flag("ex"));
}

TEST(Maps, PathsWithSpacesAndDeletedFiles) {
  const auto v = memkit::inspect::parse_maps(
      "00400000-00401000 r-xp 00000000 08:01 42                         /tmp/a b (deleted)\n"
      "7f0000000000-7f0000001000 rw-s 00000000 103:02 7 /dev/shm/x\n",
      "f");
  EXPECT_EQ(v[0].name, "/tmp/a b (deleted)");
  EXPECT_TRUE(v[0].deleted());
  EXPECT_TRUE(v[1].shared);
  EXPECT_EQ(v[1].dev_major, 0x103u);
  EXPECT_FALSE(v[1].deleted());
}

// Reference §4.5: ELF header, text and rodata of the executable are TEXT; the RELRO page
// (holding start_data) and the rw-p page are DATA; the anonymous VMA right after the executable
// is the .bss; then [heap], libraries, [vvar]/[vvar_vclock], [vdso], [stack], [vsyscall].
TEST(Maps, ClassifiesTheCapturedBssDemo) {
  const Captured c = capture("bss_demo");
  const auto r = memkit::inspect::classify_regions(c.maps, c.layout);
  ASSERT_EQ(r.size(), c.maps.size());
  const RegionKind want[] = {RegionKind::kText,  RegionKind::kText, RegionKind::kText,
                             RegionKind::kData,  RegionKind::kData, RegionKind::kBss,
                             RegionKind::kHeap};
  for (size_t i = 0; i < std::size(want); ++i)
    EXPECT_EQ(memkit::inspect::region_name(r[i].kind), memkit::inspect::region_name(want[i]))
        << "VMA " << i;
  EXPECT_STREQ(r[7].detail, "anon");
  EXPECT_STREQ(r[8].detail, "lib-data");  // libc's r--p ELF header
  EXPECT_STREQ(r[9].detail, "lib-text");
  EXPECT_EQ(r[15].kind, RegionKind::kVvar);
  EXPECT_EQ(r[16].kind, RegionKind::kVvar);  // [vvar_vclock]
  EXPECT_EQ(r[17].kind, RegionKind::kVdso);
  EXPECT_EQ(r[23].kind, RegionKind::kStack);
  EXPECT_EQ(r[24].kind, RegionKind::kVsyscall);
}

TEST(Maps, ClassifiesTheCapturedSleep) {
  const Captured c = capture("sleep");
  const auto r = memkit::inspect::classify_regions(c.maps, c.layout);
  // sleep has no .bss VMA of its own: the anonymous VMAs are MMAP.
  for (size_t i = 0; i < r.size(); ++i) EXPECT_NE(r[i].kind, RegionKind::kBss) << i;
  EXPECT_EQ(r[1].kind, RegionKind::kText);
  EXPECT_EQ(r[4].kind, RegionKind::kData);
  for (size_t i = 0; i < r.size(); ++i) {
    if (c.maps[i].name.find("gconv-modules.cache") != std::string::npos) {
      EXPECT_STREQ(r[i].detail, "file-shared");  // r--s
    }
  }
}

// Without start_code (no ptrace access) nothing is taken for the executable.
TEST(Maps, ClassifiesWithoutBoundaries) {
  const Captured c = capture("bss_demo");
  const auto r = memkit::inspect::classify_regions(c.maps, memkit::inspect::ProcessLayout{});
  EXPECT_EQ(r[1].kind, RegionKind::kMmap);
  EXPECT_STREQ(r[1].detail, "lib-text");
  EXPECT_EQ(r[5].kind, RegionKind::kMmap);
  EXPECT_EQ(r[6].kind, RegionKind::kHeap);
}

// Reference §4.4/§4.5: the status counters are sums over the VMAs.
TEST(Maps, StatusCountersRecomputedFromTheVmas) {
  for (const char* name : {"bss_demo", "sleep"}) {
    const Captured c = capture(name);
    const auto r = memkit::inspect::classify_regions(c.maps, c.layout);
    const auto v = memkit::inspect::compute_vm_counters(c.smaps, r, c.layout, kPage);
    EXPECT_EQ(v.size / 1024, status_kb(c.status, "VmSize")) << name;
    EXPECT_EQ(v.data / 1024, status_kb(c.status, "VmData")) << name;
    EXPECT_EQ(v.stk / 1024, status_kb(c.status, "VmStk")) << name;
    EXPECT_EQ(v.exe / 1024, status_kb(c.status, "VmExe")) << name;
    EXPECT_EQ(v.lib / 1024, status_kb(c.status, "VmLib")) << name;
  }
}

TEST(Maps, SmapsSumsArePmapsTotalsAndTheRollup) {
  for (const char* name : {"bss_demo", "sleep"}) {
    const Captured c = capture(name);
    uint64_t size = 0, rss = 0, dirty = 0;
    for (const SmapsVma& v : c.smaps) {
      size += v.vma.size();
      rss += v.fields.bytes("Rss");
      dirty += v.fields.bytes("Shared_Dirty") + v.fields.bytes("Private_Dirty");
    }
    const auto t = memkit::inspect::split_ws(c.pmap_total);
    ASSERT_EQ(t.size(), 5u) << c.pmap_total;
    EXPECT_EQ(std::to_string(size / 1024), t[2]) << name;
    EXPECT_EQ(std::to_string(rss / 1024), t[3]) << name;
    EXPECT_EQ(std::to_string(dirty / 1024), t[4]) << name;
    EXPECT_EQ(c.rollup.bytes("Rss"), rss) << name;
  }
}

TEST(Maps, RollupFields) {
  const Captured c = capture("sleep");
  EXPECT_EQ(c.rollup.bytes("Rss"), 1752u * 1024);
  EXPECT_TRUE(c.rollup.has("Pss_Anon"));
  EXPECT_EQ(c.rollup.bytes("Private_Clean"), 40u * 1024);
  EXPECT_EQ(c.rollup.bytes("Private_Dirty"), 108u * 1024);
}

TEST(Maps, StatLayoutWithAnAwkwardComm) {
  std::string stat = "42 (a) b (c)) S";
  for (int field = 4; field <= 52; ++field) {
    stat += ' ';
    stat += std::to_string(field);
  }
  stat += "\n";
  const auto l = memkit::inspect::parse_stat_layout(stat, "stat");
  EXPECT_EQ(l.start_code, 26u);
  EXPECT_EQ(l.end_code, 27u);
  EXPECT_EQ(l.start_data, 45u);
  EXPECT_EQ(l.end_data, 46u);
  EXPECT_EQ(l.start_brk, 47u);
  EXPECT_STREQ(error_of(memkit::inspect::parse_stat_layout, "42 (x) S 1 2\n").c_str(),
               "/fake/maps: 5 fields where start_brk is field 47 (truncated?)");
  EXPECT_NE(error_of(memkit::inspect::parse_stat_layout, "garbage").find("expected"),
            std::string::npos);
}

TEST(Maps, MalformedMapsNameTheFileAndLine) {
  const std::string a = "00400000-00401000 r-xp 00000000 08:01 42 /bin/a\n";
  EXPECT_EQ(maps_error(""), "");  // a kernel thread's maps is empty
  EXPECT_EQ(maps_error(a.substr(0, a.size() - 1)).substr(0, 33),
            "/fake/maps: line 1: truncated: th");
  EXPECT_EQ(maps_error("00400000-00401000 rzxp 00000000 08:01 42 /bin/a\n"),
            "/fake/maps: line 1: expected \"START-END PERMS OFFSET MAJ:MIN INODE [PATH]\", got "
            "\"00400000-00401000 rzxp 00000000 08:01 42 /bin/a\"");
  EXPECT_NE(maps_error("00400000 r-xp 00000000 08:01 42\n"), "");
  EXPECT_NE(maps_error("00400000-00401000 r-xp 0000000g 08:01 42\n"), "");
  EXPECT_NE(maps_error("00400000-00401000 r-xp 00000000 0801 42\n"), "");
  EXPECT_NE(maps_error("00400000-00401000 r-xp 00000000 08:01 4x2\n"), "");
  EXPECT_EQ(maps_error("00401000-00400000 r-xp 00000000 08:01 42\n"),
            "/fake/maps: line 1: empty or reversed range 0x401000-0x400000");
  EXPECT_EQ(maps_error(a + "00400800-00402000 rw-p 00000000 00:00 0\n"),
            "/fake/maps: line 2: range 0x400800-0x402000 starts before the previous one ends "
            "(0x401000)");
}

TEST(Maps, MalformedSmapsNameTheFileAndLine) {
  const std::string vma =
      "00400000-00401000 r-xp 00000000 08:01 42 /bin/a\n"
      "Size:                  4 kB\n"
      "Rss:                   4 kB\n"
      "THPeligible:    0\n"
      "VmFlags: rd ex mr mw me \n";
  EXPECT_EQ(smaps_error(vma), "");
  EXPECT_EQ(smaps_error("Size: 4 kB\n" + vma),
            "/fake/maps: line 1: expected \"START-END PERMS OFFSET MAJ:MIN INODE [PATH]\", got "
            "\"Size: 4 kB\"");
  std::string bad = vma;
  bad.replace(bad.find("Rss:                   4 kB"), 27, "Rss:                   4 MB");
  EXPECT_EQ(smaps_error(bad),
            "/fake/maps: line 3: expected \"Key: N kB\", got \"Rss:                   4 MB\"");
  bad = vma;
  bad.replace(bad.find("Size:                  4 kB"), 27, "Size:                  8 kB");
  EXPECT_EQ(smaps_error(bad), "/fake/maps: line 1: Size 8 kB is not the size of 0x400000-0x401000");
  EXPECT_EQ(smaps_error(vma + "Rss: 4 kB\n"), "/fake/maps: line 6: Rss appears twice");
  // An entry cut after its header.
  EXPECT_EQ(smaps_error(vma + "00402000-00403000 rw-p 00000000 00:00 0\n"),
            "/fake/maps: line 6: the VMA has no Size or Rss line (truncated?)");
  EXPECT_EQ(smaps_error(vma + "what is this\n"),
            "/fake/maps: line 6: expected a VMA header or \"Key: N kB\", got \"what is this\"");
}

TEST(Maps, MalformedRollupNamesTheFile) {
  EXPECT_EQ(rollup_error(""),
            "/fake/maps: empty file (a kernel thread, or the process is exiting)");
  EXPECT_EQ(rollup_error("Rss: 4 kB\n"),
            "/fake/maps: line 1: expected \"START-END ---p 00000000 00:00 0 [rollup]\", got "
            "\"Rss: 4 kB\"");
  EXPECT_EQ(rollup_error("00400000-00401000 ---p 00000000 00:00 0 [rollup]\nPss: 4 kB\n"),
            "/fake/maps: no Rss line (truncated?)");
  EXPECT_EQ(rollup_error("00400000-00401000 ---p 00000000 00:00 0 [rollup]\nRss: 4 kB\nx\n"),
            "/fake/maps: line 3: expected \"Key: N kB\", got \"x\"");
}

TEST(Maps, EveryPrefixOfTheCapturedSmapsIsWholeOrAnError) {
  const std::string text = slurp(proc_dir("sleep") / "smaps");
  size_t parsed = 0;
  for (size_t n = 1; n < text.size(); n += 7) {
    try {
      memkit::inspect::parse_smaps(text.substr(0, n), "f");
      ++parsed;
      EXPECT_EQ(text[n - 1], '\n');  // only whole lines can parse
    } catch (const InspectError&) {
    }
  }
  EXPECT_GT(parsed, 0u);
}

// The live counters of this very process: read status, smaps, status until they agree.
TEST(Maps, LiveSelfStatusCounters) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    const std::string before = memkit::inspect::read_file("/proc/self/status");
    const std::string smaps_text = memkit::inspect::read_file("/proc/self/smaps");
    const std::string after = memkit::inspect::read_file("/proc/self/status");
    const std::string stat = memkit::inspect::read_file("/proc/self/stat");
    const auto s = memkit::inspect::parse_status(after, "status");
    const auto b = memkit::inspect::parse_status(before, "status");
    if (status_kb(s, "VmData") != status_kb(b, "VmData") ||
        status_kb(s, "VmSize") != status_kb(b, "VmSize"))
      continue;
    const auto smaps = memkit::inspect::parse_smaps(smaps_text, "smaps");
    std::vector<Vma> plain;
    for (const auto& v : smaps) plain.push_back(v.vma);
    const auto layout = memkit::inspect::parse_stat_layout(stat, "stat");
    const auto r = memkit::inspect::classify_regions(plain, layout);
    const auto v = memkit::inspect::compute_vm_counters(smaps, r, layout,
                                                        static_cast<uint64_t>(getpagesize()));
    EXPECT_EQ(v.size / 1024, status_kb(s, "VmSize"));
    EXPECT_EQ(v.data / 1024, status_kb(s, "VmData"));
    EXPECT_EQ(v.stk / 1024, status_kb(s, "VmStk"));
    EXPECT_EQ(v.exe / 1024, status_kb(s, "VmExe"));
    EXPECT_EQ(v.lib / 1024, status_kb(s, "VmLib"));
    return;
  }
  GTEST_SKIP() << "the process's mappings kept changing while being read";
}

}  // namespace
