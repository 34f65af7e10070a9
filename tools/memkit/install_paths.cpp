// memkit CLI — where memkit's own files are (tools/memkit/install_paths.cpp): see the header.
#include "install_paths.h"

#include <dirent.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fmt/core.h>
#include <map>

#include "command.h"

#ifndef MEMKIT_INSTALL_LIBDIR
#define MEMKIT_INSTALL_LIBDIR "lib"
#endif
#ifndef MEMKIT_INSTALL_LIBEXECDIR
#define MEMKIT_INSTALL_LIBEXECDIR "libexec"
#endif

namespace memkit::cli {
namespace install_paths_impl {

std::string real_path(const std::string& path) {
  char real[PATH_MAX];
  return realpath(path.c_str(), real) != nullptr ? std::string(real) : path;
}

std::string libexec_dir() { return self_dir() + "/../" MEMKIT_INSTALL_LIBEXECDIR "/memkit"; }

}  // namespace install_paths_impl

using install_paths_impl::real_path;

std::string self_dir() {
  char buf[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  std::string path(buf, static_cast<size_t>(n));
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

namespace install_paths_impl {

std::string find_library(const char* env_name, const std::string& file) {
  if (const char* env = std::getenv(env_name); env != nullptr && *env != '\0') {
    if (access(env, R_OK) != 0)
      throw usage_error(fmt::format("{}={}: {}", env_name, env, std::strerror(errno)));
    return env;
  }
  const std::string dir = self_dir();
  for (const std::string& candidate :
       {dir + "/../" MEMKIT_INSTALL_LIBDIR "/memkit/" + file, dir + "/../lib/" + file,
        dir + "/" + file}) {
    if (access(candidate.c_str(), R_OK) == 0) return real_path(candidate);
  }
  throw internal_error(file + " not found next to " + dir + " (looked in ../" +
                       MEMKIT_INSTALL_LIBDIR + "/memkit, ../lib and the same directory); set " +
                       env_name + " to its path");
}

}  // namespace install_paths_impl

std::string find_preload() { return install_paths_impl::find_library("MEMKIT_PRELOAD", "libmemkit.so"); }

std::string find_checked_preload() {
  return install_paths_impl::find_library("MEMKIT_CHECKED_PRELOAD", "libmemkit-checked.so");
}

std::string find_trace_preload() {
  return install_paths_impl::find_library("MEMKIT_TRACE_PRELOAD", "libmemkit-trace.so");
}

std::string find_bundled(const std::string& name) {
  for (const std::string& candidate :
       {self_dir() + "/" + name, install_paths_impl::libexec_dir() + "/" + name}) {
    if (access(candidate.c_str(), X_OK) == 0) return real_path(candidate);
  }
  return {};
}

std::vector<std::pair<std::string, std::string>> list_bundled(const std::string& prefix) {
  std::map<std::string, std::string> found;
  for (const std::string& dir : {self_dir(), install_paths_impl::libexec_dir()}) {
    DIR* d = opendir(dir.c_str());
    if (d == nullptr) continue;
    while (dirent* e = readdir(d)) {
      const std::string name = e->d_name;
      if (name.compare(0, prefix.size(), prefix) != 0) continue;
      const std::string path = dir + "/" + name;
      if (access(path.c_str(), X_OK) == 0 && !found.count(name)) found[name] = real_path(path);
    }
    closedir(d);
  }
  return {found.begin(), found.end()};
}

}  // namespace memkit::cli
