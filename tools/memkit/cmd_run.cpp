// memkit CLI — `memkit run` (tools/memkit/cmd_run.cpp): a program on memkit's malloc.
//
// Runs PROGRAM with libmemkit.so prepended to LD_PRELOAD (found as MEMKIT_PRELOAD, else next to
// this binary: BIN/../<install libdir>/memkit (an install), BIN/../lib (the build tree), BIN/).
// --stats adds stats_fd=N (a copy of stderr) and --json json_fd=N to MEMKIT_OPTIONS, with
// stats_pid = PROGRAM's PID: PROGRAM's memkit writes its heap report there at exit; its
// children, which inherit the options, do not. It always adds stats_shm=1 (before the user's
// MEMKIT_OPTIONS, which may turn it off): the live view, `memkit stats/top/metrics PID`.
// Without --json, PROGRAM is exec'd in place, so the exit status is its own. With --json, memkit stays as the parent (like `memkit check`):
// the report goes to a memory file (memfd), and once PROGRAM has exited memkit checks that it
// is one whole JSON document and writes it to FILE, so that a report that could not be written
// (a full disk, /dev/full) or was never written (PROGRAM killed, or exiting through _exit, or
// static) is an error, not an exit status 0 with a truncated or empty FILE. With no PROGRAM it runs the bundled workload, memkit-lisp (a Lisp
// interpreter running its embedded demo program; BIN/ in the build tree, BIN/../<install
// libexecdir>/memkit in an install), with --stats unless --json is given.
#include <fcntl.h>
#include <fmt/core.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
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

std::vector<char*> argv_of(std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return argv;
}

void set_options(std::string keys) {
  // This PID, which PROGRAM keeps: its children inherit the options but do not report.
  keys += fmt::format("stats_pid={}", getpid());
  // The live statistics (memkit stats/top/metrics PID) first, so that the user's own
  // MEMKIT_OPTIONS may turn them off (stats_shm=0): a later key wins.
  const char* mo = std::getenv("MEMKIT_OPTIONS");
  std::string options = "stats_shm=1:";
  if (mo != nullptr && *mo != '\0') options += std::string(mo) + ":";
  options += keys;
  setenv("MEMKIT_OPTIONS", options.c_str(), 1);
}

pid_t g_child = 0;
extern "C" void forward_signal(int sig) { kill(g_child, sig); }

// Dies of `sig` as PROGRAM did (without a second core file), so that the shell sees the same.
[[noreturn]] void die_of(int sig) {
  const rlimit no_core{0, 0};
  setrlimit(RLIMIT_CORE, &no_core);
  signal(sig, SIG_DFL);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  sigprocmask(SIG_UNBLOCK, &set, nullptr);
  raise(sig);
  throw Failure(128 + sig, "");
}

// The whole content of the memory file fd.
std::string read_all(int fd) {
  std::string text;
  char buf[65536];
  for (off_t at = 0;;) {
    const ssize_t n = pread(fd, buf, sizeof buf, at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, static_cast<size_t>(n));
    at += n;
  }
  return text;
}

// "" or why `text` could not be written to fd (then closed, either way).
std::string write_all(int fd, const std::string& text) {
  for (size_t done = 0; done < text.size();) {
    const ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : EIO;
      close(fd);
      return std::strerror(err);
    }
    done += static_cast<size_t>(n);
  }
  if (close(fd) != 0 && errno != EINTR) return std::strerror(errno);
  return {};
}

