// memkit — operator new's failure path, for both override libraries
// (src/malloc/override/new_handler.h)
//
// [new.delete.single]: once the allocator has failed, call the new_handler while there is one
// and allocation keeps failing; with none left, the throwing forms throw std::bad_alloc and the
// nothrow forms return nullptr without throwing anything. A handler may itself give up by
// throwing; for the nothrow forms that is caught around the handler call alone and means
// nullptr. Included only by malloc/override/new_delete.cpp (libmemkit.so, libmemkit_malloc.a)
// and check/override/checked_override.cpp (libmemkit-checked.so).
//
// The loop below is compiled without exceptions like the rest of memkit. The three steps that
// need the C++ runtime live in one object, new_handler.cpp (the only one built with
// -fexceptions), and reach libstdc++ through weak references only: std::get_new_handler,
// std::__throw_bad_alloc and the personality routine of its one catch. So the libraries do not
// link libstdc++; a program that calls operator new was built by a C++ compiler and has
// libstdc++ loaded, and the references resolve. If they do not (libstdc++ absent), there is no
// handler, the nothrow forms return nullptr and the throwing forms print one line and abort.
#pragma once

#include <cstddef>
#include <new>

namespace memkit {

/// std::get_new_handler(), or nullptr when libstdc++ is not in the process.
std::new_handler current_new_handler() noexcept;

/// Throws std::bad_alloc (through libstdc++'s std::__throw_bad_alloc); without libstdc++ in the
/// process, prints "memkit: ERROR: out-of-memory FUNCTION (nil) SIZE bytes: ..." and aborts.
[[noreturn]] void throw_bad_alloc(const char* function, std::size_t size);

/// Calls handler; false if it threw (anything: it gave up), true if it returned.
bool call_new_handler_nothrow(std::new_handler handler) noexcept;

/// alloc() retried until it returns a block or no new_handler is left.
template <typename Alloc>
__attribute__((noinline, cold)) void* new_failed(Alloc alloc, bool nothrow, const char* function,
                                                 std::size_t size) {
  for (;;) {
    if (void* p = alloc()) return p;
    std::new_handler handler = current_new_handler();
    if (handler == nullptr) {
      if (nothrow) return nullptr;
      throw_bad_alloc(function, size);
    }
    if (!nothrow) {
      handler();  // what it throws goes through memkit's frames (they have unwind tables)
      continue;
    }
    if (!call_new_handler_nothrow(handler)) return nullptr;
  }
}

}  // namespace memkit
