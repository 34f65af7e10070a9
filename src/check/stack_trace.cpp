// memkit — stack capture and symbolization (src/check/stack_trace.cpp): see stack_trace.h.
#include "check/stack_trace.h"

#include <dlfcn.h>
#include <elfutils/libdwfl.h>
#include <link.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "check/check.h"
#include "check/stack_depot.h"

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
  const uintptr_t addr = return_address && pc > 0 ? pc - 1 : pc;
  const char* name = nullptr;
  if (g_dwfl == nullptr) refresh_symbolizer();
  if (g_dwfl != nullptr) {
    if (Dwfl_Module* m = dwfl_addrmodule(g_dwfl, addr)) {
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
  if (name != nullptr) {
    int status = 0;
    char* demangled = memkit_cxa_demangle != nullptr
                          ? memkit_cxa_demangle(name, nullptr, nullptr, &status)
                          : nullptr;
    copy(out->function, sizeof out->function, status == 0 && demangled ? demangled : name);
    std::free(demangled);
  }
}

}  // namespace memkit::check
