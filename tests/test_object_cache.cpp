// Tests of the typed object cache (include/memkit/slab.hpp) over the process's object caches:
// construct with forwarded arguments (lvalues, rvalues, move-only), destroy running ~T exactly
// once, a throwing constructor giving its memory back (the cache then closes cleanly),
// alignment of over-aligned T (64, 256, 4096), many objects, move construction and assignment,
// the Deleter and make_unique (also after the ObjectCache moved), close() and the destructor's
// deliberate leak when objects are live, shrink(), name() and the constructor's errors, and
// objects freed on another thread.
//
// "No object left behind" is checked through close(): mk_cache_destroy refuses (-EBUSY) while
// any object of the cache is live.
#include <errno.h>
#include <stdint.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "memkit/memkit.h"
#include "memkit/slab.hpp"

namespace {

using memkit::ObjectCache;

struct Counted {
  static inline int live = 0;
  static inline int destroyed = 0;
  int a;
  std::string s;
  Counted(int a_in, std::string s_in) : a(a_in), s(std::move(s_in)) { ++live; }
  ~Counted() {
    --live;
    ++destroyed;
  }
};

struct Throws {
  explicit Throws(bool fail) {
    if (fail) throw std::runtime_error("Throws(true)");
  }
  char payload[48] = {};
};

template <size_t Align>
struct alignas(Align) Aligned {
  unsigned char bytes[Align / 2 + 1] = {};
};

bool aligned_to(const void* p, size_t align) {
  return reinterpret_cast<uintptr_t>(p) % align == 0;
}

TEST(ObjectCache, ConstructForwardsArgumentsAndDestroyRunsDestructorOnce) {
  Counted::live = Counted::destroyed = 0;
  ObjectCache<Counted> cache("oc-forward");
  std::string name = "lvalue";
  Counted* a = cache.construct(7, name);             // lvalue copied
  Counted* b = cache.construct(8, std::string(40, 'x'));  // rvalue moved
  EXPECT_EQ(a->a, 7);
  EXPECT_EQ(a->s, "lvalue");
  EXPECT_EQ(name, "lvalue");
  EXPECT_EQ(b->a, 8);
  EXPECT_EQ(b->s, std::string(40, 'x'));
  EXPECT_NE(a, b);
  EXPECT_EQ(Counted::live, 2);
  cache.destroy(a);
  cache.destroy(b);
  cache.destroy(nullptr);  // ignored
  EXPECT_EQ(Counted::live, 0);
  EXPECT_EQ(Counted::destroyed, 2);
  EXPECT_EQ(cache.close(), 0);
}

TEST(ObjectCache, ConstructTakesMoveOnlyArguments) {
  struct Holder {
    std::unique_ptr<int> p;
    explicit Holder(std::unique_ptr<int> in) : p(std::move(in)) {}
  };
  ObjectCache<Holder> cache("oc-moveonly");
  Holder* h = cache.construct(std::make_unique<int>(42));
  ASSERT_NE(h->p, nullptr);
  EXPECT_EQ(*h->p, 42);
  cache.destroy(h);
  EXPECT_EQ(cache.close(), 0);
}

TEST(ObjectCache, AggregateAndDefaultConstruction) {
  struct Point {
    int x, y;
  };
  ObjectCache<Point> cache("oc-aggregate");
  Point* p = cache.construct(3, 4);  // C++20 parenthesised aggregate initialisation
  EXPECT_EQ(p->x, 3);
  EXPECT_EQ(p->y, 4);
  Point* z = cache.construct();      // value-initialised
  EXPECT_EQ(z->x, 0);
  EXPECT_EQ(z->y, 0);
  cache.destroy(p);
  cache.destroy(z);
}

TEST(ObjectCache, ThrowingConstructorGivesTheMemoryBack) {
  ObjectCache<Throws> cache("oc-throws");
  for (int i = 0; i < 1000; ++i) EXPECT_THROW((void)cache.construct(true), std::runtime_error);
  Throws* ok = cache.construct(false);
  EXPECT_NE(ok, nullptr);
  cache.destroy(ok);
  // Nothing leaked: the cache destroys (it refuses while any object is live).
  EXPECT_EQ(cache.close(), 0);
  EXPECT_FALSE(cache);
}

TEST(ObjectCache, OverAlignedTypes) {
  ObjectCache<Aligned<64>> c64("oc-align64");
  ObjectCache<Aligned<256>> c256("oc-align256");
  ObjectCache<Aligned<4096>> c4096("oc-align4096");
  std::vector<Aligned<64>*> a;
  std::vector<Aligned<256>*> b;
  std::vector<Aligned<4096>*> c;
  for (int i = 0; i < 300; ++i) {
    a.push_back(c64.construct());
    b.push_back(c256.construct());
    c.push_back(c4096.construct());
    ASSERT_TRUE(aligned_to(a.back(), 64));
    ASSERT_TRUE(aligned_to(b.back(), 256));
    ASSERT_TRUE(aligned_to(c.back(), 4096));
  }
  for (auto* p : a) c64.destroy(p);
  for (auto* p : b) c256.destroy(p);
  for (auto* p : c) c4096.destroy(p);
  EXPECT_EQ(c64.close(), 0);
  EXPECT_EQ(c256.close(), 0);
  EXPECT_EQ(c4096.close(), 0);
}

TEST(ObjectCache, ManyObjectsAreDistinctAndKeepTheirContents) {
  struct Rec {
    uint64_t id;
    uint64_t check;
  };
  constexpr size_t kCount = 100000;
  ObjectCache<Rec> cache("oc-many");
  std::vector<Rec*> recs;
  recs.reserve(kCount);
  for (size_t i = 0; i < kCount; ++i) recs.push_back(cache.construct(i, ~i));
  for (size_t i = 0; i < kCount; ++i) {
    ASSERT_EQ(recs[i]->id, i);
    ASSERT_EQ(recs[i]->check, ~i);
  }
  std::vector<Rec*> sorted = recs;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::adjacent_find(sorted.begin(), sorted.end()), sorted.end());
  for (size_t i = 0; i < kCount; i += 2) cache.destroy(recs[i]);  // half, then reuse
  for (size_t i = 0; i < kCount; i += 2) recs[i] = cache.construct(i, ~i);
  for (size_t i = 0; i < kCount; ++i) ASSERT_EQ(recs[i]->check, ~i);
  for (Rec* r : recs) cache.destroy(r);
  EXPECT_EQ(cache.close(), 0);
}

