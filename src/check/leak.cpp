// memkit — the leak scan (src/check/leak.cpp): see leak.h.
#include "check/leak.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>

#include "arena/arena_map.h"
#include "arena/page_heap.h"
#include "check/check.h"
#include "check/check_report.h"
#include "check/stack_depot.h"
#include "options/options.h"
#include "os/os.h"
#include "os/proc_maps.h"
#include "os/report.h"

namespace memkit::check {
namespace {

template <typename T, typename Less>
void heap_sort(T* a, size_t n, Less less) {
  auto sift = [&](size_t root, size_t end) {
    for (;;) {
      size_t child = 2 * root + 1;
      if (child >= end) return;
      if (child + 1 < end && less(a[child], a[child + 1])) ++child;
      if (!less(a[root], a[child])) return;
      T t = a[root];
      a[root] = a[child];
      a[child] = t;
      root = child;
    }
  };
  for (size_t i = n / 2; i-- > 0;) sift(i, n);
  for (size_t end = n; end > 1; --end) {
    T t = a[0];
    a[0] = a[end - 1];
    a[end - 1] = t;
    sift(0, end - 1);
  }
}

// Memory for the scan's arrays, straight from the OS (the heap is locked while they are used).
struct Scratch {
  void* p = nullptr;
  size_t bytes = 0;
  explicit Scratch(size_t want) {
    const size_t page = os::page_size();
    bytes = (want + page - 1) / page * page;
    if (bytes == 0) bytes = page;
    if (os::system_os().reserve(bytes, page, &p) != 0) p = nullptr;
  }
  ~Scratch() {
    if (p != nullptr) os::system_os().release(p, bytes);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  uintptr_t lo() const { return reinterpret_cast<uintptr_t>(p); }
  uintptr_t hi() const { return reinterpret_cast<uintptr_t>(p) + bytes; }
};

struct Range {
  uintptr_t lo;
  uintptr_t hi;
};

// The roots are scanned as /proc/self/maps is read, one mapping at a time: there is no array of
// them to fill up (at check=full every live block is a mapping of its own, so a fixed number of
// roots dropped the shared libraries' data and the thread stacks that come after them).
struct RootScan {
  LeakNode* nodes;
  size_t n;
  size_t* work;
  const Range* skip;  // sorted by lo, not overlapping
  size_t nskip;
  uintptr_t stack_addr;  // an address on the exiting thread's stack (its sp, near enough)
};

// The group of leaked blocks with one allocation stack and one class.
struct Group {
  uint32_t stack;
  bool direct;
  size_t bytes;
  size_t blocks;
};

}  // namespace

void sort_nodes(LeakNode* nodes, size_t n) {
  heap_sort(nodes, n, [](const LeakNode& a, const LeakNode& b) { return a.begin < b.begin; });
}

size_t find_node(const LeakNode* nodes, size_t n, uintptr_t w) {
  size_t lo = 0;
  size_t hi = n;
  while (lo < hi) {  // the first node with begin > w
    const size_t mid = lo + (hi - lo) / 2;
    if (nodes[mid].begin <= w) lo = mid + 1;
    else hi = mid;
  }
  if (lo == 0) return SIZE_MAX;
  const LeakNode& c = nodes[lo - 1];
  if (w < c.end || (c.end == c.begin && w == c.begin)) return lo - 1;
  return SIZE_MAX;
}

namespace {

// Pushes every node a word of [lo, hi) points into and that lacks flag; marks it.
// Roots are scanned at 8-byte-aligned words; a block from its first byte on, in steps of 8 (at
// check=full a block is only as aligned as its size requires, and the pointers in it are at
// multiples of 8 from its start).
size_t scan_words(LeakNode* nodes, size_t n, uintptr_t lo, uintptr_t hi, uint8_t flag, size_t* work,
                  size_t top, size_t self) {
  if (n == 0) return top;
  const uintptr_t min = nodes[0].begin;
  const uintptr_t max = nodes[n - 1].end > nodes[n - 1].begin ? nodes[n - 1].end : nodes[n - 1].begin + 1;
  for (uintptr_t a = lo; a + 8 <= hi; a += 8) {
    uintptr_t w;
    memcpy(&w, reinterpret_cast<const void*>(a), sizeof w);
    if (w < min || w >= max) continue;
    const size_t i = find_node(nodes, n, w);
    if (i == SIZE_MAX || i == self || (nodes[i].flags & flag)) continue;
    nodes[i].flags |= flag;
    work[top++] = i;
  }
  return top;
}

void drain(LeakNode* nodes, size_t n, uint8_t flag, size_t* work, size_t top) {
  while (top > 0) {
    const size_t i = work[--top];
    top = scan_words(nodes, n, nodes[i].begin, nodes[i].end, flag, work, top, SIZE_MAX);
  }
}

}  // namespace

void mark_from(LeakNode* nodes, size_t n, uintptr_t lo, uintptr_t hi, uint8_t flag, size_t* work) {
  lo = (lo + 7) & ~uintptr_t{7};
  drain(nodes, n, flag, work, scan_words(nodes, n, lo, hi, flag, work, 0, SIZE_MAX));
}

void classify(LeakNode* nodes, size_t n, size_t* work) {
  // Indirect: pointed to by another leaked block.
  for (size_t i = 0; i < n; ++i) {
    if (nodes[i].flags & kReached) continue;
    for (uintptr_t a = nodes[i].begin; a + 8 <= nodes[i].end; a += 8) {
      uintptr_t w;
      memcpy(&w, reinterpret_cast<const void*>(a), sizeof w);
      const size_t j = find_node(nodes, n, w);
      if (j != SIZE_MAX && j != i && !(nodes[j].flags & kReached)) nodes[j].flags |= kIndirect;
    }
  }
  for (size_t i = 0; i < n; ++i)
    if (!(nodes[i].flags & (kReached | kIndirect))) nodes[i].flags |= kDirect;
  // Cycles: whatever the direct leaks do not reach has no direct entry; make one of each direct.
  for (size_t i = 0; i < n; ++i) {
    if (!(nodes[i].flags & kDirect)) continue;
    nodes[i].flags |= kSeen;
    work[0] = i;
    drain(nodes, n, kSeen, work, 1);
  }
  for (size_t i = 0; i < n; ++i) {
    if (nodes[i].flags & (kReached | kSeen)) continue;
    nodes[i].flags = static_cast<uint8_t>((nodes[i].flags & ~kIndirect) | kDirect | kSeen);
    work[0] = i;
    drain(nodes, n, kSeen, work, 1);
  }
}

namespace {

// The skip range containing a, or the first one above it (skip sorted by lo, not overlapping):
// its index, nskip if none.
size_t skip_at_or_above(const Range* skip, size_t nskip, uintptr_t a) {
  size_t lo = 0;
  size_t hi = nskip;
  while (lo < hi) {  // the first range with hi > a
    const size_t mid = lo + (hi - lo) / 2;
    if (skip[mid].hi <= a) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// Scans [lo, hi) minus the memory memkit owns (its heap, the block table, the depot, the scan's
// own arrays and the full-mode blocks' mappings).
void scan_root(LeakNode* nodes, size_t n, Range r, const Range* skip, size_t nskip, size_t* work) {
  const size_t page = os::page_size();
  const PageHeap& heap = global_page_heap();
  uintptr_t a = r.lo;
  while (a < r.hi) {
    uintptr_t next = (a & ~(page - 1)) + page;
    if (next > r.hi) next = r.hi;
    if (fast_arena::contains(a)) {  // one of the heap's arenas: all of it at once
      next = (a | ((uintptr_t{1} << fast_arena::kShift) - 1)) + 1;
      a = next < r.hi && next != 0 ? next : r.hi;
      continue;
    }
    const size_t k = skip_at_or_above(skip, nskip, a);
    if (k < nskip && skip[k].lo <= a) {  // inside a skipped range: past it
      a = skip[k].hi < r.hi ? skip[k].hi : r.hi;
      continue;
    }
    if (k < nskip && skip[k].lo < next) next = skip[k].lo;  // one starts inside this page
    if (!heap.owns(reinterpret_cast<const void*>(a))) mark_from(nodes, n, a, next, kReached, work);
    a = next;
  }
}

void scan_mapping(void* ctx, const os::MapsEntry& e) {
  RootScan* c = static_cast<RootScan*>(ctx);
  if (!e.readable || !e.writable || e.shared) return;
  uintptr_t lo = e.start;
  const uintptr_t hi = e.end;
  if (c->stack_addr >= lo && c->stack_addr < hi) lo = c->stack_addr & ~uintptr_t{7};
  scan_root(c->nodes, c->n, Range{lo, hi}, c->skip, c->nskip, c->work);
}

// Returns 0 or the errno value of reading /proc/self/maps.
__attribute__((noinline)) int scan_all(LeakNode* nodes, size_t n, size_t* work, const Range* skip, size_t nskip,
                                       char* maps_buf, size_t maps_len, uintptr_t stack_from) {
  RootScan c{nodes, n, work, skip, nskip, stack_from};
  return os::for_each_mapping(maps_buf, maps_len, scan_mapping, &c);
}

// Zeroes the stack below the caller's frame. The calls that came before exit (the program's
// mallocs, and in them libunwind, whose cursors hold copies of the registers of every frame it
// walked) left stale pointers in dead frames down there, which the exiting thread's own stack
// scan would otherwise take for live ones: every dead frame the scan's frames do not overwrite.
__attribute__((noinline)) void scrub_dead_stack() {
  volatile unsigned char area[128 * 1024];
  for (size_t i = 0; i < sizeof area; ++i) area[i] = 0;
}

// ---- the other threads' registers ----
//
// Threads may still run at exit, and a pointer that lives only in one of their registers is not
// a leak. LeakSanitizer stops them with ptrace and reads their registers; here each other thread
// gets a signal whose handler waits until the scan is done: the kernel has saved the thread's
// registers in the signal frame on its own stack, which the scan reads with the rest of that
// stack. Done with every checker lock held (no parked thread holds one; one spinning for a lock
// parks where it spins), and released before they are dropped. A thread that blocks the signal,
// or is exiting, is waited for kParkWaitMs at most and scanned as it is.

constexpr long kParkWaitMs = 200;
std::atomic<int> g_parked{0};
std::atomic<bool> g_release{false};

void park_handler(int) {
  const int saved_errno = errno;
  g_parked.fetch_add(1, std::memory_order_acq_rel);
  while (!g_release.load(std::memory_order_acquire)) sched_yield();
  g_parked.fetch_sub(1, std::memory_order_acq_rel);
  errno = saved_errno;
}

long now_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct ParkedThreads {
  int signo = 0;  // 0: the handler was not installed
  struct sigaction old = {};
  int sent = 0;
  bool all_parked = false;
};

/// Signals every thread of the process but the caller (its ids read from /proc/self/task with
/// getdents64: no malloc, the heap is locked) and waits until each is parked, or the time is up.
void park_other_threads(ParkedThreads* p) {
  const int signo = SIGRTMIN + 5;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = park_handler;
  sa.sa_flags = SA_RESTART;
  sigfillset(&sa.sa_mask);
  g_release.store(false, std::memory_order_release);
  if (libc_sigaction(signo, &sa, &p->old) != 0) return;
  p->signo = signo;
  const int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  const pid_t self = static_cast<pid_t>(syscall(SYS_gettid));
  const pid_t pid = getpid();
  alignas(8) char buf[4096];
  for (;;) {
    const long got = syscall(SYS_getdents64, fd, buf, sizeof buf);
    if (got <= 0) break;
    for (long off = 0; off < got;) {
      const struct dirent64* d = reinterpret_cast<const struct dirent64*>(buf + off);
      off += d->d_reclen;
      long tid = 0;
      const char* c = d->d_name;
      for (; *c >= '0' && *c <= '9'; ++c) tid = tid * 10 + (*c - '0');
      if (*c != '\0' || tid == 0 || tid == self) continue;
      if (syscall(SYS_tgkill, pid, static_cast<pid_t>(tid), p->signo) == 0) ++p->sent;
    }
  }
  close(fd);
  const long deadline = now_ms() + kParkWaitMs;
  while (g_parked.load(std::memory_order_acquire) < p->sent && now_ms() < deadline) sched_yield();
  p->all_parked = g_parked.load(std::memory_order_acquire) >= p->sent;
}

void release_other_threads(ParkedThreads* p) {
  if (p->signo == 0) return;
  g_release.store(true, std::memory_order_release);
  const long deadline = now_ms() + kParkWaitMs;
  while (g_parked.load(std::memory_order_acquire) > 0 && now_ms() < deadline) sched_yield();
  // A thread that has not taken the signal yet (it blocks it) would take it later: under the
  // default action, a real-time signal kills the process. Ours stays then (it returns at once).
  if (p->all_parked) libc_sigaction(p->signo, &p->old, nullptr);
}

}  // namespace

void leak_check_at_exit(LeakTotals* out) {
  *out = LeakTotals{};
  scrub_dead_stack();
  // The exiting thread's stack is scanned from this function's frame up: the scan's own frames
  // hold copies of block addresses (sorting, the callee-saved registers its calls push).
  const uintptr_t stack_from = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));

