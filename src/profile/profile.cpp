// memkit — the sampling heap profiler (src/profile/profile.cpp): see profile.h.
#include "profile/profile.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>

#include "check/stack_depot.h"
#include "check/unwind.h"
#include "kmalloc/kmalloc.h"
#include "malloc/malloc.h"
#include "memkit/memkit.h"
#include "options/options.h"
#include "os/os.h"
#include "profile/sampler.h"
#include "stats/report.h"

namespace memkit::profile {

namespace {

constinit thread_local uint64_t t_rng __attribute__((tls_model("initial-exec"))) = 0;
constinit thread_local bool t_started __attribute__((tls_model("initial-exec"))) = false;

// A sampled block: its address, the size asked for, its site (index into g.sites).
struct Block {
  uintptr_t addr;  // 0: an empty slot
  uint64_t size;
  uint32_t site;
  uint32_t pad;
};

// A site's counters (estimates: exact counts with profile_sample=1).
struct Site {
  uint32_t stack;  // the stack depot's id (0: no stack)
  uint32_t pad;
  double live_bytes;
  double live_objects;
  double alloc_bytes;
  double alloc_objects;
};

constexpr unsigned kBlockBits = 22;  // 4 Mi sampled blocks live at most (96 MiB reserved)
constexpr size_t kBlocks = size_t{1} << kBlockBits;
constexpr unsigned kSiteBits = 17;  // index slots; 64 Ki sites at most
constexpr size_t kSiteSlots = size_t{1} << kSiteBits;
constexpr size_t kMaxSites = kSiteSlots / 2;
constexpr unsigned kFrames = 64;

struct State {
  uint64_t mean;
  Block* blocks;
  size_t nblocks;
  uint32_t* site_index;  // slot -> site index + 1 (0: empty)
  Site* sites;
  uint32_t nsites;
  Site* peak;            // the copy at the high-water mark
  uint32_t npeak;
  double live_total;     // estimated live bytes, all sites
  double peak_total;
  bool at_peak;          // the sites are the peak's now (the copy is not taken yet)
  uint64_t dropped;
  double report_total;   // peak_total when the peak's heap report was last captured
  int report_fd;         // a memory file holding that report (-1: none)
};

constinit State g = {};
pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_report_lock = PTHREAD_MUTEX_INITIALIZER;
std::atomic<size_t> g_live_blocks{0};
// The text of the shared library this is (libmemkit.so): its frames are dropped from the top of
// a stack, so that a site is where the program called malloc. [0, 0) when memkit is linked into
// the program itself.
uintptr_t g_self_lo = 0, g_self_hi = 0;
std::atomic<bool> g_ready{false};
pthread_once_t g_once = PTHREAD_ONCE_INIT;

size_t block_slot(uintptr_t a) {
  return static_cast<size_t>(((a >> 12) * 0x9e3779b97f4a7c15ull) >> (64 - kBlockBits));
}
size_t site_slot(uint32_t stack) {
  return static_cast<size_t>((uint64_t{stack} * 0x9e3779b97f4a7c15ull) >> (64 - kSiteBits));
}

void on_large_free(const void* p);

void init_once() {
  g.mean = static_cast<uint64_t>(options().profile_sample);
  if (g.mean == 0) return;
  const size_t page = os::page_size();
  auto round = [page](size_t n) { return (n + page - 1) & ~(page - 1); };
  const size_t b = round(kBlocks * sizeof(Block));
  const size_t i = round(kSiteSlots * sizeof(uint32_t));
  const size_t s = round(kMaxSites * sizeof(Site));
  void* region = nullptr;
  if (os::system_os().reserve(b + i + 2 * s, page, &region) != 0) {
    g.mean = 0;  // no profile rather than a failing malloc
    return;
  }
  char* at = static_cast<char*>(region);
  g.blocks = reinterpret_cast<Block*>(at);
  g.site_index = reinterpret_cast<uint32_t*>(at + b);
  g.sites = reinterpret_cast<Site*>(at + b + i);
  g.peak = reinterpret_cast<Site*>(at + b + i + s);
  g.report_fd = -1;
  if (options().profile_fd >= 0) {
    void* map = nullptr;
    int fd = -1;
    if (os::shared_file_create("memkit-profile-peak", page, &fd, &map) == 0) {
      os::shared_file_release(-1, map, page);  // the descriptor is what is kept
      g.report_fd = fd;
    }
  }
  dl_find_object self;
  if (_dl_find_object(reinterpret_cast<void*>(&init_once), &self) == 0 &&
      self.dlfo_link_map != nullptr && self.dlfo_link_map->l_name != nullptr &&
      self.dlfo_link_map->l_name[0] != '\0') {
    g_self_lo = reinterpret_cast<uintptr_t>(self.dlfo_map_start);
    g_self_hi = reinterpret_cast<uintptr_t>(self.dlfo_map_end);
  }
  check::stack_depot();  // reserved now, not under a malloc that samples
  g_large_free_hook.store(on_large_free, std::memory_order_release);
  g_ready.store(true, std::memory_order_release);
}

bool ready() {
  if (g_ready.load(std::memory_order_acquire)) return true;
  pthread_once(&g_once, init_once);
  return g_ready.load(std::memory_order_acquire);
}

// ---- the tables (under g_lock) ----

Block* find_block(uintptr_t a) {
  for (size_t s = block_slot(a);; s = (s + 1) & (kBlocks - 1)) {
    Block& b = g.blocks[s];
    if (b.addr == a) return &b;
    if (b.addr == 0) return nullptr;
  }
}

bool insert_block(uintptr_t a, uint64_t size, uint32_t site) {
  if (g.nblocks >= kBlocks - kBlocks / 8) return false;  // keep the probes short
  size_t s = block_slot(a);
  while (g.blocks[s].addr != 0) s = (s + 1) & (kBlocks - 1);
  g.blocks[s] = Block{a, size, site, 0};
  ++g.nblocks;
  return true;
}

// Linear probing's deletion: the entries after the hole that may move back, do.
void erase_block(Block* b) {
  size_t hole = static_cast<size_t>(b - g.blocks);
  size_t s = hole;
  for (;;) {
    s = (s + 1) & (kBlocks - 1);
    if (g.blocks[s].addr == 0) break;
    const size_t home = block_slot(g.blocks[s].addr);
    // The entry at s may fill the hole if its home is not in (hole, s] (cyclically).
    const bool stays = hole <= s ? (hole < home && home <= s) : (hole < home || home <= s);
    if (stays) continue;
    g.blocks[hole] = g.blocks[s];
    hole = s;
  }
  g.blocks[hole].addr = 0;
  --g.nblocks;
}

// The site of stack id (made if new); UINT32_MAX if the table is full.
uint32_t site_of(uint32_t stack) {
  for (size_t s = site_slot(stack);; s = (s + 1) & (kSiteSlots - 1)) {
    const uint32_t v = g.site_index[s];
    if (v == 0) {
      if (g.nsites >= kMaxSites) return UINT32_MAX;
      g.sites[g.nsites] = Site{stack, 0, 0, 0, 0, 0};
      g.site_index[s] = ++g.nsites;
      return g.nsites - 1;
    }
    if (g.sites[v - 1].stack == stack) return v - 1;
  }
}

// Before the live total drops: if it stood at its maximum, that state is the peak's.
void leave_peak() {
  if (!g.at_peak) return;
  memcpy(g.peak, g.sites, g.nsites * sizeof(Site));
  g.npeak = g.nsites;
  g.at_peak = false;
}

void remove_locked(Block* b) {
  leave_peak();
  Site& site = g.sites[b->site];
  const double w = inverse_probability(b->size, g.mean);
  site.live_bytes -= w * static_cast<double>(b->size);
  site.live_objects -= w;
  g.live_total -= w * static_cast<double>(b->size);
  erase_block(b);
  g_live_blocks.store(g.nblocks, std::memory_order_relaxed);
}

void on_large_free(const void* p) {
  if (g_live_blocks.load(std::memory_order_relaxed) == 0) return;
  pthread_mutex_lock(&g_lock);
  if (Block* b = find_block(reinterpret_cast<uintptr_t>(p))) remove_locked(b);
  pthread_mutex_unlock(&g_lock);
}

// The heap report (buddyinfo, slabinfo) at the peak: captured when the peak has grown by 2 %
// since the last capture, outside the profiler's lock (write_report takes the stats lock).
void capture_peak_report() {
  if (pthread_mutex_trylock(&g_report_lock) != 0) return;
  pthread_mutex_lock(&g_lock);
  const double total = g.peak_total;
  pthread_mutex_unlock(&g_lock);
  if (ftruncate(g.report_fd, 0) == 0 && lseek(g.report_fd, 0, SEEK_SET) == 0)
    write_report(g.report_fd, /*json=*/true);
  pthread_mutex_lock(&g_lock);
  g.report_total = total;
  pthread_mutex_unlock(&g_lock);
  pthread_mutex_unlock(&g_report_lock);
}

void* plain_alloc(size_t size, size_t align, AllocKind kind) {
  switch (kind) {
    case AllocKind::kCalloc:
      return kmalloc(size < kMallocMinSize ? kMallocMinSize : size, MK_GFP_ZERO);
    case AllocKind::kMemalign:
      return memalign_unsampled(align, size);
    case AllocKind::kMalloc:
      break;
  }
  return kmalloc(size < kMallocMinSize ? kMallocMinSize : size, 0);
}

void record(void* p, size_t size);

// A sampled block: whole pages (so that its free reaches on_large_free), recorded.
void* sample(size_t size, size_t align, AllocKind kind) {
  const size_t page = malloc_page_size();
  if (size > static_cast<size_t>(PTRDIFF_MAX) - page) return plain_alloc(size, align, kind);
  const size_t npages = size == 0 ? 1 : (size + page - 1) / page;
  void* p = kmalloc_pages(npages, align > page ? align : 0, kind == AllocKind::kCalloc ? MK_GFP_ZERO : 0);
  if (p != nullptr) record(p, size);
  return p;
}

// A sampled block of whole pages (its free reaches on_large_free): its stack, its site's counts.
void record(void* p, size_t size) {
  uintptr_t frames[kFrames] = {};
  int n = check::fast_backtrace(frames, kFrames, 2);
  if (n < 0)  // the walker gave up at a frame it does not model: the stack stops there
    for (n = 0; n < static_cast<int>(kFrames) && frames[n] != 0;) ++n;
  int skip = 0;
  while (skip < n && frames[skip] >= g_self_lo && frames[skip] < g_self_hi) ++skip;
  const uint32_t stack = check::stack_depot().put(frames + skip, static_cast<unsigned>(n - skip));
  const double w = inverse_probability(size, g.mean);
  bool report = false;
  pthread_mutex_lock(&g_lock);
  const uint32_t s = site_of(stack);
  if (s == UINT32_MAX || !insert_block(reinterpret_cast<uintptr_t>(p), size, s)) {
    ++g.dropped;
  } else {
    Site& site = g.sites[s];
    const double bytes = w * static_cast<double>(size);
    site.live_bytes += bytes;
    site.live_objects += w;
    site.alloc_bytes += bytes;
    site.alloc_objects += w;
    g.live_total += bytes;
    if (g.live_total > g.peak_total) {
      g.peak_total = g.live_total;
      g.at_peak = true;
      report = g.report_fd >= 0 && g.peak_total > g.report_total * 1.02;
    }
    g_live_blocks.store(g.nblocks, std::memory_order_relaxed);
  }
  pthread_mutex_unlock(&g_lock);
  if (report) capture_peak_report();
}

// ---- writing ----

struct Out {
  explicit Out(int to) : fd(to) {}
  int fd;
  bool ok = true;
  char buf[8192];
  size_t used = 0;
  void flush() {
    for (size_t done = 0; done < used && ok;) {
      const ssize_t n = write(fd, buf + done, used - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) ok = false;
      else done += static_cast<size_t>(n);
    }
    used = 0;
  }
  __attribute__((format(printf, 2, 3))) void add(const char* fmt, ...) {
    if (sizeof buf - used < 512) flush();
    va_list ap;
    va_start(ap, fmt);
    const int n = vsnprintf(buf + used, sizeof buf - used, fmt, ap);
    va_end(ap);
    if (n > 0) used += static_cast<size_t>(n) < sizeof buf - used ? static_cast<size_t>(n) : sizeof buf - used - 1;
  }
  // The whole of file (from its start) after what is buffered.
  void copy_file(int from, bool from_start) {
    flush();
    if (from_start && lseek(from, 0, SEEK_SET) != 0) return;
    for (;;) {
      const ssize_t n = read(from, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      used = static_cast<size_t>(n);
      flush();
    }
  }
};

void put_sites(Out& o, const char* tag, const Site* sites, uint32_t n) {
  for (uint32_t k = 0; k < n; ++k) {
    const Site& s = sites[k];
    if (s.alloc_objects == 0) continue;
    const uintptr_t* frames = nullptr;
    const unsigned depth = check::stack_depot().get(s.stack, &frames);
    o.add("%s %.0f %.0f %.0f %.0f %u", tag, s.live_bytes, s.live_objects, s.alloc_bytes,
          s.alloc_objects, depth);
    for (unsigned f = 0; f < depth; ++f) o.add(" %lx", static_cast<unsigned long>(frames[f]));
    o.add("\n");
  }
}

}  // namespace

namespace {

// The countdown fired for an allocation of size bytes: whether it is sampled (false on the
// thread's first allocation, which only starts its countdown, and when profiling is off);
// the next gap is drawn either way.
bool take_sample(size_t size) {
  if (__builtin_expect(!t_started, 0)) {
    // The thread's first allocation: start its countdown (or switch it off for good).
    t_started = true;
    if (!ready()) {
      t_hot.sample_left = INT64_MAX;
      return false;
    }
    uint64_t seed = 0;
    os::random_bytes(&seed, sizeof seed);
    t_rng = seed | 1;
    t_hot.sample_left = next_gap(g.mean, &t_rng) - static_cast<int64_t>(size);
    if (t_hot.sample_left >= 0) return false;
  }
  if (g.mean == 0) {  // 2^63 bytes without profiling: start the countdown again
    t_hot.sample_left = INT64_MAX;
    return false;
  }
  t_hot.sample_left = next_gap(g.mean, &t_rng);
  return true;
}

}  // namespace

void* sampled_alloc(size_t size, size_t align, AllocKind kind) {
  return take_sample(size) ? sample(size, align, kind) : plain_alloc(size, align, kind);
}

void realloced(const void* old, void* q, size_t size, bool sampled) {
  if (q == old && g_live_blocks.load(std::memory_order_relaxed) != 0) {
    // Resized in place: the old block's entry goes as a free would take it. (A block that
    // moved was freed through kfree, whose large-free hook took its entry already.)
    pthread_mutex_lock(&g_lock);
    if (Block* b = find_block(reinterpret_cast<uintptr_t>(old))) remove_locked(b);
    pthread_mutex_unlock(&g_lock);
  }
  if (sampled && take_sample(size)) record(q, size);
}

bool is_sampled(const void* p) {
  if (g_live_blocks.load(std::memory_order_relaxed) == 0) return false;
  pthread_mutex_lock(&g_lock);
  const bool found = find_block(reinterpret_cast<uintptr_t>(p)) != nullptr;
  pthread_mutex_unlock(&g_lock);
  return found;
}

void start() { ready(); }

uint64_t sample_bytes() { return g_ready.load(std::memory_order_acquire) ? g.mean : 0; }

void fork_prepare() {
  pthread_mutex_lock(&g_report_lock);
  pthread_mutex_lock(&g_lock);
}
void fork_release() {
  pthread_mutex_unlock(&g_lock);
  pthread_mutex_unlock(&g_report_lock);
}

bool write_raw(int fd) {
  if (!g_ready.load(std::memory_order_acquire)) return true;
  if (g.report_fd >= 0) {
    pthread_mutex_lock(&g_lock);
    const bool stale = g.at_peak && g.peak_total > g.report_total;
    pthread_mutex_unlock(&g_lock);
    if (stale) capture_peak_report();
  }
  Out o(fd);
  pthread_mutex_lock(&g_lock);
  o.add("memkit-profile 1\nsample %llu\ndropped %llu\n", static_cast<unsigned long long>(g.mean),
        static_cast<unsigned long long>(g.dropped));
  put_sites(o, "site", g.sites, g.nsites);
  o.add("peak %.0f\n", g.peak_total);
  if (g.at_peak) put_sites(o, "peaksite", g.sites, g.nsites);
  else put_sites(o, "peaksite", g.peak, g.npeak);
  pthread_mutex_unlock(&g_lock);
  if (g.report_fd >= 0) {
    o.add("report\n");
    pthread_mutex_lock(&g_report_lock);
    o.copy_file(g.report_fd, true);
    pthread_mutex_unlock(&g_report_lock);
    o.add("end-report\n");
  }
  o.add("maps\n");
  const int maps = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (maps >= 0) {
    o.copy_file(maps, false);
    close(maps);
  }
  o.flush();
  return o.ok;
}

unsigned top_sites(TopSite* out, unsigned max) {
  if (!g_ready.load(std::memory_order_acquire) || max == 0) return 0;
  unsigned n = 0;
  pthread_mutex_lock(&g_lock);
  for (uint32_t k = 0; k < g.nsites; ++k) {
    const Site& s = g.sites[k];
    if (s.live_bytes < 0.5) continue;
    // Insertion into out[0..n), largest first.
    unsigned at = n < max ? n : max;
    if (at == max && out[max - 1].bytes >= static_cast<uint64_t>(s.live_bytes)) continue;
    if (n < max) ++n;
    while (at > 0 && out[at - 1].bytes < static_cast<uint64_t>(s.live_bytes)) {
      if (at < max) out[at] = out[at - 1];
      --at;
    }
    TopSite t{static_cast<uint64_t>(s.live_bytes + 0.5), static_cast<uint64_t>(s.live_objects + 0.5),
              static_cast<uint64_t>(s.alloc_objects + 0.5), 0, nullptr};
    t.nframes = check::stack_depot().get(s.stack, &t.frames);
    out[at] = t;
  }
  pthread_mutex_unlock(&g_lock);
  return n;
}

size_t live_sampled_blocks() { return g_live_blocks.load(std::memory_order_relaxed); }

double live_estimated_bytes() {
  pthread_mutex_lock(&g_lock);
  const double v = g.live_total;
  pthread_mutex_unlock(&g_lock);
  return v;
}

}  // namespace memkit::profile