TEST(ObjectCache, IsMoveOnly) {
  static_assert(!std::is_copy_constructible_v<ObjectCache<int>>);
  static_assert(!std::is_copy_assignable_v<ObjectCache<int>>);
  static_assert(std::is_nothrow_move_constructible_v<ObjectCache<int>>);
  static_assert(std::is_nothrow_move_assignable_v<ObjectCache<int>>);

  ObjectCache<int> a("oc-move-a");
  int* x = a.construct(1);
  mk_cache_t* handle = a.native_handle();

  ObjectCache<int> b(std::move(a));
  EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): moved-from owns nothing
  EXPECT_EQ(a.close(), 0);
  EXPECT_TRUE(b);
  EXPECT_EQ(b.native_handle(), handle);
  EXPECT_EQ(b.name(), "oc-move-a");
  b.destroy(x);  // an object made before the move

  ObjectCache<int> c("oc-move-c");
  c = std::move(b);  // c's own (empty) cache is destroyed first
  EXPECT_EQ(c.native_handle(), handle);
  EXPECT_EQ(c.name(), "oc-move-a");
  int* y = c.construct(2);
  EXPECT_EQ(*y, 2);
  c.destroy(y);
  c = std::move(c);  // self-move leaves it as it was
  EXPECT_EQ(c.native_handle(), handle);
  EXPECT_EQ(c.close(), 0);
}

TEST(ObjectCache, MakeUniqueAndDeleter) {
  Counted::live = Counted::destroyed = 0;
  ObjectCache<Counted> cache("oc-unique");
  {
    ObjectCache<Counted>::unique_ptr p = cache.make_unique(5, "five");
    static_assert(std::is_same_v<decltype(p), std::unique_ptr<Counted, ObjectCache<Counted>::Deleter>>);
    EXPECT_EQ(p->a, 5);
    EXPECT_EQ(p->s, "five");
    EXPECT_EQ(Counted::live, 1);
    p.reset();
    EXPECT_EQ(Counted::live, 0);
    EXPECT_EQ(Counted::destroyed, 1);

    // A raw object adopted with deleter().
    std::unique_ptr<Counted, ObjectCache<Counted>::Deleter> q(cache.construct(6, "six"),
                                                                cache.deleter());
    EXPECT_EQ(Counted::live, 1);
  }
  EXPECT_EQ(Counted::live, 0);
  EXPECT_EQ(Counted::destroyed, 2);

  // The deleter holds the C cache: it keeps working after the ObjectCache is moved.
  auto r = cache.make_unique(7, "seven");
  ObjectCache<Counted> moved(std::move(cache));
  r.reset();
  EXPECT_EQ(Counted::live, 0);
  EXPECT_EQ(moved.close(), 0);
}

TEST(ObjectCache, MakeUniquePropagatesConstructorExceptions) {
  ObjectCache<Throws> cache("oc-unique-throw");
  EXPECT_THROW((void)cache.make_unique(true), std::runtime_error);
  EXPECT_EQ(cache.close(), 0);
}