  lock_all();
  ParkedThreads parked;
  park_other_threads(&parked);
  struct Counts {
    size_t live = 0;
    size_t full = 0;
    size_t bitmap = 0;
  } counts;
  for_each_block(
      [](Block* b, void* ctx) {
        Counts* c = static_cast<Counts*>(ctx);
        if (b->state == kLive) ++c->live;
        if (b->full) ++c->full;
        return true;
      },
      &counts);
  for_each_bitmap_range([](uintptr_t, uintptr_t, void* ctx) { ++static_cast<Counts*>(ctx)->bitmap; }, &counts);
  const size_t n = counts.live;
  const size_t nfull = counts.full + counts.bitmap;
  Scratch node_mem(n * sizeof(LeakNode));
  Scratch work_mem(n * sizeof(size_t) + 8);
  Scratch skip_mem((nfull + 8) * sizeof(Range));
  Scratch maps_mem(64 * 1024);
  if (node_mem.p == nullptr || work_mem.p == nullptr || skip_mem.p == nullptr ||
      maps_mem.p == nullptr) {
    release_other_threads(&parked);
    unlock_all();
    report_warning("checked mode: no memory for the leak scan: leaks were not looked for");
    return;
  }
  LeakNode* nodes = static_cast<LeakNode*>(node_mem.p);
  size_t* work = static_cast<size_t*>(work_mem.p);
  Range* skip = static_cast<Range*>(skip_mem.p);
  struct Collect {
    LeakNode* nodes;
    Range* skip;
    size_t k = 0;
    size_t nskip = 0;
    uint16_t epoch;
  } col{nodes, skip, 0, 0, fork_epoch()};
  for_each_block(
      [](Block* b, void* ctx) {
        Collect* c = static_cast<Collect*>(ctx);
        if (b->full) c->skip[c->nskip++] = Range{b->base_, b->base_ + b->span_};
        if (b->state != kLive) return true;
        // In a forked child, the blocks from before the fork are the parent's to report: here
        // they are roots (kReached; scanned below).
        c->nodes[c->k++] = LeakNode{block_user(*b), block_user(*b) + b->size, b->alloc_stack,
                                    static_cast<uint8_t>(b->epoch != c->epoch ? kReached : 0)};
        return true;
      },
      &col);
  for_each_bitmap_range(
      [](uintptr_t lo, uintptr_t hi, void* ctx) {
        Collect* c = static_cast<Collect*>(ctx);
        c->skip[c->nskip++] = Range{lo, hi};
      },
      &col);
  size_t nskip = col.nskip;
  uintptr_t tlo = 0;
  uintptr_t thi = 0;
  table_range(&tlo, &thi);
  skip[nskip++] = Range{tlo, thi};
  skip[nskip++] = Range{stack_depot().begin(), stack_depot().end()};
  skip[nskip++] = Range{node_mem.lo(), node_mem.hi()};
  skip[nskip++] = Range{work_mem.lo(), work_mem.hi()};
  skip[nskip++] = Range{skip_mem.lo(), skip_mem.hi()};
  skip[nskip++] = Range{maps_mem.lo(), maps_mem.hi()};
  heap_sort(skip, nskip, [](const Range& x, const Range& y) { return x.lo < y.lo; });
  sort_nodes(nodes, n);
  size_t top = 0;
  for (size_t i = 0; i < n; ++i)
    if (nodes[i].flags & kReached) work[top++] = i;
  drain(nodes, n, kReached, work, top);
  const int maps_err =
      scan_all(nodes, n, work, skip, nskip, static_cast<char*>(maps_mem.p), maps_mem.bytes, stack_from);
  classify(nodes, n, work);
  release_other_threads(&parked);
  unlock_all();
  if (maps_err != 0) {  // no root was scanned: every block would look leaked
    char msg[160];
    snprintf(msg, sizeof msg, "checked mode: /proc/self/maps could not be read (%s): leaks were not looked for",
             strerror(maps_err));
    report_warning(msg);
    return;
  }

