// memkit CLI — a live segment as text, JSON and a top frame (tools/memkit/live_view.cpp)
#include "live_view.h"

#include <fmt/core.h>
#include <time.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

#include "heap_profile.h"

namespace memkit::cli {

namespace live_view_impl {

double mib(uint64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

uint64_t class_bytes(const live::LiveSegment& s, const live::LiveClass& c) {
  return c.num_slabs * c.pages_per_slab * s.page_size;
}

unsigned nclasses(const live::LiveSegment& s) { return std::min(s.nclasses, live::kLiveMaxClasses); }
unsigned narenas(const live::LiveSegment& s) { return std::min(s.narenas, live::kLiveMaxArenas); }
unsigned nsites(const live::LiveSegment& s) { return std::min(s.nsites, live::kLiveMaxSites); }

std::string program(const live::LiveSegment& s) {
  return std::string(s.program, strnlen(s.program, sizeof s.program));
}

double age_seconds(const live::LiveSegment& s) {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  const int64_t now = static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
  return std::max<double>(0.0, static_cast<double>(now - static_cast<int64_t>(s.update_ns)) / 1e9);
}

std::string summary(const live::LiveSegment& s, uint64_t rss) {
  const uint64_t live_blocks = s.allocations >= s.frees ? s.allocations - s.frees : 0;
  std::string out = fmt::format(
      "memkit: live heap of PID {} ({}), as of {:.1f} s ago (refreshed every {} ms)\n", s.pid,
      program(s), age_seconds(s), s.interval_ms);
  out += fmt::format("  calls: {} allocations, {} frees; {} block{} ({} bytes) in use\n",
                     s.allocations, s.frees, live_blocks, live_blocks == 1 ? "" : "s", s.in_use_bytes);
  out += fmt::format("  heap: {:.1f} MiB now, peak {:.1f} MiB; RSS {:.1f} MiB, peak {:.1f} MiB\n",
                     mib(s.heap_bytes), mib(s.peak_heap_bytes), mib(rss), mib(s.peak_rss_bytes));
  out += fmt::format("  given back to the OS: {:.1f} MiB ({:.1f} MiB purged, {:.1f} MiB unmapped)\n",
                     mib(s.returned_bytes), mib(s.purged_bytes), mib(s.unmapped_bytes));
  out += fmt::format("  {} arenas ({} bytes reserved), {} pages allocated, {} free ({} dirty); "
                     "{} direct mappings ({} bytes)\n",
                     s.arenas, s.arena_bytes, s.allocated_pages, s.free_pages, s.dirty_pages,
                     s.direct_mappings, s.direct_bytes);
  return out;
}

std::string buddyinfo(const live::LiveSegment& s) {
  std::string out;
  for (unsigned a = 0; a < narenas(s); ++a) {
    const live::LiveArena& ar = s.arena[a];
    out += "Node 0, zone   memkit ";
    for (unsigned k = 0; k <= ar.max_order && k < live::kLiveMaxOrders; ++k)
      out += fmt::format("{:6} ", ar.nr_free[k]);
    out += "\n";
  }
  if (s.arenas > narenas(s)) out += fmt::format("({} more arenas)\n", s.arenas - narenas(s));
  return out;
}

std::string class_header() {
  return fmt::format("{:<14} {:>7} {:>10} {:>10} {:>10} {:>7} {:>5} {:>10} {:>12} {:>12}\n", "name",
                     "objsize", "in_use", "active", "objs", "slabs", "pages", "bytes", "allocs",
                     "frees");
}

std::string class_line(const live::LiveSegment& s, const live::LiveClass& c) {
  return fmt::format("{:<14} {:>7} {:>10} {:>10} {:>10} {:>7} {:>5} {:>10} {:>12} {:>12}\n",
                     std::string(c.name, strnlen(c.name, sizeof c.name)), c.slot_size,
                     c.in_use_objs, c.active_objs, c.num_objs, c.num_slabs, c.pages_per_slab,
                     class_bytes(s, c), c.allocs, c.frees);
}

std::string frame_text(uint64_t addr, const FrameNamer& name) {
  return name ? name(addr) : fmt::format("{:#x}", addr);
}

// The top sites: bytes, blocks, and the site (its first frame) with its callers.
std::string sites(const live::LiveSegment& s, const FrameNamer& name, unsigned frames) {
  std::string out = "top sites";
  if (nsites(s) == 0) return out + ": none (the sampling profiler is off)\n";
  out += fmt::format(" (sampled every {} bytes on average):\n", s.site_sample_bytes);
  for (unsigned i = 0; i < nsites(s); ++i) {
    const live::LiveSite& site = s.site[i];
    out += fmt::format("{:>12} bytes {:>10} blocks ", site.bytes, site.blocks);
    const unsigned n = std::min({site.nframes, live::kLiveSiteFrames, frames});
    for (unsigned f = 0; f < n; ++f) out += (f ? " <- " : " ") + frame_text(site.frames[f], name);
    out += "\n";
  }
  return out;
}

}  // namespace live_view_impl

FrameNamer live_frame_namer(int pid) {
  std::ifstream in(fmt::format("/proc/{}/maps", pid));
  std::stringstream maps;
  maps << in.rdbuf();
  if (!in || maps.str().empty()) return {};
  auto sym = std::make_shared<Symbolizer>(maps.str());
  return [sym](uint64_t addr) { return sym->frame(addr).text(); };
}

std::string live_text(const live::LiveSegment& s, uint64_t rss_bytes, const FrameNamer& name) {
  namespace v = live_view_impl;
  std::string out = v::summary(s, rss_bytes);
  out += v::class_header();
  for (unsigned c = 0; c < v::nclasses(s); ++c) out += v::class_line(s, s.cls[c]);
  out += v::buddyinfo(s);
  if (v::nsites(s) != 0) out += v::sites(s, name, 3);
  return out;
}

nlohmann::json live_json(const live::LiveSegment& s, uint64_t rss_bytes, const FrameNamer& name) {
  namespace v = live_view_impl;
  nlohmann::json j = {
      {"pid", s.pid},
      {"program", v::program(s)},
      {"updates", s.updates},
      {"update_age_seconds", v::age_seconds(s)},
      {"interval_ms", s.interval_ms},
      {"allocations", s.allocations},
      {"frees", s.frees},
      {"blocks_in_use", s.allocations >= s.frees ? s.allocations - s.frees : 0},
      {"bytes_in_use", s.in_use_bytes},
      {"heap_bytes", s.heap_bytes},
      {"peak_heap_bytes", s.peak_heap_bytes},
      {"rss_bytes", rss_bytes},
      {"peak_rss_bytes", s.peak_rss_bytes},
      {"returned_to_os_bytes", s.returned_bytes},
      {"purged_bytes", s.purged_bytes},
      {"unmapped_bytes", s.unmapped_bytes},
      {"page_heap",
       {{"page_size", s.page_size},
        {"arenas", s.arenas},
        {"reserved_bytes", s.arena_bytes},
        {"allocated_pages", s.allocated_pages},
        {"free_pages", s.free_pages},
        {"dirty_pages", s.dirty_pages},
        {"direct_mappings", s.direct_mappings},
        {"direct_bytes", s.direct_bytes},
        {"direct_cached", s.direct_cached},
        {"direct_cached_bytes", s.direct_cached_bytes}}},
      {"purger", {{"rounds", s.purger_rounds}, {"bytes", s.purger_bytes}}},
  };
  nlohmann::json classes = nlohmann::json::array();
  for (unsigned c = 0; c < v::nclasses(s); ++c) {
    const live::LiveClass& k = s.cls[c];
    classes.push_back({{"name", std::string(k.name, strnlen(k.name, sizeof k.name))},
                       {"object_size", k.object_size},
                       {"objsize", k.slot_size},
                       {"in_use_objs", k.in_use_objs},
                       {"active_objs", k.active_objs},
                       {"num_objs", k.num_objs},
                       {"active_slabs", k.active_slabs},
                       {"num_slabs", k.num_slabs},
                       {"pagesperslab", k.pages_per_slab},
                       {"bytes", v::class_bytes(s, k)},
                       {"allocations", k.allocs},
                       {"frees", k.frees}});
  }
  j["size_classes"] = classes;
  nlohmann::json arenas = nlohmann::json::array();
  for (unsigned a = 0; a < v::narenas(s); ++a) {
    const live::LiveArena& ar = s.arena[a];
    nlohmann::json nr = nlohmann::json::array();
    for (unsigned k = 0; k <= ar.max_order && k < live::kLiveMaxOrders; ++k) nr.push_back(ar.nr_free[k]);
    arenas.push_back({{"bytes", ar.bytes},
                      {"pages", ar.pages},
                      {"free_pages", ar.free_pages},
                      {"dirty_pages", ar.dirty_pages},
                      {"nr_free", nr}});
  }
  j["arenas"] = arenas;
  nlohmann::json sites = nlohmann::json::array();
  for (unsigned i = 0; i < v::nsites(s); ++i) {
    const live::LiveSite& site = s.site[i];
    nlohmann::json frames = nlohmann::json::array();
    for (unsigned f = 0; f < std::min(site.nframes, live::kLiveSiteFrames); ++f)
      frames.push_back(fmt::format("{:#x}", site.frames[f]));
    nlohmann::json site_json = {{"bytes", site.bytes}, {"blocks", site.blocks},
                                {"allocations", site.allocs}, {"frames", frames}};
    if (name && site.nframes > 0) site_json["site"] = name(site.frames[0]);
    sites.push_back(std::move(site_json));
  }
  j["top_sites"] = sites;
  return j;
}

std::string live_top_frame(const live::LiveSegment& s, uint64_t rss_bytes, unsigned rows,
                           const FrameNamer& name) {
  namespace v = live_view_impl;
  std::string out = v::summary(s, rss_bytes);
  out += "\n" + v::class_header();
  std::vector<const live::LiveClass*> order;
  for (unsigned c = 0; c < v::nclasses(s); ++c) order.push_back(&s.cls[c]);
  std::stable_sort(order.begin(), order.end(), [&s](const live::LiveClass* a, const live::LiveClass* b) {
    return v::class_bytes(s, *a) > v::class_bytes(s, *b);
  });
  // The summary (6 lines and a blank one), the header, the sites' 3 lines at least.
  const size_t room = rows == 0 ? order.size() : rows > 12 ? rows - 12 : 1;
  for (size_t i = 0; i < order.size() && i < room; ++i) out += v::class_line(s, *order[i]);
  if (order.size() > room) out += fmt::format("({} more classes)\n", order.size() - room);
  out += "\n" + v::sites(s, name, 2);
  return out;
}

}  // namespace memkit::cli
