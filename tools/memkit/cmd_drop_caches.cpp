// memkit CLI — `memkit drop-caches 1|2|3` (tools/memkit/cmd_drop_caches.cpp)
//
// Root only: sync(), then write the value to /proc/sys/vm/drop_caches (1 = page cache, 2 =
// reclaimable slab: dentries and inodes, 3 = both; Documentation/admin-guide/sysctl/vm.rst),
// and show `free` before and after. Only clean, unused objects are dropped: dirty pages are
// written by the sync first, mapped and in-use objects stay.
//
// Without root the live file is not touched: one line naming it and "needs root". With
// --proc-root DIR the value is written to DIR/proc/sys/vm/drop_caches instead (for tests).
#include <errno.h>
#include <fcntl.h>
#include <fmt/core.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>

#include "command.h"
#include "number_arg.h"
#include "free_view.h"
#include "inspect/meminfo.h"
#include "view.h"

namespace memkit::cli {
namespace cmd_drop_caches_impl {

struct DropArgs {
  ViewArgs view;
  int value = 0;
};

const char* what_drops(int value) {
  switch (value) {
    case 1:
      return "page cache";
    case 2:
      return "reclaimable slab objects (dentries and inodes)";
    default:
      return "page cache and reclaimable slab objects";
  }
}

void write_value(const std::string& path, int value) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  int err = fd < 0 ? errno : 0;
  if (fd >= 0) {
    const std::string text = fmt::format("{}\n", value);
    if (::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size()))
      err = errno != 0 ? errno : EIO;
    if (::close(fd) != 0 && err == 0) err = errno;
  }
  if (err == 0) return;
  if (err == EACCES || err == EPERM)
    throw inspect::InspectError(
        path, geteuid() != 0 ? "permission denied: needs root"
                             : "permission denied (read-only /proc/sys, as in a container?)");
  if (err == EROFS) throw inspect::InspectError(path, "read-only file system (a container?)");
  throw inspect::InspectError(path, std::string("cannot write: ") + std::strerror(err));
}

void run(const DropArgs& a) {
  if (a.value < 1 || a.value > 3)
    throw usage_error(fmt::format("the value must be 1, 2 or 3 (got {})", a.value));
  const inspect::ProcFs fs = open_procfs(a.view);
  const std::string path = fs.proc_path("sys/vm/drop_caches");
  if (fs.live() && geteuid() != 0)
    throw inspect::InspectError(path, "needs root (it drops caches for the whole machine)");

  const inspect::FreeSummary before =
      inspect::compute_free(inspect::read_meminfo(fs), inspect::FreeFormula::kAvailable);
  ::sync();
  write_value(path, a.value);
  const inspect::FreeSummary after =
      inspect::compute_free(inspect::read_meminfo(fs), inspect::FreeFormula::kAvailable);

  if (a.view.json) {
    fmt::print("{}\n", nlohmann::json{{"value", a.value},
                                      {"dropped", what_drops(a.value)},
                                      {"file", path},
                                      {"before", free_json(before, false)},
                                      {"after", free_json(after, false)}}
                           .dump(2));
    return;
  }
  const FreeLayout layout{a.view.bytes, false, false};
  fmt::print("before:\n{}", free_table(before, layout));
  fmt::print("synced, then wrote {} to {}: dropped the clean {}\n", a.value, path,
             what_drops(a.value));
  fmt::print("after:\n{}", free_table(after, layout));
  const int64_t gained = static_cast<int64_t>(after.free) - static_cast<int64_t>(before.free);
  fmt::print("free {} by {}\n", gained >= 0 ? "grew" : "shrank",
             format_size(static_cast<uint64_t>(gained >= 0 ? gained : -gained), a.view.bytes));
}

void setup(CLI::App& sub) {
  auto args = std::make_shared<DropArgs>();
  add_view_options(sub, args->view);
  sub.add_option("value", args->value, "1: page cache, 2: dentries and inodes, 3: both")
      ->required()
      ->transform(integer_arg<int>());
  sub.footer("Root only. Syncs first, then writes VALUE to /proc/sys/vm/drop_caches (with "
             "--proc-root DIR: DIR/proc/sys/vm/drop_caches). Dropping caches costs I/O later; "
             "it is for measurements, not for freeing memory.");
  sub.callback([args] { run(*args); });
}

const Registration kDropCaches{"drop-caches", "sync and drop the page cache and/or slab (root)",
                               setup};

}  // namespace
}  // namespace memkit::cli
