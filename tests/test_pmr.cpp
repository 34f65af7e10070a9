// Tests of the std::pmr adapters (include/memkit/pmr.hpp) and the STL allocator template
// (include/memkit/allocator.hpp), over the process's global page heap:
//
//   PageResource       the order chosen for (bytes, align), alignments 8 .. 4 MiB, huge requests
//                      (mk_vmalloc), bad_alloc (absurd sizes, huge over-aligned), pmr vector and
//                      unordered_map, every page back afterwards, type equality, the fatal
//                      report of a deallocate with the wrong size
//   SlabCacheResource  which requests the cache serves and which go upstream, pmr list and
//                      unordered_map, a null upstream, constructor errors, identity, shrink, the
//                      destructor's deliberate leak with live objects
//   KmallocResource    kmalloc's alignment rule put to use (the size asked for, page blocks beyond),
//                      alignments 8 .. 1 MiB, pmr vector / unordered_map / string, bad_alloc,
//                      type equality
//   MonotonicArena     bumping, geometric growth, alignments 8 .. 4 MiB, huge blocks, bad_alloc,
//                      release() giving every page back (mk_get_page_stats), reuse after release,
//                      the destructor, identity
//   Allocator<T, R>    std::vector, std::list, std::map, std::unordered_map over memkit resources
//                      (by type and through std::pmr::memory_resource), alignof(T) passed on,
//                      propagation on move/copy/swap, equality, overflow
//   KmallocAllocator   the same containers, over-aligned T, equality, overflow
//
// The global heap is shared by the tests of this binary, so statistics are compared as deltas.
#include <stdint.h>

#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <list>
#include <map>
#include <memory_resource>
#include <new>
#include <string>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include "memkit/allocator.hpp"
#include "memkit/memkit.h"
#include "memkit/pmr.hpp"

namespace {

using memkit::Allocator;
using memkit::KmallocAllocator;
using memkit::KmallocResource;
using memkit::MonotonicArena;
using memkit::PageResource;
using memkit::SlabCacheResource;

constexpr size_t KiB = 1024, MiB = KiB * KiB;
// Absurd sizes, hidden from the optimiser (GCC rejects constant sizes above PTRDIFF_MAX passed
// to allocation functions at compile time, -Walloc-size-larger-than).
size_t opaque(size_t v) {
  volatile size_t x = v;
  return x;
}
const size_t kMaxSize = opaque(std::numeric_limits<size_t>::max());
const size_t kAbsurd = opaque(std::numeric_limits<size_t>::max() / 2);

size_t page() { return mk_page_size(); }

mk_page_stats page_stats() {
  mk_page_stats s;
  mk_get_page_stats(&s);
  return s;
}

bool aligned_to(const void* p, size_t align) {
  return reinterpret_cast<uintptr_t>(p) % align == 0;
}

// Counts what reaches it, and serves it from new/delete.
class CountingResource final : public std::pmr::memory_resource {
 public:
  size_t allocs = 0, deallocs = 0, live_bytes = 0, last_align = 0;

