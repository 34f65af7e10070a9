// memkit — the checked malloc's exports (src/check/override/checked_override.cpp)
//
// Compiled only into libmemkit-checked.so: every allocation function of the C library and
// every operator new/delete, each a one-line forward to the checker (src/check/check.h) with
// the form of the call, so that a free can be matched against its allocation. The normal
// libmemkit.so does not contain this file nor src/check/, so its fast path pays nothing.
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <malloc.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cstring>
#include <new>

#include "check/check.h"
#include "check/unwind.h"
#include "malloc/lifecycle.h"
#include "malloc/malloc.h"
#include "malloc/override/new_handler.h"
#include "memkit/memkit.h"
#include "options/options.h"
#include "stats/report.h"

#define MK_EXPORT extern "C" __attribute__((visibility("default")))
#define MK_NEW_EXPORT __attribute__((visibility("default")))

using memkit::check::AllocKind;
using memkit::check::allocate;
using memkit::check::deallocate;

// Each export passes the checker its own frame (FRAME, __builtin_frame_address(0): its saved
// rbp, then its return address into the program), so that the allocation and free stacks are
// walked from the program's frame, not through the checker's two frames under it (glibc_simple:
// 14 % fewer instructions in the walker). Taking the address makes the export keep a frame pointer. The frame must
// outlive the checker's call, which must therefore not be a tail call: CHECKED(call) and
// RETURN_CHECKED(call) put an empty asm after it, which the compiler may not move above it.
#define FRAME __builtin_frame_address(0)
#define NO_TAIL_CALL() asm volatile("" ::: "memory")
#define CHECKED(call) \
  do {                \
    call;             \
    NO_TAIL_CALL();   \
  } while (0)
#define RETURN_CHECKED(call) \
  do {                       \
    auto result_ = call;     \
    NO_TAIL_CALL();          \
    return result_;          \
  } while (0)

namespace {

inline void* new_impl(size_t size, size_t align, AllocKind kind, bool nothrow, const void* frame) {
  if (void* p = allocate(size, align, kind, false, frame)) [[likely]]
    return p;
  return memkit::new_failed([=] { return allocate(size, align, kind, false, frame); }, nothrow,
                            "operator new", size);
}

}  // namespace

// ---- the C library's functions ----

MK_EXPORT void* malloc(size_t size) {
  RETURN_CHECKED(allocate(size, 0, memkit::check::kMalloc, false, FRAME));
}
MK_EXPORT void free(void* p) {
  CHECKED(deallocate(p, memkit::check::kMalloc, false, 0, "free", FRAME));
}
MK_EXPORT void cfree(void* p) {
  CHECKED(deallocate(p, memkit::check::kMalloc, false, 0, "cfree", FRAME));
}

MK_EXPORT void* calloc(size_t n, size_t size) {
  size_t bytes;
  if (__builtin_mul_overflow(n, size, &bytes)) {
    errno = ENOMEM;
    return nullptr;
  }
  RETURN_CHECKED(allocate(bytes, 0, memkit::check::kMalloc, true, FRAME));
}

MK_EXPORT void* realloc(void* p, size_t size) {
  RETURN_CHECKED(memkit::check::reallocate(p, size, "realloc", FRAME));
}

MK_EXPORT void* reallocarray(void* p, size_t n, size_t size) {
  size_t bytes;
  if (__builtin_mul_overflow(n, size, &bytes)) {
    errno = ENOMEM;
    return nullptr;
  }
  RETURN_CHECKED(memkit::check::reallocate(p, bytes, "reallocarray", FRAME));
}

MK_EXPORT void* aligned_alloc(size_t align, size_t size) {
  if (!memkit::aligned_alloc_alignment(align)) return nullptr;
  RETURN_CHECKED(allocate(size, align, memkit::check::kMalloc, false, FRAME));
}

MK_EXPORT int posix_memalign(void** out, size_t align, size_t size) {
  const void* const frame = FRAME;
  RETURN_CHECKED(memkit::posix_memalign_with(
      out, align, size, [frame](size_t a, size_t n) { return allocate(n, a, memkit::check::kMalloc, false, frame); }));
}

MK_EXPORT void* memalign(size_t align, size_t size) {
  if (!memkit::memalign_alignment(&align)) return nullptr;
  RETURN_CHECKED(allocate(size, align, memkit::check::kMalloc, false, FRAME));
}

MK_EXPORT void* valloc(size_t size) {
  RETURN_CHECKED(allocate(size, memkit::malloc_page_size(), memkit::check::kMalloc, false, FRAME));
}

