// memkit — saving what every /proc view needs into a directory (src/inspect/snapshot.cpp):
// see snapshot.h.
#include "inspect/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <set>
#include <string_view>

#include "inspect/cgroup.h"

namespace memkit::inspect {
namespace {

constexpr const char* kSystemFiles[] = {"meminfo",   "vmstat",   "stat",    "buddyinfo",
                                        "pagetypeinfo", "slabinfo", "zoneinfo"};
constexpr const char* kPidFiles[] = {"status", "stat",   "statm",   "smaps_rollup", "maps",
                                     "smaps",  "cgroup", "cmdline", "comm"};
constexpr const char* kSelfFiles[] = {"status", "stat",   "statm", "cgroup",
                                      "mountinfo", "cmdline", "comm"};

// Reads a whole file; 0 or the errno.
int slurp(const std::string& path, std::string* out) {
  out->clear();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return err;
    }
    if (n == 0) break;
    out->append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return 0;
}

void make_dirs(const std::string& path) {
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    const std::string part = path.substr(0, pos);
    if (part.empty()) continue;
    if (::mkdir(part.c_str(), 0755) != 0 && errno != EEXIST)
      throw InspectError(part, std::string("cannot create: ") + std::strerror(errno));
  }
}

class Writer {
 public:
  Writer(const ProcFs& fs, const std::string& dir, SnapshotResult& result)
      : fs_(fs), dir_(dir), result_(result) {}

  // 0 when copied; ENOENT when the source does not exist; another errno when it could not be
  // read (counted as skipped).
  int copy(const std::string& source, const std::string& dest) {
    std::string text;
    const int err = slurp(source, &text);
    if (err == ENOENT || err == ESRCH) return ENOENT;
    if (err != 0) {
      ++result_.skipped;
      return err;
    }
    write(dest, text);
    return 0;
  }
  int copy_proc(const std::string& rel, const std::string& dest_rel) {
    return copy(fs_.proc_path(rel), dir_ + "/proc/" + dest_rel);
  }
  int copy_sys(const std::string& rel) {
    return copy(fs_.sys_path(rel), dir_ + "/sys/" + rel);
  }

 private:
  void write(const std::string& dest, const std::string& text) {
    make_dirs(dest.substr(0, dest.rfind('/')));
    const int fd = ::open(dest.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw InspectError(dest, std::string("cannot write: ") + std::strerror(errno));
    size_t done = 0;
    while (done < text.size()) {
      const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        const int err = errno;
        ::close(fd);
        throw InspectError(dest, std::string("cannot write: ") + std::strerror(err));
      }
      done += static_cast<size_t>(n);
    }
    if (::close(fd) != 0)
      throw InspectError(dest, std::string("cannot write: ") + std::strerror(errno));
    ++result_.files;
    result_.bytes += text.size();
  }

  const ProcFs& fs_;
  std::string dir_;
  SnapshotResult& result_;
};

void remove_tree(const std::string& dir) {
  // Only the files this snapshot wrote into DIR/proc/PID.
  for (const char* name : kPidFiles) ::unlink((dir + "/" + name).c_str());
  ::rmdir(dir.c_str());
}

}  // namespace

SnapshotResult take_snapshot(const ProcFs& fs, const std::string& dir_in) {
  std::string dir = dir_in;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  if (dir.empty()) throw InspectError(dir_in, "empty directory name");
  struct stat st;
  if (::stat((dir + "/proc").c_str(), &st) == 0)
    throw InspectError(dir + "/proc", "already exists: snapshot into a new or empty directory");
  make_dirs(dir + "/proc");
  make_dirs(dir + "/sys");

  SnapshotResult result;
  result.dir = dir;
  Writer w(fs, dir, result);

  for (const char* name : kSystemFiles) w.copy_proc(name, name);

  std::set<std::string> cgroup_files;
  for (const int pid : fs.pids()) {
    const std::string p = std::to_string(pid);
    // status first: if it is gone, so is the process.
    if (w.copy_proc(p + "/status", p + "/status") == ENOENT) {
      ++result.vanished;
      remove_tree(dir + "/proc/" + p);
      continue;
    }
    bool gone = false;
    for (const char* name : kPidFiles) {
      if (std::string_view(name) == "status") continue;
      if (w.copy_proc(p + "/" + name, p + "/" + name) == ENOENT && !fs.exists(p)) {
        gone = true;
        break;
      }
    }
    if (gone) {
      ++result.vanished;
      remove_tree(dir + "/proc/" + p);
      continue;
    }
    ++result.processes;
    for (const std::string& f : cgroup_memory_sys_files(fs, p)) cgroup_files.insert(f);
  }

  for (const char* name : kSelfFiles) w.copy_proc(std::string("self/") + name,
                                                  std::string("self/") + name);
  for (const std::string& f : cgroup_memory_sys_files(fs, "self")) cgroup_files.insert(f);
  for (const std::string& f : cgroup_files) w.copy_sys(f);
  return result;
}

}  // namespace memkit::inspect
