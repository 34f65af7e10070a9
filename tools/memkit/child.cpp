// memkit CLI — running PROGRAM as a child (tools/memkit/child.cpp)
#include "child.h"

#include <errno.h>
#include <fcntl.h>
#include <fmt/core.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "command.h"

namespace memkit::cli {

namespace child_impl {

pid_t g_child = 0;
extern "C" void forward_to_child(int sig) { kill(g_child, sig); }

}  // namespace child_impl

Child::Child(const std::vector<std::string>& command, const std::function<void()>& prepare, const char* who)
    : who_(who), program_(command.at(0)) {
  int exec_pipe[2];
  if (pipe2(exec_pipe, O_CLOEXEC) != 0)
    throw internal_error(fmt::format("{}: pipe: {}", who_, std::strerror(errno)));
  std::fflush(stdout);
  std::fflush(stderr);
  pid_ = fork();
  if (pid_ < 0) throw internal_error(fmt::format("{}: fork: {}", who_, std::strerror(errno)));
  if (pid_ == 0) {
    close(exec_pipe[0]);
    prepare();
    std::vector<std::string> copies(command);
    std::vector<char*> argv;
    for (std::string& a : copies) argv.push_back(a.data());
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    const int err = errno;
    if (write(exec_pipe[1], &err, sizeof err) < 0) _exit(127);
    _exit(127);
  }
  close(exec_pipe[1]);
  exec_errno_fd_ = exec_pipe[0];
  child_impl::g_child = pid_;
  signal(SIGINT, SIG_IGN);
  signal(SIGQUIT, SIG_IGN);
  struct sigaction forward {};
  forward.sa_handler = child_impl::forward_to_child;
  forward.sa_flags = SA_RESTART;
  sigemptyset(&forward.sa_mask);
  sigaction(SIGTERM, &forward, nullptr);
  sigaction(SIGHUP, &forward, nullptr);
}

Child::~Child() {
  if (exec_errno_fd_ >= 0) close(exec_errno_fd_);
}

void Child::check_exec(const std::function<void()>& cleanup) {
  int exec_errno = 0;
  const bool failed = read(exec_errno_fd_, &exec_errno, sizeof exec_errno) == sizeof exec_errno;
  close(exec_errno_fd_);
  exec_errno_fd_ = -1;
  if (!failed) return;
  if (cleanup) cleanup();
  throw Failure(exec_errno == ENOENT ? 127 : 126,
                fmt::format("{}: {}: {}", who_, program_, std::strerror(exec_errno)));
}

}  // namespace memkit::cli