 private:
  void* do_allocate(size_t bytes, size_t align) override {
    ++allocs;
    live_bytes += bytes;
    last_align = align;
    return std::pmr::new_delete_resource()->allocate(bytes, align);
  }
  void do_deallocate(void* p, size_t bytes, size_t align) override {
    ++deallocs;
    live_bytes -= bytes;
    std::pmr::new_delete_resource()->deallocate(p, bytes, align);
  }
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override {
    return this == &other;
  }
};

// Allocates (bytes, align) for align = 8 .. max_align, checks alignment, fills each block with
// its own byte, then checks that no block was overwritten by another, and frees them.
void check_alignments(std::pmr::memory_resource& r, size_t max_align, size_t bytes) {
  struct Block {
    void* p;
    size_t bytes, align;
    unsigned char fill;
  };
  std::vector<Block> blocks;
  unsigned char fill = 1;
  for (size_t align = 8; align <= max_align; align *= 2) {
    for (size_t n : {size_t{1}, bytes, align / 2 + 8}) {
      void* p = r.allocate(n, align);
      ASSERT_TRUE(aligned_to(p, align)) << "bytes " << n << " align " << align << " -> " << p;
      std::memset(p, fill, n);
      blocks.push_back({p, n, align, fill++});
    }
  }
  for (const Block& b : blocks) {
    const auto* c = static_cast<const unsigned char*>(b.p);
    for (size_t i = 0; i < b.bytes; ++i)
      ASSERT_EQ(c[i], b.fill) << "block of " << b.bytes << " aligned " << b.align;
  }
  for (const Block& b : blocks) r.deallocate(b.p, b.bytes, b.align);
}

// ---- PageResource ----

TEST(PageResource, OrderFollowsBytesAndAlignment) {
  PageResource r;
  struct Case {
    size_t bytes, align;
    int order;
  };
  const Case cases[] = {
      {0, 1, 0},          {1, 8, 0},           {page(), 8, 0},      {page() + 1, 8, 1},
      {3 * page(), 8, 2}, {8, 2 * page(), 1},  {8, 256 * page(), 8}, {4 * MiB, 16, 10},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << "bytes " << c.bytes << " align " << c.align);
    void* p = r.allocate(c.bytes, c.align);
    EXPECT_EQ(mk_page_order(p), c.order);
    EXPECT_TRUE(aligned_to(p, c.align));
    r.deallocate(p, c.bytes, c.align);
  }
}

TEST(PageResource, Alignments) {
  PageResource r;
  check_alignments(r, 4 * MiB, 100);
}

TEST(PageResource, HugeRequestsAreMappedDirectly) {
  PageResource r;
  const mk_page_stats before = page_stats();
  void* p = r.allocate(8 * MiB + 1, 4096);
  EXPECT_EQ(mk_page_order(p), -1);  // not a buddy block
  EXPECT_EQ(page_stats().direct_mappings, before.direct_mappings + 1);
  std::memset(p, 0x42, 8 * MiB + 1);
  r.deallocate(p, 8 * MiB + 1, 4096);
  EXPECT_EQ(page_stats().direct_mappings, before.direct_mappings);
}

TEST(PageResource, BadAlloc) {
  PageResource r;
  EXPECT_THROW((void)r.allocate(kAbsurd, 8), std::bad_alloc);
  EXPECT_THROW((void)r.allocate(kMaxSize, 8), std::bad_alloc);
  // Beyond the largest order mk_vmalloc is only page-aligned.
  EXPECT_THROW((void)r.allocate(8 * MiB, 8 * MiB), std::bad_alloc);
}

TEST(PageResource, PmrContainersAndEveryPageBack) {
  const mk_page_stats before = page_stats();
  {
    PageResource r;
    std::pmr::vector<uint64_t> v(&r);
    for (uint64_t i = 0; i < 1'000'000; ++i) v.push_back(i * 3);  // grows into a huge block
    for (uint64_t i = 0; i < v.size(); ++i) ASSERT_EQ(v[i], i * 3);

    std::pmr::unordered_map<int, int> m(&r);  // a page per node: a small map
    for (int i = 0; i < 2000; ++i) m.emplace(i, -i);
    ASSERT_EQ(m.size(), 2000u);
    for (int i = 0; i < 2000; ++i) ASSERT_EQ(m.at(i), -i);
  }
  const mk_page_stats after = page_stats();
  EXPECT_EQ(after.allocated_pages, before.allocated_pages);
  EXPECT_EQ(after.direct_mappings, before.direct_mappings);
}

TEST(PageResource, AllInstancesAreEqual) {
  PageResource a, b;
  MonotonicArena arena;
  EXPECT_TRUE(a == b);
  EXPECT_TRUE(a.is_equal(b));
  EXPECT_FALSE(a == *std::pmr::new_delete_resource());
  EXPECT_FALSE(a == arena);
  void* p = a.allocate(100, 8);
  b.deallocate(p, 100, 8);  // what equal means
}

