// memkit CLI — `memkit buddyinfo` (tools/memkit/cmd_buddyinfo.cpp)
//
// The machine's buddy allocator as /proc/buddyinfo shows it, zone by zone: per order the free
// blocks, the free pages they hold (with a bar proportional to them), and the kernel's unusable
// free space index and external fragmentation index for a request of that order (the formulas
// of mm/vmstat.c, include/memkit/fragmentation.hpp, printed as debugfs prints them).
// --pagetype adds /proc/pagetypeinfo (root only): the free blocks split by migrate type, and the
// pageblocks of each type.
#include <fmt/core.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "command.h"
#include "inspect/buddyinfo.h"
#include "inspect/pagetypeinfo.h"
#include "memkit/fragmentation.hpp"
#include "view.h"

namespace memkit::cli {
namespace cmd_buddyinfo_impl {

using inspect::BuddyInfo;
using inspect::BuddyZone;
using inspect::PageTypeInfo;

struct Args {
  ViewArgs view;
  bool pagetype = false;
};

constexpr size_t kBarWidth = 32;

// A bar of `width` cells for part/whole, in eighths of a cell.
std::string bar(uint64_t part, uint64_t whole, size_t width) {
  static const char* const kEighths[] = {"", "▏", "▎", "▍", "▌", "▋", "▊", "▉"};
  if (whole == 0 || part == 0) return "";
  const auto eighths = static_cast<size_t>(
      (static_cast<double>(part) / static_cast<double>(whole)) * static_cast<double>(width * 8) +
      0.5);
  std::string out;
  for (size_t i = 0; i < eighths / 8; ++i) out += "█";
  out += eighths == 0 ? "▏" : kEighths[eighths % 8];  // a sliver for any non-zero share
  return out;
}

struct ZoneFigures {
  std::vector<int> unusable;  // per order, 0..1000
  std::vector<int> extfrag;   // per order, -1000 when a request of that order would succeed
};

ZoneFigures figures(const BuddyZone& z) {
  ZoneFigures f;
  const auto max_order = static_cast<unsigned>(z.nr_free.size() - 1);
  for (unsigned j = 0; j <= max_order; ++j) {
    f.unusable.push_back(unusable_free_index(z.nr_free.data(), max_order, j));
    f.extfrag.push_back(fragmentation_index(z.nr_free.data(), max_order, j));
  }
  return f;
}

// The pagetypeinfo rows of one zone.
std::vector<const inspect::PageTypeFree*> free_rows(const PageTypeInfo& p, const BuddyZone& z) {
  std::vector<const inspect::PageTypeFree*> rows;
  for (const inspect::PageTypeFree& r : p.free)
    if (r.node == z.node && r.zone == z.zone) rows.push_back(&r);
  return rows;
}

const inspect::PageTypeBlocks* block_row(const std::vector<inspect::PageTypeBlocks>& rows,
                                         const BuddyZone& z) {
  for (const inspect::PageTypeBlocks& r : rows)
    if (r.node == z.node && r.zone == z.zone) return &r;
  return nullptr;
}

uint64_t pages_of(const std::vector<uint64_t>& nr_free) {
  const auto max_order = static_cast<unsigned>(nr_free.size() - 1);  // parsers give >= 1 order
  return fill_contig_page_info(nr_free.data(), max_order, 0).free_pages;
}

void print_pagetypes(const PageTypeInfo& p, const BuddyZone& z, uint64_t page_size, bool bytes) {
  const std::vector<const inspect::PageTypeFree*> rows = free_rows(p, z);
  if (rows.empty()) return;
  fmt::print("  free blocks by migrate type (/proc/pagetypeinfo):\n");
  size_t type_w = 4;
  for (const auto* r : rows) type_w = std::max(type_w, r->type.size());
  std::string header = fmt::format("  {:<{}}", "type", type_w);
  for (unsigned k = 0; k < p.orders; ++k) header += fmt::format(" {:>6}", k);
  fmt::print("{}\n", header_style(fmt::format("{}  {:>10}  {}", header, "free", "pageblocks")));
  const inspect::PageTypeBlocks* blocks = block_row(p.blocks, z);
  for (const auto* r : rows) {
    std::string line = fmt::format("  {:<{}}", r->type, type_w);
    for (const uint64_t n : r->nr_free) line += fmt::format(" {:>6}", n);
    std::string nblocks = "-";
    if (blocks != nullptr) {
      for (size_t t = 0; t < p.block_types.size(); ++t)
        if (p.block_types[t] == r->type) nblocks = fmt::format("{}", blocks->blocks[t]);
    }
    fmt::print("{}  {:>10}  {:>10}{}\n", line,
               format_size(pages_of(r->nr_free) * page_size, bytes), nblocks,
               r->capped ? "  " + warn_style("(counts marked > by the kernel: at least)") : "");
  }
}

void print_text(const BuddyInfo& info, const std::optional<PageTypeInfo>& types,
                uint64_t page_size, bool bytes) {
  uint64_t total_pages = 0;
  for (const BuddyZone& z : info.zones) {
    const uint64_t free_pages = pages_of(z.nr_free);
    total_pages += free_pages;
    const ZoneFigures f = figures(z);
    int largest = -1;
    for (size_t k = 0; k < z.nr_free.size(); ++k)
      if (z.nr_free[k] > 0) largest = static_cast<int>(k);
    fmt::print("{}\n", header_style(fmt::format(
                           "Node {}, zone {}: {} free pages ({}), largest free block order {}",
                           z.node, z.zone, free_pages, format_size(free_pages * page_size, bytes),
                           largest < 0 ? std::string("none") : fmt::format("{}", largest))));
    const size_t size_w = bytes ? 14 : 10;
    fmt::print("{}\n", header_style(fmt::format("  {:>5} {:>9} {:>10} {:>{}} {:>8} {:>8}  {}",
                                                 "order", "blocks", "pages", "free", size_w,
                                                 "unusable", "extfrag",
                                                 "free pages held at the order")));
    char unusable[32];
    char extfrag[32];
    for (size_t k = 0; k < z.nr_free.size(); ++k) {
      const uint64_t pages = z.nr_free[k] << k;
      format_index(unusable, sizeof unusable, f.unusable[k], 1);
      format_index(extfrag, sizeof extfrag, f.extfrag[k], 2);
      fmt::print("  {:>5} {:>9} {:>10} {:>{}} {:>8} {:>8}  {}\n", k, z.nr_free[k], pages,
                 format_size(pages * page_size, bytes), size_w, unusable, extfrag,
                 bar(pages, free_pages, kBarWidth));
    }
    if (types) print_pagetypes(*types, z, page_size, bytes);
    fmt::print("\n");
  }
  fmt::print("total: {} free pages ({}) in the buddy allocator, {}-byte pages\n", total_pages,
             format_size(total_pages * page_size, bytes), page_size);
  if (types) {
    fmt::print("pageblocks: order {}, {} pages each\n", types->pageblock_order,
               types->pages_per_block);
  }
  fmt::print(
      "unusable: share of free memory in blocks too small for an order-j request (0.000 = "
      "none, 1.000 = all).\n"
      "extfrag: why an order-j request would fail, -1.000 = it would not; toward 0 lack of "
      "memory,\n"
      "toward 1 fragmentation (printed as the kernel's debugfs does: -250 shows \" 0.-250\").\n");
}

nlohmann::ordered_json to_json(const BuddyInfo& info, const std::optional<PageTypeInfo>& types,
                               uint64_t page_size) {
  nlohmann::ordered_json j;
  j["page_size"] = page_size;
  j["orders"] = info.orders;
  if (types) {
    j["pageblock_order"] = types->pageblock_order;
    j["pages_per_block"] = types->pages_per_block;
  }
  nlohmann::ordered_json zones = nlohmann::ordered_json::array();
  for (const BuddyZone& z : info.zones) {
    const ZoneFigures f = figures(z);
    nlohmann::ordered_json zj;
    zj["node"] = z.node;
    zj["zone"] = z.zone;
    zj["free_blocks"] = z.nr_free;
    zj["free_pages"] = pages_of(z.nr_free);
    zj["free_bytes"] = pages_of(z.nr_free) * page_size;
    zj["unusable_index"] = f.unusable;
    zj["extfrag_index"] = f.extfrag;
    if (types) {
      nlohmann::ordered_json by_type = nlohmann::ordered_json::object();
      for (const auto* r : free_rows(*types, z)) by_type[r->type] = r->nr_free;
      zj["free_blocks_by_type"] = std::move(by_type);
      nlohmann::ordered_json blocks = nlohmann::ordered_json::object();
      if (const inspect::PageTypeBlocks* b = block_row(types->blocks, z)) {
        for (size_t t = 0; t < types->block_types.size(); ++t)
          blocks[types->block_types[t]] = b->blocks[t];
      }
      zj["pageblocks_by_type"] = std::move(blocks);
    }
    zones.push_back(std::move(zj));
  }
  j["zones"] = std::move(zones);
  return j;
}

void run(const Args& a) {
  const inspect::ProcFs fs = open_procfs(a.view);
  // Everything is read and checked before the first line is printed.
  const BuddyInfo info = inspect::read_buddyinfo(fs);
  std::optional<PageTypeInfo> types;
  if (a.pagetype) types = inspect::read_pagetypeinfo(fs);
  if (types && types->orders != info.orders)
    throw inspect::InspectError(fs.proc_path("pagetypeinfo"),
                                fmt::format("{} orders where buddyinfo has {}", types->orders,
                                            info.orders));
  const auto page_size = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  if (a.view.json) {
    fmt::print("{}\n", to_json(info, types, page_size).dump(2));
  } else {
    print_text(info, types, page_size, a.view.bytes);
  }
}

void setup(CLI::App& sub) {
  auto args = std::make_shared<Args>();
  add_view_options(sub, args->view);
  sub.add_flag("--pagetype", args->pagetype,
               "add /proc/pagetypeinfo: free blocks by migrate type, pageblocks per type (root)");
  sub.footer(
      "Per order j: blocks = free blocks of 2^j pages; unusable = (F - S·2^j)·1000/F and\n"
      "extfrag = -1000 if S > 0, else 1000 - (1000 + F·1000/2^j)/B (F free pages, B free blocks,\n"
      "S blocks of 2^j pages carvable from free blocks of order >= j; mm/vmstat.c).\n"
      "--json: {\"page_size\", \"orders\", \"zones\": [{\"node\", \"zone\", \"free_blocks\": [per order],\n"
      "\"free_pages\", \"free_bytes\", \"unusable_index\": [...], \"extfrag_index\": [...]}]} with the\n"
      "indices as the kernel's integers (x1000); --pagetype adds \"pageblock_order\",\n"
      "\"pages_per_block\" and per zone \"free_blocks_by_type\", \"pageblocks_by_type\".");
  sub.callback([args] { run(*args); });
}

const Registration kBuddyinfo{
    "buddyinfo", "the machine's buddy allocator: free blocks per order and fragmentation", setup};

}  // namespace
}  // namespace memkit::cli
