// memkit — every operator new and delete, replaced (src/malloc/override/new_delete.cpp)
//
// Compiled only into libmemkit.so and libmemkit_malloc.a (see malloc_override.cpp). The
// allocator below never throws: operator new is malloc_impl / memalign_impl, and only when that
// fails does it enter memkit::new_failed (new_handler.h), the one cold place where C++
// semantics live: the new_handler loop, then std::bad_alloc or nullptr. Built without
// exceptions like the core: the throw and the catch are in new_handler.cpp.
#include <cstddef>
#include <new>

#include "malloc/malloc.h"
#include "malloc/override/new_handler.h"

#define MK_NEW_EXPORT __attribute__((visibility("default")))

namespace {

inline void* new_impl(std::size_t size, bool nothrow) {
  if (void* p = memkit::malloc_impl(size)) [[likely]]
    return p;
  return memkit::new_failed([=] { return memkit::malloc_impl(size); }, nothrow, "operator new",
                            size);
}

inline void* new_aligned(std::size_t size, std::align_val_t align, bool nothrow) {
  const std::size_t a = static_cast<std::size_t>(align);
  if (void* p = memkit::memalign_impl(a, size)) [[likely]]
    return p;
  return memkit::new_failed([=] { return memkit::memalign_impl(a, size); }, nothrow,
                            "operator new", size);
}

}  // namespace

MK_NEW_EXPORT void* operator new(std::size_t size) { return new_impl(size, false); }
MK_NEW_EXPORT void* operator new[](std::size_t size) { return new_impl(size, false); }
MK_NEW_EXPORT void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  return new_impl(size, true);
}
MK_NEW_EXPORT void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  return new_impl(size, true);
}
MK_NEW_EXPORT void* operator new(std::size_t size, std::align_val_t align) {
  return new_aligned(size, align, false);
}
MK_NEW_EXPORT void* operator new[](std::size_t size, std::align_val_t align) {
  return new_aligned(size, align, false);
}
MK_NEW_EXPORT void* operator new(std::size_t size, std::align_val_t align,
                                 const std::nothrow_t&) noexcept {
  return new_aligned(size, align, true);
}
MK_NEW_EXPORT void* operator new[](std::size_t size, std::align_val_t align,
                                   const std::nothrow_t&) noexcept {
  return new_aligned(size, align, true);
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
