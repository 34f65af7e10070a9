// memkit — STL allocators (include/memkit/allocator.hpp)
//
// Allocator<T, Resource>: a standard allocator that holds a pointer to a resource and forwards
// allocate(n) to resource->allocate(n * sizeof(T), alignof(T)). Resource is any type with
// pmr-style allocate(bytes, align) / deallocate(p, bytes, align) (the MemoryResource concept):
// std::pmr::memory_resource (the default), or one of memkit/pmr.hpp's resources by its own type
// (the calls are then direct, not virtual, and can be inlined).
//
//   memkit::MonotonicArena arena;
//   std::vector<int, memkit::Allocator<int, memkit::MonotonicArena>> v(&arena);
//   std::map<int, int, std::less<>,
//            memkit::Allocator<std::pair<const int, int>, memkit::MonotonicArena>> m(&arena);
//
// Propagation: the allocator propagates on copy assignment, move assignment and swap, so a
// container's memory always goes back to the resource it came from, move assignment is O(1)
// and never copies elements, and swapping containers on different resources is well defined
// (with std::pmr::polymorphic_allocator's choice, not propagating, it is undefined behaviour).
// Copy construction copies the resource (select_on_container_copy_construction is the
// default). Equality: the same resource object; is_always_equal is false.
//
// KmallocAllocator<T>: no state; allocate and deallocate call mk_kmalloc / mk_kfree directly
// (over-aligned T as KmallocResource handles it). All instances are equal. A drop-in for
// std::allocator<T> that puts a container on memkit's kmalloc.
//
//   std::vector<int, memkit::KmallocAllocator<int>> v(1000);
//
// Both throw std::bad_alloc when memory runs out, and std::bad_array_new_length when
// n * sizeof(T) overflows.
#pragma once

#include <concepts>
#include <cstddef>
#include <limits>
#include <memory_resource>
#include <new>
#include <type_traits>

#include "memkit/memkit.h"
#include "memkit/pmr.hpp"

namespace memkit {

/// What Allocator<T, Resource> needs of a resource (std::pmr::memory_resource's interface).
template <class R>
concept MemoryResource = requires(R& r, void* p, size_t n, size_t align) {
  { r.allocate(n, align) } -> std::convertible_to<void*>;
  r.deallocate(p, n, align);
};

namespace detail {
template <class T>
size_t array_bytes(size_t n) {
  if (n > std::numeric_limits<size_t>::max() / sizeof(T)) throw std::bad_array_new_length();
  return n * sizeof(T);
}
}  // namespace detail

template <class T, MemoryResource Resource = std::pmr::memory_resource>
class Allocator {
 public:
  using value_type = T;
  using resource_type = Resource;
  using propagate_on_container_copy_assignment = std::true_type;
  using propagate_on_container_move_assignment = std::true_type;
  using propagate_on_container_swap = std::true_type;
  using is_always_equal = std::false_type;
  template <class U>
  struct rebind {
    using other = Allocator<U, Resource>;
  };

  /// Requires: resource is not null and outlives every container that uses it.
  Allocator(Resource* resource) noexcept : resource_(resource) {}  // NOLINT: implicit, as pmr's
  template <class U>
  Allocator(const Allocator<U, Resource>& other) noexcept : resource_(other.resource()) {}

  [[nodiscard]] T* allocate(size_t n) {
    return static_cast<T*>(resource_->allocate(detail::array_bytes<T>(n), alignof(T)));
  }
  void deallocate(T* p, size_t n) { resource_->deallocate(p, n * sizeof(T), alignof(T)); }

  Resource* resource() const noexcept { return resource_; }

  template <class U>
  bool operator==(const Allocator<U, Resource>& other) const noexcept {
    return resource_ == other.resource();
  }

 private:
  Resource* resource_;
};

template <class T>
class KmallocAllocator {
 public:
  using value_type = T;
  using propagate_on_container_move_assignment = std::true_type;
  using is_always_equal = std::true_type;
  template <class U>
  struct rebind {
    using other = KmallocAllocator<U>;
  };

  constexpr KmallocAllocator() noexcept = default;
  template <class U>
  constexpr KmallocAllocator(const KmallocAllocator<U>&) noexcept {}

  [[nodiscard]] T* allocate(size_t n) {
    return static_cast<T*>(
        detail::or_throw(detail::kmalloc_aligned(detail::array_bytes<T>(n), alignof(T))));
  }
  void deallocate(T* p, size_t n) noexcept {
    detail::kfree_aligned(p, n * sizeof(T), alignof(T));
  }

  template <class U>
  constexpr bool operator==(const KmallocAllocator<U>&) const noexcept {
    return true;
  }
};

}  // namespace memkit
