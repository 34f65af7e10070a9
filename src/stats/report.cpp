// memkit — the stats layer: the heap report (src/stats/report.cpp): see report.h.
#include "stats/report.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "arena/page_heap.h"
#include "kmalloc/kmalloc.h"
#include "malloc/malloc.h"
#include "memkit/fragmentation.hpp"
#include "memkit/memkit.h"
#include "slab/magazine.h"
#include "slab/registry.h"

namespace memkit {

namespace {

void put(int fd, const char* text, size_t len) {
  while (len > 0) {
    const ssize_t n = ::write(fd, text, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    text += n;
    len -= static_cast<size_t>(n);
  }
}

pthread_mutex_t g_stats_lock = PTHREAD_MUTEX_INITIALIZER;
char g_stats_buf[1 << 16];  // under g_stats_lock: no malloc while reporting on malloc

}  // namespace

void heap_report(HeapReport* out) {
  *out = HeapReport{};
  const ThreadStats large = thread_stats_total();  // kmalloc's page blocks
  out->allocations = large.allocs;
  out->frees = large.frees;
  // thread_stats_total() sees the threads that have a ThreadCache (made by their first small
  // block). This thread may have none: a program whose only block is large (a C program's
  // sole malloc is often libstdc++'s 72 KiB emergency exception pool, made at load time) had
  // its bytes in use counted but not its block ("0 blocks (73728 bytes) in use").
  if (t_hot.cache == &g_no_thread_cache) {
    out->allocations += std::atomic_ref<uint64_t>(t_thread_stats.allocs).load(std::memory_order_relaxed);
    out->frees += std::atomic_ref<uint64_t>(t_thread_stats.frees).load(std::memory_order_relaxed);
  }
  mk_page_stats s;
  mk_get_page_stats(&s);
  out->heap_bytes = s.used_bytes;
  out->peak_heap_bytes = s.peak_used_bytes;
  out->returned_bytes = s.purged_bytes + s.unmapped_bytes;
  // Bytes in use: the kmalloc objects not free in a slab, a depot or a magazine, plus the large
  // blocks, which are every page handed out that no cache's slab holds.
  const size_t page = malloc_page_size();
  size_t slab_bytes = 0;
  registry_for_each(
      [](SlabCache* c, void* arg) {
        SlabCacheStats st;
        c->stats(&st);
        *static_cast<size_t*>(arg) += st.num_slabs << st.order;
      },
      &slab_bytes);
  slab_bytes *= page;
  size_t objects_bytes = 0;
  for (unsigned c = 0; c < size_class::kNumClasses; ++c) {
    SlabCache* cache = kmalloc_cache(c);
    if (cache == nullptr) continue;
    SlabCacheStats st;
    cache->stats(&st);
    const MagazineSnapshot snap = magazine_snapshot(cache);
    out->allocations += snap.allocs;
    out->frees += snap.frees;
    objects_bytes += objects_in_use(st, snap) * st.object_size;
  }
  // (Large blocks in the threads' caches are freed: not in use.)
  const size_t large_bytes = s.used_bytes > slab_bytes ? s.used_bytes - slab_bytes : 0;
  const size_t cached = kmalloc_large_cached_bytes();
  out->in_use_bytes = objects_bytes + (large_bytes > cached ? large_bytes - cached : 0);
  rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) == 0) out->peak_rss_bytes = static_cast<size_t>(ru.ru_maxrss) * 1024;
}

namespace {

// Formatted output into g_stats_buf, written to fd whenever it fills (no malloc).
class Writer {
 public:
  explicit Writer(int fd) : fd_(fd) {}
  ~Writer() { flush(); }
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  __attribute__((format(printf, 2, 3))) void add(const char* fmt, ...) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      va_list ap;
      va_start(ap, fmt);
      const int n = std::vsnprintf(g_stats_buf + used_, sizeof g_stats_buf - used_, fmt, ap);
      va_end(ap);
      if (n < 0) return;
      if (static_cast<size_t>(n) < sizeof g_stats_buf - used_) {
        used_ += static_cast<size_t>(n);
        return;
      }
      if (used_ == 0) {  // longer than the buffer: cut
        used_ = sizeof g_stats_buf - 1;
        return;
      }
      flush();
    }
  }
  /// s as the inside of a JSON string.
  void json_chars(const char* s) {
    for (; *s != '\0'; ++s) {
      const unsigned char ch = static_cast<unsigned char>(*s);
      if (ch == '"' || ch == '\\') add("\\%c", ch);
      else if (ch < 0x20) add("\\u%04x", ch);
      else add("%c", ch);
    }
  }
  void flush() {
    put(fd_, g_stats_buf, used_);
    used_ = 0;
  }

 private:
  int fd_;
  size_t used_ = 0;
};