TEST(PageResourceDeathTest, DeallocateWithTheWrongSizeIsFatal) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  PageResource r;
  void* p = r.allocate(3 * page(), 8);  // order 2
  EXPECT_DEATH(r.deallocate(p, page(), 8),
               "memkit: ERROR: invalid-free mk_free_pages .*allocated with order 2");
  r.deallocate(p, 3 * page(), 8);
}

// ---- KmallocResource ----

TEST(KmallocResource, AsksKmallocForASizeThatGivesTheAlignment) {
  KmallocResource r;
  struct Case {
    size_t bytes, align, ksize;  // ksize 0: page blocks
    int order;                   // of the page block
  };
  const Case cases[] = {
      {3, 8, 8, -1},          {5, 16, 16, -1},        {24, 16, 32, -1},    // 24 -> class 32
      {100, 64, 128, -1},     {8, 256, 256, -1},      {3000, 2048, 4096, -1},
      {page(), page(), page(), -1},
      {page() + 1, 32, 0, 1}, {100, 2 * page(), 0, 1}, {5 * page(), 64, 0, 3},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << "bytes " << c.bytes << " align " << c.align);
    void* p = r.allocate(c.bytes, c.align);
    EXPECT_TRUE(aligned_to(p, c.align));
    if (c.ksize != 0)
      EXPECT_EQ(mk_ksize(p), c.ksize);
    else
      EXPECT_EQ(mk_page_order(p), c.order);
    std::memset(p, 0x3c, c.bytes);
    r.deallocate(p, c.bytes, c.align);
  }
  // Alignment up to 16 costs nothing: large requests are kmalloc's own (no power-of-two rounding).
  void* big = r.allocate(100 * KiB, 16);
  EXPECT_GE(mk_ksize(big), 100 * KiB);
  EXPECT_LT(mk_ksize(big), 128 * KiB);
  r.deallocate(big, 100 * KiB, 16);
}

TEST(KmallocResource, Alignments) {
  KmallocResource r;
  check_alignments(r, 1 * MiB, 100);
  check_alignments(r, 4 * KiB, 3000);
}

