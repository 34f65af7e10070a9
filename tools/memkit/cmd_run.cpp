// memkit CLI — `memkit run` (tools/memkit/cmd_run.cpp): a program on memkit's malloc.
//
// Execs PROGRAM in place with libmemkit.so prepended to LD_PRELOAD (found as MEMKIT_PRELOAD,
// else next to this binary: BIN/../<install libdir>/memkit (an install), BIN/../lib (the build
// tree), BIN/), so the exit status is PROGRAM's own. --stats adds stats_fd=N (a copy of stderr)
// and stats_pid (PROGRAM's PID) to MEMKIT_OPTIONS: PROGRAM's memkit writes its statistics there
// at exit; its children, which inherit the options, do not.
#include <fcntl.h>
#include <fmt/core.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "command.h"

#ifndef MEMKIT_INSTALL_LIBDIR
#define MEMKIT_INSTALL_LIBDIR "lib"
#endif

namespace memkit::cli {
namespace cmd_run_impl {

struct Args {
  bool stats = false;
  std::vector<std::string> command;
};

std::string self_dir() {
  char buf[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  std::string path(buf, static_cast<size_t>(n));
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

std::string find_preload() {
  if (const char* env = std::getenv("MEMKIT_PRELOAD"); env != nullptr && *env != '\0') {
    if (access(env, R_OK) != 0)
      throw usage_error(fmt::format("MEMKIT_PRELOAD={}: {}", env, std::strerror(errno)));
    return env;
  }
  const std::string dir = self_dir();
  for (const std::string& candidate :
       {dir + "/../" MEMKIT_INSTALL_LIBDIR "/memkit/libmemkit.so", dir + "/../lib/libmemkit.so",
        dir + "/libmemkit.so"}) {
    if (access(candidate.c_str(), R_OK) == 0) {
      char real[PATH_MAX];
      return realpath(candidate.c_str(), real) != nullptr ? std::string(real) : candidate;
    }
  }
  throw internal_error("libmemkit.so not found next to " + dir + " (looked in ../" +
                       MEMKIT_INSTALL_LIBDIR +
                       "/memkit, ../lib and the same directory); set MEMKIT_PRELOAD to its path");
}

// Replaces this process with PROGRAM (so its exit status, signals and Ctrl-C are the
// program's own); returns only if the exec failed.
[[noreturn]] void run(const Args& args) {
  if (args.command.empty())
    throw usage_error("run: no PROGRAM given (memkit run -- PROGRAM [ARGS...])");
  const std::string preload = find_preload();
  const char* old = std::getenv("LD_PRELOAD");
  const std::string ld = old != nullptr && *old != '\0' ? preload + ":" + old : preload;
  if (args.stats) {
    // A copy of stderr out of the program's way (many programs close stderr at exit, e.g.
    // coreutils' close_stdout, before memkit's report runs), and this PID, which PROGRAM
    // keeps: its children inherit the options but do not report.
    const int stats_fd = fcntl(2, F_DUPFD, 100);
    if (stats_fd < 0)
      throw internal_error(fmt::format("run: dup of stderr: {}", std::strerror(errno)));
    const char* mo = std::getenv("MEMKIT_OPTIONS");
    const std::string keys = fmt::format("stats_fd={}:stats_pid={}", stats_fd, getpid());
    const std::string options = mo != nullptr && *mo != '\0' ? std::string(mo) + ":" + keys : keys;
    setenv("MEMKIT_OPTIONS", options.c_str(), 1);
  }
  setenv("LD_PRELOAD", ld.c_str(), 1);
  std::vector<std::string> copies(args.command);
  std::vector<char*> argv;
  for (std::string& a : copies) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::fflush(stdout);
  std::fflush(stderr);
  execvp(argv[0], argv.data());
  const int err = errno;
  throw Failure(err == ENOENT ? 127 : 126,
                fmt::format("run: {}: {}", args.command[0], std::strerror(err)));
}

void setup(CLI::App& sub) {
  auto args = std::make_shared<Args>();
  sub.add_flag("--stats", args->stats,
               "print memkit's statistics (pages, slabinfo of the size classes, buddyinfo) to "
               "stderr when the program exits");
  sub.add_option("command", args->command, "PROGRAM [ARGS...] (after --)")->required();
  sub.footer(
      "Runs PROGRAM with libmemkit.so in LD_PRELOAD (MEMKIT_PRELOAD overrides where it is "
      "found) and exits with its status (128 + N if signal N killed it).\n"
      "Example: memkit run --stats -- python3 -c 'print(1)'");
  sub.callback([args] { run(*args); });
}

const Registration kRun{"run", "run a program on memkit's malloc (LD_PRELOAD)", setup};

}  // namespace cmd_run_impl
}  // namespace memkit::cli