double mib(size_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

struct ArenaCtx {
  Writer* w;
  bool json;
  unsigned count;
};

void report_arena(void* arg, const ArenaStats& a) {
  ArenaCtx* ctx = static_cast<ArenaCtx*>(arg);
  Writer& w = *ctx->w;
  const uint64_t* nr = a.nr_free;
  const unsigned max = a.max_order;
  if (ctx->json) {
    w.add("%s{\"bytes\":%zu,\"pages\":%zu,\"free_pages\":%zu,\"dirty_pages\":%zu,\"nr_free\":[",
          ctx->count++ ? "," : "", a.bytes, a.pages, a.free_pages, a.dirty_pages);
    for (unsigned k = 0; k <= max; ++k) w.add("%s%llu", k ? "," : "", static_cast<unsigned long long>(nr[k]));
    w.add("],\"unusable_index\":[");
    for (unsigned k = 0; k <= max; ++k) w.add("%s%.3f", k ? "," : "", unusable_free_index(nr, max, k) / 1000.0);
    w.add("],\"fragmentation_index\":[");
    for (unsigned k = 0; k <= max; ++k) w.add("%s%.3f", k ? "," : "", fragmentation_index(nr, max, k) / 1000.0);
    w.add("]}");
    return;
  }
  // As /proc/buddyinfo, then the kernel's debugfs extfrag files for the same arena.
  w.add("Node 0, zone   memkit ");
  for (unsigned k = 0; k <= max; ++k) w.add("%6llu ", static_cast<unsigned long long>(nr[k]));
  w.add("\nunusable_index      ");
  char idx[32];
  for (unsigned k = 0; k <= max; ++k) {
    format_index(idx, sizeof idx, unusable_free_index(nr, max, k), 1);
    w.add(" %6s", idx);
  }
  w.add("\nextfrag_index       ");
  for (unsigned k = 0; k <= max; ++k) {
    format_index(idx, sizeof idx, fragmentation_index(nr, max, k), 2);
    w.add(" %6s", idx);
  }
  w.add("\n");
}

const char* program_name() {
  // glibc's (errno.h with _GNU_SOURCE), set before any constructor runs.
  return program_invocation_short_name != nullptr ? program_invocation_short_name : "?";
}

}  // namespace

