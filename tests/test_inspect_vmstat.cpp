// memkit — tests of the /proc/vmstat and /proc/stat parsers and vmstat's columns
// (tests/test_inspect_vmstat.cpp)
//
// vmstat.expected in a fixture is what procps-ng 4.0.2 `vmstat` printed with that fixture's
// meminfo, vmstat and stat bind-mounted over /proc: the since-boot line is checked against it
// column by column.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "inspect/vmstat.h"
#include "test_support.h"

#ifndef MEMKIT_SOURCE_DIR
#error "needs MEMKIT_SOURCE_DIR"
#endif

namespace {

using namespace memkit::inspect;

const std::string kData = std::string(MEMKIT_SOURCE_DIR) + "/tests/data/views-a/";

using memkit::testing::slurp;

VmstatSample fixture_sample(const std::string& dir) {
  const std::string d = kData + dir + "/";
  return make_vmstat_sample(parse_meminfo(slurp(d + "meminfo"), d + "meminfo"),
                            parse_vmstat(slurp(d + "vmstat"), d + "vmstat"),
                            parse_proc_stat(slurp(d + "stat"), d + "stat"));
}

// The third line of vmstat's output, as numbers.
std::vector<uint64_t> procps_row(const std::string& path) {
  std::istringstream in(slurp(path));
  std::string line;
  for (int i = 0; i < 3; ++i) std::getline(in, line);
  std::istringstream words(line);
  std::vector<uint64_t> v;
  uint64_t x = 0;
  while (words >> x) v.push_back(x);
  return v;
}

TEST(Vmstat, ParsesTheHostFixture) {
  const std::string path = kData + "host/proc/vmstat";
  const std::string text = slurp(path);
  const Vmstat v = parse_vmstat(text, path);
  size_t lines = 0;
  for (char c : text) lines += c == '\n';
  EXPECT_EQ(v.counters.size(), lines);
  EXPECT_EQ(v.counters.front().first, "nr_free_pages");
  EXPECT_TRUE(v.get("pgpgin").has_value());
  EXPECT_FALSE(v.get("no_such_counter").has_value());
  EXPECT_THROW(v.require("no_such_counter"), InspectError);
}

TEST(ProcStatFile, ParsesTheHostFixture) {
  const ProcStat s = parse_proc_stat(slurp(kData + "host/proc/stat"), "stat");
  EXPECT_EQ(s.cpus, 2u);
  EXPECT_GT(s.cpu.user, 0u);
  EXPECT_GT(s.cpu.idle, 0u);
  EXPECT_GT(s.intr, 0u);
  EXPECT_GT(s.ctxt, 0u);
  EXPECT_GT(s.btime, 0u);
  EXPECT_EQ(s.procs_running, 7u);
  EXPECT_EQ(s.procs_blocked, 0u);
}

TEST(ProcStatFile, OldKernelsHaveFewerCpuColumns) {
  const ProcStat s = parse_proc_stat(
      "cpu  1 2 3 4\nintr 5\nctxt 6\nprocs_running 1\nprocs_blocked 0\n", "stat");
  EXPECT_EQ(s.cpu.system, 3u);
  EXPECT_EQ(s.cpu.idle, 4u);
  EXPECT_EQ(s.cpu.steal, 0u);
}

class SinceBootAgainstProcps : public ::testing::TestWithParam<const char*> {};

TEST_P(SinceBootAgainstProcps, SameColumnsAsProcpsVmstat) {
  const std::string dir = GetParam();
  const std::string files = dir == "host" ? "host/proc" : dir;
  const VmstatRow r = vmstat_row_since_boot(fixture_sample(files), 4096, 100);
  const std::vector<uint64_t> p = procps_row(kData + dir + "/vmstat.expected");
  ASSERT_EQ(p.size(), 17u);
  const uint64_t ours[] = {r.r,           r.b,           r.swpd / 1024, r.free / 1024,
                           r.buff / 1024, r.cache / 1024, r.si / 1024,  r.so / 1024,
                           r.bi / 1024,   r.bo / 1024,   r.in,          r.cs,
                           r.us,          r.sy,          r.id,          r.wa,
                           r.st};
  const char* names[] = {"r",  "b",  "swpd", "free", "buff", "cache", "si", "so", "bi",
                         "bo", "in", "cs",   "us",   "sy",   "id",    "wa", "st"};
  for (size_t i = 0; i < 17; ++i) EXPECT_EQ(ours[i], p[i]) << names[i];
}

INSTANTIATE_TEST_SUITE_P(Fixtures, SinceBootAgainstProcps,
                         ::testing::Values("host", "free-swap"),
                         [](const ::testing::TestParamInfo<const char*>& param) {
                           return std::string(param.param) == "host" ? "host" : "with_swap";
                         });

TEST(Vmstat, IntervalRatesAreDeltasOverTheSeconds) {
  VmstatSample a, b;
  a.pswpin = 10;
  b.pswpin = 30;  // 20 pages in 2 s → 10 pages/s = 40 KiB/s
  a.pgpgin = 100;
  b.pgpgin = 300;  // 200 KiB in 2 s
  a.pgpgout = 7;
  b.pgpgout = 7;
  a.intr = 1000;
  b.intr = 3000;
  a.ctxt = 50;
  b.ctxt = 51;  // 0.5/s rounds to 1 (llround)
  a.cpu.user = 100;
  b.cpu.user = 150;
  a.cpu.system = 10;
  b.cpu.system = 30;
  a.cpu.idle = 500;
  b.cpu.idle = 530;  // 50 + 20 + 30 = 100 ticks
  b.mem_free = 12345;
  b.procs_running = 3;
  const VmstatRow r = vmstat_row_interval(a, b, 2.0, 4096);
  EXPECT_EQ(r.si, 40u * 1024);
  EXPECT_EQ(r.bi, 100u * 1024);
  EXPECT_EQ(r.bo, 0u);
  EXPECT_EQ(r.in, 1000u);
  EXPECT_EQ(r.cs, 1u);
  EXPECT_EQ(r.us, 50u);
  EXPECT_EQ(r.sy, 20u);
  EXPECT_EQ(r.id, 30u);
  EXPECT_EQ(r.free, 12345u);  // gauges come from the newer sample
  EXPECT_EQ(r.r, 3u);
}

TEST(Vmstat, CountersGoingBackwardsGiveZeroNotHugeRates) {
  VmstatSample a, b;
  a.cpu.idle = 100;
  b.cpu.idle = 90;  // idle can run backwards for a moment
  a.intr = 10;
  const VmstatRow r = vmstat_row_interval(a, b, 1.0, 4096);
  EXPECT_EQ(r.in, 0u);
  EXPECT_EQ(r.id, 100u);  // no ticks at all: procps shows 100 % idle
  EXPECT_EQ(r.us, 0u);
}

struct Malformed {
  const char* file;
  bool stat;  // /proc/stat (else /proc/vmstat)
  const char* message;
};

class VmstatMalformed : public ::testing::TestWithParam<Malformed> {};

TEST_P(VmstatMalformed, OneLineNamingTheFile) {
  const Malformed m = GetParam();
  const std::string path = kData + "malformed/" + m.file;
  const std::string text = slurp(path);
  try {
    if (m.stat) {
      (void)parse_proc_stat(text, path);
    } else {
      const Vmstat v = parse_vmstat(text, path);
      (void)make_vmstat_sample(parse_meminfo(slurp(kData + "host/proc/meminfo"), "meminfo"), v,
                               parse_proc_stat(slurp(kData + "host/proc/stat"), "stat"));
    }
    FAIL() << "no error for " << m.file;
  } catch (const InspectError& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.rfind(path + ": ", 0), 0u) << what;
    EXPECT_NE(what.find(m.message), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, VmstatMalformed,
    ::testing::Values(Malformed{"vmstat.empty", false, "empty file"},
                      Malformed{"vmstat.truncated", false, "truncated"},
                      Malformed{"vmstat.nonnumeric", false, "\"12.5\" is not a number"},
                      Malformed{"vmstat.missing-pgpgin", false, "no pgpgin line"},
                      Malformed{"stat.empty", true, "empty file"},
                      Malformed{"stat.truncated", true, "truncated"},
                      Malformed{"stat.nonnumeric", true, "line 1: \"abc\" is not a number"},
                      Malformed{"stat.missing-ctxt", true, "no ctxt line"}));

TEST(Vmstat, OtherBadLines) {
  EXPECT_THROW(parse_vmstat("pgpgin\n", "v"), InspectError);
  EXPECT_THROW(parse_vmstat("pgpgin 1 2\n", "v"), InspectError);
  EXPECT_THROW(parse_vmstat("pgpgin -1\n", "v"), InspectError);
  EXPECT_THROW(parse_vmstat("pgpgin 1\npgpgin 2\n", "v"), InspectError);
  EXPECT_THROW(parse_proc_stat("cpu 1 2 3\nintr 1\nctxt 1\nprocs_running 1\nprocs_blocked 0\n",
                               "s"),
               InspectError);
  EXPECT_THROW(parse_proc_stat("cpu 1 2 3 4\nintr 1 x\nctxt 1\nprocs_running 1\nprocs_blocked 0\n",
                               "s"),
               InspectError);
}

TEST(Vmstat, LiveSampleAndRow) {
  const ProcFs fs;
  const VmstatSample s = read_vmstat_sample(fs);
  EXPECT_GT(s.time, 0.0);
  EXPECT_GT(s.mem_free, 0u);
  EXPECT_GE(s.procs_running, 1u);  // this test
  const VmstatRow r = vmstat_row_since_boot(s, static_cast<uint64_t>(sysconf(_SC_PAGESIZE)),
                                            static_cast<uint64_t>(sysconf(_SC_CLK_TCK)));
  EXPECT_LE(r.us + r.sy + r.id + r.wa + r.st, 103u);  // rounding of five shares
  EXPECT_GE(r.us + r.sy + r.id + r.wa + r.st, 97u);
}

}  // namespace
