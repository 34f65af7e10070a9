// memkit — operator new's failure path, for both override libraries
// (src/malloc/override/new_handler.h)
//
// [new.delete.single]: once the allocator has failed, call the new_handler while there is one
// and allocation keeps failing; with none left, the throwing forms throw std::bad_alloc and the
// nothrow forms return nullptr without throwing anything. A handler may itself give up by
// throwing; for the nothrow forms that is caught around the handler call alone and means
// nullptr. This is the one throw in memkit (libstdc++ takes the exception object from malloc,
// falling back to its emergency pool); the allocators below never throw. Included only by
// malloc/override/new_delete.cpp (libmemkit.so, libmemkit_malloc.a) and
// check/override/checked_override.cpp (libmemkit-checked.so).
#pragma once

#include <new>

namespace memkit {

/// alloc() retried until it returns a block or no new_handler is left.
template <typename Alloc>
__attribute__((noinline, cold)) void* new_failed(Alloc alloc, bool nothrow) {
  for (;;) {
    if (void* p = alloc()) return p;
    std::new_handler handler = std::get_new_handler();
    if (handler == nullptr) {
      if (nothrow) return nullptr;
      throw std::bad_alloc();
    }
    if (!nothrow) {
      handler();
      continue;
    }
    try {
      handler();
    } catch (...) {  // the handler gave up (std::bad_alloc, as the standard has it)
      return nullptr;
    }
  }
}

}  // namespace memkit
