// memkit CLI — the files `memkit report` copies into its page (tools/memkit/report_assets.h)
//
// Embedded at build time by cmake/embed_assets.cmake into <build>/generated/report_assets.cpp:
// the vendored drawing libraries (third_party/, pinned, with their licences) and the page's own
// script and style (tools/memkit/report/). So the CLI needs no npm, no network and no file
// beside it to write a page that opens offline.
#pragma once

#include <cstddef>
#include <string_view>

namespace memkit::cli::report_assets {

// The versions of third_party/ (see third_party/README.md), named in the page's footer.
inline constexpr const char* kD3Version = "7.9.2";
inline constexpr const char* kFlameGraphVersion = "5.0.0";

extern const unsigned char kD3[];          // third_party/d3/d3.min.js
extern const std::size_t kD3Size;
extern const unsigned char kFlameGraph[];  // third_party/d3-flame-graph/d3-flamegraph.umd.min.js
extern const std::size_t kFlameGraphSize;
extern const unsigned char kErrorsJs[];    // tools/memkit/report/errors.js
extern const std::size_t kErrorsJsSize;
extern const unsigned char kReportJs[];    // tools/memkit/report/report.js
extern const std::size_t kReportJsSize;
extern const unsigned char kReportCss[];   // tools/memkit/report/report.css
extern const std::size_t kReportCssSize;

inline std::string_view view(const unsigned char* bytes, std::size_t size) {
  return {reinterpret_cast<const char*>(bytes), size};
}

}  // namespace memkit::cli::report_assets