// PROGRAM as a child, its JSON report collected and written to FILE; the exit status is
// PROGRAM's (its signal re-raised), or 1 when it was 0 and the report is missing or unwritten.
[[noreturn]] void run_with_report(const Args& args, const std::string& ld, std::string keys) {
  const int file = open(args.json.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (file < 0) throw Failure(1, fmt::format("run: {}: {}", args.json, std::strerror(errno)));
  const int mem = memfd_create("memkit-heap-report", 0);  // inherited across exec
  if (mem < 0) throw internal_error(fmt::format("run: memfd_create: {}", std::strerror(errno)));
  const int report = high_fd(mem, "the report file");
  close(mem);
  keys += fmt::format("json_fd={}:", report);
  int exec_pipe[2];  // the child's errno if its exec fails; closed by a successful one
  if (pipe2(exec_pipe, O_CLOEXEC) != 0)
    throw internal_error(fmt::format("run: pipe: {}", std::strerror(errno)));
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = fork();
  if (pid < 0) throw internal_error(fmt::format("run: fork: {}", std::strerror(errno)));
  if (pid == 0) {
    close(exec_pipe[0]);
    set_options(keys);
    setenv("LD_PRELOAD", ld.c_str(), 1);
    std::vector<std::string> copies(args.command);
    const std::vector<char*> argv = argv_of(copies);
    execvp(argv[0], argv.data());
    const int err = errno;
    if (write(exec_pipe[1], &err, sizeof err) < 0) _exit(127);
    _exit(127);
  }
  close(exec_pipe[1]);
  // As system() does, the terminal's Ctrl-C and Ctrl-\ are PROGRAM's to act on; a SIGTERM or
  // SIGHUP sent to memkit alone (timeout(1), a closed terminal) is passed on.
  g_child = pid;
  signal(SIGINT, SIG_IGN);
  signal(SIGQUIT, SIG_IGN);
  struct sigaction forward {};
  forward.sa_handler = forward_signal;
  forward.sa_flags = SA_RESTART;
  sigemptyset(&forward.sa_mask);
  sigaction(SIGTERM, &forward, nullptr);
  sigaction(SIGHUP, &forward, nullptr);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  int exec_errno = 0;
  const bool exec_failed = read(exec_pipe[0], &exec_errno, sizeof exec_errno) == sizeof exec_errno;
  close(exec_pipe[0]);
  if (exec_failed) {
    close(file);
    close(report);
    throw Failure(exec_errno == ENOENT ? 127 : 126,
                  fmt::format("run: {}: {}", args.command[0], std::strerror(exec_errno)));
  }
  std::string problem;
  const std::string text = read_all(report);
  close(report);
  const bool killed = WIFSIGNALED(status);
  if (text.empty()) {
    problem = killed ? fmt::format("no heap report: {} was killed by signal {}", args.command[0],
                                   WTERMSIG(status))
                     : fmt::format("no heap report: {} exited without running its exit handlers "
                                   "(_exit), or without libmemkit.so (a static or setuid program?)",
                                   args.command[0]);
  } else if (!nlohmann::json::accept(text)) {
    problem = fmt::format("the heap report of {} is incomplete ({} bytes, not one JSON document)",
                          args.command[0], text.size());
  }
  if (problem.empty()) {
    if (const std::string err = write_all(file, text); !err.empty())
      problem = fmt::format("cannot write the heap report to {}: {}", args.json, err);
  } else {
    close(file);
  }
  if (!problem.empty()) std::fprintf(stderr, "memkit: run: %s\n", printable(problem).c_str());
  if (killed) die_of(WTERMSIG(status));
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
  throw Failure(code == 0 && !problem.empty() ? kExitInternal : code, "");
}

// Runs PROGRAM: in place (exec) unless --json needs memkit to stay and collect the report.
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
  if (!args.json.empty()) run_with_report(args, ld, keys);
  set_options(keys);
  setenv("LD_PRELOAD", ld.c_str(), 1);
  std::vector<std::string> copies(args.command);
  const std::vector<char*> argv = argv_of(copies);
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
      "runs the bundled workload, a Lisp interpreter running its demo program, with --stats. "
      "With --json, FILE is written once PROGRAM has exited: a report that PROGRAM did not "
      "write (killed, _exit, a static program) or that cannot be written to FILE is an error "
      "(exit status 1 when PROGRAM's was 0). While it runs, `memkit stats PID`, `memkit top "
      "PID` and `memkit metrics PID` show its heap (MEMKIT_OPTIONS=stats_shm=0 turns that off).\n"
      "Examples: memkit run\n"
      "          memkit run --stats -- python3 -c 'print(1)'\n"
      "          memkit run --json heap.json -- sort big.txt");
  sub.callback([args] { run(*args); });
}

const Registration kRun{"run", "run a program on memkit's malloc (LD_PRELOAD)", setup};

}  // namespace cmd_run_impl
}  // namespace memkit::cli
