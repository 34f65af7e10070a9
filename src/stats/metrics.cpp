// memkit — Prometheus metrics of live segments (src/stats/metrics.cpp): see metrics.h.
#include "stats/metrics.h"

#include <cstdarg>
#include <cstdio>

namespace memkit::live {

namespace {

struct Out {
  void (*emit)(void*, const char*, size_t);
  void* ctx;

  __attribute__((format(printf, 2, 3))) void add(const char* fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    const int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0) emit(ctx, buf, static_cast<size_t>(n) < sizeof buf ? static_cast<size_t>(n) : sizeof buf - 1);
  }
  /// A label value: backslash, double quote and newline escaped (the format's rules).
  void label(const char* s, size_t max) {
    for (size_t i = 0; i < max && s[i] != '\0'; ++i) {
      const char c = s[i];
      if (c == '\\') emit(ctx, "\\\\", 2);
      else if (c == '"') emit(ctx, "\\\"", 2);
      else if (c == '\n') emit(ctx, "\\n", 2);
      else emit(ctx, &c, 1);
    }
  }
  void family(const char* name, const char* type, const char* help) {
    add("# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
  }
  void labels(const LiveSegment& s) {
    add("pid=\"%d\",program=\"", static_cast<int>(s.pid));
    label(s.program, sizeof s.program);
    emit(ctx, "\"", 1);
  }
};

struct Scalar {
  const char* name;
  const char* type;
  const char* help;
  uint64_t (*value)(const MetricsInput&);
};

#define MK_FIELD(f) [](const MetricsInput& m) -> uint64_t { return m.segment->f; }

const Scalar kScalars[] = {
    {"memkit_heap_bytes", "gauge", "Bytes of pages memkit holds for blocks (slabs, large blocks, metadata).", MK_FIELD(heap_bytes)},
    {"memkit_heap_peak_bytes", "gauge", "The most memkit_heap_bytes has been.", MK_FIELD(peak_heap_bytes)},
    {"memkit_in_use_bytes", "gauge", "Usable bytes of the blocks the program holds now.", MK_FIELD(in_use_bytes)},
    {"memkit_rss_bytes", "gauge", "Resident set size of the process.", [](const MetricsInput& m) -> uint64_t { return m.rss_bytes; }},
    {"memkit_arenas", "gauge", "Arenas mapped.", MK_FIELD(arenas)},
    {"memkit_arena_bytes", "gauge", "Bytes reserved for arenas.", MK_FIELD(arena_bytes)},
    {"memkit_free_pages", "gauge", "Free pages in the arenas' buddy allocators.", MK_FIELD(free_pages)},
    {"memkit_dirty_pages", "gauge", "Free pages not given back to the OS yet (waiting for the decay time).", MK_FIELD(dirty_pages)},
    {"memkit_direct_bytes", "gauge", "Bytes of blocks mapped directly (beyond the largest buddy order).", MK_FIELD(direct_bytes)},
    {"memkit_allocations_total", "counter", "Blocks handed out (malloc, calloc, realloc moves, operator new, ...).", MK_FIELD(allocations)},
    {"memkit_frees_total", "counter", "Blocks given back.", MK_FIELD(frees)},
    {"memkit_returned_bytes_total", "counter", "Bytes of pages given back to the OS (purged and unmapped).", MK_FIELD(returned_bytes)},
    {"memkit_purged_bytes_total", "counter", "Bytes given back with madvise.", MK_FIELD(purged_bytes)},
    {"memkit_unmapped_bytes_total", "counter", "Bytes unmapped (idle arenas, direct mappings).", MK_FIELD(unmapped_bytes)},
};

struct ClassMetric {
  const char* name;
  const char* type;
  const char* help;
  uint64_t (*value)(const LiveSegment&, const LiveClass&);
};

const ClassMetric kClassMetrics[] = {
    {"memkit_class_objects", "gauge", "Objects of the size class not free on a slab (in use or cached).",
     [](const LiveSegment&, const LiveClass& c) -> uint64_t { return c.active_objs; }},
    {"memkit_class_in_use_objects", "gauge", "Objects of the size class the program holds.",
     [](const LiveSegment&, const LiveClass& c) -> uint64_t { return c.in_use_objs; }},
    {"memkit_class_slabs", "gauge", "Slabs of the size class.",
     [](const LiveSegment&, const LiveClass& c) -> uint64_t { return c.num_slabs; }},
    {"memkit_class_bytes", "gauge", "Bytes of the size class's slabs.",
     [](const LiveSegment& s, const LiveClass& c) -> uint64_t { return c.num_slabs * c.pages_per_slab * s.page_size; }},
    {"memkit_class_allocations_total", "counter", "Blocks of the size class handed out.",
     [](const LiveSegment&, const LiveClass& c) -> uint64_t { return c.allocs; }},
    {"memkit_class_frees_total", "counter", "Blocks of the size class given back.",
     [](const LiveSegment&, const LiveClass& c) -> uint64_t { return c.frees; }},
};

}  // namespace

void format_metrics(const MetricsInput* in, size_t n, void (*emit)(void*, const char*, size_t), void* ctx) {
  Out out{emit, ctx};
  for (const Scalar& m : kScalars) {
    out.family(m.name, m.type, m.help);
    for (size_t i = 0; i < n; ++i) {
      out.add("%s{", m.name);
      out.labels(*in[i].segment);
      out.add("} %llu\n", static_cast<unsigned long long>(m.value(in[i])));
    }
  }
  for (const ClassMetric& m : kClassMetrics) {
    out.family(m.name, m.type, m.help);
    for (size_t i = 0; i < n; ++i) {
      const LiveSegment& s = *in[i].segment;
      const unsigned nclasses = s.nclasses < kLiveMaxClasses ? s.nclasses : kLiveMaxClasses;
      for (unsigned c = 0; c < nclasses; ++c) {
        out.add("%s{", m.name);
        out.labels(s);
        out.add(",class=\"");
        out.label(s.cls[c].name, sizeof s.cls[c].name);
        out.add("\"} %llu\n", static_cast<unsigned long long>(m.value(s, s.cls[c])));
      }
    }
  }
  out.family("memkit_buddy_free_blocks", "gauge", "Free blocks per arena and order (the arena's buddyinfo).");
  for (size_t i = 0; i < n; ++i) {
    const LiveSegment& s = *in[i].segment;
    const unsigned narenas = s.narenas < kLiveMaxArenas ? s.narenas : kLiveMaxArenas;
    for (unsigned a = 0; a < narenas; ++a) {
      const LiveArena& ar = s.arena[a];
      for (unsigned k = 0; k <= ar.max_order && k < kLiveMaxOrders; ++k) {
        out.add("memkit_buddy_free_blocks{");
        out.labels(s);
        out.add(",arena=\"%u\",order=\"%u\"} %llu\n", a, k, static_cast<unsigned long long>(ar.nr_free[k]));
      }
    }
  }
}

}  // namespace memkit::live
