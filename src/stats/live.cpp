// memkit — the live statistics segment, the writer's side (src/stats/live.cpp): see live.h.
#include "stats/live.h"

#include "profile/profile.h"

#include <errno.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

#include "arena/background_purge.h"
#include "arena/page_heap.h"
#include "kmalloc/kmalloc.h"
#include "memkit/memkit.h"
#include "options/options.h"
#include "os/os.h"
#include "profile/profile.h"
#include "slab/magazine.h"
#include "stats/live_segment.h"
#include "stats/report.h"

namespace memkit::live {

namespace {

// Under the stats lock: the segment, and the next figures built before they are copied in.
LiveSegment* g_segment = nullptr;
int g_fd = -1;
LiveSegment g_next;

uint64_t realtime_ns() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

const char* program_name() {
  return program_invocation_short_name != nullptr ? program_invocation_short_name : "?";
}

bool create_locked() {
  void* map = nullptr;
  int fd = -1;
  if (os::shared_file_create(kLiveName, sizeof(LiveSegment), &fd, &map) != 0) return false;
  LiveSegment* s = static_cast<LiveSegment*>(map);  // zero-filled by the kernel
  s->version = kLiveVersion;
  s->size = sizeof(LiveSegment);
  s->pid = static_cast<int32_t>(getpid());
  s->page_size = static_cast<uint32_t>(os::page_size());
  s->start_ns = realtime_ns();
  s->interval_ms = static_cast<uint64_t>(options().stats_shm_ms);
  const char* name = program_name();
  for (size_t i = 0; i + 1 < sizeof s->program && name[i] != '\0'; ++i) s->program[i] = name[i];
  __atomic_store_n(&s->magic, kLiveMagic, __ATOMIC_RELEASE);  // last: the rest is in place
  g_segment = s;
  g_fd = fd;
  return true;
}

void add_arena(void* arg, const ArenaStats& a) {
  LiveSegment* s = static_cast<LiveSegment*>(arg);
  if (s->narenas >= kLiveMaxArenas) return;
  LiveArena& out = s->arena[s->narenas++];
  out.bytes = a.bytes;
  out.pages = a.pages;
  out.free_pages = a.free_pages;
  out.dirty_pages = a.dirty_pages;
  out.max_order = a.max_order < kLiveMaxOrders ? a.max_order : kLiveMaxOrders - 1;
  for (unsigned k = 0; k <= out.max_order; ++k) out.nr_free[k] = a.nr_free[k];
}

// The figures, into g_next (whose identity fields are the segment's).
void build_locked() {
  LiveSegment& n = g_next;
  std::memcpy(&n, g_segment, offsetof(LiveSegment, seq));
  n.interval_ms = g_segment->interval_ms;  // (set once, but under seq like the rest)
  std::memcpy(n.program, g_segment->program, sizeof n.program);
  n.nclasses = n.narenas = n.nsites = 0;
  HeapReport r;
  heap_report(&r);
  mk_page_stats p;
  mk_get_page_stats(&p);
  n.allocations = r.allocations;
  n.frees = r.frees;
  n.in_use_bytes = r.in_use_bytes;
  n.heap_bytes = r.heap_bytes;
  n.peak_heap_bytes = r.peak_heap_bytes;
  n.peak_rss_bytes = r.peak_rss_bytes;
  n.returned_bytes = r.returned_bytes;
  n.purged_bytes = p.purged_bytes;
  n.unmapped_bytes = p.unmapped_bytes;
  n.arenas = p.arenas;
  n.arena_bytes = p.arena_bytes;
  n.allocated_pages = p.allocated_pages;
  n.free_pages = p.free_pages;
  n.dirty_pages = p.dirty_pages;
  n.direct_mappings = p.direct_mappings;
  n.direct_bytes = p.direct_bytes;
  n.direct_cached = p.direct_cached;
  n.direct_cached_bytes = p.direct_cached_bytes;
  const bg_purge::Counters bg = bg_purge::counters();
  n.purger_rounds = bg.rounds;
  n.purger_bytes = bg.bytes;
  for (unsigned c = 0; c < size_class::kNumClasses && n.nclasses < kLiveMaxClasses; ++c) {
    SlabCache* cache = kmalloc_cache(c);
    if (cache == nullptr) continue;
    SlabCacheStats st;
    cache->stats(&st);
    const MagazineSnapshot snap = magazine_snapshot(cache);
    if (st.num_slabs == 0 && snap.allocs == 0) continue;
    LiveClass& k = n.cls[n.nclasses++];
    std::memset(&k, 0, sizeof k);
    static_assert(sizeof k.name >= sizeof st.name, "class names fit");
    std::memcpy(k.name, st.name, sizeof st.name);
    k.object_size = st.object_size;
    k.slot_size = st.size;
    k.active_objs = st.active_objs;
    k.num_objs = st.num_objs;
    k.in_use_objs = objects_in_use(st, snap);
    k.active_slabs = st.active_slabs;
    k.num_slabs = st.num_slabs;
    k.pages_per_slab = size_t{1} << st.order;
    k.allocs = snap.allocs;
    k.frees = snap.frees;
  }
  global_page_heap().for_each_arena(add_arena, &n);
  // The heap profiler's top sites by live bytes (none when it is off).
  profile::TopSite top[kLiveMaxSites];
  n.nsites = profile::top_sites(top, kLiveMaxSites);
  n.site_sample_bytes = static_cast<uint32_t>(profile::sample_bytes() > UINT32_MAX ? UINT32_MAX : profile::sample_bytes());
  for (unsigned k = 0; k < n.nsites; ++k) {
    LiveSite& site = n.site[k];
    std::memset(&site, 0, sizeof site);
    site.bytes = top[k].bytes;
    site.blocks = top[k].objects;
    site.allocs = top[k].allocs;
    site.nframes = top[k].nframes < kLiveSiteFrames ? top[k].nframes : kLiveSiteFrames;
    for (unsigned f = 0; f < site.nframes; ++f) site.frames[f] = top[k].frames[f];
  }
  n.update_ns = realtime_ns();
}

// g_next into the segment, under its sequence counter.
void publish_locked() {
  LiveSegment* s = g_segment;
  const uint64_t seq = s->seq;
  // Odd while the copy is made; the acquire keeps the copy's stores after it (an exchange, not
  // a store and a fence: ThreadSanitizer does not model fences).
  __atomic_exchange_n(&s->seq, seq + 1, __ATOMIC_ACQ_REL);
  const size_t from = offsetof(LiveSegment, updates);
  const uint64_t updates = s->updates + 1;
  std::memcpy(reinterpret_cast<char*>(s) + from, reinterpret_cast<const char*>(&g_next) + from,
              sizeof(LiveSegment) - from);
  s->updates = updates;
  __atomic_store_n(&s->seq, seq + 2, __ATOMIC_RELEASE);
}

}  // namespace

bool start() {
  stats_lock();
  const bool ok = g_segment != nullptr || create_locked();
  stats_unlock();
  if (!ok) return false;
  bg_purge::enable_ticks(refresh, static_cast<uint64_t>(options().stats_shm_ms) * 1000000u);
  return true;
}

void refresh() {
  stats_lock();
  if (g_segment != nullptr) {
    build_locked();
    publish_locked();
  }
  stats_unlock();
}

void fork_child() {
  if (g_segment == nullptr) return;
  os::shared_file_release(g_fd, g_segment, sizeof(LiveSegment));
  g_segment = nullptr;
  g_fd = -1;
  create_locked();  // the purger's thread, started again in the child, refreshes it
}

int segment_fd() { return g_fd; }

}  // namespace memkit::live
