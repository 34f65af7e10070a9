// memkit CLI — the buddy range as an SVG picture (tools/memkit/svg.cpp): see svg.h.
#include "svg.h"

#include <fmt/core.h>

#include <algorithm>
#include <iterator>
#include <utility>

#include "svg_text.h"

namespace memkit::cli {
namespace {

constexpr double kStripWidth = 1200;  // px
constexpr double kStripMargin = 20;
constexpr double kOffsetWidth = 64;  // the page offset of each row, left of the strip
constexpr double kStripX = kStripMargin + kOffsetWidth;
constexpr double kRowHeight = 16;    // at least a 12 px label's line: offsets never overlap
constexpr double kRowGap = 4;
constexpr double kMinRectWidth = 2;  // narrower blocks are merged into runs
constexpr size_t kMinRowPages = 256;
constexpr size_t kMaxRows = 64;      // 65,536 pages: 64 rows of 1,024 pages, 1.2 px a page
constexpr int kMixed = -1;     // a merged run of different kinds or orders
constexpr int kMixShades = 5;  // merged runs: m0 (all allocated) .. m4 (all free)

using svg::num;
using svg::put;

// The class of a block: 2 * order, +1 when free.
int block_class(const MapBlock& b) { return static_cast<int>(2 * b.order + (b.free ? 1 : 0)); }
bool class_is_free(int cls) { return cls % 2 != 0; }

std::string class_name(int cls) {
  return fmt::format("{}{}", class_is_free(cls) ? 'f' : 'a', cls / 2);
}

// Lightness of order k's shade: light for small blocks, dark for large ones.
int lightness(unsigned k, unsigned max_order) {
  return max_order == 0 ? 60 : 82 - static_cast<int>(50 * k / max_order);
}

size_t row_pages_for(size_t pages) {
  if (pages <= kMinRowPages) return pages;
  size_t row = kMinRowPages;
  while (row * kMaxRows < pages) row *= 2;
  return row;
}

class Strip {
 public:
  Strip(std::string* out, size_t row_pages, double top)
      : out_(out),
        row_pages_(row_pages),
        px_(kStripWidth / static_cast<double>(row_pages)),
        top_(top) {}

  // Adds `pages` pages from `page` (within one row) of class `cls`.
  void add(size_t page, size_t pages, int cls) {
    const size_t row = page / row_pages_;
    const size_t col = page % row_pages_;
    if (run_pages_ > 0 && row != run_row_) flush();
    if (static_cast<double>(pages) * px_ >= kMinRectWidth) {
      flush();
      rect(row, col, pages, class_name(cls));
      return;
    }
    if (run_pages_ == 0) {
      run_row_ = row;
      run_col_ = col;
      run_cls_ = cls;
      run_free_pages_ = 0;
    } else if (run_cls_ != cls) {
      run_cls_ = kMixed;
    }
    run_pages_ += pages;
    if (class_is_free(cls)) run_free_pages_ += pages;
    if (static_cast<double>(run_pages_) * px_ >= kMinRectWidth) flush();
  }

  void flush() {
    if (run_pages_ == 0) return;
    if (run_cls_ == kMixed) {  // shaded by the share of free pages in the run
      const size_t shade = (size_t{kMixShades - 1} * run_free_pages_ + run_pages_ / 2) / run_pages_;
      rect(run_row_, run_col_, run_pages_, fmt::format("m{}", shade));
      used_mixed_ = true;
    } else {
      rect(run_row_, run_col_, run_pages_, class_name(run_cls_));
    }
    run_pages_ = 0;
  }

  bool used_mixed() const { return used_mixed_; }

 private:
  void rect(size_t row, size_t col, size_t pages, const std::string& cls) {
    const double y = top_ + static_cast<double>(row) * (kRowHeight + kRowGap);
    put(out_, "<rect class=\"{}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/>\n", cls,
        num(kStripX + static_cast<double>(col) * px_), num(y),
        num(static_cast<double>(pages) * px_), num(kRowHeight));
  }

