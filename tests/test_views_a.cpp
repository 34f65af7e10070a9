// memkit — CLI tests of the /proc views free, meminfo, vmstat, status, cgroup, snapshot and
// drop-caches (tests/test_views_a.cpp)
//
// Runs the built binary (MEMKIT_CLI_PATH) as a user would:
//   - on fixtures (tests/data/views-a/) through --proc-root, where the expected text is what
//     procps-ng 4.0.2 printed for the same files;
//   - live, against procps `free` and `vmstat` on this machine, bracketing memkit's read
//     between two procps reads since the counters drift;
//   - on malformed files: one "memkit: FILE: what" line on stderr, exit status 1, nothing on
//     stdout;
//   - as an unprivileged user (setpriv to nobody when run as root): the "needs root" errors.
// procps comes from scripts/deps.sh; when it is missing it is installed with apt-get if running
// as root, else the tests that need it are skipped, saying why.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "test_support.h"
#include "inspect/meminfo.h"

#ifndef MEMKIT_CLI_PATH
#error "test_views_a needs MEMKIT_CLI_PATH, the path of the built memkit binary"
#endif
#ifndef MEMKIT_SOURCE_DIR
#error "needs MEMKIT_SOURCE_DIR"
#endif

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kData = std::string(MEMKIT_SOURCE_DIR) + "/tests/data/views-a/";
constexpr const char* kNobody = "65534";

using namespace memkit::testing;

class ViewsA : public ScratchDirTest {
 protected:
  Result memkit(std::vector<std::string> args) const {
    args.insert(args.begin(), MEMKIT_CLI_PATH);
    return run(args);
  }

  // memkit as the unprivileged user nobody (setpriv), for the "needs root" paths when the test
  // runs as root. Empty if that is not possible here.
  std::optional<Result> memkit_as_nobody(std::vector<std::string> args) const {
    if (geteuid() != 0) return memkit(args);
    const std::string setpriv = find_in_path("setpriv");
    if (setpriv.empty()) return std::nullopt;
    const std::vector<std::string> prefix = {setpriv, std::string("--reuid=") + kNobody,
                                             std::string("--regid=") + kNobody, "--clear-groups",
                                             MEMKIT_CLI_PATH};
    const Result probe = run({prefix[0], prefix[1], prefix[2], prefix[3], prefix[4], "--version"});
    if (probe.status != 0) return std::nullopt;  // binary not reachable by nobody
    args.insert(args.begin(), prefix.begin(), prefix.end());
    return run(args);
  }

  // Expects exit status 1, nothing on stdout and one stderr line "memkit: <file>: ...".
  void expect_file_error(const Result& r, const std::string& file, const std::string& what) const {
    EXPECT_EQ(r.status, 1) << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err.rfind("memkit: " + file + ": ", 0), 0u) << r.err;
    EXPECT_TRUE(contains(r.err, what)) << r.err;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "one line expected: " << r.err;
  }
};

// procps: present, or installed when root (scripts/deps.sh installs it), or the caller skips.
bool ensure_procps(std::string* why) {
  return ensure_program("free", "procps", why) && ensure_program("vmstat", "procps", why);
}

#define REQUIRE_PROCPS()                                   \
  do {                                                     \
    std::string why;                                       \
    if (!ensure_procps(&why)) GTEST_SKIP() << why;         \
  } while (0)

// The "Mem:" and "Swap:" numbers of `free -b`.
std::vector<int64_t> free_row(const std::string& text, const std::string& label) {
  for (const std::string& line : lines_of(text)) {
    std::istringstream fields(line);
    std::string first;
    fields >> first;
    if (first != label) continue;
    std::vector<int64_t> v;
    int64_t x = 0;
    while (fields >> x) v.push_back(x);
    return v;
  }
  return {};
}

// ---------------------------------------------------------------------------------------------
// free

const char* const kFreeFixtures[] = {"host",
                                     "free-swap",
                                     "free-no-available",
                                     "free-available-zero",
                                     "free-available-gt-total",
                                     "free-negative-used"};

