// memkit CLI — `memkit run` (tools/memkit/cmd_run.cpp): a program on memkit's malloc.
//
// Execs PROGRAM in place with libmemkit.so prepended to LD_PRELOAD (found as MEMKIT_PRELOAD,
// else next to this binary: BIN/../<install libdir>/memkit (an install), BIN/../lib (the build
// tree), BIN/), so the exit status is PROGRAM's own. --stats adds stats_fd=N (a copy of stderr)
// and --json FILE json_fd=N (FILE, opened here) to MEMKIT_OPTIONS, with stats_pid = PROGRAM's
// PID: PROGRAM's memkit writes its heap report there at exit; its children, which inherit the
// options, do not. With no PROGRAM it runs the bundled workload, memkit-lisp (a Lisp
// interpreter running its embedded demo program; BIN/ in the build tree, BIN/../<install
// libexecdir>/memkit in an install), with --stats unless --json is given.
#include <fcntl.h>
#include <fmt/core.h>
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
#include "install_paths.h"

namespace memkit::cli {
namespace cmd_run_impl {

struct Args {
  bool stats = false;
  std::string json;
  std::vector<std::string> command;
};

// A descriptor out of the program's way (>= 100), inherited across exec.
int high_fd(int fd, const std::string& what) {
  const int high = fcntl(fd, F_DUPFD, 100);
  if (high < 0) throw internal_error(fmt::format("run: dup of {}: {}", what, std::strerror(errno)));
  return high;
}

// Replaces this process with PROGRAM (so its exit status, signals and Ctrl-C are the
// program's own); returns only if the exec failed.
[[noreturn]] void run(Args args) {
  if (args.command.empty()) {
    const std::string workload = find_bundled("memkit-lisp");
    if (workload.empty())
      throw internal_error("the bundled workload memkit-lisp was not found next to " + self_dir() +
                           " (or in the install's libexec/memkit)");
    args.command = {workload};
    if (args.json.empty()) args.stats = true;
  }
  const std::string preload = find_preload();
  const char* old = std::getenv("LD_PRELOAD");
  const std::string ld = old != nullptr && *old != '\0' ? preload + ":" + old : preload;
  std::string keys;
  if (args.stats) {
    // A copy of stderr, since many programs close stderr at exit (e.g. coreutils'
    // close_stdout) before memkit's report runs.
    keys += fmt::format("stats_fd={}:", high_fd(2, "stderr"));
  }
  if (!args.json.empty()) {
    const int fd = open(args.json.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) throw Failure(1, fmt::format("run: {}: {}", args.json, std::strerror(errno)));
    keys += fmt::format("json_fd={}:", high_fd(fd, args.json));
    close(fd);
  }
  if (!keys.empty()) {
    // This PID, which PROGRAM keeps: its children inherit the options but do not report.
    keys += fmt::format("stats_pid={}", getpid());
    const char* mo = std::getenv("MEMKIT_OPTIONS");
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
               "print the heap report to stderr when the program exits: calls, bytes in use, "
               "peak heap and RSS, memory given back to the OS, slabinfo of the size classes in "
               "use, buddyinfo and fragmentation indices of memkit's arenas");
  sub.add_option("--json", args->json, "write the heap report as JSON to FILE when the program exits")
      ->type_name("FILE");
  sub.add_option("command", args->command,
                 "PROGRAM [ARGS...] (after --); none: the bundled workload (memkit-lisp)");
  sub.footer(
      "Runs PROGRAM with libmemkit.so in LD_PRELOAD (MEMKIT_PRELOAD overrides where it is "
      "found) and exits with its status (128 + N if signal N killed it). Without PROGRAM it "
      "runs the bundled workload, a Lisp interpreter running its demo program, with --stats.\n"
      "Examples: memkit run\n"
      "          memkit run --stats -- python3 -c 'print(1)'\n"
      "          memkit run --json heap.json -- sort big.txt");
  sub.callback([args] { run(*args); });
}

const Registration kRun{"run", "run a program on memkit's malloc (LD_PRELOAD)", setup};

}  // namespace cmd_run_impl
}  // namespace memkit::cli
