// memkit CLI — `memkit check` (tools/memkit/cmd_check.cpp): a program under the checked malloc.
//
// Runs PROGRAM with libmemkit-checked.so prepended to LD_PRELOAD (found as `memkit run` finds
// libmemkit.so; MEMKIT_CHECKED_PRELOAD overrides) and MEMKIT_OPTIONS extended with the flags:
// --full (check=full), --suppressions FILE, --log FILE (report_fd, a descriptor opened here),
// --continue (check_continue). Unlike `memkit run` it forks and waits rather than exec'ing in
// place, so that it can tell whether the library was loaded at all: the program's memkit writes
// one byte on a pipe at start-up (check_ready_fd, only in the process whose PID is stats_pid).
// A static or setuid program ignores LD_PRELOAD and so was not checked: that is said, and the
// status is then never 0. Exit status: the program's (the library exits with leak_exitcode,
// 23 by default, when it found leaks, and an error report aborts: 134), 128 + N if signal N
// killed it. The program's children are checked too, but keep their own status (stats_pid).
#include <fcntl.h>
#include <fmt/core.h>
#include <limits.h>
#include <signal.h>
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
#include "install_paths.h"

namespace memkit::cli {
namespace cmd_check_impl {

struct Args {
  bool full = false;
  bool keep_going = false;
  std::string suppressions;
  std::string log;
  std::vector<std::string> command;
};

std::string option_path(const std::string& path, const char* what) {
  char real[PATH_MAX];
  if (realpath(path.c_str(), real) == nullptr)
    throw usage_error(fmt::format("check: {} {}: {}", what, path, std::strerror(errno)));
  const std::string p = real;
  if (p.find(':') != std::string::npos)
    throw usage_error(fmt::format("check: {} {}: the path may not contain ':' (MEMKIT_OPTIONS "
                                  "separates keys with it)", what, p));
  return p;
}

[[noreturn]] void check(const Args& args) {
  if (args.command.empty()) throw usage_error("check: no PROGRAM given (memkit check PROGRAM [ARGS...])");
  const std::string preload = find_checked_preload();
  std::string keys;
  if (args.full) keys += "check=full:";
  if (args.keep_going) keys += "check_continue=1:";
  if (!args.suppressions.empty())
    keys += "suppressions=" + option_path(args.suppressions, "--suppressions") + ":";
  int log_fd = -1;
  if (!args.log.empty()) {
    const int fd = open(args.log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    if (fd < 0) throw Failure(1, fmt::format("check: {}: {}", args.log, std::strerror(errno)));
    log_fd = fcntl(fd, F_DUPFD, 100);
    close(fd);
    if (log_fd < 0) throw internal_error(fmt::format("check: dup: {}", std::strerror(errno)));
    keys += fmt::format("report_fd={}:", log_fd);
  }
  int ready[2];
  if (pipe2(ready, O_CLOEXEC) != 0) throw internal_error(fmt::format("check: pipe: {}", std::strerror(errno)));

  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = fork();
  if (pid < 0) throw internal_error(fmt::format("check: fork: {}", std::strerror(errno)));
  if (pid == 0) {
    // The child: the write end, out of the program's way and inherited across exec.
    const int w = fcntl(ready[1], F_DUPFD, 100);
    keys += fmt::format("check_ready_fd={}:stats_pid={}", w, getpid());
    const char* mo = std::getenv("MEMKIT_OPTIONS");
    const std::string options = mo != nullptr && *mo != '\0' ? std::string(mo) + ":" + keys : keys;
    setenv("MEMKIT_OPTIONS", options.c_str(), 1);
    const char* old = std::getenv("LD_PRELOAD");
    const std::string ld = old != nullptr && *old != '\0' ? preload + ":" + old : preload;
    setenv("LD_PRELOAD", ld.c_str(), 1);
    std::vector<std::string> copies(args.command);
    std::vector<char*> argv;
    for (std::string& a : copies) argv.push_back(a.data());
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    const int err = errno;
    std::fprintf(stderr, "memkit: check: %s: %s\n", printable(args.command[0]).c_str(),
                 std::strerror(err));
    _exit(err == ENOENT ? 127 : 126);
  }
  close(ready[1]);
  if (log_fd >= 0) close(log_fd);
  // As system() does: the terminal's Ctrl-C and Ctrl-\ are the program's to act on.
  signal(SIGINT, SIG_IGN);
  signal(SIGQUIT, SIG_IGN);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  fcntl(ready[0], F_SETFL, O_NONBLOCK);
  char byte = 0;
  const bool loaded = read(ready[0], &byte, 1) == 1;
  close(ready[0]);
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (!loaded && !(WIFEXITED(status) && (code == 126 || code == 127))) {
    std::fprintf(stderr,
                 "memkit: check: %s did not load libmemkit-checked.so (a static or setuid "
                 "program?): nothing was checked\n",
                 printable(args.command[0]).c_str());
    if (code == 0) code = 1;
  }
  throw Failure(code, "");
}

void setup(CLI::App& sub) {
  auto args = std::make_shared<Args>();
  sub.add_flag("--full", args->full,
               "check=full: every block on its own pages against a guard page, freed blocks "
               "inaccessible: out-of-bounds reads and use after free fault where they happen "
               "(much slower, more memory)");
  sub.add_option("--suppressions", args->suppressions,
                 "file of reports to keep quiet, one KIND:PATTERN a line (see docs/checked-mode.md)")
      ->type_name("FILE");
  sub.add_option("--log", args->log, "write the reports to FILE instead of stderr")->type_name("FILE");
  sub.add_flag("--continue", args->keep_going,
               "report each distinct error once and go on, instead of aborting at the first");
  add_program_argument(sub, args->command, "PROGRAM [ARGS...] (\"--\" before it is optional)")->required();
  sub.footer(
      "Runs PROGRAM on libmemkit-checked.so (LD_PRELOAD; MEMKIT_CHECKED_PRELOAD overrides "
      "where it is found): heap-buffer-overflow/underflow, heap-use-after-free, double-free, "
      "invalid-free and alloc-dealloc-mismatch are reported as they are found (the first "
      "aborts the program), leaks at exit (exit status 23, MEMKIT_OPTIONS=leak_exitcode=N). "
      "Otherwise exits with PROGRAM's status. Its child processes are checked too: their "
      "report lines carry [pid N name] and they keep their own exit status.\n"
      "Examples: memkit check ./a.out\n"
      "          memkit check --full --log check.txt ./server --port 8080");
  sub.callback([args] { check(*args); });
}

const Registration kCheck{"check", "run a program under the checked malloc: overflows, use after free, bad frees, leaks", setup};

}  // namespace cmd_check_impl
}  // namespace memkit::cli
