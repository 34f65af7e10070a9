// memkit — stack capture and symbolization (src/check/stack_trace.cpp): see stack_trace.h.
#include "check/stack_trace.h"

#include <dlfcn.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <link.h>
#include <pthread.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "check/check.h"
#include "check/stack_depot.h"
#include "os/proc_maps.h"

// libstdc++'s demangler, by a weak reference: libmemkit-checked.so links no libstdc++. C++ names
// come only from C++ code, which brings libstdc++ into the process, so the reference resolves
// wherever there is a name to demangle; without it the names are printed as they are.
extern "C" char* memkit_cxa_demangle(const char* mangled, char* buf, size_t* n, int* status)
    __asm__("__cxa_demangle") __attribute__((weak));

namespace memkit::check {

namespace detail {
uintptr_t g_own_lo = 0;
uintptr_t g_own_hi = 0;
bool g_fast_unwind = true;
__attribute__((tls_model("initial-exec"))) thread_local bool t_capturing = false;
__attribute__((tls_model("initial-exec"))) thread_local StackMemo t_alloc_memo = {};
__attribute__((tls_model("initial-exec"))) thread_local StackMemo t_free_memo = {};
}  // namespace detail

namespace {

using detail::g_own_hi;
using detail::g_own_lo;
using detail::t_capturing;

void copy(char* dst, size_t cap, const char* src) {
  if (src == nullptr) src = "";
  size_t i = 0;
  for (; i + 1 < cap && src[i] != '\0'; ++i) dst[i] = src[i];
  dst[i] = '\0';
}

struct RangeQuery {
  uintptr_t addr;
  uintptr_t lo;
  uintptr_t hi;
  bool found;
};

int find_object(struct dl_phdr_info* info, size_t, void* data) {
  RangeQuery* q = static_cast<RangeQuery*>(data);
  uintptr_t lo = UINTPTR_MAX;
  uintptr_t hi = 0;
  bool contains = false;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD) continue;
    const uintptr_t start = info->dlpi_addr + ph.p_vaddr;
    const uintptr_t end = start + ph.p_memsz;
    if (q->addr >= start && q->addr < end) contains = true;
    if ((ph.p_flags & PF_X) == 0) continue;
    if (start < lo) lo = start;
    if (end > hi) hi = end;
  }
  if (!contains || hi == 0) return 0;
  q->lo = lo;
  q->hi = hi;
  q->found = true;
  return 1;
}

void demangle_into(char* dst, size_t cap, const char* name) {
  int status = 0;
  char* demangled =
      memkit_cxa_demangle != nullptr ? memkit_cxa_demangle(name, nullptr, nullptr, &status) : nullptr;
  copy(dst, cap, status == 0 && demangled ? demangled : name);
  std::free(demangled);
}

/// An inlined subroutine's name (through its abstract origin): the linkage name demangled (C++:
/// "Holder::~Holder()"), else DW_AT_name (C).
void die_name(Dwarf_Die* die, char* dst, size_t cap) {
  Dwarf_Attribute attr;
  const char* name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &attr));
  if (name == nullptr) name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr));
  if (name != nullptr) {
    demangle_into(dst, cap, name);
    return;
  }
  copy(dst, cap, dwarf_diename(die));
}

/// Where an inlined subroutine was called from: DW_AT_call_file (an index into its CU's file
/// table) and DW_AT_call_line. "" and 0 when absent.
void call_site(Dwarf_Die* die, char* file, size_t cap, int* line) {
  file[0] = '\0';
  *line = 0;
  Dwarf_Attribute attr;
  Dwarf_Word w = 0;
  if (dwarf_formudata(dwarf_attr(die, DW_AT_call_line, &attr), &w) == 0) *line = static_cast<int>(w);
  if (dwarf_formudata(dwarf_attr(die, DW_AT_call_file, &attr), &w) != 0) return;
  Dwarf_Die cu;
  Dwarf_Files* files = nullptr;
  size_t nfiles = 0;
  if (dwarf_diecu(die, &cu, nullptr, nullptr) != nullptr && dwarf_getsrcfiles(&cu, &files, &nfiles) == 0 &&
      w < nfiles)
    copy(file, cap, dwarf_filesrc(files, w, nullptr, nullptr));
}

