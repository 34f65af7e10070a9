// memkit CLI — `memkit run` (tools/memkit/cmd_run.cpp): a program on memkit's malloc.
//
// Runs PROGRAM with libmemkit.so prepended to LD_PRELOAD (found as MEMKIT_PRELOAD, else next to
// this binary: BIN/../<install libdir>/memkit (an install), BIN/../lib (the build tree), BIN/),
// and passes its exit status through
// (128 + N for a death by signal N, as the shell does). --stats adds stats_fd=N to
// MEMKIT_OPTIONS, N a copy of stderr, so that the program's memkit writes its statistics there
// at exit.
#include <fcntl.h>
#include <fmt/core.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/wait.h>
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

int run(const Args& args) {
  if (args.command.empty())
    throw usage_error("run: no PROGRAM given (memkit run -- PROGRAM [ARGS...])");
  const std::string preload = find_preload();
  const char* old = std::getenv("LD_PRELOAD");
  const std::string ld = old != nullptr && *old != '\0' ? preload + ":" + old : preload;
  std::string options;
  int stats_fd = -1;
  if (args.stats) {
    // A copy of stderr out of the program's way: many programs close stderr at exit
    // (coreutils' close_stdout), before memkit's report runs.
    stats_fd = fcntl(2, F_DUPFD, 100);
    if (stats_fd < 0) throw internal_error(fmt::format("run: dup of stderr: {}", std::strerror(errno)));
    const char* mo = std::getenv("MEMKIT_OPTIONS");
    const std::string key = fmt::format("stats_fd={}", stats_fd);
    options = mo != nullptr && *mo != '\0' ? std::string(mo) + ":" + key : key;
  }
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = fork();
  if (pid < 0) throw internal_error(fmt::format("run: fork: {}", std::strerror(errno)));
  if (pid == 0) {
    setenv("LD_PRELOAD", ld.c_str(), 1);
    if (args.stats) setenv("MEMKIT_OPTIONS", options.c_str(), 1);
    std::vector<std::string> copies(args.command);
    std::vector<char*> argv;
    for (std::string& a : copies) argv.push_back(a.data());
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    const int err = errno;
    fmt::print(stderr, "memkit: run: {}: {}\n", args.command[0], std::strerror(err));
    _exit(err == ENOENT ? 127 : 126);
  }
  if (stats_fd >= 0) close(stats_fd);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw internal_error(fmt::format("run: waitpid: {}", std::strerror(errno)));
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
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
  sub.callback([args] { throw Failure(run(*args), ""); });
}

const Registration kRun{"run", "run a program on memkit's malloc (LD_PRELOAD)", setup};

}  // namespace cmd_run_impl
}  // namespace memkit::cli
