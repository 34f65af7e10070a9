// memkit CLI — a process's address space as an SVG picture (tools/memkit/maps_svg.cpp): see
// maps_svg.h.
#include "maps_svg.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iterator>
#include <utility>

#include "svg_text.h"
#include "view.h"

namespace memkit::cli {
namespace {

constexpr double kMinWidth = 1000;
constexpr double kCharWidth = 7.2;  // of a 12 px sans-serif label, generously (DejaVu Sans: ~6.6)
constexpr double kMapMargin = 20;
constexpr double kAddrWidth = 150;  // address labels, left of the bands
constexpr double kBandX = kMapMargin + kAddrWidth;
constexpr double kBandWidth = 360;
constexpr double kLabelX = kBandX + kBandWidth + 12;
constexpr double kPage = 4096;
// A row is never lower than a label line (12 px text: 14 px from ascent to descent), so the
// labels, one per row and inside its height, cannot overlap.
constexpr double kMinRow = 16;
constexpr double kKernelGap = 26;  // the gap above user space: a fixed height and its own words

using svg::num;
using svg::put;

std::string escape(const std::string& s) {
  std::string out;
  for (const char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += static_cast<unsigned char>(c) < 0x20 ? '?' : c;
    }
  }
  return out;
}

double log2_pages(uint64_t bytes) {
  return std::log2(std::max(1.0, static_cast<double>(bytes) / kPage));
}

// Row height: 16 px for a page, +1.5 px per doubling (1 GiB: 43 px, 64 GiB: 52 px).
double band_height(uint64_t bytes) { return kMinRow + 1.5 * log2_pages(bytes); }
// Gap height: 2 px, +0.8 px per doubling (128 TiB: about 30 px).
double gap_height(uint64_t bytes) { return 2 + 0.8 * log2_pages(bytes); }

// The top of user space: 128 TiB with 4-level page tables, 64 PiB with 5-level ones (a VMA
// above 128 TiB other than [vsyscall] says so). [vsyscall] sits in the kernel's half.
uint64_t user_space_top(const std::vector<MapsSvgBand>& bands) {
  constexpr uint64_t k47 = uint64_t{1} << 47;
  for (const MapsSvgBand& b : bands)
    if (b.end > k47 && b.region.kind != inspect::RegionKind::kVsyscall) return uint64_t{1} << 56;
  return k47;
}

struct Colour {
  const char* cls;
  const char* fill;
  const char* rss;
};

// One hue per class; the three MMAP kinds are far apart (libraries blue, other files brown,
// anonymous memory a pale grey-blue), so a library never reads as a data file.
Colour colour_of(const inspect::Region& r) {
  using inspect::RegionKind;
  switch (r.kind) {
    case RegionKind::kText: return {"text", "#f4a6a6", "#c0392b"};
    case RegionKind::kData: return {"data", "#f8c99b", "#d35400"};
    case RegionKind::kBss: return {"bss", "#f7e59b", "#b7950b"};
    case RegionKind::kHeap: return {"heap", "#a9dfbf", "#1e8449"};
    case RegionKind::kStack: return {"stack", "#d2b4de", "#7d3c98"};
    case RegionKind::kVdso:
    case RegionKind::kVvar:
    case RegionKind::kVsyscall: return {"special", "#d5d8dc", "#5d6d7e"};
    case RegionKind::kMmap: break;
  }
  const std::string_view d = r.detail;
  if (d == "lib-text" || d == "lib-data") return {"lib", "#7fb3e6", "#1a5490"};
  if (d == "anon" || d == "anon-shared") return {"anon", "#e8eef3", "#7f97ab"};
  return {"file", "#d9b98c", "#8a5a1c"};
}

struct Row {
  MapsSvgBand band;        // start, end and rss summed over the folded VMAs
  size_t count = 1;        // VMAs folded into the row
  std::string perms_seen;  // "r--p r-xp rw-p" for a folded file
  std::string detail;      // one line per VMA, for the hover text
};

std::string vma_line(const MapsSvgBand& b) {
  return fmt::format("{:x}-{:x} {} {} {}", b.start, b.end, b.perms, format_size(b.end - b.start, false),
                     b.name.empty() ? "[anon]" : b.name);
}

bool is_file(const MapsSvgBand& b) {
  return b.region.kind == inspect::RegionKind::kMmap && !b.name.empty() && b.name[0] != '[';
}

// Folds adjacent VMAs of one file (a shared library's r--, r-x, r--, rw- parts, a data file
// mapped piecewise) into one row, then, while there are more than kMaxBands rows, adjacent rows
// of the same class and name.
std::vector<Row> fold(const std::vector<MapsSvgBand>& bands) {
  std::vector<Row> out;
  for (const MapsSvgBand& b : bands) {
    if (!out.empty()) {
      Row& last = out.back();
      const bool same_file = is_file(b) && is_file(last.band) && last.band.name == b.name &&
                             last.band.end == b.start;
      const bool same_kind = bands.size() > kMaxBands && last.band.end == b.start &&
                             last.band.region.kind == b.region.kind &&
                             std::string_view(last.band.region.detail) == b.region.detail &&
                             last.band.name == b.name;
      if (same_file || same_kind) {
        last.band.end = b.end;
        last.band.rss += b.rss;
        ++last.count;
        if (last.perms_seen.find(b.perms) == std::string::npos) last.perms_seen += " " + b.perms;
        // lib-text + lib-data: the row is the library's (its colour is the same either way).
        last.detail += "\n" + vma_line(b);
        continue;
      }
    }
    Row r;
    r.band = b;
    r.perms_seen = b.perms;
    r.detail = vma_line(b);
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace

std::string render_maps_svg(const MapsSvgInput& in) {
  const std::vector<Row> rows = fold(in.bands);
  const uint64_t user_top = user_space_top(in.bands);
  const double top = kMapMargin + 64;

  std::string body;
  double y = top;
  double width = kMinWidth;
  size_t folded = 0;
  // Highest address first.
  for (size_t i = rows.size(); i-- > 0;) {
    const Row& row = rows[i];
    const MapsSvgBand& b = row.band;
    if (row.count > 1) folded += row.count - 1;
    const double h = band_height(b.end - b.start);
    const Colour c = colour_of(b.region);
    std::string kind = inspect::region_name(b.region.kind);
    if (b.region.detail[0] != '\0') kind += fmt::format(" {}", b.region.detail);
    if (row.count > 1 && std::string_view(b.region.detail).substr(0, 4) == "lib-") kind = "MMAP lib";
    std::string label = fmt::format("{} {} {}  {} (rss {})", kind, row.perms_seen,
                                    b.name.empty() ? "[anon]" : b.name,
                                    format_size(b.end - b.start, false), format_size(b.rss, false));
    if (row.count > 1) label += fmt::format("  {} VMAs", row.count);
    put(&body, "<g><title>{}</title>\n", escape(row.detail));
    put(&body, "<text x=\"{}\" y=\"{}\" class=\"addr\">{:016x}</text>\n",
        num(kBandX - 6), num(y + 11), b.end);
    put(&body, "<rect class=\"{}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/>\n", c.cls,
        num(kBandX), num(y), num(kBandWidth), num(h));
    const double share =
        std::min(1.0, static_cast<double>(b.rss) / static_cast<double>(b.end - b.start));
    if (share > 0) {
      put(&body,
          "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\" stroke=\"none\"/>\n",
          num(kBandX + 1), num(y + h - 4), num((kBandWidth - 2) * share), 3, c.rss);
    }
    put(&body, "<text x=\"{}\" y=\"{}\">{}</text>\n</g>\n", num(kLabelX),
        num(y + std::min(h, 28.0) / 2 + 4), escape(label));
    width = std::max(width, kLabelX + kCharWidth * static_cast<double>(label.size()) + kMapMargin);
    y += h;
    if (i > 0) {
      const uint64_t below_end = rows[i - 1].band.end;
      const uint64_t gap = b.start - below_end;
      if (below_end <= user_top && b.start > user_top) {
        // Not a gap in the process's memory: the rest of the 64-bit space, kernel addresses.
        put(&body,
            "<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" class=\"limit\"/>\n"
            "<text x=\"{3}\" y=\"{4}\" class=\"gaplabel\">user space ends at {5}; "
            "kernel addresses above</text>\n",
            num(kBandX - 20), num(y + kKernelGap - 6), num(kBandX + kBandWidth + 20),
            num(kBandX + kBandWidth / 2), num(y + kKernelGap / 2 - 2),
            format_size(user_top, false));
        y += kKernelGap;
      } else if (gap > 0) {
        const double g = gap_height(gap);
        put(&body,
            "<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" class=\"gap\"/>"
            "<line x1=\"{3}\" y1=\"{1}\" x2=\"{3}\" y2=\"{2}\" class=\"gap\"/>\n",
            num(kBandX + 8), num(y), num(y + g), num(kBandX + kBandWidth - 8));
        if (g >= 14) {
          put(&body, "<text x=\"{}\" y=\"{}\" class=\"gaplabel\">gap {}</text>\n",
              num(kBandX + kBandWidth / 2), num(y + g / 2 + 4), format_size(gap, false));
        }
        y += g;
      }
    }
  }
  if (!rows.empty()) {
    put(&body, "<text x=\"{}\" y=\"{}\" class=\"addr\">{:016x}</text>\n", num(kBandX - 6),
        num(y + 12), rows.front().band.start);
  }

  const inspect::Region samples[] = {
      {inspect::RegionKind::kText, ""},  {inspect::RegionKind::kData, ""},
      {inspect::RegionKind::kBss, ""},   {inspect::RegionKind::kHeap, ""},
      {inspect::RegionKind::kStack, ""}, {inspect::RegionKind::kMmap, "lib-text"},
      {inspect::RegionKind::kMmap, "file"}, {inspect::RegionKind::kMmap, "anon"},
      {inspect::RegionKind::kVdso, ""}};
  const char* const names[] = {"TEXT", "DATA", "BSS", "HEAP", "STACK",
                               "MMAP lib (shared libraries)", "MMAP file (other files)",
                               "MMAP anon", "VDSO/VVAR/VSYSCALL"};
  const double legend_top = y + 30;
  std::string legend;
  double x = kMapMargin;
  double ly = legend_top;
  for (size_t i = 0; i < std::size(samples); ++i) {
    const double w = 28 + kCharWidth * static_cast<double>(std::string_view(names[i]).size());
    if (x + w > width - kMapMargin && x > kMapMargin) {  // wrap rather than run off the edge
      x = kMapMargin;
      ly += 22;
    }
    put(&legend, "<rect class=\"{}\" x=\"{}\" y=\"{}\" width=\"14\" height=\"14\"/>\n",
        colour_of(samples[i]).cls, num(x), num(ly));
    put(&legend, "<text x=\"{}\" y=\"{}\">{}</text>\n", num(x + 18), num(ly + 11), names[i]);
    x += w;
  }
  const double height = ly + 40;

  const std::string title = fmt::format("memkit maps: PID {} {}", in.pid, in.command);
  const std::string subtitle = fmt::format(
      "{} VMAs in {} rows ({} folded: the parts of one file mapped back to back), highest "
      "address first;",
      in.bands.size(), rows.size(), folded);
  const char* const subtitle2 =
      "row and gap heights grow with log2(size); the dark bar is the resident part; hover a row "
      "for its VMAs";
  width = std::max({width, kMapMargin * 2 + 9.6 * static_cast<double>(title.size()),
                    kMapMargin * 2 + kCharWidth * static_cast<double>(subtitle.size()),
                    kMapMargin * 2 + kCharWidth * static_cast<double>(std::strlen(subtitle2))});
  std::string out;
  put(&out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
  put(&out,
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" "
      "viewBox=\"0 0 {0} {1}\" font-family=\"sans-serif\" font-size=\"12\">\n",
      num(width), num(height));
  put(&out, "<style>\nrect {{ stroke: #fff; stroke-width: 0.5; }}\n");
  for (const inspect::Region& r : samples) {
    const Colour c = colour_of(r);
    put(&out, ".{} {{ fill: {}; }}\n", c.cls, c.fill);
  }
  put(&out,
      ".anon {{ stroke: #b8c4ce; }}\n"
      ".addr {{ font-family: monospace; text-anchor: end; fill: #555; }}\n"
      ".gap {{ stroke: #999; stroke-dasharray: 3 3; }}\n"
      ".limit {{ stroke: #c0392b; stroke-dasharray: 6 3; }}\n"
      ".gaplabel {{ text-anchor: middle; fill: #777; font-size: 11px; }}\n"
      "g:hover rect {{ stroke: #000; }}\n</style>\n");
  put(&out, "<rect width=\"100%\" height=\"100%\" fill=\"#fff\" stroke=\"none\"/>\n");
  put(&out, "<text x=\"{}\" y=\"{}\" font-size=\"16\">{}</text>\n", num(kMapMargin),
      num(kMapMargin + 14), escape(title));
  put(&out, "<text x=\"{}\" y=\"{}\" fill=\"#555\">{}</text>\n", num(kMapMargin),
      num(kMapMargin + 32), escape(subtitle));
  put(&out, "<text x=\"{}\" y=\"{}\" fill=\"#555\">{}</text>\n", num(kMapMargin),
      num(kMapMargin + 47), subtitle2);
  out += body;
  out += legend;
  put(&out, "</svg>\n");
  return out;
}

}  // namespace memkit::cli
