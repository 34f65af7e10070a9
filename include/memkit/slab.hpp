// memkit — typed object caches (include/memkit/slab.hpp)
//
// ObjectCache<T> is a kmem_cache (mk_cache_create in memkit.h) of sizeof(T)-byte objects
// aligned to alignof(T), that constructs and destroys T the C++ way. Header-only and thin:
// every call is one C call plus placement new or ~T.
//
//   memkit::ObjectCache<Conn> conns("conn");            // throws if the cache can't be made
//   Conn* c = conns.construct(fd, "peer");             // Conn(fd, "peer") in a slab object
//   conns.destroy(c);                                   // ~Conn(), object back to the cache
//   auto owned = conns.make_unique(fd, "peer");         // std::unique_ptr<Conn, Deleter>
//
// Construction is per call, NOT Bonwick's. The C API's ctor (mk_cache_create's last argument)
// runs once per object when a slab is created and objects go back to the cache in their
// constructed state; ObjectCache<T> passes no ctor, and instead runs T's constructor on every
// construct() and ~T on every destroy(), as new/delete would. The slab still gives what it is
// for: no header in front of objects, coloured slabs, per-thread magazines. If you want
// Bonwick's object caching (expensive state kept across free/alloc), use the C API with a ctor.
//
// Errors. construct() throws std::bad_alloc when the cache has no memory; if T's constructor
// throws, the object goes back to the cache and the exception propagates. The constructor of
// ObjectCache throws std::bad_alloc (ENOMEM) or std::system_error with errno's code (EINVAL: a
// name of 32 characters or more, sizeof(T) above the largest slab, alignof(T) above the page
// size; ENOSPC: no cache index left).
//
// Destruction. ~ObjectCache calls mk_cache_destroy. If objects are still live, memkit prints
// "memkit: warning: N objects remaining in cache NAME" and refuses; a destructor cannot throw,
// and freeing memory that is still in use would turn a leak into a use after free, so the
// cache is then deliberately leaked: the live objects stay valid, and their Deleters (which
// hold the C cache, not the ObjectCache) can still destroy them. To handle the refusal
// yourself, call close() first: it returns 0 (destroyed) or -EBUSY (still yours, still usable).
//
// Threads: construct, destroy, make_unique and shrink may be called from any thread, and any
// thread may destroy any object. close(), the destructor and move assignment need the cache to
// be idle (mk_cache_destroy's rule).
#pragma once

#include <errno.h>

#include <cassert>
#include <cstddef>
#include <memory>
#include <new>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>

#include "memkit/memkit.h"

namespace memkit {

template <class T>
class ObjectCache {
  static_assert(std::is_object_v<T> && !std::is_array_v<T> && !std::is_const_v<T> &&
                    !std::is_volatile_v<T>,
                "ObjectCache<T>: T must be a cv-unqualified, non-array object type");
  static_assert(std::is_nothrow_destructible_v<T>, "ObjectCache<T>: ~T must not throw");

 public:
  using value_type = T;

  /// Destroys an object of the cache: ~T, then mk_cache_free. Holds the C cache, so it stays
  /// valid when the ObjectCache is moved (and when a refused destroy leaked the cache).
  struct Deleter {
    mk_cache_t* cache = nullptr;
    void operator()(T* p) const noexcept {
      if (p == nullptr) return;
      std::destroy_at(p);
      mk_cache_free(cache, p);
    }
  };
  using unique_ptr = std::unique_ptr<T, Deleter>;

  /// Creates the cache "name" (at most 31 characters, shown by mk_slabinfo) of T objects.
  /// flags: MK_SLAB_HWCACHE_ALIGN, MK_SLAB_RED_ZONE, MK_SLAB_POISON.
  /// Throws std::bad_alloc (ENOMEM) or std::system_error (EINVAL, ENOSPC).
  explicit ObjectCache(std::string name, unsigned flags = 0) : name_(std::move(name)) {
    cache_ = mk_cache_create(name_.c_str(), sizeof(T), alignof(T), flags, nullptr);
    if (cache_ == nullptr) {
      const int err = errno;
      if (err == ENOMEM) throw std::bad_alloc();
      throw std::system_error(err, std::generic_category(), "mk_cache_create(" + name_ + ")");
    }
  }

  /// Move-only; a moved-from ObjectCache owns nothing (operator bool is false).
  ObjectCache(ObjectCache&& other) noexcept
      : cache_(std::exchange(other.cache_, nullptr)), name_(std::move(other.name_)) {}
  ObjectCache& operator=(ObjectCache&& other) noexcept {
    if (this != &other) {
      (void)close();  // as the destructor: refused (-EBUSY) means leaked on purpose
      cache_ = std::exchange(other.cache_, nullptr);
      name_ = std::move(other.name_);
    }
    return *this;
  }
  ObjectCache(const ObjectCache&) = delete;
  ObjectCache& operator=(const ObjectCache&) = delete;

  /// mk_cache_destroy; with live objects the cache is leaked on purpose (see the top of file).
  ~ObjectCache() { (void)close(); }

  /// A T constructed from args in a new object of the cache.
  /// Throws std::bad_alloc, or whatever T's constructor throws (the memory goes back first).
  template <class... A>
  [[nodiscard]] T* construct(A&&... args) {
    assert(cache_ != nullptr && "ObjectCache used after move or close()");
    void* mem = mk_cache_alloc(cache_, MK_GFP_KERNEL);
    if (mem == nullptr) throw std::bad_alloc();
    try {
      return ::new (mem) T(std::forward<A>(args)...);
    } catch (...) {
      mk_cache_free(cache_, mem);
      throw;
    }
  }

  /// Runs ~T and gives the object back. nullptr is ignored; a pointer that is not an object
  /// of this cache is memkit's fatal report.
  void destroy(T* p) noexcept { Deleter{cache_}(p); }

  /// construct(args...) owned by a std::unique_ptr that destroy()s it.
  template <class... A>
  [[nodiscard]] unique_ptr make_unique(A&&... args) {
    return unique_ptr(construct(std::forward<A>(args)...), deleter());
  }
  Deleter deleter() const noexcept { return Deleter{cache_}; }

  /// Gives cached objects and empty slabs back to the page heap; returns the pages given back.
  size_t shrink() noexcept { return cache_ != nullptr ? mk_cache_shrink(cache_) : 0; }

  /// Destroys the cache now: 0, or -EBUSY if objects are still live (memkit prints a warning;
  /// the cache stays owned and usable). Closing a closed or moved-from cache returns 0.
  int close() noexcept {
    const int err = mk_cache_destroy(cache_);
    if (err == 0) cache_ = nullptr;
    return err;
  }

  const std::string& name() const noexcept { return name_; }
  mk_cache_t* native_handle() const noexcept { return cache_; }
  explicit operator bool() const noexcept { return cache_ != nullptr; }

 private:
  mk_cache_t* cache_ = nullptr;
  std::string name_;
};

}  // namespace memkit
