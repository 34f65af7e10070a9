// memkit — every operator new and delete, replaced (src/malloc/override/new_delete.cpp)
//
// Compiled only into libmemkit.so and libmemkit_malloc.a (see malloc_override.cpp). The
// allocator below never throws: operator new is malloc_impl / memalign_impl, and only when that
// fails does it enter new_failed(), the one cold place where C++ semantics live
// ([new.delete.single]): call the new_handler while there is one and allocation keeps failing;
// with none left, the throwing forms throw std::bad_alloc (the only throw in memkit; libstdc++
// takes the exception object from malloc, falling back to its emergency pool) and the nothrow
// forms return nullptr without throwing anything. A handler may itself give up by throwing;
// for the nothrow forms that is caught around the handler call alone and means nullptr.
#include <cstddef>
#include <new>

#include "malloc/malloc.h"

#define MK_NEW_EXPORT __attribute__((visibility("default")))

namespace {

// align 0: plain malloc. Returns the block, or nullptr once there is no handler (nothrow only).
__attribute__((noinline, cold)) void* new_failed(std::size_t size, std::size_t align,
                                                 bool nothrow) {
  for (;;) {
    void* p = align == 0 ? memkit::malloc_impl(size) : memkit::memalign_impl(align, size);
    if (p != nullptr) return p;
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

inline void* new_impl(std::size_t size) {
  if (void* p = memkit::malloc_impl(size)) [[likely]]
    return p;
  return new_failed(size, 0, false);
}

inline void* new_aligned(std::size_t size, std::align_val_t align) {
  if (void* p = memkit::memalign_impl(static_cast<std::size_t>(align), size)) [[likely]]
    return p;
  return new_failed(size, static_cast<std::size_t>(align), false);
}

inline void* new_nothrow(std::size_t size) noexcept {
  if (void* p = memkit::malloc_impl(size)) [[likely]]
    return p;
  return new_failed(size, 0, true);
}

inline void* new_nothrow_aligned(std::size_t size, std::align_val_t align) noexcept {
  if (void* p = memkit::memalign_impl(static_cast<std::size_t>(align), size)) [[likely]]
    return p;
  return new_failed(size, static_cast<std::size_t>(align), true);
}

}  // namespace

MK_NEW_EXPORT void* operator new(std::size_t size) { return new_impl(size); }
MK_NEW_EXPORT void* operator new[](std::size_t size) { return new_impl(size); }
MK_NEW_EXPORT void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  return new_nothrow(size);
}
MK_NEW_EXPORT void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  return new_nothrow(size);
}
MK_NEW_EXPORT void* operator new(std::size_t size, std::align_val_t align) {
  return new_aligned(size, align);
}
MK_NEW_EXPORT void* operator new[](std::size_t size, std::align_val_t align) {
  return new_aligned(size, align);
}
MK_NEW_EXPORT void* operator new(std::size_t size, std::align_val_t align,
                                 const std::nothrow_t&) noexcept {
  return new_nothrow_aligned(size, align);
}
MK_NEW_EXPORT void* operator new[](std::size_t size, std::align_val_t align,
                                   const std::nothrow_t&) noexcept {
  return new_nothrow_aligned(size, align);
}

MK_NEW_EXPORT void operator delete(void* p) noexcept { memkit::free_impl(p, "operator delete"); }
MK_NEW_EXPORT void operator delete[](void* p) noexcept {
  memkit::free_impl(p, "operator delete[]");
}
MK_NEW_EXPORT void operator delete(void* p, const std::nothrow_t&) noexcept {
  memkit::free_impl(p, "operator delete");
}
MK_NEW_EXPORT void operator delete[](void* p, const std::nothrow_t&) noexcept {
  memkit::free_impl(p, "operator delete[]");
}
MK_NEW_EXPORT void operator delete(void* p, std::size_t) noexcept {
  memkit::free_impl(p, "operator delete");
}
MK_NEW_EXPORT void operator delete[](void* p, std::size_t) noexcept {
  memkit::free_impl(p, "operator delete[]");
}
MK_NEW_EXPORT void operator delete(void* p, std::align_val_t) noexcept {
  memkit::free_impl(p, "operator delete");
}
MK_NEW_EXPORT void operator delete[](void* p, std::align_val_t) noexcept {
  memkit::free_impl(p, "operator delete[]");
}
MK_NEW_EXPORT void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  memkit::free_impl(p, "operator delete");
}
MK_NEW_EXPORT void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  memkit::free_impl(p, "operator delete[]");
}
MK_NEW_EXPORT void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  memkit::free_impl(p, "operator delete");
}
MK_NEW_EXPORT void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  memkit::free_impl(p, "operator delete[]");
}
