// memkit — helpers shared by the tests (tests/test_support.h): reading and writing files, and
// running programs (the built `memkit` binary, procps, setpriv …) as a user would, with stdout
// and stderr captured through files (so neither pipe can fill up) in a scratch directory per
// test.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

extern char** environ;

namespace memkit::testing {

/// What a finished program left: its exit status and everything it printed.
struct Result {
  int status = -1;  // exit status, or -1 if it did not exit normally
  std::string out;
  std::string err;
};

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

/// Writes `text` to `path`, creating the directories on the way.
inline void spit(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

/// Whether all n bytes at p equal v.
inline bool all_bytes(const void* p, size_t n, unsigned char v) {
  const auto* b = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < n; ++i)
    if (b[i] != v) return false;
  return true;
}

inline bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

inline std::vector<std::string> words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

/// The full path of `name` in PATH (or the usual bin directories), "" if there is none.
inline std::string find_in_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const std::string p = dir + "/" + name;
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  for (const char* d : {"/usr/bin/", "/bin/", "/usr/sbin/", "/sbin/"})
    if (::access((d + name).c_str(), X_OK) == 0) return d + name;
  return "";
}

inline bool have(const std::string& program) { return !find_in_path(program).empty(); }

/// Whether `program` is there, installing Debian `package` when it is missing and the test runs
/// as root (scripts/deps.sh installs them all; this is for a test run by hand). When false,
/// `why` says why, for GTEST_SKIP.
inline bool ensure_program(const std::string& program, const std::string& package,
                           std::string* why) {
  if (have(program)) return true;
  if (geteuid() != 0) {
    *why = program + " (" + package + ") is not installed, and installing it needs root";
    return false;
  }
  const std::string install = "DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -q "
                              "--no-install-recommends " + package + " >/dev/null 2>&1";
  if (std::system(install.c_str()) != 0 &&
      std::system(("timeout 300 apt-get update -q >/dev/null 2>&1 && " + install).c_str()) != 0) {
    *why = program + " is not installed and apt-get install " + package + " failed";
    return false;
  }
  if (have(program)) return true;
  *why = "apt-get install " + package + " did not provide " + program;
  return false;
}

/// Runs `args` (args[0] looked up in PATH) with stdin from `in` and stdout/stderr into `out`
/// and `err`, waits for it and returns what it did. A program that cannot start fails the test.
inline Result run_program(const std::vector<std::string>& args, const std::string& in,
                          const std::string& out, const std::string& err) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, in.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0666);
  posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0666);
  std::vector<std::string> copies(args);
  std::vector<char*> argv;
  for (std::string& a : copies) argv.push_back(a.data());
  argv.push_back(nullptr);
  Result r;
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  EXPECT_EQ(rc, 0) << "cannot start " << args[0];
  if (rc != 0) return r;
  int wstatus = 0;
  waitpid(pid, &wstatus, 0);
  if (WIFEXITED(wstatus)) r.status = WEXITSTATUS(wstatus);
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

/// A test with its own scratch directory (removed afterwards) and a runner that captures
/// through files in it.
class ScratchDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "memkit_test_XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    // Tests that run memkit as nobody need to reach (and write) what they make here.
    ASSERT_EQ(chmod(dir_.c_str(), 0777), 0);
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::string path(const std::string& name) const { return dir_ + "/" + name; }

  /// Writes `text` to `name` in the scratch directory (mode `mode`); returns its path.
  std::string write(const std::string& name, const std::string& text, mode_t mode = 0644) const {
    const std::string p = path(name);
    spit(p, text);
    chmod(p.c_str(), mode);
    return p;
  }

  /// Runs `args` with stdin from `input`.
  Result run(const std::vector<std::string>& args, const std::string& input = "") const {
    const std::string n = std::to_string(serial_++);
    const std::string in = input.empty() ? std::string("/dev/null") : write(".stdin" + n, input);
    return run_program(args, in, path(".stdout" + n), path(".stderr" + n));
  }

  std::string dir_;
  mutable unsigned serial_ = 0;
};

}  // namespace memkit::testing
