// memkit CLI — reading a process's live statistics segment (tools/memkit/live_reader.cpp)
#include "live_reader.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/core.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "command.h"
#include "pid_arg.h"

namespace memkit::cli {

namespace live_reader_impl {

[[noreturn]] void fail(const std::string& what, const std::string& message) {
  throw Failure(kExitInternal, fmt::format("{}: {}", what, message));
}

// Whether /proc/PID/maps names libmemkit.so (false when unreadable).
bool maps_libmemkit(pid_t pid) {
  std::ifstream maps(fmt::format("/proc/{}/maps", pid));
  std::string line;
  while (std::getline(maps, line))
    if (line.find("/libmemkit.so") != std::string::npos) return true;
  return false;
}

std::string link_of(const std::string& path) {
  char buf[256];
  const ssize_t n = readlink(path.c_str(), buf, sizeof buf - 1);
  return n < 0 ? std::string() : std::string(buf, static_cast<size_t>(n));
}

}  // namespace live_reader_impl

pid_t parse_live_pid(const std::string& text) {
  const std::string pid = checked_pid(text);
  if (pid == "self") throw usage_error("PID must be a process ID (got \"self\")");
  return static_cast<pid_t>(std::stoul(pid));
}

LiveSource::LiveSource(pid_t pid, const std::string& what) : pid_(pid), what_(what) {
  const std::string proc = fmt::format("/proc/{}", pid);
  struct stat st;
  if (stat(proc.c_str(), &st) != 0) live_reader_impl::fail(what, fmt::format("no process {}", pid));
  const std::string fd_dir = proc + "/fd";
  DIR* dir = opendir(fd_dir.c_str());
  if (dir == nullptr) {
    if (errno == EACCES || errno == EPERM)
      live_reader_impl::fail(what, fmt::format("PID {} belongs to another user: only its user and root may read its "
                             "live statistics", pid));
    if (errno == ENOENT) live_reader_impl::fail(what, fmt::format("no process {}", pid));
    live_reader_impl::fail(what, fmt::format("{}: {}", fd_dir, std::strerror(errno)));
  }
  const std::string wanted = fmt::format("/memfd:{} (deleted)", live::kLiveName);
  int fd = -1;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    const std::string path = fd_dir + "/" + e->d_name;
    if (live_reader_impl::link_of(path) != wanted) continue;
    const int f = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (f < 0) continue;
    struct stat fs;
    if (fstat(f, &fs) != 0 || fs.st_size < static_cast<off_t>(sizeof(live::LiveSegment))) {
      close(f);
      continue;
    }
    void* p = mmap(nullptr, sizeof(live::LiveSegment), PROT_READ, MAP_SHARED, f, 0);
    close(f);
    if (p == MAP_FAILED) continue;
    const auto* s = static_cast<const live::LiveSegment*>(p);
    if (__atomic_load_n(&s->magic, __ATOMIC_ACQUIRE) == live::kLiveMagic &&
        s->version == live::kLiveVersion && s->size == sizeof(live::LiveSegment) && s->pid == pid) {
      map_ = s;
      size_ = sizeof(live::LiveSegment);
      fd = 0;
      break;
    }
    munmap(p, sizeof(live::LiveSegment));
  }
  closedir(dir);
  if (fd < 0) {
    if (stat(proc.c_str(), &st) != 0) live_reader_impl::fail(what, fmt::format("no process {}", pid));
    if (live_reader_impl::maps_libmemkit(pid))
      live_reader_impl::fail(what, fmt::format("PID {} runs on libmemkit.so without its live statistics (start it with "
                             "memkit run, or MEMKIT_OPTIONS=stats_shm=1)", pid));
    live_reader_impl::fail(what, fmt::format("PID {} is not running on libmemkit.so (start it with memkit run)", pid));
  }
}

LiveSource::~LiveSource() {
  if (map_ != nullptr) munmap(const_cast<live::LiveSegment*>(map_), size_);
}

bool LiveSource::alive() const { return kill(pid_, 0) == 0 || errno == EPERM; }

uint64_t LiveSource::rss_bytes() const {
  std::ifstream statm(fmt::format("/proc/{}/statm", pid_));
  uint64_t size = 0, resident = 0;
  if (!(statm >> size >> resident)) return 0;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

void LiveSource::snapshot(live::LiveSegment* out) const {
  // The writer refreshes every interval_ms, quickly; a first refresh may still be due (the
  // process has just started) or the process may be stopped in the middle of one.
  const uint64_t interval = map_->interval_ms;
  const int tries = static_cast<int>(std::min<uint64_t>(2 * interval + 1000, 10000));  // ms
  for (int i = 0; i < tries; ++i) {
    const uint64_t begin = live::seq_begin_read(map_);
    std::memcpy(out, map_, sizeof *out);
    if (live::seq_end_read(map_, begin) && out->updates != 0) return;
    if (!alive()) live_reader_impl::fail(what_, fmt::format("process {} has exited", pid_));
    const timespec ms{0, 1000000};
    nanosleep(&ms, nullptr);
  }
  live_reader_impl::fail(what_, fmt::format("PID {} has not published its live statistics in {} ms (is it stopped?)",
                          pid_, tries));
}

}  // namespace memkit::cli
