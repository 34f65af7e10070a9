// memkit CLI — `memkit run` (tools/memkit/cmd_run.cpp): a program on memkit's malloc.
//
// Runs PROGRAM with libmemkit.so prepended to LD_PRELOAD (found as MEMKIT_PRELOAD, else next to
// this binary: BIN/../<install libdir>/memkit (an install), BIN/../lib (the build tree), BIN/).
// --stats adds stats_fd=N and --json json_fd=N to MEMKIT_OPTIONS, with stats_pid = PROGRAM's
// PID: PROGRAM's memkit writes its heap report there at exit; its children, which inherit the
// options, do not. It always adds stats_shm=1 (before the user's MEMKIT_OPTIONS, which may turn
// it off): the live view, `memkit stats/top/metrics PID`. Without --stats or --json, PROGRAM is exec'd in place, so the exit status is
// its own. With either, memkit stays as the parent (like `memkit check`): each report goes to a
// memory file (memfd), and once PROGRAM has exited memkit copies the text one to stderr and
// checks that the JSON one is one whole JSON document before writing it to FILE, so that a
// report that could not be written (a full disk, /dev/full) or was never written (PROGRAM
// killed, exiting through _exit, static, or closing the descriptor) is an error, not an exit
// status 0 with a truncated or empty FILE (or silence). The first word that is not one of run's
// options starts PROGRAM (add_program_argument: "--" is optional). With no PROGRAM it runs the bundled workload, memkit-lisp (a Lisp
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

#include "child.h"
#include "command.h"
#include "guard_symbolize.h"
#include "install_paths.h"