// The object with a PT_LOAD segment (its memory size: .bss included) holding q->addr: q->lo is
// the start of its first segment.
int find_segment(struct dl_phdr_info* info, size_t, void* data) {
  RangeQuery* q = static_cast<RangeQuery*>(data);
  uintptr_t first = UINTPTR_MAX;
  bool contains = false;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD) continue;
    const uintptr_t start = info->dlpi_addr + ph.p_vaddr;
    if (start < first) first = start;
    if (q->addr >= start && q->addr < start + ph.p_memsz) contains = true;
  }
  if (!contains) return 0;
  q->lo = first;
  q->found = true;
  return 1;
}

Dwfl* g_dwfl = nullptr;
char* g_debuginfo_path = nullptr;
const Dwfl_Callbacks g_callbacks = {
    dwfl_linux_proc_find_elf,
    dwfl_standard_find_debuginfo,
    dwfl_offline_section_address,
    &g_debuginfo_path,
};

}  // namespace

void set_own_code_range(uintptr_t lo, uintptr_t hi) {
  g_own_lo = lo;
  g_own_hi = hi;
}

bool code_range_of(const void* addr, uintptr_t* lo, uintptr_t* hi) {
  RangeQuery q{reinterpret_cast<uintptr_t>(addr), 0, 0, false};
  dl_iterate_phdr(find_object, &q);
  if (!q.found) return false;
  *lo = q.lo;
  *hi = q.hi;
  return true;
}

unsigned capture_stack(uintptr_t* frames, unsigned max) {
  if (t_capturing || max == 0) return 0;
  t_capturing = true;
  uintptr_t raw[kMaxFrames + 6];
  // Up to 6 of the innermost frames are the checker's own (operator new, allocate, capture...).
  const int want = static_cast<int>((max > kMaxFrames ? kMaxFrames : max) + 6);
  bool reused = false;
  const int n = detail::walk(raw, want, kOtherWalk, &reused);
  t_capturing = false;
  if (n <= 0) return 0;
  int first = 0;
  while (first < n && raw[first] >= g_own_lo && raw[first] < g_own_hi)
    ++first;
  unsigned depth = 0;
  for (int i = first; i < n && depth < max; ++i) frames[depth++] = raw[i];
  return depth;
}

void set_fast_unwind(bool on) { detail::g_fast_unwind = on; }

uint32_t capture_stack_id(unsigned max) {
  uintptr_t frames[kMaxFrames];
  const unsigned n = capture_stack(frames, max > kMaxFrames ? kMaxFrames : max);
  return stack_depot().put(frames, n);
}

void refresh_symbolizer() {
  InternalHeapScope own_heap;  // libdw allocates: from the checker's own heap (check.h)
  if (g_dwfl == nullptr) {
    g_dwfl = dwfl_begin(&g_callbacks);
    if (g_dwfl == nullptr) return;
  }
  dwfl_report_begin_add(g_dwfl);
  dwfl_linux_proc_report(g_dwfl, getpid());
  dwfl_report_end(g_dwfl, nullptr, nullptr);
}

bool is_signal_trampoline(uintptr_t pc) {
  static const unsigned char kRestoreRt[] = {0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05};
  unsigned char code[sizeof kRestoreRt];
  struct iovec local = {code, sizeof code};
  struct iovec remote = {reinterpret_cast<void*>(pc), sizeof code};
  if (pc == 0 || process_vm_readv(getpid(), &local, 1, &remote, 1, 0) != static_cast<ssize_t>(sizeof code))
    return false;
  return memcmp(code, kRestoreRt, sizeof code) == 0;
}

bool frame_is_return_address(const uintptr_t* frames, unsigned i, bool exact_first) {
  if (i == 0 && exact_first) return false;
  if (is_signal_trampoline(frames[i])) return false;
  return !(i > 0 && is_signal_trampoline(frames[i - 1]));
}