TEST_F(ViewsA, FreeBytesIsProcpsOutputLineForLine) {
  for (const std::string d : kFreeFixtures) {
    const std::vector<std::string> expected = lines_of(slurp(kData + d + "/free-b.expected"));
    ASSERT_EQ(expected.size(), 6u) << d;
    const Result narrow = memkit({"free", "-b", "--proc-root", kData + d});
    ASSERT_EQ(narrow.status, 0) << narrow.err;
    const std::vector<std::string> got = lines_of(narrow.out);
    ASSERT_GE(got.size(), 4u);
    for (size_t i = 0; i < 3; ++i) EXPECT_EQ(got[i], expected[i]) << d << " line " << i;
    const Result wide = memkit({"free", "-b", "-w", "--proc-root", kData + d});
    const std::vector<std::string> got_wide = lines_of(wide.out);
    ASSERT_GE(got_wide.size(), 4u);
    for (size_t i = 0; i < 3; ++i) EXPECT_EQ(got_wide[i], expected[3 + i]) << d << " -w " << i;
  }
}

TEST_F(ViewsA, FreeSaysWhichFormula) {
  const Result r = memkit({"free", "--proc-root", kData + "host"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "GiB")) << r.out;
  EXPECT_TRUE(contains(r.out, "used = total - available (procps-ng >= 4.0.1")) << r.out;
  const Result c = memkit({"free", "--classic", "-t", "--proc-root", kData + "host"});
  EXPECT_TRUE(contains(c.out, "used = total - free - buffers - cache")) << c.out;
  EXPECT_TRUE(contains(c.out, "\nTotal:")) << c.out;
  const Result n = memkit({"free", "--proc-root", kData + "free-negative-used"});
  EXPECT_TRUE(contains(n.out, "available = MemFree (this kernel has no MemAvailable line)"));
  EXPECT_TRUE(contains(n.out, "Mem:   ")) << n.out;
  EXPECT_TRUE(contains(n.out, " -195.3 MiB")) << n.out;  // -200000 kB, signed as procps
  EXPECT_EQ(memkit({"free", "--classic", "--procps4"}).status, 2);
}

TEST_F(ViewsA, FreeJson) {
  const Result r = memkit({"free", "--json", "--proc-root", kData + "free-swap"});
  ASSERT_EQ(r.status, 0) << r.err;
  const json j = json::parse(r.out);
  const std::string path = kData + "free-swap/meminfo";
  const auto s = memkit::inspect::compute_free(
      memkit::inspect::parse_meminfo(slurp(path), path), memkit::inspect::FreeFormula::kAvailable);
  EXPECT_EQ(j["formula"], "total - available");
  EXPECT_EQ(j["mem"]["total"], s.total);
  EXPECT_EQ(j["mem"]["used"], s.used);
  EXPECT_EQ(j["mem"]["buff_cache"], s.buff_cache);
  EXPECT_EQ(j["mem"]["available"], s.available);
  EXPECT_EQ(j["swap"]["used"], 1048576 * 1024);
  EXPECT_EQ(j["available_source"], "MemAvailable");
}

// Live: procps `free -b`, memkit, procps again; memkit's figures must lie between the two
// procps reads (plus a little slack for what moves between the reads of one tool).
TEST_F(ViewsA, FreeAgreesWithProcpsLive) {
  REQUIRE_PROCPS();
  const int64_t slack = 8 << 20;
  std::string last;
  for (int attempt = 0; attempt < 5; ++attempt) {
    const Result a = run({"free", "-b"});
    const Result m = memkit({"free", "-b", "--json"});
    const Result b = run({"free", "-b"});
    ASSERT_EQ(a.status, 0) << a.err;
    ASSERT_EQ(m.status, 0) << m.err;
    const std::vector<int64_t> pa = free_row(a.out, "Mem:"), pb = free_row(b.out, "Mem:");
    ASSERT_EQ(pa.size(), 6u) << a.out;
    const json j = json::parse(m.out);
    EXPECT_EQ(j["mem"]["total"].get<int64_t>(), pa[0]);  // exact
    EXPECT_EQ(j["swap"]["total"].get<int64_t>(), free_row(a.out, "Swap:")[0]);
    const char* names[] = {"total", "used", "free", "shared", "buff_cache", "available"};
    bool inside = true;
    for (size_t i = 1; i < 6; ++i) {
      const int64_t v = j["mem"][names[i]].get<int64_t>();
      const int64_t lo = std::min(pa[i], pb[i]) - slack, hi = std::max(pa[i], pb[i]) + slack;
      if (v < lo || v > hi) {
        inside = false;
        last = std::string(names[i]) + " " + std::to_string(v) + " not in [" +
               std::to_string(lo) + ", " + std::to_string(hi) + "]";
      }
    }
    if (inside) return;
  }
  FAIL() << "memkit free never fell between two procps reads: " << last;
}

