// memkit — the checked mode's reports (src/check/check_report.cpp): see check_report.h.
#include "check/check_report.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "check/stack_depot.h"
#include "check/stack_trace.h"
#include "check/suppressions.h"
#include "options/options.h"

namespace memkit::check {
namespace {

pthread_mutex_t g_report_lock = PTHREAD_MUTEX_INITIALIZER;
__attribute__((tls_model("initial-exec"))) thread_local bool t_reporting = false;
std::atomic<size_t> g_errors{0};
char g_buf[16384];  // under g_report_lock
size_t g_used = 0;

int g_fd = -1;  // report_fd, or the copy of stderr made at start-up

int out_fd() {
  if (g_fd >= 0) return g_fd;
  const long fd = options().report_fd;
  return fd >= 0 ? static_cast<int>(fd) : 2;
}

void flush() {
  const char* p = g_buf;
  size_t n = g_used;
  while (n > 0) {
    const ssize_t w = write(out_fd(), p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    p += w;
    n -= static_cast<size_t>(w);
  }
  g_used = 0;
}

__attribute__((format(printf, 1, 2))) void out(const char* fmt, ...) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    va_list ap;
    va_start(ap, fmt);
    const int n = vsnprintf(g_buf + g_used, sizeof g_buf - g_used, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if (static_cast<size_t>(n) < sizeof g_buf - g_used) {
      g_used += static_cast<size_t>(n);
      return;
    }
    if (g_used == 0) {
      g_used = sizeof g_buf - 1;
      return;
    }
    flush();
  }
}

// The process tag of the report lines: "" in the process `memkit check` started (stats_pid) or
// when no process is named (stats_pid=0), else "[pid N name] ", so that the reports of a child
// (gcc's cc1, a shell's commands) say whose they are.
void process_tag(char* buf, size_t len) {
  buf[0] = '\0';
  if (is_main_process()) return;
  snprintf(buf, len, "[pid %ld %s] ", static_cast<long>(getpid()), program_invocation_short_name);
}

const char* plural(size_t n, const char* one, const char* many) { return n == 1 ? one : many; }

const char* base_name(const char* path) {
  const char* slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

// pc's source frames (symbolize_inline), under g_report_lock: a function's inlined calls are
// frames of their own, with the same pc.
SymbolizedFrame g_frames[kMaxInlineFrames];

unsigned symbolize_at(const uintptr_t* frames, unsigned i, bool exact_first) {
  return symbolize_inline(frames[i], frame_is_return_address(frames, i, exact_first), g_frames, kMaxInlineFrames);
}

// "    #N 0xPC in function file:line (module+0xOFF)", and for a call inlined at that pc
// "    #N 0xPC in function file:line (inlined)" before it (as ASan and valgrind print them).
void print_frames(const uintptr_t* frames, unsigned depth, bool exact_first) {
  if (depth == 0) {
    out("    (no stack recorded)\n");
    return;
  }
  unsigned number = 0;
  for (unsigned i = 0; i < depth; ++i) {
    const unsigned n = symbolize_at(frames, i, exact_first);
    for (unsigned j = 0; j < n; ++j) {
      const SymbolizedFrame& f = g_frames[j];
      out("    #%u 0x%lx in %s", number++, static_cast<unsigned long>(frames[i]),
          f.function[0] ? f.function : "??");
      if (f.file[0]) out(" %s:%d", f.file, f.line);
      if (f.inlined) out(" (inlined)");
      else if (f.module[0]) out(" (%s+0x%lx)", base_name(f.module), static_cast<unsigned long>(f.module_offset));
      out("\n");
    }
  }
}

void print_stack(uint32_t id) {
  const uintptr_t* frames = nullptr;
  const unsigned depth = stack_depot().get(id, &frames);
  print_frames(frames, depth, false);
}

// The first frame with a function name (the innermost inlined call at its pc, if any),
// "function file:line", for the summary line.
void describe_top(const uintptr_t* frames, unsigned depth, bool exact_first, char* buf, size_t len) {
  buf[0] = '\0';
  for (unsigned i = 0; i < depth; ++i) {
    const unsigned n = symbolize_at(frames, i, exact_first);
    for (unsigned j = 0; j < n; ++j) {
      const SymbolizedFrame& f = g_frames[j];
      if (f.function[0] == '\0') continue;
      if (f.file[0]) snprintf(buf, len, " in %.300s %.200s:%d", f.function, base_name(f.file), f.line);
      else snprintf(buf, len, " in %.500s", f.function);
      return;
    }
  }
}

// Suppressions match any frame, inlined ones included (their function and file).
bool frames_suppressed(const char* kind, const uintptr_t* frames, unsigned depth, bool exact_first) {
  const Suppressions& s = process_suppressions();
  if (s.size() == 0) return false;
  for (unsigned i = 0; i < depth; ++i) {
    const unsigned n = symbolize_at(frames, i, exact_first);
    for (unsigned j = 0; j < n; ++j) {
      const SymbolizedFrame& f = g_frames[j];
      if (s.matches(kind, f.function) || s.matches(kind, f.file) || s.matches(kind, f.module)) return true;
    }
  }
  return false;
}

bool stack_suppressed(const char* kind, uint32_t id) {
  const uintptr_t* frames = nullptr;
  const unsigned depth = stack_depot().get(id, &frames);
  return frames_suppressed(kind, frames, depth, false);
}

// check_continue: each (kind, bad-call site, allocation stack) once.
constexpr size_t kSeen = 4096;
uint64_t g_seen[kSeen];

bool first_time(uint64_t key) {
  if (key == 0) key = 1;
  for (size_t i = 0; i < kSeen; ++i) {
    uint64_t& slot = g_seen[(key + i) & (kSeen - 1)];
    if (slot == key) return false;
    if (slot == 0) {
      slot = key;
      return true;
    }
  }
  return true;  // table full: report
}

const char* access_name(Access a) {
  return a == Access::kRead ? "READ" : a == Access::kWrite ? "WRITE" : nullptr;
}

// Where addr is relative to the block.
void describe_position(const ErrorReport& r, char* buf, size_t len) {
  if (!r.has_block) {
    buf[0] = '\0';
    return;
  }
  const Block& b = r.block;
  const uintptr_t user = block_user(b);
  unsigned long d;
  const char* where;
  if (r.addr >= user + b.size) {
    d = static_cast<unsigned long>(r.addr - (user + b.size));
    where = "after the end of";
  } else if (r.addr < user) {
    d = static_cast<unsigned long>(user - r.addr);
    where = "before";
  } else {
    d = static_cast<unsigned long>(r.addr - user);
    where = "inside";
  }
  snprintf(buf, len, "%lu %s %s the %zu-byte block at 0x%lx", d, plural(d, "byte", "bytes"), where, b.size,
           static_cast<unsigned long>(user));
}

}  // namespace

const char* error_kind_name(ErrorKind k) {
  switch (k) {
    case ErrorKind::kUseAfterFree: return "heap-use-after-free";
    case ErrorKind::kOverflow: return "heap-buffer-overflow";
    case ErrorKind::kUnderflow: return "heap-buffer-underflow";
    case ErrorKind::kDoubleFree: return "double-free";
    case ErrorKind::kInvalidFree: return "invalid-free";
    case ErrorKind::kMismatch: return "alloc-dealloc-mismatch";
  }
  return "error";
}

void keep_report_fd() {
  const long fd = options().report_fd;
  if (fd != 2) return;
  // Many programs close stderr at exit (coreutils' close_stdout) before the leak scan runs:
  // the reports go to a copy of it, out of the program's way and not inherited across exec.
  const int copy = fcntl(2, F_DUPFD_CLOEXEC, 100);
  if (copy >= 0) g_fd = copy;
}

bool reporting_now() { return t_reporting; }

bool is_main_process() {
  const long main_pid = options().stats_pid;
  return main_pid == 0 || main_pid == static_cast<long>(getpid());
}

size_t errors_reported() { return g_errors.load(std::memory_order_relaxed); }

void report_error(const ErrorReport& r) {
  if (t_reporting) abort();  // a report from inside a report: the checker itself is broken
  InternalHeapScope own_heap;  // libdw's allocations: not from the heap being checked
  t_reporting = true;
  pthread_mutex_lock(&g_report_lock);
  refresh_symbolizer();
  const char* kind = error_kind_name(r.kind);
  const bool cont = options().check_continue;
  uint64_t key = static_cast<uint64_t>(r.kind) * 0x9e3779b97f4a7c15ull;
  key ^= (r.depth > 0 ? r.frames[0] : r.pc) * 0xff51afd7ed558ccdull;
  if (r.has_block) key ^= uint64_t{r.block.alloc_stack} << 20;
  bool quiet = frames_suppressed(kind, r.frames, r.depth, r.exact_first) ||
               (r.has_block && stack_suppressed(kind, r.block.alloc_stack));
  if (!quiet && cont && !first_time(key)) quiet = true;
  if (quiet) {
    pthread_mutex_unlock(&g_report_lock);
    t_reporting = false;
    return;
  }
  g_errors.fetch_add(1, std::memory_order_relaxed);
  char pos[256];
  describe_position(r, pos, sizeof pos);
  char tag[300];
  process_tag(tag, sizeof tag);
  out("memkit: %sERROR: %s on address 0x%lx%s%s%s\n", tag, kind, static_cast<unsigned long>(r.addr),
      pos[0] ? " (" : "", pos, pos[0] ? ")" : "");
  if (const char* a = access_name(r.access)) {
    if (r.access_size != 0) out("  %s of size %zu", a, r.access_size);
    else out("  %s of unknown size", a);
    if (r.pc != 0) out(" at pc 0x%lx", static_cast<unsigned long>(r.pc));
    out(" (%s)\n", r.how);
  } else {
    out("  %s\n", r.how);
  }
  if (r.detail[0]) out("  %s\n", r.detail);
  if (r.describe_addr && !r.has_block) {
    char what[600];
    describe_address(r.addr, what, sizeof what);
    if (what[0]) out("  %s\n", what);
  }
  if (r.has_block) {
    const Block& b = r.block;
    out("  the block: %zu %s at 0x%lx, from %s, %s%s\n", b.size, plural(b.size, "byte", "bytes"),
        static_cast<unsigned long>(block_user(b)),
        alloc_kind_name(static_cast<AllocKind>(b.kind)),
        b.state == kQuarantined ? "freed" : "live", b.full ? " (own pages)" : "");
  }
  out("  %s in thread %u:\n", r.call, current_tid());
  print_frames(r.frames, r.depth, r.exact_first);
  if (r.has_block) {
    out("  allocated by thread %u at:\n", r.block.alloc_tid);
    print_stack(r.block.alloc_stack);
    if (r.block.state == kQuarantined) {
      out("  freed by thread %u at:\n", r.block.free_tid);
      print_stack(r.block.free_stack);
    }
  }
  char top[600];
  describe_top(r.frames, r.depth, r.exact_first, top, sizeof top);
  out("memkit: %sSUMMARY: %s%s\n", tag, kind, top);
  flush();
  pthread_mutex_unlock(&g_report_lock);
  t_reporting = false;
  if (!cont) abort();
}

bool leak_suppressed(uint32_t alloc_stack) {
  InternalHeapScope own_heap;
  pthread_mutex_lock(&g_report_lock);
  const bool s = stack_suppressed("leak", alloc_stack);
  pthread_mutex_unlock(&g_report_lock);
  return s;
}

void report_leak(bool direct, size_t bytes, size_t blocks, uint32_t alloc_stack) {
  InternalHeapScope own_heap;
  pthread_mutex_lock(&g_report_lock);
  char tag[300];
  process_tag(tag, sizeof tag);
  out("memkit: %sLEAK: %zu %s in %zu %s (%s)\n", tag, bytes, plural(bytes, "byte", "bytes"), blocks,
      plural(blocks, "block", "blocks"), direct ? "direct" : "indirect");
  out("  allocated at:\n");
  print_stack(alloc_stack);
  out("\n");
  flush();
  pthread_mutex_unlock(&g_report_lock);
}

void report_exit_summary(size_t leak_groups, size_t leak_bytes, size_t leak_blocks) {
  const size_t errors = errors_reported();
  if (errors == 0 && leak_groups == 0) return;
  pthread_mutex_lock(&g_report_lock);
  char tag[300];
  process_tag(tag, sizeof tag);
  out("memkit: %sSUMMARY: %zu %s, %zu %s (%zu %s in %zu %s)\n", tag, errors, plural(errors, "error", "errors"),
      leak_groups, plural(leak_groups, "leak", "leaks"), leak_bytes, plural(leak_bytes, "byte", "bytes"),
      leak_blocks, plural(leak_blocks, "block", "blocks"));
  flush();
  pthread_mutex_unlock(&g_report_lock);
}

}  // namespace memkit::check
