// memkit CLI — a process's address space as an SVG picture (tools/memkit/maps_svg.cpp): see
// maps_svg.h.
#include "maps_svg.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <utility>

#include "svg_text.h"
#include "view.h"

namespace memkit::cli {
namespace {

constexpr double kMinWidth = 1000;
constexpr double kCharWidth = 6.8;  // of a 12 px sans-serif label, generously
constexpr double kMapMargin = 20;
constexpr double kAddrWidth = 150;  // address labels, left of the bands
constexpr double kBandX = kMapMargin + kAddrWidth;
constexpr double kBandWidth = 360;
constexpr double kLabelX = kBandX + kBandWidth + 12;
constexpr double kPage = 4096;

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

// Band height: 12 px for a page, +3 px per doubling (1 GiB: 66 px).
double band_height(uint64_t bytes) { return 12 + 3 * log2_pages(bytes); }
// Gap height: 4 px, +1.2 px per doubling (128 TiB: about 46 px).
double gap_height(uint64_t bytes) { return 4 + 1.2 * log2_pages(bytes); }

struct Colour {
  const char* cls;
  const char* fill;
  const char* rss;
};

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
  if (d == "lib-text" || d == "lib-data") return {"lib", "#a9cce3", "#1f618d"};
  if (d == "anon" || d == "anon-shared") return {"anon", "#d6eaf8", "#5dade2"};
  return {"file", "#aed6f1", "#2e86c1"};
}

// Merges adjacent bands of the same class and name while there are too many.
std::vector<std::pair<MapsSvgBand, size_t>> merge(const std::vector<MapsSvgBand>& bands) {
  std::vector<std::pair<MapsSvgBand, size_t>> out;
  for (const MapsSvgBand& b : bands) {
    if (bands.size() > kMaxBands && !out.empty()) {
      MapsSvgBand& last = out.back().first;
      if (last.end == b.start && last.region.kind == b.region.kind &&
          std::string_view(last.region.detail) == b.region.detail && last.name == b.name) {
        last.end = b.end;
        last.rss += b.rss;
        ++out.back().second;
        continue;
      }
    }
    out.emplace_back(b, 1);
  }
  return out;
}

}  // namespace

