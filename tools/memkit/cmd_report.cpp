// memkit CLI — `memkit report DIR [--out FILE]` (tools/memkit/cmd_report.cpp)
//
// Writes the HTML page of a profile directory (what `memkit profile` writes: heap.folded,
// peak.folded, timeline.csv, sites.csv, peak-buddyinfo.txt, peak-slabinfo.txt) to
// DIR/report.html or FILE (profile_html.h). A missing or malformed file is one line naming it,
// exit status 1, and nothing on stdout.
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "command.h"
#include "profile_html.h"

namespace memkit::cli {
namespace cmd_report_impl {

struct ReportArgs {
  std::string dir;
  std::string out;
};

void run(const ReportArgs& a) {
  std::string error;
  if (write_profile_html(a.dir, a.out, &error) != 0) throw internal_error(error);
  const std::string page =
      !a.out.empty() ? a.out : a.dir + (a.dir.back() == '/' ? "" : "/") + "report.html";
  fmt::print("wrote {}\n", printable(page));
}

void setup(CLI::App& sub) {
  auto args = std::make_shared<ReportArgs>();
  sub.add_option("dir", args->dir, "a profile directory written by memkit profile")->required();
  sub.add_option("-o,--out", args->out, "write the page to FILE instead of DIR/report.html")
      ->option_text("FILE");
  sub.footer(
      R"(Reads DIR/{heap.folded,peak.folded,timeline.csv,sites.csv,peak-buddyinfo.txt,peak-slabinfo.txt}
and writes one self-contained HTML page (it fetches nothing when opened, so it works offline and
can be mailed or attached): the heap and RSS over time with the top sites' lines, a flame graph
of live bytes at the peak and at exit, the table of allocation sites, and the heap's buddyinfo
and slabinfo at the peak. Drawn with d3 and d3-flame-graph, which the page carries inside.
A missing or malformed file is one line naming it (and the line), exit status 1.)");
  sub.callback([args] { run(*args); });
}

const Registration kReport{"report", "write a profile directory's HTML page (report.html)", setup};

}  // namespace cmd_report_impl
}  // namespace memkit::cli