MK_EXPORT void* pvalloc(size_t size) {
  size_t rounded;
  if (!memkit::pvalloc_size(size, &rounded)) return nullptr;
  RETURN_CHECKED(allocate(rounded, memkit::malloc_page_size(), memkit::check::kMalloc, false, FRAME));
}

MK_EXPORT size_t malloc_usable_size(void* p) {
  return memkit::check::usable_size(p, "malloc_usable_size");
}

MK_EXPORT int malloc_trim(size_t) { return memkit::trim_impl() ? 1 : 0; }
MK_EXPORT void malloc_stats(void) { memkit::write_report(2, /*json=*/false); }
MK_EXPORT int mallopt(int, int) { return 1; }
// The page heap's figures, as libmemkit.so gives them (src/malloc/override/malloc_override.cpp).
MK_EXPORT struct mallinfo2 mallinfo2(void) { return memkit::mallinfo2_impl(); }
MK_EXPORT struct mallinfo mallinfo(void) { return memkit::mallinfo_impl(); }

/// 1 at check=fast, 2 at check=full: how a program (or a test) knows it runs checked.
MK_EXPORT int memkit_checked_mode(void) { return memkit::check::full_mode() ? 2 : 1; }

// ---- operator new and delete ----

MK_NEW_EXPORT void* operator new(size_t n) {
  RETURN_CHECKED(new_impl(n, 0, memkit::check::kNew, false, FRAME));
}
MK_NEW_EXPORT void* operator new[](size_t n) {
  RETURN_CHECKED(new_impl(n, 0, memkit::check::kNewArray, false, FRAME));
}
MK_NEW_EXPORT void* operator new(size_t n, const std::nothrow_t&) noexcept {
  RETURN_CHECKED(new_impl(n, 0, memkit::check::kNew, true, FRAME));
}
MK_NEW_EXPORT void* operator new[](size_t n, const std::nothrow_t&) noexcept {
  RETURN_CHECKED(new_impl(n, 0, memkit::check::kNewArray, true, FRAME));
}
MK_NEW_EXPORT void* operator new(size_t n, std::align_val_t a) {
  RETURN_CHECKED(new_impl(n, static_cast<size_t>(a), memkit::check::kNewAligned, false, FRAME));
}
MK_NEW_EXPORT void* operator new[](size_t n, std::align_val_t a) {
  RETURN_CHECKED(new_impl(n, static_cast<size_t>(a), memkit::check::kNewArrayAligned, false, FRAME));
}
MK_NEW_EXPORT void* operator new(size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  RETURN_CHECKED(new_impl(n, static_cast<size_t>(a), memkit::check::kNewAligned, true, FRAME));
}
MK_NEW_EXPORT void* operator new[](size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  RETURN_CHECKED(new_impl(n, static_cast<size_t>(a), memkit::check::kNewArrayAligned, true, FRAME));
}

MK_NEW_EXPORT void operator delete(void* p) noexcept {
  CHECKED(deallocate(p, memkit::check::kNew, false, 0, "operator delete", FRAME));
}
MK_NEW_EXPORT void operator delete[](void* p) noexcept {
  CHECKED(deallocate(p, memkit::check::kNewArray, false, 0, "operator delete[]", FRAME));
}
MK_NEW_EXPORT void operator delete(void* p, const std::nothrow_t&) noexcept {
  CHECKED(deallocate(p, memkit::check::kNew, false, 0, "operator delete", FRAME));
}
MK_NEW_EXPORT void operator delete[](void* p, const std::nothrow_t&) noexcept {
  CHECKED(deallocate(p, memkit::check::kNewArray, false, 0, "operator delete[]", FRAME));
}
MK_NEW_EXPORT void operator delete(void* p, size_t n) noexcept {
  CHECKED(deallocate(p, memkit::check::kNew, true, n, "operator delete(sized)", FRAME));
}
MK_NEW_EXPORT void operator delete[](void* p, size_t n) noexcept {
  CHECKED(deallocate(p, memkit::check::kNewArray, true, n, "operator delete[](sized)", FRAME));
}
MK_NEW_EXPORT void operator delete(void* p, std::align_val_t) noexcept {
  CHECKED(deallocate(p, memkit::check::kNewAligned, false, 0, "operator delete(align_val_t)", FRAME));
}
MK_NEW_EXPORT void operator delete[](void* p, std::align_val_t) noexcept {
  CHECKED(deallocate(p, memkit::check::kNewArrayAligned, false, 0, "operator delete[](align_val_t)", FRAME));
}
MK_NEW_EXPORT void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  CHECKED(deallocate(p, memkit::check::kNewAligned, false, 0, "operator delete(align_val_t)", FRAME));
}
MK_NEW_EXPORT void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  CHECKED(deallocate(p, memkit::check::kNewArrayAligned, false, 0, "operator delete[](align_val_t)", FRAME));
}
MK_NEW_EXPORT void operator delete(void* p, size_t n, std::align_val_t) noexcept {
  CHECKED(deallocate(p, memkit::check::kNewAligned, true, n, "operator delete(sized, align_val_t)", FRAME));
}
MK_NEW_EXPORT void operator delete[](void* p, size_t n, std::align_val_t) noexcept {
  CHECKED(deallocate(p, memkit::check::kNewArrayAligned, true, n, "operator delete[](sized, align_val_t)", FRAME));
}