void symbolize(uintptr_t pc, bool return_address, SymbolizedFrame* out) {
  InternalHeapScope own_heap;  // libdw and the demangler allocate: from the checker's own heap
  out->function[0] = out->file[0] = out->module[0] = '\0';
  out->line = 0;
  out->module_offset = 0;
  out->inlined = false;
  const uintptr_t addr = return_address && pc > 0 ? pc - 1 : pc;
  const char* name = nullptr;
  if (g_dwfl == nullptr) refresh_symbolizer();
  // The object whose segments hold addr: its module is found by its first segment, as a .bss
  // past the file's last page is an anonymous mapping that libdw's module does not cover.
  RangeQuery seg{addr, 0, 0, false};
  dl_iterate_phdr(find_segment, &seg);
  if (g_dwfl != nullptr && seg.found) {
    if (Dwfl_Module* m = dwfl_addrmodule(g_dwfl, seg.lo)) {
      Dwarf_Addr start = 0;
      const char* mod = dwfl_module_info(m, nullptr, &start, nullptr, nullptr, nullptr, nullptr,
                                         nullptr);
      copy(out->module, sizeof out->module, mod);
      out->module_offset = addr - start;
      name = dwfl_module_addrname(m, addr);
      if (Dwfl_Line* line = dwfl_module_getsrc(m, addr)) {
        int lineno = 0;
        const char* file = dwfl_lineinfo(line, nullptr, &lineno, nullptr, nullptr, nullptr);
        copy(out->file, sizeof out->file, file);
        out->line = lineno;
      }
    }
  }
  Dl_info info;
  if ((name == nullptr || out->module[0] == '\0') &&
      dladdr(reinterpret_cast<void*>(addr), &info) != 0) {
    if (name == nullptr) name = info.dli_sname;
    if (out->module[0] == '\0') {
      copy(out->module, sizeof out->module, info.dli_fname);
      out->module_offset = addr - reinterpret_cast<uintptr_t>(info.dli_fbase);
    }
  }
  if (name != nullptr) demangle_into(out->function, sizeof out->function, name);
}

unsigned symbolize_inline(uintptr_t pc, bool return_address, SymbolizedFrame* out, unsigned max) {
  if (max == 0) return 0;
  symbolize(pc, return_address, &out[0]);  // the module, the outer function, pc's file:line
  if (max == 1 || g_dwfl == nullptr) return 1;
  InternalHeapScope own_heap;
  const uintptr_t addr = return_address && pc > 0 ? pc - 1 : pc;
  Dwfl_Module* m = dwfl_addrmodule(g_dwfl, addr);
  Dwarf_Addr bias = 0;
  Dwarf_Die* cu = m != nullptr ? dwfl_module_addrdie(m, addr, &bias) : nullptr;
  if (cu == nullptr) return 1;
  Dwarf_Die* scopes = nullptr;
  const int n = dwarf_getscopes(cu, addr - bias, &scopes);
  // scopes: innermost first, up to the CU. Each inlined subroutine before the first subprogram
  // is a frame of its own; its call site is the position in the frame that encloses it.
  const SymbolizedFrame outer = out[0];
  char file[sizeof outer.file];
  copy(file, sizeof file, outer.file);
  int line = outer.line;
  unsigned k = 0;
  for (int i = 0; i < n && k + 1 < max; ++i) {
    const int tag = dwarf_tag(&scopes[i]);
    if (tag == DW_TAG_subprogram) break;
    if (tag != DW_TAG_inlined_subroutine) continue;  // a lexical block
    SymbolizedFrame& f = out[k++];
    f = outer;
    die_name(&scopes[i], f.function, sizeof f.function);
    copy(f.file, sizeof f.file, file);
    f.line = line;
    f.inlined = true;
    call_site(&scopes[i], file, sizeof file, &line);
  }
  std::free(scopes);
  if (k == 0) return 1;
  SymbolizedFrame& last = out[k];
  last = outer;
  copy(last.file, sizeof last.file, file);
  last.line = line;
  return k + 1;
}

