// memkit CLI — `memkit free` (tools/memkit/cmd_free.cpp)
//
// procps-ng free from /proc/meminfo (inspect/meminfo.h: compute_free), with the formula for
// "used" printed under the table, since tools and versions disagree on it (reference §4.2, §6):
// by default used = total − available (procps-ng ≥ 4.0.1); --classic (alias --procps3) gives
// procps 3.3's total − free − buffers − cache.
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <memory>

#include "command.h"
#include "free_view.h"
#include "inspect/meminfo.h"
#include "view.h"

namespace memkit::cli {
namespace cmd_free_impl {

struct FreeArgs {
  ViewArgs view;
  bool classic = false;
  bool procps4 = false;
  bool wide = false;
  bool total = false;
};

constexpr const char* kFooter =
    R"(Columns (from /proc/meminfo): total = MemTotal, free = MemFree, shared = Shmem,
buffers = Buffers, cache = Cached + SReclaimable, available = MemAvailable (MemFree when it is
absent, 0, or above MemTotal), used = total - available (or, with --classic,
total - free - buffers - cache). Note total != used + free + buff/cache: used is derived from
MemAvailable, shared is inside cache, and kernel memory is not shown.
--json prints every figure in bytes.)";

void run(const FreeArgs& a) {
  const inspect::ProcFs fs = open_procfs(a.view);
  const inspect::Meminfo info = inspect::read_meminfo(fs);
  const inspect::FreeSummary s = inspect::compute_free(
      info, a.classic ? inspect::FreeFormula::kClassic : inspect::FreeFormula::kAvailable);
  if (a.view.json) {
    fmt::print("{}\n", free_json(s, a.total).dump(2));
    return;
  }
  fmt::print("{}{}", free_table(s, FreeLayout{a.view.bytes, a.wide, a.total}), free_footer(s));
}

void setup(CLI::App& sub) {
  auto args = std::make_shared<FreeArgs>();
  add_view_options(sub, args->view);
  auto* classic = sub.add_flag("--classic,--procps3", args->classic,
                               "used = total - free - buffers - cache (procps-ng 3.3, htop)");
  sub.add_flag("--procps4", args->procps4, "used = total - available (the default)")
      ->excludes(classic);
  sub.add_flag("-w,--wide", args->wide, "buffers and cache in separate columns");
  sub.add_flag("-t,--total", args->total, "add a Total row (Mem + Swap)");
  sub.footer(kFooter);
  sub.callback([args] { run(*args); });
}

const Registration kFree{"free", "used and free memory, like procps free (says which formula)",
                         setup};

}  // namespace
}  // namespace memkit::cli