  std::string* out_;
  size_t row_pages_;
  double px_;
  double top_;
  size_t run_row_ = 0;
  size_t run_col_ = 0;
  size_t run_pages_ = 0;
  size_t run_free_pages_ = 0;
  int run_cls_ = 0;
  bool used_mixed_ = false;
};

}  // namespace

std::string render_svg(const SvgInput& in) {
  const size_t row_pages = row_pages_for(in.pages);
  const size_t rows = (in.pages + row_pages - 1) / row_pages;
  const double strip_top = kStripMargin + 58;
  const double legend_top = strip_top + static_cast<double>(rows) * (kRowHeight + kRowGap) + 14;
  const double width = kStripX + kStripWidth + kStripMargin;
  const double height = legend_top + 110;

  std::string body;
  Strip strip(&body, row_pages, strip_top);
  for (const MapBlock& b : in.blocks) {
    const int cls = block_class(b);
    size_t page = b.page;
    size_t left = size_t{1} << b.order;
    while (left > 0) {  // a block wider than a row covers whole rows
      const size_t n = std::min(left, row_pages - page % row_pages);
      strip.add(page, n, cls);
      page += n;
      left -= n;
    }
  }
  strip.flush();

  std::string out;
  put(&out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
  put(&out,
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" "
      "viewBox=\"0 0 {0} {1}\" font-family=\"sans-serif\" font-size=\"12\">\n",
      num(width), num(height));
  put(&out, "<style>\nrect {{ stroke: #fff; stroke-width: 0.5; }}\n");
  for (int q = 0; q < kMixShades; ++q) {  // grey-blue (allocated) to grey-green (free)
    put(&out, ".m{} {{ fill: hsl({}, 22%, 62%); stroke: none; }}\n", q,
        215 - 85 * q / (kMixShades - 1));
  }
  for (unsigned k = 0; k <= in.max_order; ++k) {
    const int l = lightness(k, in.max_order);
    put(&out, ".f{0} {{ fill: hsl(130, 55%, {1}%); }}\n.a{0} {{ fill: hsl(215, 65%, {1}%); }}\n", k,
        l);
  }
  put(&out,
      ".offset {{ font-family: monospace; text-anchor: end; fill: #555; }}\n"
      ".tick {{ text-anchor: middle; fill: #777; font-size: 10px; }}\n</style>\n");
  put(&out, "<rect width=\"100%\" height=\"100%\" fill=\"#fff\" stroke=\"none\"/>\n");
  put(&out,
      "<text x=\"{}\" y=\"{}\" font-size=\"16\">memkit buddy: {} pages, {} free "
      "(max order {})</text>\n",
      num(kStripMargin), num(kStripMargin + 14), in.pages, in.free_pages, in.max_order);
  put(&out,
      "<text x=\"{}\" y=\"{}\" fill=\"#555\">{} pages a row, {} KiB pages; each block is one "
      "rectangle, width proportional to its pages; left: the page offset of each row</text>\n",
      num(kStripMargin), num(kStripMargin + 32), row_pages, kSimPageSize / 1024);
  // The page offset of each row, and a scale of offsets within a row above the strip.
  put(&out, "<g class=\"offset\">\n");
  for (size_t r = 0; r < rows; ++r) {
    put(&out, "<text x=\"{}\" y=\"{}\">{}</text>\n", num(kStripX - 6),
        num(strip_top + static_cast<double>(r) * (kRowHeight + kRowGap) + kRowHeight - 4),
        r * row_pages);
  }
  put(&out, "</g>\n");
  const size_t ticks = row_pages >= 8 ? 8 : row_pages;
  for (size_t t = 0; t <= ticks; ++t) {
    const double x = kStripX + kStripWidth * static_cast<double>(t) / static_cast<double>(ticks);
    put(&out,
        "<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"#999\"/>"
        "<text x=\"{0}\" y=\"{3}\" class=\"tick\">+{4}</text>\n",
        num(x), num(strip_top - 6), num(strip_top - 1), num(strip_top - 9),
        row_pages * t / ticks);
  }
  out += body;

  // Legend: one swatch per order for free and for allocated blocks.
  const double swatch = std::min(40.0, (kStripWidth - 90) / (in.max_order + 1));
  put(&out, "<text x=\"{}\" y=\"{}\">order</text>\n", num(kStripMargin), num(legend_top + 10));
  for (unsigned k = 0; k <= in.max_order; ++k) {
    put(&out, "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
        num(kStripMargin + 90 + swatch * (k + 0.5)), num(legend_top + 10), k);
  }
  const char* kinds[] = {"free", "allocated"};
  for (int i = 0; i < 2; ++i) {
    const double y = legend_top + 18 + i * 22;
    put(&out, "<text x=\"{}\" y=\"{}\">{}</text>\n", num(kStripMargin), num(y + 13), kinds[i]);
    for (unsigned k = 0; k <= in.max_order; ++k) {
      put(&out, "<rect class=\"{}{}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"18\"/>\n",
          i == 0 ? 'f' : 'a', k, num(kStripMargin + 90 + swatch * k), num(y), num(swatch));
    }
  }
  if (strip.used_mixed()) {
    const double y = legend_top + 18 + 2 * 22;
    put(&out, "<text x=\"{}\" y=\"{}\">merged</text>\n", num(kStripMargin), num(y + 13));
    for (int q = 0; q < kMixShades; ++q) {
      put(&out, "<rect class=\"m{}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"18\"/>\n", q,
          num(kStripMargin + 90 + swatch * q), num(y), num(swatch));
    }
    put(&out,
        "<text x=\"{}\" y=\"{}\">runs of blocks narrower than {} px: 0% to 100% free</text>\n",
        num(kStripMargin + 96 + swatch * kMixShades), num(y + 13), num(kMinRectWidth));
  }
  put(&out, "</svg>\n");
  return out;
}

}  // namespace memkit::cli
