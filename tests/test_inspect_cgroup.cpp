// memkit — tests of the cgroup readers (tests/test_inspect_cgroup.cpp)
//
// Fixtures: host/ was captured on the development machine (memory controller on cgroup v1,
// a cgroup2 mount with only hugetlb: a hybrid); cgroup-v2/ (a systemd machine),
// cgroup-v2-container/ (the cgroup2 mount's root is the container's own cgroup) and
// cgroup-hybrid-nomem/ (memory on neither hierarchy) were written after cgroup-v2.rst.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>

#include "inspect/cgroup.h"
#include "test_support.h"

#ifndef MEMKIT_SOURCE_DIR
#error "needs MEMKIT_SOURCE_DIR"
#endif

namespace {

using namespace memkit::inspect;

const std::string kData = std::string(MEMKIT_SOURCE_DIR) + "/tests/data/views-a/";
constexpr const char* kHostCgroup = "/process_api/06aea7e145a45f4bb45a3fba7f3abcfa";

using memkit::testing::slurp;

uint64_t number_in(const std::string& path) { return std::stoull(slurp(path)); }

TEST(Cgroup, ParsesProcPidCgroup) {
  const auto lines = parse_proc_cgroup(slurp(kData + "host/proc/self/cgroup"), "cgroup");
  ASSERT_EQ(lines.size(), 10u);
  const auto memory = std::find_if(lines.begin(), lines.end(), [](const CgroupLine& l) {
    return l.controllers.size() == 1 && l.controllers[0] == "memory";
  });
  ASSERT_NE(memory, lines.end());
  EXPECT_EQ(memory->id, 4u);
  EXPECT_EQ(memory->path, kHostCgroup);
  EXPECT_EQ(lines.back().id, 0u);
  EXPECT_TRUE(lines.back().controllers.empty());
  EXPECT_EQ(lines.back().path, "/");
  // Paths may hold colons.
  EXPECT_EQ(parse_proc_cgroup("0::/a:b\n", "c")[0].path, "/a:b");
}

TEST(Cgroup, ParsesMountinfoWithEscapes) {
  const auto mounts = parse_mountinfo(slurp(kData + "cgroup-v2/proc/self/mountinfo"), "mi");
  ASSERT_EQ(mounts.size(), 5u);
  EXPECT_EQ(mounts[3].fstype, "cgroup2");
  EXPECT_EQ(mounts[3].mount_point, "/sys/fs/cgroup");
  EXPECT_EQ(mounts[3].super_options.back(), "memory_recursiveprot");
  EXPECT_EQ(mounts[4].mount_point, "/mnt/my disk");  // \040
  EXPECT_EQ(mounts[4].source, "my tmp");
}

TEST(Cgroup, HostIsV1MemoryInAHybridHierarchy) {
  const CgroupMemory cg = read_cgroup_memory(ProcFs(kData + "host"), "self");
  EXPECT_EQ(cg.where.version, CgroupVersion::kV1);
  EXPECT_EQ(cg.where.hierarchy, "hybrid");
  EXPECT_EQ(cg.where.cgroup_path, kHostCgroup);
  EXPECT_EQ(cg.where.dir, std::string("/sys/fs/cgroup/memory") + kHostCgroup);
  const std::string dir = kData + "host/sys/fs/cgroup/memory" + kHostCgroup;
  EXPECT_EQ(cg.display_dir, dir);
  EXPECT_EQ(cg.comm, "sleep");
  ASSERT_TRUE(cg.limit.has_value());
  EXPECT_TRUE(cg.limit->unlimited);  // 9223372036854771712
  ASSERT_TRUE(cg.usage.has_value());
  EXPECT_EQ(*cg.usage, number_in(dir + "/memory.usage_in_bytes"));
  ASSERT_TRUE(cg.working_set.has_value());
  EXPECT_EQ(*cg.working_set, *cg.usage - *find_value(cg.stat, "total_inactive_file"));
  ASSERT_TRUE(cg.effective_limit.has_value());
  EXPECT_TRUE(cg.effective_limit->unlimited);
  EXPECT_EQ(cg.files.size(), 7u);
  EXPECT_NE(cg.find("memory.failcnt"), nullptr);
  EXPECT_TRUE(cg.events.empty());
}

TEST(Cgroup, Pid1IsInTheRootCgroup) {
  const CgroupMemory cg = read_cgroup_memory(ProcFs(kData + "host"), "1");
  EXPECT_EQ(cg.where.cgroup_path, "/");
  EXPECT_EQ(cg.where.dir, "/sys/fs/cgroup/memory");
  EXPECT_EQ(cg.pid_number, 1);
}

TEST(Cgroup, PureV2WithTheLimitOnAParent) {
  const CgroupMemory cg = read_cgroup_memory(ProcFs(kData + "cgroup-v2"), "self");
  EXPECT_EQ(cg.where.version, CgroupVersion::kV2);
  EXPECT_EQ(cg.where.hierarchy, "v2");
  EXPECT_EQ(cg.where.dir, "/sys/fs/cgroup/user.slice/app.scope");
  ASSERT_TRUE(cg.limit.has_value());
  EXPECT_TRUE(cg.limit->unlimited);  // "max"
  EXPECT_EQ(*cg.usage, 367001600u);
  EXPECT_EQ(*cg.working_set, 367001600u - 104857600u);
  ASSERT_TRUE(cg.effective_limit.has_value());
  EXPECT_FALSE(cg.effective_limit->unlimited);
  EXPECT_EQ(cg.effective_limit->bytes, 8589934592u);
  EXPECT_EQ(cg.effective_limit_from, kData + "cgroup-v2/sys/fs/cgroup/user.slice/memory.max");
  EXPECT_EQ(cg.files.size(), 8u);
  EXPECT_EQ(cg.find("memory.high")->bytes, 1073741824u);
  EXPECT_TRUE(cg.find("memory.swap.max")->unlimited);
  EXPECT_EQ(*find_value(cg.events, "high"), 3u);
  for (const char* key : {"anon", "file", "kernel", "slab_reclaimable", "inactive_file"})
    EXPECT_NE(memory_stat_description(key), nullptr) << key;
}

TEST(Cgroup, ContainerWhoseMountRootIsItsOwnCgroup) {
  const CgroupMemory cg = read_cgroup_memory(ProcFs(kData + "cgroup-v2-container"), "self");
  EXPECT_EQ(cg.where.dir, "/sys/fs/cgroup");
  EXPECT_EQ(cg.limit->bytes, 536870912u);
  EXPECT_EQ(cg.effective_limit->bytes, 536870912u);
  EXPECT_EQ(*cg.working_set, 104857600u - 20971520u);
}

TEST(Cgroup, HybridWithoutAMemoryControllerSaysSo) {
  try {
    (void)read_cgroup_memory(ProcFs(kData + "cgroup-hybrid-nomem"), "self");
    FAIL();
  } catch (const InspectError& e) {
    EXPECT_EQ(std::string(e.what()),
              kData + "cgroup-hybrid-nomem/sys/fs/cgroup/unified/cgroup.controllers: the memory "
                      "controller is not enabled on this cgroup2 hierarchy, nor mounted as "
                      "cgroup v1: no memory limits apply");
  }
}

TEST(Cgroup, LocateErrors) {
  const auto v1line = parse_proc_cgroup("4:memory:/a\n", "cg");
  const auto v2line = parse_proc_cgroup("0::/a\n", "cg");
  const auto no_mounts = parse_mountinfo("1 0 8:1 / / rw - ext4 /dev/sda rw\n", "mi");
  EXPECT_THROW(locate_memory_cgroup(v1line, no_mounts, "cg", "mi"), InspectError);
  EXPECT_THROW(locate_memory_cgroup(v2line, no_mounts, "cg", "mi"), InspectError);
  const auto other_root =
      parse_mountinfo("1 0 0:30 /docker/x /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n", "mi");
  EXPECT_THROW(locate_memory_cgroup(v2line, other_root, "cg", "mi"), InspectError);
  const auto outside = parse_proc_cgroup("0::/../../a\n", "cg");
  const auto v2mount = parse_mountinfo("1 0 0:30 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n", "mi");
  EXPECT_THROW(locate_memory_cgroup(outside, v2mount, "cg", "mi"), InspectError);
  EXPECT_EQ(locate_memory_cgroup(v2line, v2mount, "cg", "mi").dir, "/sys/fs/cgroup/a");
}

TEST(Cgroup, Limits) {
  EXPECT_TRUE(parse_limit("max\n", "l").unlimited);
  EXPECT_TRUE(parse_limit("9223372036854771712\n", "l").unlimited);
  const CgroupLimit l = parse_limit("536870912\n", "l");
  EXPECT_FALSE(l.unlimited);
  EXPECT_EQ(l.bytes, 536870912u);
  EXPECT_EQ(parse_single_value("42\n", "v"), 42u);
}

TEST(Cgroup, SnapshotFileListIncludesParentsLimits) {
  const auto files = cgroup_memory_sys_files(ProcFs(kData + "cgroup-v2"), "self");
  for (const char* f : {"fs/cgroup/cgroup.controllers", "fs/cgroup/user.slice/memory.max",
                        "fs/cgroup/user.slice/app.scope/memory.max",
                        "fs/cgroup/user.slice/app.scope/memory.stat"})
    EXPECT_NE(std::find(files.begin(), files.end(), f), files.end()) << f;
  EXPECT_TRUE(cgroup_memory_sys_files(ProcFs(kData + "host"), "999").empty());  // no such PID
}

struct Malformed {
  const char* file;
  int kind;  // 0 /proc/PID/cgroup, 1 mountinfo, 2 memory.stat, 3 limit
  const char* message;
};

class CgroupMalformed : public ::testing::TestWithParam<Malformed> {};

TEST_P(CgroupMalformed, OneLineNamingTheFile) {
  const Malformed m = GetParam();
  const std::string path = kData + "malformed/" + m.file;
  const std::string text = slurp(path);
  try {
    switch (m.kind) {
      case 0:
        (void)parse_proc_cgroup(text, path);
        break;
      case 1:
        (void)parse_mountinfo(text, path);
        break;
      case 2:
        (void)parse_key_values(text, path);
        break;
      default:
        (void)parse_limit(text, path);
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
    Fixtures, CgroupMalformed,
    ::testing::Values(
        Malformed{"cgroup.empty", 0, "empty file"},
        Malformed{"cgroup.badline", 0, "expected \"ID:controllers:/path\", got \"4:memory\""},
        Malformed{"cgroup.nonnumeric", 0, "hierarchy ID \"x\" is not a number"},
        Malformed{"mountinfo.truncated", 1, "truncated"},
        Malformed{"mountinfo.no-separator", 1, "line 1: expected"},
        Malformed{"memory.stat.nonnumeric", 2, "line 2: rss: \"abc\" is not a number"},
        Malformed{"memory.limit.nonnumeric", 3, "expected a byte count or \"max\", got \"12abc\""},
        Malformed{"memory.limit.twolines", 3, "expected one line, got 2"}));

TEST(Cgroup, LiveSelf) {
  try {
    const CgroupMemory cg = read_cgroup_memory(ProcFs(), "self");
    EXPECT_FALSE(cg.where.dir.empty());
    EXPECT_TRUE(cg.usage.has_value() || cg.where.cgroup_path == "/");
  } catch (const InspectError& e) {
    const std::string what = e.what();
    if (what.find("not enabled") != std::string::npos || what.find("no cgroup") != std::string::npos)
      GTEST_SKIP() << "no memory cgroup on this machine: " << what;
    FAIL() << what;
  }
}

}  // namespace