TEST(ObjectCache, CloseRefusesWhileObjectsAreLive) {
  ObjectCache<int> cache("oc-close");
  int* x = cache.construct(1);
  testing::internal::CaptureStderr();
  EXPECT_EQ(cache.close(), -EBUSY);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("1 objects remaining in cache oc-close"), std::string::npos) << err;
  EXPECT_TRUE(cache);  // still owned and usable
  int* y = cache.construct(2);
  cache.destroy(x);
  cache.destroy(y);
  EXPECT_EQ(cache.close(), 0);
  EXPECT_FALSE(cache);
  EXPECT_EQ(cache.close(), 0);  // closing again is harmless
}

TEST(ObjectCache, DestructorLeaksTheCacheWhenObjectsAreLive) {
  Counted::live = Counted::destroyed = 0;
  ObjectCache<Counted>::unique_ptr survivor;
  mk_cache_t* handle = nullptr;
  testing::internal::CaptureStderr();
  {
    ObjectCache<Counted> cache("oc-leak");
    handle = cache.native_handle();
    survivor = cache.make_unique(9, "survivor");
  }  // ~ObjectCache: mk_cache_destroy refuses and warns; the cache is kept
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("objects remaining in cache oc-leak"), std::string::npos) << err;
  // The object is still valid and its deleter still works.
  EXPECT_EQ(survivor->s, "survivor");
  survivor.reset();
  EXPECT_EQ(Counted::live, 0);
  EXPECT_EQ(mk_cache_destroy(handle), 0);  // the leaked cache, now empty, can go
}

TEST(ObjectCache, ShrinkGivesPagesBack) {
  struct Big {
    char bytes[512];
  };
  ObjectCache<Big> cache("oc-shrink");
  std::vector<Big*> objs;
  for (int i = 0; i < 5000; ++i) objs.push_back(cache.construct());
  for (Big* b : objs) cache.destroy(b);
  const mk_page_stats before = [] {
    mk_page_stats s;
    mk_get_page_stats(&s);
    return s;
  }();
  const size_t given = cache.shrink();
  EXPECT_GT(given, 0u);
  mk_page_stats after;
  mk_get_page_stats(&after);
  // The cache's own pages; the depot's magazines, freed as it drains (up to 34 of 272 bytes
  // here), may give a page or two of the magazines' cache back with them.
  EXPECT_GE(before.allocated_pages - after.allocated_pages, given);
  EXPECT_LE(before.allocated_pages - after.allocated_pages, given + 3);
  EXPECT_EQ(cache.shrink(), 0u);  // nothing left to give
  EXPECT_EQ(cache.close(), 0);
}

TEST(ObjectCache, NameAndConstructorErrors) {
  ObjectCache<int> cache("oc-name");
  EXPECT_EQ(cache.name(), "oc-name");
  try {
    ObjectCache<int> bad(std::string(32, 'n'));  // 31 characters at most
    FAIL() << "a 32-character name was accepted";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::invalid_argument);
  }
  EXPECT_THROW(ObjectCache<int>("oc-flags", 0x1u), std::system_error);  // not an MK_SLAB_* flag
}

TEST(ObjectCache, DebugFlagsWork) {
  ObjectCache<uint64_t> cache("oc-debug", MK_SLAB_RED_ZONE | MK_SLAB_POISON);
  std::vector<uint64_t*> v;
  for (uint64_t i = 0; i < 1000; ++i) v.push_back(cache.construct(i));
  for (uint64_t i = 0; i < 1000; ++i) EXPECT_EQ(*v[i], i);
  for (auto* p : v) cache.destroy(p);
  uint64_t* again = cache.construct(uint64_t{77});  // poison checked on alloc, then constructed
  EXPECT_EQ(*again, 77u);
  cache.destroy(again);
  EXPECT_EQ(cache.close(), 0);
}

TEST(ObjectCache, ObjectsDestroyedOnAnotherThread) {
  Counted::live = Counted::destroyed = 0;
  ObjectCache<Counted> cache("oc-threads");
  std::vector<Counted*> objs;
  for (int i = 0; i < 10000; ++i) objs.push_back(cache.construct(i, "t"));
  std::thread t([&] {
    for (Counted* c : objs) cache.destroy(c);
  });
  t.join();
  EXPECT_EQ(Counted::live, 0);
  EXPECT_EQ(cache.close(), 0);
}

TEST(ObjectCacheDeathTest, DestroyingAForeignPointerIsFatal) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  ObjectCache<uint64_t> a("oc-death-a");
  ObjectCache<uint64_t> b("oc-death-b");
  uint64_t* x = a.construct(uint64_t{1});
  EXPECT_DEATH(b.destroy(x),
               "memkit: ERROR: invalid-free mk_cache_free 0x.*belongs to cache oc-death-a");
  a.destroy(x);
}

}  // namespace
