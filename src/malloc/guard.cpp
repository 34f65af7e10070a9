// memkit — the guard mode of the drop-in malloc (src/malloc/guard.cpp): see guard.h.
#include "malloc/guard.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>

#include "check/stack_depot.h"
#include "check/unwind.h"
#include "kmalloc/kmalloc.h"
#include "options/options.h"
#include "os/fault_context.h"
#include "os/os.h"
#include "os/report.h"

namespace memkit::guard {

uintptr_t g_pool_lo = 0;
size_t g_pool_span = 0;

namespace {

constexpr uint8_t kPattern = 0xa7;  // the slot's bytes around the block
constexpr unsigned kStackDepth = 32;

enum SlotState : uint8_t { kNever = 0, kLive = 1, kFreed = 2 };

struct Slot {
  uintptr_t user;  // the block's address (0: never used)
  size_t size;
  uint32_t alloc_stack;
  uint32_t free_stack;
  uint32_t alloc_tid;
  uint32_t free_tid;
  uint8_t state;
  uint8_t kind;  // 0 malloc, 1 calloc, 2 memalign (what allocated it, for the report)
};

struct Pool {
  size_t page = 0;
  size_t slot_bytes = 0;  // guard_slot_pages pages
  size_t stride = 0;      // slot_bytes + one guard page
  size_t nslots = 0;
  uintptr_t first = 0;    // slot 0 (after the leading guard page)
  Slot* slots = nullptr;
  uint32_t* fifo = nullptr;  // freed slots, oldest first (a ring of nslots)
  size_t fifo_head = 0;
  size_t fifo_count = 0;
  size_t next_never = 0;  // slots [next_never, nslots) were never used
  size_t live = 0;
  long sample = 0;
  unsigned align = 16;
  unsigned left_pct = 50;
  bool cont = false;
  int fd = 2;
};

Pool g_pool;
std::atomic<bool> g_on{false};
std::atomic<uint64_t> g_guarded{0};
std::atomic<uint64_t> g_reports{0};
pthread_once_t g_once = PTHREAD_ONCE_INIT;

// The pool's lock, held for a few loads and stores (the mprotect calls and the pattern are made
// outside it, on a slot the caller owns). A mutex, not a spin lock: at guard_sample=1 threads
// meet here all the time, and spinning on 2 cores starves the holder. The fault handler reads
// the slots without it.
pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
void lock() { pthread_mutex_lock(&g_lock); }
void unlock() { pthread_mutex_unlock(&g_lock); }

// The library's own code (frames dropped from the top of the stacks it records).
uintptr_t g_own_lo = 0;
uintptr_t g_own_hi = 0;
char g_exe[512];  // the main program's path (its link map has no name)

__attribute__((tls_model("initial-exec"))) thread_local uint64_t t_rng = 0;
__attribute__((tls_model("initial-exec"))) thread_local bool t_in_guard = false;

uint64_t next_random() {
  if (t_rng == 0) {
    os::random_bytes(&t_rng, sizeof t_rng);
    t_rng |= 1;
  }
  t_rng ^= t_rng << 13;
  t_rng ^= t_rng >> 7;
  t_rng ^= t_rng << 17;
  return t_rng;
}

void rearm() {
  const long n = g_pool.sample;
  if (n <= 0) {
    t_hot.guard_left = INT64_MAX;
    return;
  }
  // Uniform in [N/2, 3N/2] (at least 1): the mean stays N, and threads do not fall in step.
  const uint64_t lo = static_cast<uint64_t>(n) / 2;
  const uint64_t r = lo + next_random() % (static_cast<uint64_t>(n) + 1);
  t_hot.guard_left = r == 0 ? 0 : static_cast<int64_t>(r) - 1;  // the r-th allocation from now
}

uint32_t tid() { return static_cast<uint32_t>(syscall(SYS_gettid)); }

// ---- stacks ----

/// The caller's stack (frames of this library dropped from the top) into the depot.
__attribute__((noinline)) uint32_t capture_here() {
  const uintptr_t* fp = static_cast<const uintptr_t*>(__builtin_frame_address(0));
  uintptr_t raw[kStackDepth + 8];
  const int n = check::backtrace_from(fp[1], reinterpret_cast<uintptr_t>(fp + 2), fp[0], false, raw,
                                      static_cast<int>(kStackDepth + 8));
  int first = 0;
  while (first < n && raw[first] >= g_own_lo && raw[first] < g_own_hi) ++first;
  if (first == n) first = n > 2 ? 2 : 0;  // linked in statically: the program is "own code" too
  unsigned depth = static_cast<unsigned>(n - first);
  if (depth > kStackDepth) depth = kStackDepth;
  return check::stack_depot().put(raw + first, depth);
}

// ---- the report (the checked mode's format, check/check_report.h; frames as module+offset) ----

char g_buf[16384];
size_t g_used = 0;
pthread_mutex_t g_report_lock = PTHREAD_MUTEX_INITIALIZER;

void flush() {
  const char* p = g_buf;
  size_t n = g_used;
  while (n > 0) {
    const ssize_t w = write(g_pool.fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    p += w;
    n -= static_cast<size_t>(w);
  }
  g_used = 0;
}

__attribute__((format(printf, 1, 2))) void out(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  const int n = vsnprintf(g_buf + g_used, sizeof g_buf - g_used, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (static_cast<size_t>(n) >= sizeof g_buf - g_used) {
    g_used = sizeof g_buf - 1;
    flush();
    return;
  }
  g_used += static_cast<size_t>(n);
}

// "(path+0xOFF)": the module's file and the address's offset from its load base, which is the
// ELF virtual address that addr2line and libdw take (memkit run symbolises it).
void print_module(uintptr_t pc) {
  struct dl_find_object obj;
  if (_dl_find_object(reinterpret_cast<void*>(pc), &obj) != 0 || obj.dlfo_link_map == nullptr) return;
  const char* name = obj.dlfo_link_map->l_name;
  if (name == nullptr || name[0] == '\0') name = g_exe;
  out(" (%s+0x%lx)", name, static_cast<unsigned long>(pc - obj.dlfo_link_map->l_addr));
}

void print_frames(const uintptr_t* frames, unsigned depth) {
  if (depth == 0) {
    out("    (no stack recorded)\n");
    return;
  }
  for (unsigned i = 0; i < depth; ++i) {
    out("    #%u 0x%lx in ??", i, static_cast<unsigned long>(frames[i]));
    print_module(frames[i]);
    out("\n");
  }
}

void print_stack(uint32_t id) {
  const uintptr_t* frames = nullptr;
  const unsigned depth = check::stack_depot().get(id, &frames);
  print_frames(frames, depth);
}

const char* kind_name(uint8_t kind) {
  return kind == 1 ? "calloc" : kind == 2 ? "memalign" : "malloc";
}

struct Report {
  const char* kind;        // heap-buffer-overflow, ...
  uintptr_t addr;
  const char* access;      // "READ", "WRITE" or nullptr
  uintptr_t pc;            // 0: none
  const char* how;
  const char* call;        // "the faulting access", "free", ...
  const Slot* slot;        // or nullptr
  const uintptr_t* frames; // the bad call's stack
  unsigned depth;
};

void report(const Report& r) {
  pthread_mutex_lock(&g_report_lock);
  g_reports.fetch_add(1, std::memory_order_relaxed);
  out("memkit: ERROR: %s on address 0x%lx", r.kind, static_cast<unsigned long>(r.addr));
  if (r.slot != nullptr && r.slot->user != 0) {
    const Slot& b = *r.slot;
    unsigned long d;
    const char* where;
    if (r.addr >= b.user + b.size) {
      d = static_cast<unsigned long>(r.addr - (b.user + b.size));
      where = "after the end of";
    } else if (r.addr < b.user) {
      d = static_cast<unsigned long>(b.user - r.addr);
      where = "before";
    } else {
      d = static_cast<unsigned long>(r.addr - b.user);
      where = "inside";
    }
    out(" (%lu %s %s the %zu-byte block at 0x%lx)", d, d == 1 ? "byte" : "bytes", where, b.size,
        static_cast<unsigned long>(b.user));
  }
  out("\n");
  if (r.access != nullptr) {
    out("  %s of unknown size", r.access);
    if (r.pc != 0) out(" at pc 0x%lx", static_cast<unsigned long>(r.pc));
    out(" (%s)\n", r.how);
  } else {
    out("  %s\n", r.how);
  }
  if (r.slot != nullptr && r.slot->user != 0) {
    const Slot& b = *r.slot;
    out("  the block: %zu %s at 0x%lx, from %s, %s (guarded slot)\n", b.size, b.size == 1 ? "byte" : "bytes",
        static_cast<unsigned long>(b.user), kind_name(b.kind), b.state == kFreed ? "freed" : "live");
  }
  out("  %s in thread %u:\n", r.call, tid());
  print_frames(r.frames, r.depth);
  if (r.slot != nullptr && r.slot->user != 0) {
    out("  allocated by thread %u at:\n", r.slot->alloc_tid);
    print_stack(r.slot->alloc_stack);
    if (r.slot->state == kFreed) {
      out("  freed by thread %u at:\n", r.slot->free_tid);
      print_stack(r.slot->free_stack);
    }
  }
  out("memkit: SUMMARY: %s", r.kind);
  if (r.depth > 0) {
    out(" in ??");
    print_module(r.frames[0]);
  }
  out("\n");
  flush();
  pthread_mutex_unlock(&g_report_lock);
  if (!g_pool.cont) abort();
}

/// The bad call's own stack (free, realloc, malloc_usable_size), from the caller up.
__attribute__((noinline)) unsigned capture_frames(uintptr_t* out_frames, unsigned max) {
  const uintptr_t* fp = static_cast<const uintptr_t*>(__builtin_frame_address(0));
  uintptr_t raw[kStackDepth + 8];
  const int n = check::backtrace_from(fp[1], reinterpret_cast<uintptr_t>(fp + 2), fp[0], false, raw,
                                      static_cast<int>(kStackDepth + 8));
  int first = 0;
  while (first < n && raw[first] >= g_own_lo && raw[first] < g_own_hi) ++first;
  if (first == n) first = n > 2 ? 2 : 0;
  unsigned d = 0;
  for (int i = first; i < n && d < max; ++i) out_frames[d++] = raw[i];
  return d;
}

// ---- slots ----

uintptr_t slot_base(size_t i) { return g_pool.first + i * g_pool.stride; }

/// The slot whose pages hold a, or -1 (a guard page, or outside the pool).
long slot_at(uintptr_t a) {
  if (a < g_pool.first) return -1;
  const size_t i = (a - g_pool.first) / g_pool.stride;
  if (i >= g_pool.nslots || a - slot_base(i) >= g_pool.slot_bytes) return -1;
  return static_cast<long>(i);
}

// ---- the fault handler ----

struct sigaction g_next_segv;
struct sigaction g_next_bus;
std::atomic<bool> g_handler_on{false};

void on_fault(int sig, siginfo_t* si, void* ctx);

bool handler_is_ours(const struct sigaction& sa) {
  return (sa.sa_flags & SA_SIGINFO) != 0 && sa.sa_sigaction == on_fault;
}

/// Installs the handler for sig in front of the one there now (unless it is ours already).
void install(int sig, struct sigaction* next) {
  struct sigaction now;
  if (sigaction(sig, nullptr, &now) != 0 || handler_is_ours(now)) return;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_fault;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  *next = now;
  sigaction(sig, &sa, nullptr);
}

/// A fault that is not the pool's: the next handler, or the default action (the handler is
/// removed and the access faults again).
void not_ours(int sig, siginfo_t* si, void* ctx) {
  if (os::call_next_handler(sig == SIGSEGV ? g_next_segv : g_next_bus, sig, si, ctx)) return;
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigaction(sig, &dfl, nullptr);
}

void on_fault(int sig, siginfo_t* si, void* ctx) {
  const uintptr_t addr = reinterpret_cast<uintptr_t>(si->si_addr);
  if (!owns(reinterpret_cast<void*>(addr))) {
    not_ours(sig, si, ctx);
    return;
  }
  const os::FaultContext fc = os::fault_context(ctx);
  const long in = slot_at(addr);
  const Slot* slot = nullptr;
  const char* kind;
  const char* how;
  uintptr_t fix = 0;  // the page made accessible under guard_continue
  size_t fix_bytes = g_pool.page;
  if (in >= 0) {
    slot = &g_pool.slots[in];
    if (slot->state != kFreed) {
      not_ours(sig, si, ctx);  // a live slot's pages do not fault
      return;
    }
    kind = "heap-use-after-free";
    how = "fault on the freed block's inaccessible slot (guard mode)";
    fix = slot_base(static_cast<size_t>(in));
    fix_bytes = g_pool.slot_bytes;
  } else {
    // A guard page: the nearer of the blocks on either side (an overflow of the one before, an
    // underflow of the one after), among the slots that ever held one.
    const uintptr_t gpage = addr & ~(g_pool.page - 1);
    fix = gpage;
    const long before = gpage > g_pool.first ? slot_at(gpage - 1) : -1;
    const long after = slot_at(gpage + g_pool.page);
    const Slot* b = before >= 0 && g_pool.slots[before].user != 0 ? &g_pool.slots[before] : nullptr;
    const Slot* a = after >= 0 && g_pool.slots[after].user != 0 ? &g_pool.slots[after] : nullptr;
    const uintptr_t db = b != nullptr ? addr - (b->user + b->size) : UINTPTR_MAX;
    const uintptr_t da = a != nullptr ? a->user - addr : UINTPTR_MAX;
    if (b != nullptr && db <= da) {
      slot = b;
      kind = b->state == kFreed ? "heap-use-after-free" : "heap-buffer-overflow";
      how = "fault in the guard page after the block (guard mode)";
    } else if (a != nullptr) {
      slot = a;
      kind = a->state == kFreed ? "heap-use-after-free" : "heap-buffer-underflow";
      how = "fault in the guard page before the block (guard mode)";
    } else {
      kind = "wild-access";
      how = "fault in the guarded pool, near no block (guard mode)";
    }
  }
  uintptr_t frames[kStackDepth];
  unsigned depth = 0;
  if (fc.pc != 0)
    depth = static_cast<unsigned>(check::backtrace_from(fc.pc, fc.sp, fc.bp, true, frames, kStackDepth));
  Report r{kind, addr, fc.write < 0 ? nullptr : fc.write ? "WRITE" : "READ", fc.pc, how,
           "the faulting access", slot, frames, depth};
  report(r);  // aborts unless guard_continue
  os::system_os().commit(reinterpret_cast<void*>(fix), fix_bytes);
}

// ---- start-up ----

void own_range() {
  struct dl_find_object obj;
  if (_dl_find_object(reinterpret_cast<void*>(&own_range), &obj) == 0) {
    g_own_lo = reinterpret_cast<uintptr_t>(obj.dlfo_map_start);
    g_own_hi = reinterpret_cast<uintptr_t>(obj.dlfo_map_end);
  }
  const ssize_t n = readlink("/proc/self/exe", g_exe, sizeof g_exe - 1);
  g_exe[n > 0 ? n : 0] = '\0';
}

void start_once() {
  const Options& o = options();
  Pool& p = g_pool;
  p.sample = o.guard_sample;
  if (p.sample <= 0) return;
  p.page = os::page_size();
  p.slot_bytes = static_cast<size_t>(o.guard_slot_pages) * p.page;
  p.stride = p.slot_bytes + p.page;
  p.nslots = static_cast<size_t>(o.guard_slots);
  p.align = static_cast<unsigned>(o.guard_align);
  p.left_pct = static_cast<unsigned>(o.guard_left);
  p.cont = o.guard_continue;
  p.fd = static_cast<int>(o.guard_report_fd);
  const size_t pool_bytes = p.nslots * p.stride + p.page;
  const size_t meta_bytes = (p.nslots * (sizeof(Slot) + sizeof(uint32_t)) + p.page - 1) & ~(p.page - 1);
  const os::OsApi& api = os::system_os();
  void* pool = nullptr;
  void* meta = nullptr;
  if (api.reserve(pool_bytes, p.page, &pool) != 0) {
    report_warning("guard mode: the guarded pool could not be reserved; guard_sample is ignored");
    p.sample = 0;
    return;
  }
  if (api.protect(pool, pool_bytes) != 0 || api.reserve(meta_bytes, p.page, &meta) != 0) {
    api.release(pool, pool_bytes);
    report_warning("guard mode: the guarded pool could not be set up; guard_sample is ignored");
    p.sample = 0;
    return;
  }
  p.slots = static_cast<Slot*>(meta);
  p.fifo = reinterpret_cast<uint32_t*>(static_cast<char*>(meta) + p.nslots * sizeof(Slot));
  p.first = reinterpret_cast<uintptr_t>(pool) + p.page;
  own_range();
  check::stack_depot();  // reserved now, not in the middle of a fault
  install(SIGSEGV, &g_next_segv);
  install(SIGBUS, &g_next_bus);
  g_handler_on.store(true, std::memory_order_release);
  g_pool_lo = reinterpret_cast<uintptr_t>(pool);
  g_pool_span = pool_bytes;
  set_foreign_blocks(ForeignBlocks{g_pool_lo, g_pool_span, &guard::free, &guard::usable_size});
  g_on.store(true, std::memory_order_release);
}

/// A free slot's index (never used first, then the oldest freed), or -1. Under the lock.
long take_slot() {
  Pool& p = g_pool;
  if (p.next_never < p.nslots) return static_cast<long>(p.next_never++);
  if (p.fifo_count == 0) return -1;
  const uint32_t i = p.fifo[p.fifo_head];
  p.fifo_head = (p.fifo_head + 1) % p.nslots;
  --p.fifo_count;
  return i;
}

bool pattern_intact(const uint8_t* from, const uint8_t* to, const uint8_t** bad) {
  for (const uint8_t* q = from; q < to; ++q)
    if (*q != kPattern) {
      *bad = q;
      return false;
    }
  return true;
}

}  // namespace

bool start() {
  pthread_once(&g_once, start_once);
  return g_on.load(std::memory_order_acquire);
}

void* sampled_alloc(size_t size, size_t align, bool zero) {
  if (t_in_guard) {  // the depot or the walker allocating (they do not): no recursion
    t_hot.guard_left = 0;
    return nullptr;
  }
  if (!start()) {
    t_hot.guard_left = INT64_MAX;
    return nullptr;
  }
  rearm();
  Pool& p = g_pool;
  if (align < 16) align = 16;
  if (size > p.slot_bytes || align > p.page) return nullptr;
  t_in_guard = true;
  // A program that installed its own SIGSEGV handler since: ours goes in front of it again.
  install(SIGSEGV, &g_next_segv);
  install(SIGBUS, &g_next_bus);
  const uint32_t stack = capture_here();
  lock();
  const long i = take_slot();
  unlock();
  if (i < 0) {
    t_in_guard = false;
    return nullptr;
  }
  // The slot is this thread's now (in no list): made accessible and filled outside the lock.
  Slot& s = p.slots[i];
  const uintptr_t base = slot_base(static_cast<size_t>(i));
  os::system_os().commit(reinterpret_cast<void*>(base), p.slot_bytes);
  const size_t n = size == 0 ? 1 : size;  // malloc(0): one byte's room, so that it faults past it
  const bool left = p.left_pct != 0 && next_random() % 100 < p.left_pct;
  uintptr_t user;
  if (left) {
    user = base;
  } else {
    // Against the end, aligned down to guard_align (malloc's own 16 at most), or to what
    // memalign asked for.
    const size_t a = align > 16 ? align : (p.align < 16 ? p.align : 16);
    user = (base + p.slot_bytes - n) & ~(a - 1);
  }
  memset(reinterpret_cast<void*>(base), kPattern, user - base);
  if (zero) memset(reinterpret_cast<void*>(user), 0, size);
  memset(reinterpret_cast<void*>(user + size), kPattern, base + p.slot_bytes - (user + size));
  s.user = user;
  s.size = size;
  s.alloc_stack = stack;
  s.free_stack = 0;
  s.alloc_tid = tid();
  s.free_tid = 0;
  s.kind = zero ? 1 : align > 16 ? 2 : 0;
  lock();
  s.state = kLive;
  ++p.live;
  unlock();
  g_guarded.fetch_add(1, std::memory_order_relaxed);
  t_in_guard = false;
  return reinterpret_cast<void*>(user);
}

void free(const void* ptr, const char* caller) {
  Pool& p = g_pool;
  const uintptr_t a = reinterpret_cast<uintptr_t>(ptr);
  const long i = slot_at(a);
  uintptr_t frames[kStackDepth];
  const bool was_in = t_in_guard;
  t_in_guard = true;
  lock();
  Slot* s = i >= 0 ? &p.slots[i] : nullptr;
  if (s == nullptr || s->user != a || s->state != kLive) {
    const bool twice = s != nullptr && s->user == a && s->state == kFreed;
    unlock();
    const unsigned depth = capture_frames(frames, kStackDepth);
    Report r{twice ? "double-free" : "invalid-free", a, nullptr, 0,
             twice ? "the guarded block is already free (guard mode)"
                   : "is not the start of a guarded block (guard mode)",
             caller, s != nullptr && s->user != 0 ? s : nullptr, frames, depth};
    t_in_guard = was_in;
    report(r);
    return;
  }
  // The pattern around the block: a write past either end that stayed within the slot's pages.
  const uintptr_t base = slot_base(static_cast<size_t>(i));
  const uint8_t* bad = nullptr;
  const bool after_ok = pattern_intact(reinterpret_cast<const uint8_t*>(a + s->size),
                                       reinterpret_cast<const uint8_t*>(base + p.slot_bytes), &bad);
  const bool before_ok = after_ok && pattern_intact(reinterpret_cast<const uint8_t*>(base),
                                                    reinterpret_cast<const uint8_t*>(a), &bad);
  if (!after_ok || !before_ok) {
    unlock();
    const unsigned depth = capture_frames(frames, kStackDepth);
    Report r{!after_ok ? "heap-buffer-overflow" : "heap-buffer-underflow", reinterpret_cast<uintptr_t>(bad),
             "WRITE", 0, "found by free: the guarded slot's pattern overwritten (guard mode)", caller, s,
             frames, depth};
    t_in_guard = was_in;
    report(r);  // guard_continue: the block is freed all the same
    lock();
    if (s->state != kLive || s->user != a) {
      unlock();
      return;
    }
  }
  // Freed now (a second free of it is a double free), inaccessible before it can be reused.
  s->state = kFreed;
  --p.live;
  unlock();
  s->free_stack = capture_here();
  s->free_tid = tid();
  os::system_os().protect(reinterpret_cast<void*>(base), p.slot_bytes);
  lock();
  p.fifo[(p.fifo_head + p.fifo_count) % p.nslots] = static_cast<uint32_t>(i);
  ++p.fifo_count;
  unlock();
  t_in_guard = was_in;
}

size_t usable_size(const void* ptr, const char* caller) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(ptr);
  const long i = slot_at(a);
  if (i >= 0) {
    const Slot& s = g_pool.slots[i];
    if (s.user == a && s.state == kLive) return s.size;
  }
  report_fatal("invalid-pointer", caller, ptr, "is not a live guarded block (guard mode)");
}

void fork_prepare() {
  if (g_on.load(std::memory_order_acquire)) lock();
}
void fork_parent() {
  if (g_on.load(std::memory_order_acquire)) unlock();
}
void fork_child() {
  if (g_on.load(std::memory_order_acquire)) unlock();
}

Stats stats() {
  lock();
  const Stats s{g_pool.nslots, g_pool.live, g_guarded.load(std::memory_order_relaxed),
                g_reports.load(std::memory_order_relaxed)};
  unlock();
  return s;
}

}  // namespace memkit::guard