extern char** environ;

namespace {

// After the ready byte: rewrite check_ready_fd's value in MEMKIT_OPTIONS, in place, to -1
// ("-01", "-001": as many characters as before), so that a program that execs another in the
// same process (a shell script's `exec`, pyenv's shims) does not write again, onto whatever
// has that descriptor number by then.
void disarm_ready_fd() {
  static const char kVar[] = "MEMKIT_OPTIONS=";
  static const char kKey[] = "check_ready_fd=";
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    if (strncmp(*e, kVar, sizeof kVar - 1) != 0) continue;
    for (char* k = strstr(*e, kKey); k != nullptr; k = strstr(k + 1, kKey)) {
      char* v = k + sizeof kKey - 1;
      size_t n = 0;
      while (v[n] != '\0' && v[n] != ':') ++n;
      if (n < 2) continue;
      v[0] = '-';
      for (size_t i = 1; i + 1 < n; ++i) v[i] = '0';
      v[n - 1] = '1';
    }
  }
}

}  // namespace

// Before main: fork handlers, the checker's start-up (fault handler, suppressions); and, for
// `memkit check`, one byte on check_ready_fd to say the library is in (only in the process
// memkit check started: stats_pid).
__attribute__((constructor)) static void memkit_checked_init() {
  memkit::install_fork_handlers();
  memkit::check::start();
  const memkit::Options& o = memkit::options();
  if (o.check_ready_fd >= 0 && o.stats_pid == static_cast<long>(getpid())) {
    const char byte = memkit::check::full_mode() ? '2' : '1';
    ssize_t w = write(static_cast<int>(o.check_ready_fd), &byte, 1);
    (void)w;
    close(static_cast<int>(o.check_ready_fd));
    disarm_ready_fd();
  }
}

// After the program's static destructors and atexit handlers: the exit checks and leak scan.
__attribute__((destructor)) static void memkit_checked_fini() { memkit::check::finish(); }

// ---- dlclose: the stack walker's cached rules for the unloaded code are dropped ----
// (a library loaded later may be mapped at the same addresses, with other rules)

namespace {

// dlsym(RTLD_NEXT, name), looked up on the first call. Not a function-local static with a
// dynamic initialiser: that needs libstdc++'s __cxa_guard_*, and the library links libc only.
// Threads racing on the first call each look the symbol up and store the same address.
void* next_symbol(void** slot, const char* name) {
  void* p = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
  if (p == nullptr) {
    p = dlsym(RTLD_NEXT, name);
    __atomic_store_n(slot, p, __ATOMIC_RELEASE);
  }
  return p;
}

void* g_real_dlclose = nullptr;
void* g_real_signal = nullptr;

}  // namespace

MK_EXPORT int dlclose(void* handle) {
  using Fn = int (*)(void*);
  const Fn real = reinterpret_cast<Fn>(next_symbol(&g_real_dlclose, "dlclose"));
  const int rc = real != nullptr ? real(handle) : -1;
  memkit::check::unwind_cache_clear();
  return rc;
}

// ---- sigaction and signal: full mode's fault handler stays first (see fault.cpp) ----

MK_EXPORT int sigaction(int sig, const struct sigaction* act, struct sigaction* old) {
  if (memkit::check::fault_handler_chain(sig, act, old)) return 0;
  return memkit::check::libc_sigaction(sig, act, old);
}

MK_EXPORT sighandler_t signal(int sig, sighandler_t handler) {
  struct sigaction act;
  memset(&act, 0, sizeof act);
  act.sa_handler = handler;
  sigemptyset(&act.sa_mask);
  act.sa_flags = SA_RESTART;
  struct sigaction old;
  if (memkit::check::fault_handler_chain(sig, &act, &old))
    return old.sa_handler;  // sa_handler and sa_sigaction share their storage
  using Fn = sighandler_t (*)(int, sighandler_t);
  const Fn real = reinterpret_cast<Fn>(next_symbol(&g_real_signal, "signal"));
  return real != nullptr ? real(sig, handler) : SIG_ERR;
}