// ---------------------------------------------------------------------------------------------
// meminfo

TEST_F(ViewsA, MeminfoExplainsEveryField) {
  const Result r = memkit({"meminfo", "--proc-root", kData + "host"});
  ASSERT_EQ(r.status, 0) << r.err;
  const std::vector<std::string> lines = lines_of(r.out);
  EXPECT_EQ(lines.size(), lines_of(slurp(kData + "host/proc/meminfo")).size());
  EXPECT_EQ(lines[0].rfind("MemTotal:", 0), 0u);
  EXPECT_TRUE(contains(r.out, "(no description)") == false) << r.out;
  EXPECT_TRUE(contains(r.out, "HugePages_Total:")) << r.out;

  write("unknown/meminfo", "MemTotal: 100 kB\nBrandNewField: 7 kB\nHugePages_Total: 3\n");
  const Result u = memkit({"meminfo", "-b", "--proc-root", path("unknown")});
  ASSERT_EQ(u.status, 0) << u.err;
  EXPECT_TRUE(contains(u.out, "BrandNewField:")) << u.out;
  EXPECT_TRUE(contains(u.out, "7168  (no description)")) << u.out;
  const Result j = memkit({"meminfo", "--json", "--proc-root", path("unknown")});
  const json doc = json::parse(j.out);
  ASSERT_EQ(doc["fields"].size(), 3u);
  EXPECT_EQ(doc["fields"][1]["value"], 7168);
  EXPECT_TRUE(doc["fields"][1]["description"].is_null());
  EXPECT_EQ(doc["fields"][2]["unit"], "count");
}

// ---------------------------------------------------------------------------------------------
// vmstat

std::vector<uint64_t> numbers(const std::string& line) {
  std::istringstream fields(line);
  std::vector<uint64_t> v;
  uint64_t x = 0;
  while (fields >> x) v.push_back(x);
  return v;
}

TEST_F(ViewsA, VmstatSinceBootIsProcpsVmstat) {
  const Result r = memkit({"vmstat", "-b", "--proc-root", kData + "host"});
  ASSERT_EQ(r.status, 0) << r.err;
  const std::vector<std::string> got = lines_of(r.out);
  ASSERT_EQ(got.size(), 3u) << r.out;
  const std::vector<uint64_t> ours = numbers(got[2]);
  const std::vector<uint64_t> theirs = numbers(lines_of(slurp(kData + "host/vmstat.expected"))[2]);
  ASSERT_EQ(ours.size(), 17u);
  ASSERT_EQ(theirs.size(), 17u);
  for (size_t i = 0; i < 17; ++i) {
    const bool sized = i >= 2 && i <= 9;  // swpd..bo: bytes here, KiB in procps
    EXPECT_EQ(sized ? ours[i] / 1024 : ours[i], theirs[i]) << "column " << i;
  }
  // Human units by default.
  const Result h = memkit({"vmstat", "--proc-root", kData + "host"});
  EXPECT_TRUE(contains(h.out, "G ")) << h.out;
}

