// memkit CLI — `memkit sizeclasses` (tools/memkit/cmd_sizeclasses.cpp)
//
// Prints kmalloc's size-class table (src/kmalloc/size_classes.h) with each class's slab
// geometry as its cache has it over this machine's page heap (SlabCache::geometry, so nothing
// is allocated): alignment, slab order, objects per slab, the bytes a slab leaves over, and
// the worst rounding waste (a request of the previous class + 1 bytes) in per cent of the
// request. --json prints the same as one object.
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "arena/page_heap.h"
#include "command.h"
#include "kmalloc/kmalloc.h"
#include "kmalloc/size_classes.h"

namespace cmd_sizeclasses_impl {

namespace sc = memkit::size_class;

struct Row {
  unsigned cls;
  size_t size;
  size_t align;
  unsigned order;
  unsigned objects;
  size_t leftover;
  size_t worst_request;
  double worst_waste_pct;
};

struct Table {
  size_t page_size;
  unsigned max_order;
  std::vector<Row> rows;
};

Table build_table() {
  const memkit::PageHeapConfig config = memkit::PageHeapConfig::from_options();
  Table t;
  t.page_size = size_t{1} << config.arena.page_shift;
  t.max_order = config.arena.max_order;
  for (unsigned c = 0; c < sc::kNumClasses; ++c) {
    memkit::SlabGeometry g{};
    if (memkit::kmalloc_class_geometry(c, t.page_size, t.max_order, &g) != 0)
      throw memkit::cli::internal_error(
          fmt::format("no slab geometry for class {} ({} B)", c, sc::class_size(c)));
    const size_t request = sc::worst_request(c);
    t.rows.push_back(Row{c, sc::class_size(c), g.align, g.order, g.objects, g.leftover, request,
                         100.0 * static_cast<double>(sc::class_size(c) - request) /
                             static_cast<double>(request)});
  }
  return t;
}

void print_text(const Table& t) {
  fmt::print("kmalloc size classes ({} classes, page size {}, slab orders 0..{})\n",
             t.rows.size(), t.page_size, t.max_order);
  fmt::print("{:>5}  {:>6}  {:>5}  {:>5}  {:>5}  {:>7}  {:>8}  {:>6}\n", "class", "size", "align",
             "order", "pages", "objects", "leftover", "waste%");
  for (const Row& r : t.rows)
    fmt::print("{:>5}  {:>6}  {:>5}  {:>5}  {:>5}  {:>7}  {:>8}  {:>6.2f}\n", r.cls, r.size,
               r.align, r.order, size_t{1} << r.order, r.objects, r.leftover, r.worst_waste_pct);
  fmt::print(
      "\nwaste%: the worst rounding waste, a request of the previous class + 1 bytes (at most "
      "25 % above 64 B).\n"
      "leftover: bytes of each slab after its objects (used for colouring).\n"
      "Above {} B: whole pages from the buddy, the unused tail of the block given back "
      "(alloc_pages_exact);\nabove {} pages (order {}): a direct mapping.\n",
      sc::kMaxSize, size_t{1} << t.max_order, t.max_order);
}

void print_json(const Table& t) {
  nlohmann::json classes = nlohmann::json::array();
  for (const Row& r : t.rows)
    classes.push_back({{"class", r.cls},
                       {"size", r.size},
                       {"align", r.align},
                       {"order", r.order},
                       {"pages_per_slab", size_t{1} << r.order},
                       {"objects_per_slab", r.objects},
                       {"leftover", r.leftover},
                       {"worst_request", r.worst_request},
                       {"worst_waste_pct", r.worst_waste_pct}});
  const nlohmann::json out = {{"page_size", t.page_size},
                              {"max_order", t.max_order},
                              {"max_cache_size", sc::kMaxSize},
                              {"max_exact_pages", size_t{1} << t.max_order},
                              {"classes", classes}};
  fmt::print("{}\n", out.dump(2));
}

void setup_sizeclasses(CLI::App& sub) {
  auto json = std::make_shared<bool>(false);
  sub.add_flag("--json", *json, "print the table as JSON");
  sub.callback([json] {
    const Table t = build_table();
    if (*json)
      print_json(t);
    else
      print_text(t);
  });
}

const memkit::cli::Registration kSizeClasses{
    "sizeclasses", "print kmalloc's size classes: slab order, objects per slab, worst waste",
    setup_sizeclasses};

}  // namespace