namespace {

struct MappingQuery {
  uintptr_t addr;
  bool found;
  bool main_stack;
  bool anonymous;
  uintptr_t start;
  char path[256];
};

void find_mapping(void* ctx, const os::MapsEntry& e) {
  MappingQuery* q = static_cast<MappingQuery*>(ctx);
  if (q->found || q->addr < e.start || q->addr >= e.end) return;
  q->found = true;
  q->start = e.start;
  q->anonymous = e.path_len == 0;
  q->main_stack = e.path_len == 7 && memcmp(e.path, "[stack]", 7) == 0;
  const size_t n = e.path_len < sizeof q->path - 1 ? e.path_len : sizeof q->path - 1;
  memcpy(q->path, e.path, n);
  q->path[n] = '\0';
}

const char* base_name(const char* path) {
  const char* slash = strrchr(path, '/');
  return slash != nullptr ? slash + 1 : path;
}

/// The function whose frame on this thread's stack holds addr ("" if none): each frame's locals
/// lie between its stack pointer and its caller's, which libunwind's walk gives.
void frame_holding(uintptr_t addr, char* fn, size_t len) {
  fn[0] = '\0';
  unw_context_t ctx;
  unw_cursor_t cur;
  if (unw_getcontext(&ctx) != 0 || unw_init_local(&cur, &ctx) != 0) return;
  unw_word_t ip = 0;
  unw_word_t sp = 0;
  unw_get_reg(&cur, UNW_REG_IP, &ip);
  unw_get_reg(&cur, UNW_REG_SP, &sp);
  for (unsigned depth = 0; depth < 256 && unw_step(&cur) > 0; ++depth) {
    unw_word_t caller_ip = 0;
    unw_word_t caller_sp = 0;
    unw_get_reg(&cur, UNW_REG_IP, &caller_ip);
    unw_get_reg(&cur, UNW_REG_SP, &caller_sp);
    if (addr >= sp && addr < caller_sp) {
      SymbolizedFrame f;
      symbolize(ip, depth > 0, &f);
      if (f.file[0] != '\0') snprintf(fn, len, "%.300s (%.150s)", f.function[0] ? f.function : "??", base_name(f.file));
      else copy(fn, len, f.function[0] ? f.function : "??");
      return;
    }
    ip = caller_ip;
    sp = caller_sp;
  }
}

}  // namespace

void describe_address(uintptr_t addr, char* buf, size_t len) {
  InternalHeapScope own_heap;  // pthread_getattr_np (main thread: stdio), libdw
  buf[0] = '\0';
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    void* lo = nullptr;
    size_t size = 0;
    const bool ok = pthread_attr_getstack(&attr, &lo, &size) == 0;
    pthread_attr_destroy(&attr);
    const uintptr_t l = reinterpret_cast<uintptr_t>(lo);
    if (ok && addr >= l && addr < l + size) {
      char fn[500];
      frame_holding(addr, fn, sizeof fn);
      snprintf(buf, len, "the address is on the stack of thread %u (this thread)%s%s", current_tid(),
               fn[0] ? ", in the frame of " : "", fn);
      return;
    }
  }
  if (g_dwfl == nullptr) refresh_symbolizer();
  // The object whose segments hold addr: its module is found by its first segment, as a .bss
  // past the file's last page is an anonymous mapping that libdw's module does not cover.
  RangeQuery seg{addr, 0, 0, false};
  dl_iterate_phdr(find_segment, &seg);
  if (g_dwfl != nullptr && seg.found) {
    if (Dwfl_Module* m = dwfl_addrmodule(g_dwfl, seg.lo)) {
      GElf_Off off = 0;
      GElf_Sym sym;
      const char* name = dwfl_module_addrinfo(m, addr, &off, &sym, nullptr, nullptr, nullptr);
      const char* mod = dwfl_module_info(m, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
      if (name != nullptr && off < (sym.st_size == 0 ? 1 : sym.st_size)) {
        char demangled[300];
        demangle_into(demangled, sizeof demangled, name);
        snprintf(buf, len, "the address is in the global '%s' (%lu %s into its %lu), in %s", demangled,
                 static_cast<unsigned long>(off), off == 1 ? "byte" : "bytes",
                 static_cast<unsigned long>(sym.st_size), base_name(mod != nullptr ? mod : "?"));
        return;
      }
    }
  }
  MappingQuery q{addr, false, false, false, 0, {}};
  char maps_buf[4096];
  os::for_each_mapping(maps_buf, sizeof maps_buf, find_mapping, &q);
  if (!q.found) {
    snprintf(buf, len, "the address is not mapped");
  } else if (q.main_stack) {
    snprintf(buf, len, "the address is on the stack of the main thread (thread %ld)", static_cast<long>(getpid()));
  } else if (q.anonymous) {
    snprintf(buf, len, "the address is in an anonymous mapping at 0x%lx (another thread's stack, or memory from mmap)",
             static_cast<unsigned long>(q.start));
  } else {
    snprintf(buf, len, "the address is in a mapping of %s, %lu bytes into it", q.path,
             static_cast<unsigned long>(addr - q.start));
  }
}

}  // namespace memkit::check