  // Group by (class, stack): sort the leaked nodes by that key, then fold runs.
  size_t leaked = 0;
  for (size_t i = 0; i < n; ++i)
    if (!(nodes[i].flags & kReached)) nodes[leaked++] = nodes[i];
  heap_sort(nodes, leaked, [](const LeakNode& a, const LeakNode& b) {
    const int da = (a.flags & kDirect) ? 0 : 1;
    const int db = (b.flags & kDirect) ? 0 : 1;
    return da != db ? da < db : a.stack < b.stack;
  });
  Scratch group_mem(leaked * sizeof(Group) + 8);
  if (group_mem.p == nullptr) return;
  Group* groups = static_cast<Group*>(group_mem.p);
  size_t ngroups = 0;
  for (size_t i = 0; i < leaked; ++i) {
    const bool direct = (nodes[i].flags & kDirect) != 0;
    if (ngroups > 0 && groups[ngroups - 1].stack == nodes[i].stack && groups[ngroups - 1].direct == direct) {
      groups[ngroups - 1].bytes += nodes[i].end - nodes[i].begin;
      ++groups[ngroups - 1].blocks;
    } else {
      groups[ngroups++] = Group{nodes[i].stack, direct, nodes[i].end - nodes[i].begin, 1};
    }
  }
  heap_sort(groups, ngroups, [](const Group& a, const Group& b) {
    if (a.direct != b.direct) return !a.direct;  // direct first (the heap sorts ascending)
    return a.bytes < b.bytes;
  });
  // Ascending order: walk from the end (direct, largest first).
  size_t reported = 0;
  size_t bytes = 0;
  size_t blocks = 0;
  for (size_t i = ngroups; i-- > 0;) {
    const Group& g = groups[i];
    if (leak_suppressed(g.stack)) continue;
    report_leak(g.direct, g.bytes, g.blocks, g.stack);
    ++reported;
    bytes += g.bytes;
    blocks += g.blocks;
  }
  out->groups = reported;
  out->bytes = bytes;
  out->blocks = blocks;
}

}  // namespace memkit::check
