// memkit — every operator new and delete, replaced (src/malloc/override/new_delete.cpp)
//
// Compiled only into libmemkit.so and libmemkit_malloc.a (see malloc_override.cpp). new loops
// on the new_handler as the standard says ([new.delete.single]): while allocation fails, call
// the handler if there is one, else throw std::bad_alloc; the nothrow forms return nullptr
// instead of throwing.
#include <cstddef>
#include <new>

#include "malloc/malloc.h"

#define MK_NEW_EXPORT __attribute__((visibility("default")))

namespace {

void* new_loop(std::size_t size) {
  for (;;) {
    if (void* p = memkit::malloc_impl(size)) return p;
    std::new_handler handler = std::get_new_handler();
    if (handler == nullptr) throw std::bad_alloc();
    handler();
  }
}

void* new_loop_aligned(std::size_t size, std::align_val_t align) {
  for (;;) {
    if (void* p = memkit::memalign_impl(static_cast<std::size_t>(align), size)) return p;
    std::new_handler handler = std::get_new_handler();
    if (handler == nullptr) throw std::bad_alloc();
    handler();
  }
}

void* new_nothrow(std::size_t size) noexcept {
  try {
    return new_loop(size);
  } catch (...) {
    return nullptr;
  }
}

void* new_nothrow_aligned(std::size_t size, std::align_val_t align) noexcept {
  try {
    return new_loop_aligned(size, align);
  } catch (...) {
    return nullptr;
  }
}

}  // namespace

MK_NEW_EXPORT void* operator new(std::size_t size) { return new_loop(size); }
MK_NEW_EXPORT void* operator new[](std::size_t size) { return new_loop(size); }
MK_NEW_EXPORT void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  return new_nothrow(size);
}
MK_NEW_EXPORT void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  return new_nothrow(size);
}
MK_NEW_EXPORT void* operator new(std::size_t size, std::align_val_t align) {
  return new_loop_aligned(size, align);
}
MK_NEW_EXPORT void* operator new[](std::size_t size, std::align_val_t align) {
  return new_loop_aligned(size, align);
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
