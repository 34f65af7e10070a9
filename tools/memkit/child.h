// memkit CLI — running PROGRAM as a child (tools/memkit/child.h), for `memkit run` and
// `memkit profile`: fork, the child's own set-up (environment), execvp, and in the parent what
// system() does with signals: the terminal's Ctrl-C and Ctrl-\ are PROGRAM's to act on (ignored
// here), a SIGTERM or SIGHUP sent to memkit alone (timeout(1), a closed terminal) is passed on.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

namespace memkit::cli {

class Child {
 public:
  /// Starts command (PATH searched), running `prepare` in the child just before execvp. `who`
  /// names the subcommand in error messages. Throws an internal error if fork or pipe fail.
  Child(const std::vector<std::string>& command, const std::function<void()>& prepare, const char* who);
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  /// After the child was waited for: throws Failure(127 if the program was not found, else 126)
  /// naming it if its exec failed, after running `cleanup` (e.g. closing report descriptors).
  void check_exec(const std::function<void()>& cleanup = {});

 private:
  pid_t pid_ = -1;
  int exec_errno_fd_ = -1;  // the child's errno if its exec fails; closed by a successful one
  std::string who_, program_;
};

}  // namespace memkit::cli
