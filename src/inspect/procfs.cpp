// memkit — reading /proc and /sys (src/inspect/procfs.cpp)
#include "inspect/procfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace memkit::inspect {
namespace {

bool is_dir(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool all_digits(const char* s) {
  if (*s == '\0') return false;
  for (; *s; ++s)
    if (*s < '0' || *s > '9') return false;
  return true;
}

std::string explain(int err, const std::string& path) {
  switch (err) {
    case EACCES:
    case EPERM:
      return std::string("permission denied") + (geteuid() != 0 ? " (needs root)" : "");
    case ENOENT:
    case ESRCH: {
      // /proc/PID/... of a process that is gone.
      const auto slash = path.find("/proc/");
      if (slash != std::string::npos) {
        const std::string rest = path.substr(slash + 6);
        const auto end = rest.find('/');
        if (end != std::string::npos && all_digits(rest.substr(0, end).c_str()))
          return "no such process (it exited?)";
      }
      return "no such file";
    }
    default:
      return std::strerror(err);
  }
}

}  // namespace

std::string read_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw InspectError(path, explain(errno, path));
  std::string out;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      throw InspectError(path, explain(err, path));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

InspectError errno_error(const std::string& path, int err) {
  return InspectError(path, explain(err, path));
}

ProcFs::ProcFs() : proc_("/proc"), sys_("/sys"), live_(true) {}

ProcFs::ProcFs(const std::string& root) : live_(false) {
  if (!is_dir(root)) throw InspectError(root, "not a directory (--proc-root)");
  if (is_dir(root + "/proc")) {
    proc_ = root + "/proc";
  } else {
    proc_ = root;
  }
  sys_ = root + "/sys";
}

std::string ProcFs::proc_path(const std::string& rel) const { return proc_ + "/" + rel; }
std::string ProcFs::sys_path(const std::string& rel) const { return sys_ + "/" + rel; }

std::string ProcFs::read(const std::string& rel) const { return read_file(proc_path(rel)); }
std::string ProcFs::read_sys(const std::string& rel) const { return read_file(sys_path(rel)); }

bool ProcFs::exists(const std::string& rel) const {
  return ::access(proc_path(rel).c_str(), F_OK) == 0;
}
bool ProcFs::exists_sys(const std::string& rel) const {
  return ::access(sys_path(rel).c_str(), F_OK) == 0;
}

std::vector<int> ProcFs::pids() const {
  std::vector<int> out;
  DIR* d = ::opendir(proc_.c_str());
  if (d == nullptr) throw InspectError(proc_, explain(errno, proc_));
  while (const dirent* e = ::readdir(d))
    if (all_digits(e->d_name)) out.push_back(std::atoi(e->d_name));
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace memkit::inspect