TEST(KmallocResource, PmrContainers) {
  KmallocResource r;
  std::pmr::vector<uint64_t> v(&r);
  for (uint64_t i = 0; i < 1'000'000; ++i) v.push_back(i ^ 0x5555);
  for (uint64_t i = 0; i < v.size(); ++i) ASSERT_EQ(v[i], i ^ 0x5555);
  EXPECT_GE(mk_ksize(v.data()), v.capacity() * sizeof(uint64_t));

  std::pmr::unordered_map<int, std::pmr::string> m(&r);
  for (int i = 0; i < 100'000; ++i)
    m.emplace(i, std::pmr::string(static_cast<size_t>(i % 100), 'k', &r));
  ASSERT_EQ(m.size(), 100'000u);
  for (int i = 0; i < 100'000; ++i) ASSERT_EQ(m.at(i).size(), static_cast<size_t>(i % 100));
}

TEST(KmallocResource, BadAlloc) {
  KmallocResource r;
  EXPECT_THROW((void)r.allocate(kAbsurd, 8), std::bad_alloc);
  EXPECT_THROW((void)r.allocate(kAbsurd, 64), std::bad_alloc);
  EXPECT_THROW((void)r.allocate(kMaxSize, 16), std::bad_alloc);
  EXPECT_THROW((void)r.allocate(8 * MiB, 8 * MiB), std::bad_alloc);
}

TEST(KmallocResource, AllInstancesAreEqual) {
  KmallocResource a, b;
  PageResource pages;
  EXPECT_TRUE(a == b);
  EXPECT_FALSE(a == pages);
  EXPECT_FALSE(a == *std::pmr::new_delete_resource());
  void* p = a.allocate(1000, 64);
  b.deallocate(p, 1000, 64);
}

// ---- SlabCacheResource ----

TEST(SlabCacheResource, ServesWhatFitsAndForwardsTheRest) {
  CountingResource up;
  SlabCacheResource r("pmr-route", 64, 16, 0, &up);
  EXPECT_EQ(r.object_size(), 64u);
  EXPECT_EQ(r.alignment(), 16u);
  EXPECT_EQ(r.upstream(), &up);

  void* a = r.allocate(64, 16);  // fits
  void* b = r.allocate(1, 1);    // fits
  void* c = r.allocate(0, 8);    // fits
  EXPECT_EQ(up.allocs, 0u);
  EXPECT_TRUE(aligned_to(a, 16) && aligned_to(b, 16) && aligned_to(c, 16));
  EXPECT_TRUE(a != b && b != c && a != c);

  void* d = r.allocate(65, 8);   // too big
  void* e = r.allocate(8, 32);   // too aligned
  EXPECT_EQ(up.allocs, 2u);
  EXPECT_EQ(up.last_align, 32u);

  r.deallocate(a, 64, 16);
  r.deallocate(b, 1, 1);
  r.deallocate(c, 0, 8);
  EXPECT_EQ(up.deallocs, 0u);
  r.deallocate(d, 65, 8);
  r.deallocate(e, 8, 32);
  EXPECT_EQ(up.deallocs, 2u);
  EXPECT_EQ(up.live_bytes, 0u);
}

TEST(SlabCacheResource, MinimumAlignmentIsEight) {
  SlabCacheResource r("pmr-align8", 24, 1, 0, std::pmr::null_memory_resource());
  EXPECT_EQ(r.alignment(), 8u);
  void* p = r.allocate(24, 8);
  EXPECT_TRUE(aligned_to(p, 8));
  r.deallocate(p, 24, 8);
}

TEST(SlabCacheResource, NodeContainers) {
  CountingResource up;
  {
    // libstdc++'s list<int> node: two pointers and an int (24 bytes); unordered_map<int, int>'s
    // node: a pointer and the pair (16 bytes). 32-byte objects hold either.
    SlabCacheResource nodes("pmr-nodes", 32, alignof(std::max_align_t), 0, &up);
    std::pmr::list<int> l(&nodes);
    for (int i = 0; i < 10000; ++i) l.push_back(i);
    EXPECT_EQ(up.allocs, 0u) << "every list node came from the cache";
    int expect = 0;
    for (int x : l) ASSERT_EQ(x, expect++);

    std::pmr::unordered_map<int, int> m(&nodes);
    for (int i = 0; i < 50000; ++i) m.emplace(i, 2 * i);
    ASSERT_EQ(m.size(), 50000u);
    for (int i = 0; i < 50000; ++i) ASSERT_EQ(m.at(i), 2 * i);
    EXPECT_GT(up.allocs, 0u) << "the bucket arrays went upstream";
    EXPECT_LT(up.allocs, 100u) << "and only they";
    m.clear();
    l.clear();
    EXPECT_GT(nodes.shrink(), 0u);
  }
  EXPECT_EQ(up.live_bytes, 0u);
}

TEST(SlabCacheResource, NullUpstreamThrows) {
  SlabCacheResource r("pmr-null-up", 64, 16, 0, std::pmr::null_memory_resource());
  EXPECT_THROW((void)r.allocate(65, 8), std::bad_alloc);
  EXPECT_THROW((void)r.allocate(kAbsurd, 8), std::bad_alloc);
  EXPECT_THROW((void)r.allocate(8, 64), std::bad_alloc);
}

TEST(SlabCacheResource, DefaultUpstreamIsTheDefaultResource) {
  SlabCacheResource r("pmr-default-up", 64);
  EXPECT_EQ(r.upstream(), std::pmr::get_default_resource());
  EXPECT_EQ(r.alignment(), alignof(std::max_align_t));
  void* big = r.allocate(1000, 8);
  std::memset(big, 1, 1000);
  r.deallocate(big, 1000, 8);
}

TEST(SlabCacheResource, ConstructorErrors) {
  try {
    SlabCacheResource r(std::string(40, 'n').c_str(), 64);
    FAIL() << "a 40-character name was accepted";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::invalid_argument);
  }
  EXPECT_THROW(SlabCacheResource("pmr-bad-align", 64, 24), std::system_error);
  EXPECT_THROW(SlabCacheResource("pmr-bad-size", 0), std::system_error);
}

TEST(SlabCacheResource, EqualityIsIdentity) {
  SlabCacheResource a("pmr-eq-a", 64), b("pmr-eq-b", 64);
  EXPECT_TRUE(a == a);
  EXPECT_FALSE(a == b);
  EXPECT_FALSE(a == *std::pmr::get_default_resource());
}

TEST(SlabCacheResource, DestructorLeaksTheCacheWhenObjectsAreLive) {
  void* p = nullptr;
  mk_cache_t* handle = nullptr;
  testing::internal::CaptureStderr();
  {
    SlabCacheResource r("pmr-leak", 64);
    handle = r.native_handle();
    p = r.allocate(64, 8);
  }
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("1 objects remaining in cache pmr-leak"), std::string::npos) << err;
  std::memset(p, 7, 64);  // still valid memory
  mk_cache_free(handle, p);
  EXPECT_EQ(mk_cache_destroy(handle), 0);
}

// ---- MonotonicArena ----

TEST(MonotonicArena, BumpsThroughOneBlock) {
  MonotonicArena arena;
  EXPECT_EQ(arena.blocks(), 0u);
  char* a = static_cast<char*>(arena.allocate(16, 8));
  char* b = static_cast<char*>(arena.allocate(16, 8));
  char* c = static_cast<char*>(arena.allocate(1, 1));
  char* d = static_cast<char*>(arena.allocate(8, 8));
  EXPECT_EQ(b, a + 16);
  EXPECT_EQ(c, b + 16);
  EXPECT_EQ(d, c + 8);  // c + 1 rounded up to 8
  EXPECT_EQ(arena.blocks(), 1u);
  EXPECT_EQ(arena.block_bytes(), page());
  arena.deallocate(b, 16, 8);  // a no-op: never reused
  char* e = static_cast<char*>(arena.allocate(16, 8));
  EXPECT_EQ(e, d + 8);
  void* z1 = arena.allocate(0, 1);
  void* z2 = arena.allocate(0, 1);
  EXPECT_NE(z1, z2);
}

TEST(MonotonicArena, BlocksGrowGeometrically) {
  MonotonicArena arena;
  size_t total = 0;
  while (total < 64 * MiB) {
    void* p = arena.allocate(1 * KiB, 8);
    static_cast<char*>(p)[0] = 1;
    total += KiB;
  }
  // 1 + 2 + ... + 1024 pages (about 8 MiB in 11 blocks), then 4 MiB blocks.
  EXPECT_LE(arena.blocks(), 11u + (64 * MiB - 8 * MiB) / (4 * MiB) + 2);
  EXPECT_GE(arena.block_bytes(), 64 * MiB);
  EXPECT_LE(arena.block_bytes(), 64 * MiB + 8 * MiB);
}

TEST(MonotonicArena, InitialOrder) {
  MonotonicArena a(4);
  (void)a.allocate(1, 1);
  EXPECT_EQ(a.block_bytes(), page() << 4);
  MonotonicArena b(99);  // capped at the largest order
  (void)b.allocate(1, 1);
  EXPECT_EQ(b.block_bytes(), page() << MK_MAX_PAGE_ORDER);
  // A request too large for the next order gets the order that holds it.
  MonotonicArena c;
  (void)c.allocate(100 * KiB, 8);
  EXPECT_EQ(c.blocks(), 1u);
  EXPECT_GE(c.block_bytes(), 100 * KiB);
  EXPECT_LE(c.block_bytes(), 128 * KiB);
}

TEST(MonotonicArena, Alignments) {
  MonotonicArena arena;
  check_alignments(arena, 4 * MiB, 100);
  void* p = arena.allocate(10, 8 * MiB);  // beyond the largest order: its own vmalloc block
  EXPECT_TRUE(aligned_to(p, 8 * MiB));
  std::memset(p, 1, 10);
}

TEST(MonotonicArena, HugeRequestsAndBadAlloc) {
  const mk_page_stats before = page_stats();
  MonotonicArena arena;
  void* small = arena.allocate(100, 8);
  void* huge = arena.allocate(16 * MiB, 64);
  std::memset(huge, 0x11, 16 * MiB);
  EXPECT_EQ(page_stats().direct_mappings, before.direct_mappings + 1);
  void* small2 = arena.allocate(100, 8);
  EXPECT_EQ(static_cast<char*>(small2), static_cast<char*>(small) + 104)
      << "a huge block does not replace the current one";
  EXPECT_THROW((void)arena.allocate(kAbsurd, 8), std::bad_alloc);
  EXPECT_THROW((void)arena.allocate(kMaxSize - 8, 8), std::bad_alloc);
  arena.release();
  EXPECT_EQ(page_stats().direct_mappings, before.direct_mappings);
}

TEST(MonotonicArena, ReleaseGivesEveryPageBack) {
  const mk_page_stats before = page_stats();
  MonotonicArena arena;
  {
    std::pmr::vector<uint64_t> v(&arena);
    for (uint64_t i = 0; i < 1'000'000; ++i) v.push_back(i);
    std::pmr::unordered_map<uint64_t, std::pmr::string> m(&arena);
    for (uint64_t i = 0; i < 100'000; ++i)
      m.emplace(i, std::pmr::string("a string too long for the small buffer", &arena));
    ASSERT_EQ(m.size(), 100'000u);
    for (uint64_t i = 0; i < 1'000'000; ++i) ASSERT_EQ(v[i], i);
    EXPECT_EQ(m.at(777).size(), 38u);
  }
  const mk_page_stats during = page_stats();
  EXPECT_GT(during.allocated_pages, before.allocated_pages);
  EXPECT_GT(arena.blocks(), 0u);

  arena.release();
  const mk_page_stats after = page_stats();
  EXPECT_EQ(after.allocated_pages, before.allocated_pages);
  EXPECT_EQ(after.direct_mappings, before.direct_mappings);
  EXPECT_EQ(arena.blocks(), 0u);
  EXPECT_EQ(arena.block_bytes(), 0u);

  // Usable again, from the initial order.
  std::pmr::vector<int> w({1, 2, 3}, &arena);
  EXPECT_EQ(arena.block_bytes(), page());
  EXPECT_EQ(w[2], 3);
}

TEST(MonotonicArena, DestructorGivesEveryPageBack) {
  const mk_page_stats before = page_stats();
  {
    MonotonicArena arena(2);
    for (int i = 0; i < 1000; ++i) (void)arena.allocate(10 * KiB, 16);
    (void)arena.allocate(20 * MiB, 16);
    EXPECT_GT(page_stats().allocated_pages, before.allocated_pages);
  }
  EXPECT_EQ(page_stats().allocated_pages, before.allocated_pages);
  EXPECT_EQ(page_stats().direct_mappings, before.direct_mappings);
}

TEST(MonotonicArena, EqualityIsIdentity) {
  MonotonicArena a, b;
  PageResource pages;
  EXPECT_TRUE(a == a);
  EXPECT_FALSE(a == b);
  EXPECT_FALSE(a == pages);
}

// ---- Allocator<T, Resource> ----

template <class T, class R>
using Alloc = Allocator<T, R>;

TEST(Allocator, ContainersOverAConcreteResource) {
  MonotonicArena arena;
  std::vector<int, Alloc<int, MonotonicArena>> v(&arena);
  for (int i = 0; i < 100000; ++i) v.push_back(i);
  EXPECT_EQ(v.get_allocator().resource(), &arena);
  for (int i = 0; i < 100000; ++i) ASSERT_EQ(v[i], i);

  std::list<int, Alloc<int, MonotonicArena>> l(&arena);
  for (int i = 0; i < 1000; ++i) l.push_front(i);
  EXPECT_EQ(l.front(), 999);

  using MapAlloc = Alloc<std::pair<const int, std::string>, MonotonicArena>;
  std::map<int, std::string, std::less<>, MapAlloc> m(&arena);
  for (int i = 0; i < 10000; ++i) m.emplace(i, std::to_string(i));
  EXPECT_EQ(m.size(), 10000u);
  EXPECT_EQ(m.at(1234), "1234");

  using UmapAlloc = Alloc<std::pair<const int, int>, MonotonicArena>;
  std::unordered_map<int, int, std::hash<int>, std::equal_to<int>, UmapAlloc> u(&arena);
  for (int i = 0; i < 100000; ++i) u.emplace(i, i * 7);
  EXPECT_EQ(u.size(), 100000u);
  for (int i = 0; i < 100000; ++i) ASSERT_EQ(u.at(i), i * 7);
  EXPECT_GT(arena.blocks(), 1u);
}

TEST(Allocator, ContainersThroughMemoryResource) {
  PageResource pages;
  SlabCacheResource nodes("alloc-nodes", 64, 16, 0, &pages);
  using A = Allocator<std::pair<const int, int>>;  // Resource = std::pmr::memory_resource
  static_assert(std::is_same_v<A::resource_type, std::pmr::memory_resource>);
  const A alloc(&nodes);
  std::map<int, int, std::less<>, A> m(alloc);
  std::unordered_map<int, int, std::hash<int>, std::equal_to<int>, A> u(alloc);
  for (int i = 0; i < 20000; ++i) {
    m.emplace(i, -i);
    u.emplace(i, i);
  }
  for (int i = 0; i < 20000; ++i) {
    ASSERT_EQ(m.at(i), -i);
    ASSERT_EQ(u.at(i), i);
  }
  std::vector<double, Allocator<double>> v(1000, 1.5, &pages);
  EXPECT_EQ(v[999], 1.5);
}

TEST(Allocator, PassesSizeAndAlignment) {
  struct alignas(64) Wide {
    char c[100];
  };
  CountingResource counting;
  std::vector<Wide, Allocator<Wide, CountingResource>> v(&counting);
  v.resize(10);
  EXPECT_EQ(counting.allocs, 1u);
  EXPECT_EQ(counting.last_align, 64u);
  EXPECT_EQ(counting.live_bytes, 10 * sizeof(Wide));
  EXPECT_TRUE(aligned_to(v.data(), 64));
  v.clear();
  v.shrink_to_fit();
  EXPECT_EQ(counting.live_bytes, 0u);
}

TEST(Allocator, Equality) {
  MonotonicArena a, b;
  Allocator<int, MonotonicArena> ia(&a), ia2(&a), ib(&b);
  Allocator<double, MonotonicArena> da(ia);  // rebinding keeps the resource
  EXPECT_TRUE(ia == ia2);
  EXPECT_FALSE(ia == ib);
  EXPECT_TRUE(ia != ib);
  EXPECT_TRUE(da == ia);
  EXPECT_EQ(da.resource(), &a);
  using Traits = std::allocator_traits<Allocator<int, MonotonicArena>>;
  static_assert(std::is_same_v<Traits::rebind_alloc<long>, Allocator<long, MonotonicArena>>);
  static_assert(!Traits::is_always_equal::value);
}

TEST(Allocator, PropagatesOnMoveCopyAndSwap) {
  MonotonicArena a, b;
  using Vec = std::vector<int, Allocator<int, MonotonicArena>>;
  Vec va({1, 2, 3}, &a);
  Vec vb({4, 5}, &b);

  Vec copy(va);  // copy construction keeps the resource
  EXPECT_EQ(copy.get_allocator().resource(), &a);

  copy = vb;  // copy assignment propagates
  EXPECT_EQ(copy.get_allocator().resource(), &b);
  EXPECT_EQ(copy, Vec({4, 5}, &a));

  std::swap(va, vb);  // swap exchanges the allocators
  EXPECT_EQ(va.get_allocator().resource(), &b);
  EXPECT_EQ(vb.get_allocator().resource(), &a);
  EXPECT_EQ(va[0], 4);

  const int* data = va.data();
  vb = std::move(va);  // move assignment takes the memory and the resource, no copy
  EXPECT_EQ(vb.get_allocator().resource(), &b);
  EXPECT_EQ(vb.data(), data);
}

TEST(Allocator, Overflow) {
  PageResource pages;
  Allocator<uint64_t, PageResource> a(&pages);
  EXPECT_THROW((void)a.allocate(kMaxSize / 4), std::bad_array_new_length);
  Allocator<char, PageResource> c(&pages);
  EXPECT_THROW((void)c.allocate(kAbsurd), std::bad_alloc);
}

// ---- KmallocAllocator<T> ----

TEST(KmallocAllocator, Containers) {
  std::vector<int, KmallocAllocator<int>> v;
  for (int i = 0; i < 100000; ++i) v.push_back(i);
  for (int i = 0; i < 100000; ++i) ASSERT_EQ(v[i], i);
  EXPECT_GE(mk_ksize(v.data()), v.capacity() * sizeof(int));  // kmalloc memory

  std::list<std::string, KmallocAllocator<std::string>> l(100, "x");
  EXPECT_EQ(l.size(), 100u);

  std::map<int, int, std::less<>, KmallocAllocator<std::pair<const int, int>>> m;
  std::unordered_map<int, int, std::hash<int>, std::equal_to<int>,
                     KmallocAllocator<std::pair<const int, int>>>
      u;
  for (int i = 0; i < 50000; ++i) {
    m.emplace(i, i + 1);
    u.emplace(i, i + 2);
  }
  for (int i = 0; i < 50000; ++i) {
    ASSERT_EQ(m.at(i), i + 1);
    ASSERT_EQ(u.at(i), i + 2);
  }
}

TEST(KmallocAllocator, OverAlignedTypes) {
  struct alignas(64) Line {
    char c[64];
  };
  struct alignas(8192) Huge {
    char c[100];
  };
  std::vector<Line, KmallocAllocator<Line>> lines(1000);
  EXPECT_TRUE(aligned_to(lines.data(), 64));
  std::vector<Huge, KmallocAllocator<Huge>> huge(3);
  EXPECT_TRUE(aligned_to(huge.data(), 8192));
  std::list<Line, KmallocAllocator<Line>> l(100);
  for (const Line& x : l) ASSERT_TRUE(aligned_to(&x, 64));
}

TEST(KmallocAllocator, IsStatelessAndAlwaysEqual) {
  static_assert(std::is_empty_v<KmallocAllocator<int>>);
  using Traits = std::allocator_traits<KmallocAllocator<int>>;
  static_assert(Traits::is_always_equal::value);
  static_assert(std::is_same_v<Traits::rebind_alloc<double>, KmallocAllocator<double>>);
  constexpr KmallocAllocator<int> a;
  constexpr KmallocAllocator<double> b(a);
  static_assert(a == b);
  KmallocAllocator<int> x;
  int* p = x.allocate(10);
  KmallocAllocator<int>().deallocate(p, 10);  // any instance frees
}

TEST(KmallocAllocator, Overflow) {
  KmallocAllocator<uint64_t> a;
  EXPECT_THROW((void)a.allocate(kMaxSize / 4), std::bad_array_new_length);
  KmallocAllocator<char> c;
  EXPECT_THROW((void)c.allocate(kAbsurd), std::bad_alloc);
}

}  // namespace