namespace memkit::cli {
namespace cmd_run_impl {

struct Args {
  bool stats = false;
  bool bytes = false;  // -b: the text report's sizes in bytes (stats_bytes=1)
  std::string json;
  long guard = 0;  // --guard N: guard_sample=N, the reports symbolised (guard_symbolize.h)
  std::string trace;  // --trace FILE: libmemkit-trace.so records PROGRAM's calls into FILE
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

// Where libmemkit-trace.so writes, and the one process that records: this one (PROGRAM).
void set_trace(const Args& args) {
  if (args.trace.empty()) return;
  std::string path = args.trace;
  if (path[0] != '/') {
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd) != nullptr) path = std::string(cwd) + "/" + path;
  }
  setenv("MEMKIT_TRACE_FILE", path.c_str(), 1);
  setenv("MEMKIT_TRACE_PID", std::to_string(getpid()).c_str(), 1);
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

// A memory file (memfd) for a report, on a descriptor >= 100 inherited across exec.
int report_file(const char* name) {
  const int mem = memfd_create(name, 0);
  if (mem < 0) throw internal_error(fmt::format("run: memfd_create: {}", std::strerror(errno)));
  const int fd = high_fd(mem, "the report file");
  close(mem);
  return fd;
}

// PROGRAM as a child, its reports collected: the text one (--stats) copied to stderr, the JSON
// one (--json) checked and written to FILE. The exit status is PROGRAM's (its signal
// re-raised), or 1 when it was 0 and a report is missing or unwritten.
[[noreturn]] void run_with_report(const Args& args, const std::string& ld, std::string keys) {
  int file = -1;
  int json = -1;
  int stats = -1;
  if (!args.json.empty()) {
    file = open(args.json.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (file < 0) throw Failure(1, fmt::format("run: {}: {}", args.json, std::strerror(errno)));
    json = report_file("memkit-heap-report");
    keys += fmt::format("json_fd={}:", json);
  }
  if (args.stats) {
    // A memory file rather than stderr itself, so that memkit knows whether the report came;
    // copied to stderr once PROGRAM has exited (the report is the last thing it writes).
    stats = report_file("memkit-heap-stats");
    keys += fmt::format("stats_fd={}:", stats);
    if (args.bytes) keys += "stats_bytes=1:";
  }
  int guard = -1;
  if (args.guard > 0) {
    // The guard mode's reports (frames as module+offset) come here, and are symbolised once
    // PROGRAM has exited.
    guard = report_file("memkit-guard-reports");
    keys += fmt::format("guard_sample={}:guard_report_fd={}:", args.guard, guard);
  }
  Child child(
      args.command,
      [&] {
        set_options(keys);
        set_trace(args);
        setenv("LD_PRELOAD", ld.c_str(), 1);
      },
      "run");
  const pid_t pid = child.pid();
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  child.check_exec([&] {
    for (const int fd : {file, json, stats, guard})
      if (fd >= 0) close(fd);
  });
  const bool killed = WIFSIGNALED(status);
  const std::string missing =
      killed ? fmt::format("no heap report: {} was killed by signal {}", args.command[0],
                           WTERMSIG(status))
             : fmt::format("no heap report: {} exited without running its exit handlers (_exit), "
                           "closed the report's descriptor, or ran without libmemkit.so (a static "
                           "or setuid program?)",
                           args.command[0]);
  if (guard >= 0) {
    const std::string text = read_all(guard);
    close(guard);
    if (!text.empty()) {
      std::fflush(stderr);
      const int err = dup(2);
      if (err >= 0) (void)write_all(err, symbolize_guard_report(text));
    }
  }
  std::vector<std::string> problems;
  if (stats >= 0) {
    const std::string text = read_all(stats);
    close(stats);
    if (text.empty()) {
      problems.push_back(missing);
    } else {
      std::fflush(stderr);
      const int err = dup(2);
      if (err >= 0) {
        if (const std::string why = write_all(err, text); !why.empty())
          problems.push_back(fmt::format("cannot write the heap report to stderr: {}", why));
      }
    }
  }
  if (json >= 0) {
    std::string problem;
    const std::string text = read_all(json);
    close(json);
    if (text.empty()) {
      problem = missing;
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
    if (!problem.empty() && (problems.empty() || problems.back() != problem))
      problems.push_back(problem);
  }
  for (const std::string& problem : problems)
    std::fprintf(stderr, "memkit: run: %s\n", printable(problem).c_str());
  if (killed) die_of(WTERMSIG(status));
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
  throw Failure(code == 0 && !problems.empty() ? kExitInternal : code, "");
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
  // -b shapes the text report: without one it would do nothing.
  if (args.bytes && !args.stats) throw usage_error("run: -b/--bytes needs --stats (the JSON report is in bytes)");
  std::string preload = find_preload();
  if (!args.trace.empty()) {
    // The recorder in front of the allocator: it forwards every call to libmemkit.so.
    const int fd = open(args.trace.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw Failure(1, fmt::format("run: {}: {}", args.trace, std::strerror(errno)));
    close(fd);
    preload = find_trace_preload() + ":" + preload;
  }
  const char* old = std::getenv("LD_PRELOAD");
  const std::string ld = old != nullptr && *old != '\0' ? preload + ":" + old : preload;
  if (args.stats || !args.json.empty() || args.guard > 0) run_with_report(args, ld, "");
  set_options("");  // stats_shm=1 and stats_pid, for the live view
  set_trace(args);
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
  sub.add_flag("-b,--bytes", args->bytes,
               "with --stats: sizes in the report in bytes instead of KiB, MiB, GiB");
  sub.add_option("--json", args->json, "write the heap report as JSON to FILE when the program exits")
      ->type_name("FILE");
  sub.add_option("--guard", args->guard,
                 "guard mode: about one allocation in N on guarded pages, so that a heap overflow, "
                 "underflow or use after free of it stops the program with a report (symbolised "
                 "here); N in the thousands costs next to nothing, 1 guards every allocation "
                 "while slots are free (MEMKIT_OPTIONS guard_*: see `memkit options`)")
      ->type_name("N")
      ->check(CLI::Range(1L, 4294967295L));
  sub.add_option("--trace", args->trace,
                 "record every malloc, free, realloc, calloc, aligned allocation and operator "
                 "new/delete of the program (its threads too, not its children) into FILE, for "
                 "memkit trace stats, memkit replay and memkit buddy simulate --trace")
      ->type_name("FILE");
  add_program_argument(sub, args->command,
                       "PROGRAM [ARGS...] (\"--\" before it is optional; the options after "
                       "PROGRAM are PROGRAM's); none: the bundled workload (memkit-lisp)");
  sub.footer(
      "Runs PROGRAM with libmemkit.so in LD_PRELOAD (MEMKIT_PRELOAD overrides where it is "
      "found) and exits with its status (128 + N if signal N killed it). Without PROGRAM it "
      "runs the bundled workload, a Lisp interpreter running its demo program, with --stats. "
      "With --stats or --json, memkit waits for PROGRAM and then prints the report to stderr "
      "or writes FILE: a report that PROGRAM did not write (killed, _exit, a static program, "
      "the report's descriptor closed) or that cannot be written to FILE is an error (exit "
      "status 1 when PROGRAM's was 0). While it runs, `memkit stats PID`, `memkit top PID` and "
      "`memkit metrics PID` show its heap (MEMKIT_OPTIONS=stats_shm=0 turns that off).\n"
      "Examples: memkit run\n"
      "          memkit run --stats python3 -c 'print(1)'\n"
      "          memkit run --json heap.json sort big.txt\n"
      "          memkit run --trace py.trace python3 -c 'print(1)'\n"
      "          memkit run --guard 1000 ./server");
  sub.callback([args] { run(*args); });
}

const Registration kRun{"run", "run a program on memkit's malloc (LD_PRELOAD)", setup};

}  // namespace cmd_run_impl
}  // namespace memkit::cli