void write_report(int fd, bool json) {
  pthread_mutex_lock(&g_stats_lock);
  {
    HeapReport r;
    heap_report(&r);
    mk_page_stats s;
    mk_get_page_stats(&s);
    const size_t page = malloc_page_size();
    const uint64_t live = r.allocations >= r.frees ? r.allocations - r.frees : 0;
    Writer w(fd);
    if (json) {
      w.add("{\"pid\":%d,\"program\":\"", static_cast<int>(getpid()));
      w.json_chars(program_name());
      w.add("\",\"allocations\":%llu,\"frees\":%llu,\"blocks_in_use\":%llu,"
            "\"bytes_in_use\":%zu,\"peak_heap_bytes\":%zu,\"heap_bytes\":%zu,"
            "\"peak_rss_bytes\":%zu,\"returned_to_os_bytes\":%zu,\"purged_bytes\":%zu,"
            "\"unmapped_bytes\":%zu,",
            static_cast<unsigned long long>(r.allocations), static_cast<unsigned long long>(r.frees),
            static_cast<unsigned long long>(live), r.in_use_bytes, r.peak_heap_bytes, r.heap_bytes,
            r.peak_rss_bytes, r.returned_bytes, s.purged_bytes, s.unmapped_bytes);
      w.add("\"page_heap\":{\"page_size\":%zu,\"arenas\":%zu,\"reserved_bytes\":%zu,"
            "\"allocated_pages\":%zu,\"free_pages\":%zu,\"dirty_pages\":%zu,"
            "\"direct_mappings\":%zu,\"direct_bytes\":%zu,\"direct_cached\":%zu,"
            "\"direct_cached_bytes\":%zu},\"size_classes\":[",
            page, s.arenas, s.arena_bytes, s.allocated_pages, s.free_pages, s.dirty_pages,
            s.direct_mappings, s.direct_bytes, s.direct_cached, s.direct_cached_bytes);
    } else {
      w.add("memkit: heap report for PID %d (%s)\n", static_cast<int>(getpid()), program_name());
      w.add("memkit:   calls: %llu allocations, %llu frees; %llu block%s (%zu bytes) in use now\n",
            static_cast<unsigned long long>(r.allocations), static_cast<unsigned long long>(r.frees),
            static_cast<unsigned long long>(live), live == 1 ? "" : "s", r.in_use_bytes);
      w.add("memkit:   heap: peak %.1f MiB of pages for blocks (slabs, large blocks, metadata), "
            "%.1f MiB now; peak RSS %.1f MiB\n",
            mib(r.peak_heap_bytes), mib(r.heap_bytes), mib(r.peak_rss_bytes));
      w.add("memkit:   given back to the OS: %.1f MiB (%.1f MiB purged, %.1f MiB unmapped)\n",
            mib(r.returned_bytes), mib(s.purged_bytes), mib(s.unmapped_bytes));
      w.add("memkit:   %zu arenas (%zu bytes reserved), %zu pages allocated, %zu free (%zu dirty); "
            "%zu direct mappings (%zu bytes), %zu freed ones cached (%zu bytes)\n",
            s.arenas, s.arena_bytes, s.allocated_pages, s.free_pages, s.dirty_pages,
            s.direct_mappings, s.direct_bytes, s.direct_cached, s.direct_cached_bytes);
      w.add("slabinfo - version: 2.1\n"
            "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : "
            "tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> "
            "<sharedavail>\n");
    }
    // One line per size class in use (one that has slabs).
    unsigned listed = 0;
    for (unsigned c = 0; c < size_class::kNumClasses; ++c) {
      SlabCache* cache = kmalloc_cache(c);
      if (cache == nullptr) continue;
      SlabCacheStats st;
      cache->stats(&st);
      if (st.num_slabs == 0 && st.allocs == 0) continue;
      if (json) {
        const MagazineSnapshot snap = magazine_snapshot(cache);
        w.add("%s{\"name\":\"%s\",\"allocations\":%llu,\"frees\":%llu,", listed ? "," : "",
              st.name, static_cast<unsigned long long>(snap.allocs),
              static_cast<unsigned long long>(snap.frees));
        w.add("\"object_size\":%zu,\"active_objs\":%zu,\"num_objs\":%zu,"
              "\"objsize\":%zu,\"objperslab\":%u,\"pagesperslab\":%u,\"active_slabs\":%zu,"
              "\"num_slabs\":%zu,\"depot_objects\":%zu,\"slab_allocs\":%llu,\"slab_frees\":%llu,"
              "\"grows\":%llu,\"reaps\":%llu}",
              st.object_size, st.active_objs, st.num_objs, st.size,
              st.objects_per_slab, 1u << st.order, st.active_slabs, st.num_slabs, st.depot_objects,
              static_cast<unsigned long long>(st.allocs), static_cast<unsigned long long>(st.frees),
              static_cast<unsigned long long>(st.grows), static_cast<unsigned long long>(st.reaps));
      } else {
        char line[256];
        cache->format_slabinfo(line, sizeof line);
        w.add("%s", line);
      }
      ++listed;
    }
    ArenaCtx ctx{&w, json, 0};
    if (json) w.add("],\"arenas\":[");
    global_page_heap().for_each_arena(report_arena, &ctx);
    if (json) w.add("]}\n");
  }
  pthread_mutex_unlock(&g_stats_lock);
}

void stats_lock() { pthread_mutex_lock(&g_stats_lock); }
void stats_unlock() { pthread_mutex_unlock(&g_stats_lock); }

}  // namespace memkit

extern "C" void mk_malloc_stats(void) { memkit::write_report(2, false); }
