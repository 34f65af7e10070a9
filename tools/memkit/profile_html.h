// memkit CLI — the profile's HTML page (tools/memkit/profile_html.h)
//
// Reads what `memkit profile` writes into DIR (heap.folded, peak.folded, timeline.csv,
// sites.csv, peak-buddyinfo.txt, peak-slabinfo.txt) and writes one self-contained page: the
// heap and RSS over time with the top sites' lines, a flame graph of live bytes at the peak and
// at exit, the table of sites, and the buddyinfo and slabinfo at the peak. The page fetches
// nothing when it is viewed (the drawing libraries are inside it, and its Content-Security-
// Policy forbids any fetch); every piece of data goes in as JSON inside a
// <script type="application/json"> with '<', '>' and '&' escaped, and the page's script puts
// it into the document as text, never as markup.
#pragma once

#include <string>

namespace memkit::cli {

/// Writes the page for the profile in `dir` to `out` (DIR/report.html when `out` is empty),
/// through a temporary file renamed into place, so a failure never leaves half a page.
/// Returns 0, or 1 with `*error` set to one line naming the file and what was wrong
/// ("DIR/sites.csv: line 4: 8 fields, the header has 9"). The line is raw: a caller that prints
/// it passes it through printable() (main does, for a Failure).
int write_profile_html(const std::string& dir, const std::string& out, std::string* error);

}  // namespace memkit::cli