std::string render_maps_svg(const MapsSvgInput& in) {
  const std::vector<std::pair<MapsSvgBand, size_t>> bands = merge(in.bands);
  const double top = kMapMargin + 64;

  std::string body;
  double y = top;
  double width = kMinWidth;
  // Highest address first.
  for (size_t i = bands.size(); i-- > 0;) {
    const MapsSvgBand& b = bands[i].first;
    const size_t count = bands[i].second;
    const double h = band_height(b.end - b.start);
    const Colour c = colour_of(b.region);
    put(&body, "<text x=\"{}\" y=\"{}\" class=\"addr\">{:016x}</text>\n",
        num(kBandX - 6), num(y + 10), b.end);
    put(&body, "<rect class=\"{}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/>\n", c.cls,
        num(kBandX), num(y), num(kBandWidth), num(h));
    const double share =
        std::min(1.0, static_cast<double>(b.rss) / static_cast<double>(b.end - b.start));
    if (share > 0) {
      put(&body,
          "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\" stroke=\"none\"/>\n",
          num(kBandX + 1), num(y + h - 5), num((kBandWidth - 2) * share), 4, c.rss);
    }
    std::string kind = inspect::region_name(b.region.kind);
    if (b.region.detail[0] != '\0') kind += fmt::format(" {}", b.region.detail);
    std::string label = fmt::format("{} {} {}  {} (rss {})", kind, b.perms,
                                    b.name.empty() ? "[anon]" : b.name,
                                    format_size(b.end - b.start, false), format_size(b.rss, false));
    if (count > 1) label += fmt::format("  ×{}", count);
    put(&body, "<text x=\"{}\" y=\"{}\">{}</text>\n", num(kLabelX),
        num(y + std::min(h, 24.0) / 2 + 4), escape(label));
    width = std::max(width, kLabelX + kCharWidth * static_cast<double>(label.size()) + kMapMargin);
    y += h;
    if (i > 0) {
      const uint64_t gap = b.start - bands[i - 1].first.end;
      if (gap > 0) {
        const double g = gap_height(gap);
        put(&body,
            "<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" class=\"gap\"/>"
            "<line x1=\"{3}\" y1=\"{1}\" x2=\"{3}\" y2=\"{2}\" class=\"gap\"/>\n",
            num(kBandX + 8), num(y), num(y + g), num(kBandX + kBandWidth - 8));
        if (g >= 10) {
          put(&body, "<text x=\"{}\" y=\"{}\" class=\"gaplabel\">gap {}</text>\n",
              num(kBandX + kBandWidth / 2), num(y + g / 2 + 4), format_size(gap, false));
        }
        y += g;
      }
    }
  }
  if (!bands.empty()) {
    put(&body, "<text x=\"{}\" y=\"{}\" class=\"addr\">{:016x}</text>\n", num(kBandX - 6),
        num(y + 12), bands.front().first.start);
  }

  const double legend_top = y + 30;
  const double height = legend_top + 40;
  std::string out;
  put(&out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
  put(&out,
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" "
      "viewBox=\"0 0 {0} {1}\" font-family=\"sans-serif\" font-size=\"12\">\n",
      num(width), num(height));
  put(&out, "<style>\nrect {{ stroke: #fff; stroke-width: 0.5; }}\n");
  const inspect::Region samples[] = {
      {inspect::RegionKind::kText, ""},  {inspect::RegionKind::kData, ""},
      {inspect::RegionKind::kBss, ""},   {inspect::RegionKind::kHeap, ""},
      {inspect::RegionKind::kStack, ""}, {inspect::RegionKind::kMmap, "lib-text"},
      {inspect::RegionKind::kMmap, "file"}, {inspect::RegionKind::kMmap, "anon"},
      {inspect::RegionKind::kVdso, ""}};
  const char* const names[] = {"TEXT", "DATA", "BSS", "HEAP", "STACK",
                               "MMAP lib", "MMAP file", "MMAP anon", "VDSO/VVAR/VSYSCALL"};
  for (const inspect::Region& r : samples) {
    const Colour c = colour_of(r);
    put(&out, ".{} {{ fill: {}; }}\n", c.cls, c.fill);
  }
  put(&out,
      ".addr {{ font-family: monospace; text-anchor: end; fill: #555; }}\n"
      ".gap {{ stroke: #999; stroke-dasharray: 3 3; }}\n"
      ".gaplabel {{ text-anchor: middle; fill: #777; font-size: 11px; }}\n</style>\n");
  put(&out, "<rect width=\"100%\" height=\"100%\" fill=\"#fff\" stroke=\"none\"/>\n");
  put(&out, "<text x=\"{}\" y=\"{}\" font-size=\"16\">memkit maps: PID {} {}</text>\n",
      num(kMapMargin), num(kMapMargin + 14), in.pid, escape(in.command));
  put(&out,
      "<text x=\"{}\" y=\"{}\" fill=\"#555\">{} VMAs, highest address at the top; band height "
      "and gap height grow with log2(size); the dark bar in a band is its resident part</text>\n",
      num(kMapMargin), num(kMapMargin + 34), in.bands.size());
  out += body;
  double x = kMapMargin;
  for (size_t i = 0; i < std::size(samples); ++i) {
    put(&out, "<rect class=\"{}\" x=\"{}\" y=\"{}\" width=\"14\" height=\"14\"/>\n",
        colour_of(samples[i]).cls, num(x), num(legend_top));
    put(&out, "<text x=\"{}\" y=\"{}\">{}</text>\n", num(x + 18), num(legend_top + 11), names[i]);
    x += 28 + 7.0 * static_cast<double>(std::string_view(names[i]).size());
  }
  put(&out, "</svg>\n");
  return out;
}

}  // namespace memkit::cli