TEST_F(ViewsA, VmstatIntervalAndCount) {
  const Result r = memkit({"vmstat", "0.1", "3"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(lines_of(r.out).size(), 5u) << r.out;  // two header lines, three samples
  const Result j = memkit({"vmstat", "--json", "0.1", "2"});
  ASSERT_EQ(j.status, 0) << j.err;
  // One object per line (NDJSON), each line a whole document as soon as it is printed.
  const std::vector<std::string> samples = lines_of(j.out);
  ASSERT_EQ(samples.size(), 2u) << j.out;
  const json doc = {json::parse(samples[0]), json::parse(samples[1])};
  EXPECT_TRUE(doc[0].is_object());
  EXPECT_TRUE(doc[0]["since_boot"].get<bool>());
  EXPECT_FALSE(doc[1]["since_boot"].get<bool>());
  EXPECT_GT(doc[1]["seconds"].get<double>(), 0.05);
  EXPECT_GT(doc[1]["memory"]["free"].get<uint64_t>(), 0u);
  EXPECT_EQ(memkit({"vmstat", "0"}).status, 2);
  EXPECT_EQ(memkit({"vmstat", "1", "0"}).status, 2);
  EXPECT_EQ(memkit({"vmstat", "abc"}).status, 2);
  const Result snap = memkit({"vmstat", "--proc-root", kData + "host", "1", "2"});
  EXPECT_EQ(snap.status, 2);
  EXPECT_TRUE(contains(snap.err, "a snapshot holds one sample")) << snap.err;
}

TEST_F(ViewsA, VmstatAgreesWithProcpsLive) {
  REQUIRE_PROCPS();
  const uint64_t slack = 8 << 20;
  std::string last;
  for (int attempt = 0; attempt < 5; ++attempt) {
    const Result a = run({"vmstat"});
    const Result m = memkit({"vmstat", "--json"});
    const Result b = run({"vmstat"});
    ASSERT_EQ(m.status, 0) << m.err;
    const std::vector<uint64_t> pa = numbers(lines_of(a.out).at(2));
    const std::vector<uint64_t> pb = numbers(lines_of(b.out).at(2));
    ASSERT_GE(pa.size(), 17u) << a.out;
    const json row = json::parse(m.out);
    bool inside = true;
    auto check = [&](const char* name, uint64_t v, size_t col, uint64_t scale, uint64_t tol) {
      const uint64_t lo = std::min(pa[col], pb[col]) * scale;
      const uint64_t hi = std::max(pa[col], pb[col]) * scale;
      if (v + tol < lo || v > hi + tol) {
        inside = false;
        last = std::string(name) + " " + std::to_string(v) + " not in [" + std::to_string(lo) +
               ", " + std::to_string(hi) + "] ± " + std::to_string(tol);
      }
    };
    check("swpd", row["memory"]["swpd"], 2, 1024, slack);
    check("free", row["memory"]["free"], 3, 1024, slack);
    check("buff", row["memory"]["buff"], 4, 1024, slack);
    check("cache", row["memory"]["cache"], 5, 1024, slack);
    check("bi", row["io"]["bi"], 8, 1024, 1024);  // since boot: moves slowly
    check("bo", row["io"]["bo"], 9, 1024, 1024);
    check("in", row["system"]["in"], 10, 1, 1);
    check("cs", row["system"]["cs"], 11, 1, 1);
    check("us", row["cpu"]["us"], 12, 1, 1);
    check("id", row["cpu"]["id"], 14, 1, 1);
    if (inside) return;
  }
  FAIL() << "memkit vmstat never fell between two procps reads: " << last;
}

// ---------------------------------------------------------------------------------------------
// status

TEST_F(ViewsA, StatusExplainsTheMemoryLines) {
  const Result r = memkit({"status", "--proc-root", kData + "host"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "(sleep)")) << r.out;
  EXPECT_TRUE(contains(r.out, "VmRSS:")) << r.out;
  EXPECT_TRUE(contains(r.out, "resident set size: RssAnon + RssFile + RssShmem")) << r.out;
  EXPECT_FALSE(contains(r.out, "does NOT hold")) << r.out;
  const Result j = memkit({"status", "1", "--json", "-b", "--proc-root", kData + "host"});
  ASSERT_EQ(j.status, 0) << j.err;
  const json doc = json::parse(j.out);
  EXPECT_EQ(doc["pid"], 1);
  EXPECT_TRUE(doc["rss_check"]["holds"].get<bool>());
  EXPECT_EQ(doc["fields"].size(), 16u);
}

TEST_F(ViewsA, StatusOfAKernelThreadIsAClearError) {
  expect_file_error(memkit({"status", "2", "--proc-root", kData + "host"}),
                    kData + "host/proc/2/status", "PID 2 is a kernel thread: it has no user memory");
  // Live: kthreadd is PID 2 on Linux.
  const Result live = memkit({"status", "2"});
  if (contains(slurp("/proc/2/status"), "Kthread:\t1"))
    expect_file_error(live, "/proc/2/status", "PID 2 is a kernel thread: it has no user memory");
}

TEST_F(ViewsA, StatusOfAVanishedOrBadPid) {
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(0);
  ASSERT_EQ(waitpid(child, nullptr, 0), child);
  const std::string pid = std::to_string(child);
  expect_file_error(memkit({"status", pid}), "/proc/" + pid + "/status",
                    "no such process (it exited?)");
  expect_file_error(memkit({"cgroup", pid}), "/proc/" + pid + "/cgroup",
                    "no such process (it exited?)");
  for (const char* bad : {"abc", "0", "-5", "99999999"}) {
    const Result r = memkit({"status", bad});
    EXPECT_EQ(r.status, 2) << bad << ": " << r.err;
    EXPECT_EQ(r.out, "");
  }
}

TEST_F(ViewsA, StatusLiveOfAChild) {
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    pause();
    _exit(0);
  }
  const Result r = memkit({"status", std::to_string(child), "--json"});
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  ASSERT_EQ(r.status, 0) << r.err;
  const json doc = json::parse(r.out);
  EXPECT_EQ(doc["pid"], child);
  EXPECT_TRUE(doc["rss_check"]["holds"].get<bool>());
}

// ---------------------------------------------------------------------------------------------
// cgroup

TEST_F(ViewsA, CgroupFixtures) {
  const Result v1 = memkit({"cgroup", "--json", "--proc-root", kData + "host"});
  ASSERT_EQ(v1.status, 0) << v1.err;
  const json a = json::parse(v1.out);
  EXPECT_EQ(a["version"], "v1");
  EXPECT_EQ(a["hierarchy"], "hybrid");
  EXPECT_EQ(a["limit"], "max");
  EXPECT_EQ(a["files"]["memory.limit_in_bytes"], "max");
  EXPECT_GT(a["usage"].get<uint64_t>(), 0u);

  const Result v2 = memkit({"cgroup", "--proc-root", kData + "cgroup-v2"});
  ASSERT_EQ(v2.status, 0) << v2.err;
  EXPECT_TRUE(contains(v2.out, "memory controller on cgroup v2 (v2 hierarchy)")) << v2.out;
  EXPECT_TRUE(contains(v2.out, "limit           unlimited")) << v2.out;
  EXPECT_TRUE(contains(v2.out, "effective limit 8.0 GiB")) << v2.out;
  EXPECT_TRUE(contains(v2.out, "usage           350.0 MiB")) << v2.out;
  EXPECT_TRUE(contains(v2.out, "memory.events: low 0 high 3")) << v2.out;

  const Result c = memkit({"cgroup", "-b", "--json", "--proc-root", kData + "cgroup-v2-container"});
  ASSERT_EQ(c.status, 0) << c.err;
  const json cj = json::parse(c.out);
  EXPECT_EQ(cj["limit"], 536870912);
  EXPECT_EQ(cj["working_set"], 104857600 - 20971520);

  expect_file_error(memkit({"cgroup", "--proc-root", kData + "cgroup-hybrid-nomem"}),
                    kData + "cgroup-hybrid-nomem/sys/fs/cgroup/unified/cgroup.controllers",
                    "the memory controller is not enabled");
}

TEST_F(ViewsA, CgroupLiveMatchesTheFiles) {
  const Result r = memkit({"cgroup", "--json"});
  if (r.status != 0 && contains(r.err, "not enabled")) GTEST_SKIP() << r.err;
  ASSERT_EQ(r.status, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_TRUE(j["pid"].is_number()) << j["pid"];
  const std::string dir = j["dir"];
  const std::string limit_file = j["version"] == "v2" ? "/memory.max" : "/memory.limit_in_bytes";
  if (fs::exists(dir + limit_file)) {
    const std::string text = slurp(dir + limit_file);
    if (j["limit"] == "max")
      EXPECT_TRUE(text == "max\n" || std::stoull(text) >= 9223372036854771712ULL) << text;
    else
      EXPECT_EQ(j["limit"].get<uint64_t>(), std::stoull(text));
  }
}

// ---------------------------------------------------------------------------------------------
// malformed and unreadable files

TEST_F(ViewsA, MalformedFilesGiveOneLineAndStatus1) {
  struct Case {
    const char* fixture;  // in malformed/
    const char* as;       // copied into the proc root as
    std::vector<std::string> command;
    const char* what;
  };
  const std::vector<Case> cases = {
      {"meminfo.empty", "meminfo", {"free"}, "empty file"},
      {"meminfo.truncated", "meminfo", {"free"}, "truncated"},
      {"meminfo.missing-memtotal", "meminfo", {"free"}, "no MemTotal line"},
      {"meminfo.nonnumeric", "meminfo", {"meminfo"}, "is not a number"},
      {"meminfo.badline", "meminfo", {"free", "--json"}, "expected \"Key: value [kB]\""},
      {"stat.truncated", "stat", {"vmstat"}, "truncated"},
      {"vmstat.missing-pgpgin", "vmstat", {"vmstat", "--json"}, "no pgpgin line"},
      {"status.nonnumeric", "self/status", {"status"}, "VmRSS: \"abc\" is not a number"},
      {"status.truncated", "self/status", {"status", "self"}, "truncated"},
      {"cgroup.badline", "self/cgroup", {"cgroup"}, "expected \"ID:controllers:/path\""},
  };
  for (const Case& c : cases) {
    const std::string root = path(std::string("m-") + c.fixture);
    fs::create_directories(root + "/proc/self");
    for (const char* f : {"meminfo", "vmstat", "stat", "self/status", "self/cgroup",
                          "self/mountinfo"})
      fs::copy_file(kData + "host/proc/" + f, root + "/proc/" + f);
    fs::remove(root + "/proc/" + c.as);
    fs::copy_file(kData + "malformed/" + c.fixture, root + "/proc/" + c.as);
    std::vector<std::string> args = c.command;
    args.insert(args.end(), {"--proc-root", root});
    SCOPED_TRACE(c.fixture);
    expect_file_error(memkit(args), root + "/proc/" + c.as, c.what);
  }
}

TEST_F(ViewsA, UnreadableFileNeedsRoot) {
  write("locked/meminfo", slurp(kData + "host/proc/meminfo"), 0);
  const auto r = memkit_as_nobody({"free", "--proc-root", path("locked")});
  if (!r) GTEST_SKIP() << "cannot run as an unprivileged user here (no setpriv, or the binary "
                          "is not reachable by nobody)";
  expect_file_error(*r, path("locked") + "/meminfo", "permission denied (needs root)");
}

// ---------------------------------------------------------------------------------------------
// snapshot

TEST_F(ViewsA, SnapshotReproducesTheViews) {
  const std::string snap = path("snap");
  const Result r = memkit({"snapshot", snap});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.rfind("saved ", 0), 0u) << r.out;
  EXPECT_TRUE(contains(r.out, " processes to " + snap + "; skipped ")) << r.out;
  EXPECT_EQ(lines_of(r.out).size(), 1u) << r.out;

  const Result f = memkit({"free", "--json", "--proc-root", snap});
  ASSERT_EQ(f.status, 0) << f.err;
  const auto expected = memkit::inspect::compute_free(
      memkit::inspect::parse_meminfo(slurp(snap + "/proc/meminfo"), "meminfo"),
      memkit::inspect::FreeFormula::kAvailable);
  EXPECT_EQ(json::parse(f.out)["mem"]["used"], expected.used);
  EXPECT_EQ(memkit({"vmstat", "--proc-root", snap}).status, 0);
  EXPECT_EQ(memkit({"meminfo", "--proc-root", snap}).status, 0);
  EXPECT_EQ(memkit({"status", "self", "--proc-root", snap}).status, 0);
  const Result live_cg = memkit({"cgroup"});
  if (live_cg.status == 0) {
    const Result cg = memkit({"cgroup", "--proc-root", snap});
    EXPECT_EQ(cg.status, 0) << cg.err;
    EXPECT_TRUE(contains(cg.out, snap + "/sys/fs/cgroup/")) << cg.out;
  }
  expect_file_error(memkit({"snapshot", snap}), snap + "/proc", "already exists");
}

TEST_F(ViewsA, SnapshotAsNonRootCountsWhatItCannotRead) {
  fs::create_directories(path("open"));
  chmod(path("open").c_str(), 0777);
  const auto r = memkit_as_nobody({"snapshot", "--json", path("open/snap")});
  if (!r) GTEST_SKIP() << "cannot run as an unprivileged user here";
  ASSERT_EQ(r->status, 0) << r->err;
  const json j = json::parse(r->out);
  EXPECT_GT(j["processes"].get<uint64_t>(), 0u);
  EXPECT_GT(j["skipped"].get<uint64_t>(), 0u);  // other users' maps and smaps at least
}

// ---------------------------------------------------------------------------------------------
// drop-caches

TEST_F(ViewsA, DropCachesNeedsRoot) {
  const auto r = memkit_as_nobody({"drop-caches", "3"});
  if (!r) GTEST_SKIP() << "cannot run as an unprivileged user here";
  expect_file_error(*r, "/proc/sys/vm/drop_caches", "needs root");

  // A snapshot whose drop_caches is mode 000: the write is refused with the same hint.
  write("dc/meminfo", slurp(kData + "host/proc/meminfo"));
  write("dc/sys/vm/drop_caches", "", 0);
  const auto s = memkit_as_nobody({"drop-caches", "1", "--proc-root", path("dc")});
  ASSERT_TRUE(s.has_value());
  expect_file_error(*s, path("dc") + "/sys/vm/drop_caches", "permission denied: needs root");
}

TEST_F(ViewsA, DropCachesWritesTheValueAndShowsFreeBeforeAndAfter) {
  EXPECT_EQ(memkit({"drop-caches", "4"}).status, 2);
  EXPECT_EQ(memkit({"drop-caches", "x"}).status, 2);
  if (geteuid() != 0) GTEST_SKIP() << "writes a root-owned file only root can write";
  write("dc/meminfo", slurp(kData + "host/proc/meminfo"));
  write("dc/sys/vm/drop_caches", "", 0200);
  const Result r = memkit({"drop-caches", "2", "-b", "--proc-root", path("dc")});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(slurp(path("dc/sys/vm/drop_caches")), "2\n");
  EXPECT_TRUE(contains(r.out, "before:\n")) << r.out;
  EXPECT_TRUE(contains(r.out, "after:\n")) << r.out;
  EXPECT_TRUE(contains(r.out, "dentries and inodes")) << r.out;
  const Result j = memkit({"drop-caches", "3", "--json", "--proc-root", path("dc")});
  ASSERT_EQ(j.status, 0) << j.err;
  const json doc = json::parse(j.out);
  EXPECT_EQ(doc["value"], 3);
  EXPECT_EQ(doc["before"]["mem"]["total"], doc["after"]["mem"]["total"]);

  // The real thing only when asked: it costs every process on the machine its page cache.
  if (std::getenv("MEMKIT_TEST_DROP_CACHES") == nullptr) return;
  const Result live = memkit({"drop-caches", "1", "--json"});
  ASSERT_EQ(live.status, 0) << live.err;
  const json l = json::parse(live.out);
  EXPECT_LE(l["after"]["mem"]["cache"].get<uint64_t>(),
            l["before"]["mem"]["cache"].get<uint64_t>() + (64u << 20));
}

// ---------------------------------------------------------------------------------------------
// as an unprivileged user, the views that need no privilege work

TEST_F(ViewsA, ViewsWorkWithoutRoot) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"free", "--json"}, {"meminfo"}, {"vmstat"}, {"status", "1"},
        {"status"}}) {
    const auto r = memkit_as_nobody(args);
    if (!r) GTEST_SKIP() << "cannot run as an unprivileged user here";
    EXPECT_EQ(r->status, 0) << args[0] << ": " << r->err;
  }
}

}  // namespace
