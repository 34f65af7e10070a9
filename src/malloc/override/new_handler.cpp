// memkit — the C++ runtime steps of operator new's failure path
// (src/malloc/override/new_handler.cpp)
//
// The one object of memkit built with -fexceptions (CMakeLists.txt), linked into libmemkit.so,
// libmemkit_malloc.a and libmemkit-checked.so. It needs four things from libstdc++ and takes
// each through a weak reference, so that the libraries themselves link libc only (ldd shows no
// libstdc++; tests/install/run.sh checks it):
//   std::get_new_handler()        the handler to call;
//   std::__throw_bad_alloc()      throws std::bad_alloc (libstdc++ allocates the exception and
//                                 owns its type_info, so the program's catch matches it);
//   __gxx_personality_v0, __cxa_begin_catch, __cxa_end_catch: the catch (...) around a
//                                 handler called for a nothrow form.
// A program that calls operator new was compiled by a C++ compiler and links libstdc++, so in
// every such process the references resolve (libstdc++ is among the program's dependencies and
// is relocated before memkit's code runs). In a process without it (a C program, which can only
// reach operator new through its mangled name) there is no handler to call, the nothrow forms
// return nullptr and the throwing forms report and abort: there is nothing to throw with.
// (A process that dlopens libstdc++ later keeps the null references; the same holds there.)
#include "malloc/override/new_handler.h"

#include <stdio.h>

#include "os/report.h"

// The catch below makes the compiler refer to the personality routine and the catch entry
// points by name; make those references weak too (the assembler's .weak applies to the whole
// object, wherever it appears).
asm(".weak __gxx_personality_v0\n"
    ".weak __cxa_begin_catch\n"
    ".weak __cxa_end_catch\n");

// libstdc++'s std::get_new_handler() and std::__throw_bad_alloc(), by their mangled names so
// that <new>'s strong declarations are not the ones used.
extern "C" std::new_handler memkit_libstdcxx_get_new_handler() noexcept
    __asm__("_ZSt15get_new_handlerv") __attribute__((weak));
extern "C" [[noreturn]] void memkit_libstdcxx_throw_bad_alloc()
    __asm__("_ZSt17__throw_bad_allocv") __attribute__((weak));

namespace memkit {

std::new_handler current_new_handler() noexcept {
  if (memkit_libstdcxx_get_new_handler == nullptr) return nullptr;
  return memkit_libstdcxx_get_new_handler();
}

void throw_bad_alloc(const char* function, std::size_t size) {
  if (memkit_libstdcxx_throw_bad_alloc != nullptr) memkit_libstdcxx_throw_bad_alloc();
  char detail[128];
  snprintf(detail, sizeof detail,
           "%zu bytes: cannot raise std::bad_alloc, libstdc++ is not in the process", size);
  report_fatal("out-of-memory", function, nullptr, detail);
}

bool call_new_handler_nothrow(std::new_handler handler) noexcept {
  try {
    handler();
  } catch (...) {  // the handler gave up (std::bad_alloc, as the standard has it)
    return false;
  }
  return true;
}

}  // namespace memkit
