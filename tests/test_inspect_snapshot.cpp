// memkit — tests of `memkit snapshot`'s copier (tests/test_inspect_snapshot.cpp)
//
// A snapshot of a fixture tree is deterministic (what is there is copied, what is not is left
// out silently, what cannot be read is counted); a snapshot of the live system must read back
// through ProcFs(DIR) as the views do.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "inspect/cgroup.h"
#include "inspect/meminfo.h"
#include "inspect/snapshot.h"
#include "inspect/status.h"
#include "inspect/vmstat.h"
#include "test_support.h"

#ifndef MEMKIT_SOURCE_DIR
#error "needs MEMKIT_SOURCE_DIR"
#endif

namespace {

using namespace memkit::inspect;
namespace fs = std::filesystem;

const std::string kData = std::string(MEMKIT_SOURCE_DIR) + "/tests/data/views-a/";

using memkit::testing::slurp;

class Snapshot : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "memkit_snapshot_XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ec;
    fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(dir_, ec);
  }
  std::string dir_;
};

TEST_F(Snapshot, OfAFixtureCopiesWhatIsThere) {
  const SnapshotResult r = take_snapshot(ProcFs(kData + "host"), dir_ + "/snap");
  EXPECT_EQ(r.processes, 3u);  // 1, 2 and the sleep
  EXPECT_EQ(r.skipped, 0u);
  EXPECT_EQ(r.vanished, 0u);
  // meminfo vmstat stat; 1: status cgroup comm; 2: status comm; sleep: status cgroup comm;
  // self: status cgroup mountinfo comm; 8 v1 cgroup files for each of two cgroups.
  EXPECT_EQ(r.files, 3u + 3 + 2 + 3 + 4 + 16);
  for (const char* f : {"proc/meminfo", "proc/1/status", "proc/2/status", "proc/self/mountinfo"})
    EXPECT_EQ(slurp(dir_ + "/snap/" + f), slurp(kData + "host/" + f)) << f;
  EXPECT_FALSE(fs::exists(dir_ + "/snap/proc/buddyinfo"));  // not in the fixture

  // The copy reads back as the original.
  const ProcFs copy(dir_ + "/snap");
  const FreeSummary a = compute_free(read_meminfo(copy), FreeFormula::kAvailable);
  const FreeSummary b =
      compute_free(read_meminfo(ProcFs(kData + "host")), FreeFormula::kAvailable);
  EXPECT_EQ(a.used, b.used);
  const CgroupMemory cg = read_cgroup_memory(copy, "self");
  EXPECT_EQ(cg.usage, read_cgroup_memory(ProcFs(kData + "host"), "self").usage);
  EXPECT_EQ(read_cgroup_memory(copy, "1").where.dir, "/sys/fs/cgroup/memory");
}

TEST_F(Snapshot, RefusesADirectoryThatHoldsOne) {
  (void)take_snapshot(ProcFs(kData + "host"), dir_);
  try {
    (void)take_snapshot(ProcFs(kData + "host"), dir_);
    FAIL();
  } catch (const InspectError& e) {
    EXPECT_EQ(std::string(e.what()),
              dir_ + "/proc: already exists: snapshot into a new or empty directory");
  }
}

TEST_F(Snapshot, UnwritableDestinationIsAnError) {
  if (geteuid() == 0) GTEST_SKIP() << "root writes anywhere";
  ASSERT_EQ(chmod(dir_.c_str(), 0500), 0);
  EXPECT_THROW(take_snapshot(ProcFs(kData + "host"), dir_ + "/snap"), InspectError);
}

TEST_F(Snapshot, UnreadableFilesAreCounted) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads a mode 000 file";
  const std::string src = dir_ + "/src";
  fs::create_directories(src + "/proc");
  std::ofstream(src + "/proc/meminfo") << slurp(kData + "host/proc/meminfo");
  std::ofstream(src + "/proc/slabinfo") << "slabinfo - version: 2.1\n";
  ASSERT_EQ(chmod((src + "/proc/slabinfo").c_str(), 0), 0);
  const SnapshotResult r = take_snapshot(ProcFs(src), dir_ + "/snap");
  EXPECT_EQ(r.skipped, 1u);
  EXPECT_EQ(r.files, 1u);
}

TEST_F(Snapshot, OfTheLiveSystemReadsBack) {
  const SnapshotResult r = take_snapshot(ProcFs(), dir_ + "/snap");
  EXPECT_GT(r.processes, 0u);
  EXPECT_GT(r.files, 10u);
  const ProcFs copy(dir_ + "/snap");
  EXPECT_GT(read_meminfo(copy).require("MemTotal"), 0u);
  EXPECT_NO_THROW(read_vmstat_sample(copy));
  EXPECT_TRUE(read_status(copy, "self").has_user_memory());
  EXPECT_EQ(read_status(copy, "self").pid, getpid());
  EXPECT_TRUE(fs::exists(dir_ + "/snap/proc/" + std::to_string(getpid()) + "/smaps"));
  // The memory cgroup reads back when it reads live.
  bool live_ok = true;
  try {
    (void)read_cgroup_memory(ProcFs(), "self");
  } catch (const InspectError&) {
    live_ok = false;
  }
  if (live_ok) {
    const CgroupMemory cg = read_cgroup_memory(copy, "self");
    EXPECT_EQ(cg.display_dir.rfind(dir_ + "/snap/sys/", 0), 0u) << cg.display_dir;
  }
}

}  // namespace
