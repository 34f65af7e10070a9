// memkit — tests of the /proc/PID/status memory lines (tests/test_inspect_status.cpp)
//
// Fixtures captured on the development machine: a `sleep` (host/proc/self), PID 1 and the
// kernel thread PID 2 (no Vm* lines), plus malformed variants.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "inspect/status.h"
#include "test_support.h"

#ifndef MEMKIT_SOURCE_DIR
#error "needs MEMKIT_SOURCE_DIR"
#endif

namespace {

using namespace memkit::inspect;

const std::string kData = std::string(MEMKIT_SOURCE_DIR) + "/tests/data/views-a/";

using memkit::testing::slurp;

void expect_rss_sum(const ProcStatus& st) {
  ASSERT_NE(st.find("VmRSS"), nullptr);
  EXPECT_EQ(st.find("VmRSS")->kb,
            st.find("RssAnon")->kb + st.find("RssFile")->kb + st.find("RssShmem")->kb);
}

TEST(Status, ParsesASleepProcess) {
  const ProcFs fs(kData + "host");
  const ProcStatus st = read_status(fs, "self");
  EXPECT_EQ(st.name, "sleep");
  EXPECT_GT(st.pid, 0);
  EXPECT_EQ(st.path, kData + "host/proc/self/status");
  EXPECT_TRUE(st.has_user_memory());
  EXPECT_NO_THROW(require_user_memory(st));
  ASSERT_TRUE(st.kthread.has_value());
  EXPECT_FALSE(*st.kthread);
  // task_mem()'s lines, in its order.
  const char* keys[] = {"VmPeak", "VmSize", "VmLck",    "VmPin",  "VmHWM", "VmRSS",
                        "RssAnon", "RssFile", "RssShmem", "VmData", "VmStk", "VmExe",
                        "VmLib",  "VmPTE",  "VmSwap",   "HugetlbPages"};
  ASSERT_EQ(st.memory.size(), std::size(keys));
  for (size_t i = 0; i < std::size(keys); ++i) {
    EXPECT_EQ(st.memory[i].key, keys[i]);
    EXPECT_NE(status_description(keys[i]), nullptr) << keys[i];
  }
  expect_rss_sum(st);
  EXPECT_GE(st.find("VmPeak")->kb, st.find("VmSize")->kb);
  EXPECT_GE(st.find("VmHWM")->kb, st.find("VmRSS")->kb);
}

TEST(Status, Pid1) {
  const ProcStatus st = read_status(ProcFs(kData + "host"), "1");
  EXPECT_EQ(st.pid, 1);
  expect_rss_sum(st);
}

TEST(Status, KernelThreadHasNoUserMemory) {
  const ProcFs fs(kData + "host");
  const ProcStatus st = read_status(fs, "2");
  EXPECT_FALSE(st.has_user_memory());
  EXPECT_TRUE(st.memory.empty());
  try {
    require_user_memory(st);
    FAIL();
  } catch (const InspectError& e) {
    EXPECT_EQ(std::string(e.what()),
              kData + "host/proc/2/status: PID 2 is a kernel thread: it has no user memory");
  }
}

TEST(Status, ZombieHasNoUserMemory) {
  const ProcStatus st =
      parse_status("Name:\tdefunct\nState:\tZ (zombie)\nPid:\t77\nPPid:\t1\n", "/proc/77/status");
  EXPECT_TRUE(st.zombie());
  try {
    require_user_memory(st);
    FAIL();
  } catch (const InspectError& e) {
    EXPECT_NE(std::string(e.what()).find("PID 77 is a zombie"), std::string::npos) << e.what();
  }
}

TEST(Status, NamesWithSpacesAndUnknownLinesAreKept) {
  const ProcStatus st = parse_status(
      "Name:\tmy prog\nPid:\t5\nFutureField:\tsomething\nVmSize:\t 10 kB\nVmRSS:\t 4 kB\n"
      "VmFuture:\t 3 kB\n",
      "s");
  EXPECT_EQ(st.name, "my prog");
  ASSERT_NE(st.find("VmFuture"), nullptr);
  EXPECT_EQ(st.find("VmFuture")->bytes(), 3u * 1024);
  EXPECT_EQ(status_description("VmFuture"), nullptr);
}

struct Malformed {
  const char* file;
  const char* message;
};

class StatusMalformed : public ::testing::TestWithParam<Malformed> {};

TEST_P(StatusMalformed, OneLineNamingTheFile) {
  const std::string path = kData + "malformed/" + GetParam().file;
  try {
    (void)parse_status(slurp(path), path);
    FAIL() << "no error for " << path;
  } catch (const InspectError& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.rfind(path + ": ", 0), 0u) << what;
    EXPECT_NE(what.find(GetParam().message), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, StatusMalformed,
    ::testing::Values(Malformed{"status.empty", "empty file"},
                      Malformed{"status.truncated", "truncated"},
                      Malformed{"status.nonnumeric", "VmRSS: \"abc\" is not a number"},
                      Malformed{"status.missing-vmrss", "no VmRSS line"}));

TEST(Status, OtherBadLines) {
  EXPECT_THROW(parse_status("Name:\tx\nVmRSS:\t12\n", "s"), InspectError);       // no kB
  EXPECT_THROW(parse_status("Name:\tx\nVmRSS:\t12x kB\n", "s"), InspectError);
  EXPECT_THROW(parse_status("Name:\tx\nno colon here\n", "s"), InspectError);
  EXPECT_THROW(parse_status("Name:\tx\nPid:\tabc\n", "s"), InspectError);
  EXPECT_THROW(parse_status("Name:\tx\nKthread:\t2\n", "s"), InspectError);
  EXPECT_THROW(parse_status("Umask:\t0022\n", "s"), InspectError);  // no Name, no Pid
}

TEST(Status, LiveSelf) {
  const ProcStatus st = read_status(ProcFs(), "self");
  EXPECT_EQ(st.pid, getpid());
  expect_rss_sum(st);
  EXPECT_GT(st.find("VmRSS")->kb, 0u);
}

TEST(Status, VanishedProcess) {
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(0);
  ASSERT_EQ(waitpid(child, nullptr, 0), child);
  try {
    (void)read_status(ProcFs(), std::to_string(child));
    FAIL() << "PID " << child << " still readable";
  } catch (const InspectError& e) {
    EXPECT_EQ(std::string(e.what()),
              "/proc/" + std::to_string(child) + "/status: no such process (it exited?)");
  }
}

}  // namespace
