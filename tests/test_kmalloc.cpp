// Tests of kmalloc (include/memkit/memkit.h, src/kmalloc/): mk_kmalloc, mk_kzalloc,
// mk_kcalloc, mk_krealloc, mk_kfree and mk_ksize over the process's global page heap.
//
// Covered: every class boundary (size = class - 1, class, class + 1) and its mk_ksize; the
// alignment promise (8, 16 from 16 B up, natural for powers of two up to the page size); every
// usable byte writable; kmalloc(0) unique; zeroing after dirty frees (classes and large
// blocks); kcalloc and its overflow; large requests (33 KiB, 100 KiB, 4 MiB, 5 MiB, 64 MiB)
// with their exact page counts seen in the page heap's statistics (the tail of the buddy block
// went back; 5 and 64 MiB are direct mappings); krealloc's in-place rules, MK_GFP_ZERO, failure
// and random growth/shrink chains against a model of the expected bytes; the kmalloc caches in
// mk_slabinfo; the fatal reports (foreign pointers, interiors, user-cache objects, page blocks
// of the other APIs, double frees of large blocks, mk_ksize/mk_krealloc of foreign pointers);
// frees from other threads; and a randomized run against a model (live set, contents, no
// overlaps).
//
// The global heap is shared by the tests of this binary, so page statistics are deltas, taken
// on blocks whose size no slab growth can disturb.
#include <errno.h>
#include <stdint.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <iterator>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "arena/page_heap.h"
#include "kmalloc/kmalloc.h"
#include "kmalloc/size_classes.h"
#include "memkit/memkit.h"
#include "slab/slab_cache.h"
#include "slab/slab_page.h"
#include "test_support.h"

namespace {

namespace sc = memkit::size_class;

constexpr size_t KiB = 1024, MiB = KiB * KiB;
const size_t kPage = mk_page_size();

size_t round_pages(size_t n) { return (n + kPage - 1) / kPage * kPage; }

mk_page_stats page_stats() {
  mk_page_stats s;
  mk_get_page_stats(&s);
  return s;
}

bool is_pow2(size_t x) { return x != 0 && (x & (x - 1)) == 0; }

using memkit::testing::all_bytes;

// A byte pattern that depends on the block's identity and the offset.
unsigned char pattern(uint64_t id, size_t i) {
  return static_cast<unsigned char>((id * 0x9e3779b97f4a7c15ull >> 56) ^ (i * 131) ^ (i >> 8));
}
void fill(void* p, uint64_t id, size_t from, size_t to) {
  auto* b = static_cast<unsigned char*>(p);
  for (size_t i = from; i < to; ++i) b[i] = pattern(id, i);
}
bool check(const void* p, uint64_t id, size_t n) {
  const auto* b = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < n; ++i)
    if (b[i] != pattern(id, i)) return false;
  return true;
}
// The same, for big blocks every byte of the first and last 4 KiB and every 61st in between.
bool check_sampled(const void* p, uint64_t id, size_t n) {
  if (n <= 16 * 1024) return check(p, id, n);
  const auto* b = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < n; i += (i < 4096 || i + 4096 >= n) ? 1 : 61)
    if (b[i] != pattern(id, i)) return false;
  return true;
}

// The usable size kmalloc promises for a request.
size_t expected_ksize(size_t n) {
  return n <= sc::kMaxSize ? sc::class_size(sc::size_to_class(n)) : round_pages(n);
}

// ---- the fast path's view of a pointer (kmalloc.h: fast_index_of) ----

// For every class: the fast check (page descriptor alone) names the class exactly for the
// object starts of every slab the objects lie in, and says "no" for every other 8-byte-aligned
// address of those slabs (the colour before the first object, the leftover after the last,
// every interior), in agreement with the slab layer's own lookup. Enough objects for several
// slabs, so several colours.
TEST(KmallocFastPath, DescriptorCheckAgreesWithTheSlabLayerOnEveryAddress) {
  memkit::PageHeap& heap = memkit::global_page_heap();
  for (unsigned c = 0; c < sc::kNumClasses; ++c) {
    const size_t size = sc::class_size(c);
    const size_t n = std::max<size_t>(8, 3 * 64 * KiB / size);
    std::vector<void*> objs;
    for (size_t i = 0; i < n; ++i) objs.push_back(mk_kmalloc(size, 0));
    std::map<const memkit::PageDesc*, int> slabs;
    for (void* p : objs) {
      ASSERT_EQ(memkit::fast_index_of(p), memkit::class_index(c)) << "class " << size;
      slabs[memkit::SlabCache::slab_of(&heap, p)] = 0;
    }
    for (const auto& [slab, unused] : slabs) {
      ASSERT_NE(slab, nullptr);
      const memkit::SlabCache* cache = memkit::slab_page::cache(slab);
      const auto* base = static_cast<const char*>(heap.page_address(slab));
      const size_t bytes = heap.page_size() << slab->order;
      size_t starts = 0;
      for (size_t off = 0; off < bytes; off += 8) {
        const bool start = cache->is_object_start(slab, base + off);
        starts += start;
        ASSERT_EQ(memkit::fast_index_of(base + off), start ? memkit::class_index(c) : 0u)
            << "class " << size << ", slab offset " << off;
      }
      ASSERT_GT(starts, 0u);
    }
    for (void* p : objs) mk_kfree(p);
  }
}

TEST(KmallocFastPath, OtherPointersAreNotObjects) {
  int local = 0;
  static char global_buf[64];
  EXPECT_EQ(memkit::fast_index_of(nullptr), 0u);
  EXPECT_EQ(memkit::fast_index_of(&local), 0u);
  EXPECT_EQ(memkit::fast_index_of(global_buf), 0u);
  EXPECT_EQ(memkit::fast_index_of(reinterpret_cast<void*>(~uintptr_t{0} - 4095)), 0u);
  for (size_t size : {40 * KiB, 1 * MiB, 8 * MiB}) {  // arena pages, then a direct mapping
    char* p = static_cast<char*>(mk_kmalloc(size, 0));
    EXPECT_EQ(memkit::fast_index_of(p), 0u) << size;
    EXPECT_EQ(memkit::fast_index_of(p + 4096), 0u) << size;
    mk_kfree(p);
  }
  void* page = mk_alloc_pages(0, 0);
  EXPECT_EQ(memkit::fast_index_of(page), 0u);
  mk_free_pages(page, 0);
}

// A slab given back to the page heap no longer says it holds objects, so a stale pointer
// into it takes the slow path (and its report) rather than a magazine.
TEST(KmallocFastPath, ReleasedSlabsForgetTheirObjects) {
  // A class no other test of this binary uses, so its slabs are all ours.
  const size_t size = 28672;
  std::vector<void*> objs;
  for (int i = 0; i < 64; ++i) objs.push_back(mk_kmalloc(size, 0));
  for (void* p : objs) ASSERT_NE(memkit::fast_index_of(p), 0u);
  for (void* p : objs) mk_kfree(p);
  memkit::kmalloc_cache(sc::size_to_class(size))->shrink();  // cached objects, empty slabs back
  size_t still = 0;
  for (void* p : objs) still += memkit::fast_index_of(p) != 0;
  EXPECT_EQ(still, 0u);
}

// ---- classes ----

TEST(Kmalloc, EveryClassBoundary) {
  for (unsigned c = 0; c < sc::kNumClasses; ++c) {
    const size_t s = sc::class_size(c);
    for (size_t n : {s - 1, s, s + 1}) {
      void* p = mk_kmalloc(n, MK_GFP_KERNEL);
      ASSERT_NE(p, nullptr) << n;
      const size_t usable = mk_ksize(p);
      EXPECT_EQ(usable, expected_ksize(n)) << "request " << n;
      EXPECT_GE(usable, n);
      std::memset(p, 0xa5, usable);  // every usable byte is writable (ASan checks the bounds)
      mk_kfree(p);
    }
  }
}

TEST(Kmalloc, ZeroSizeIsAUniqueSmallestObject) {
  void* a = mk_kmalloc(0, 0);
  void* b = mk_kmalloc(0, 0);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(a, b);
  EXPECT_EQ(mk_ksize(a), 8u);
  mk_kfree(a);
  mk_kfree(b);
}

TEST(Kmalloc, FreeAndSizeOfNull) {
  mk_kfree(nullptr);
  EXPECT_EQ(mk_ksize(nullptr), 0u);
}

TEST(Kmalloc, Alignment) {
  for (size_t n : {size_t{1}, size_t{7}, size_t{8}, size_t{9}, size_t{24}, size_t{33}, size_t{48},
                   size_t{100}, size_t{4095}, size_t{20000}}) {
    void* p = mk_kmalloc(n, 0);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % (n > 8 ? 16 : 8), 0u) << n;
    mk_kfree(p);
  }
  for (unsigned c = 0; c < sc::kNumClasses; ++c) {
    const size_t s = sc::class_size(c);
    const size_t want = is_pow2(s) && s <= kPage ? s : (s >= 16 ? 16 : 8);
    std::vector<void*> held;
    for (int i = 0; i < 40; ++i) {  // more than one slab's worth for the big classes
      void* p = mk_kmalloc(s, 0);
      ASSERT_NE(p, nullptr);
      EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % want, 0u) << "class " << s << " at " << p;
      held.push_back(p);
    }
    for (void* p : held) mk_kfree(p);
  }
  // Large blocks are page-aligned.
  for (size_t n : {33 * KiB, 5 * MiB}) {
    void* p = mk_kmalloc(n, 0);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % kPage, 0u);
    mk_kfree(p);
  }
}

TEST(Kmalloc, UnknownGfpBitsAreIgnored) {
  void* p = mk_kmalloc(100, MK_GFP_WAIT);
  ASSERT_NE(p, nullptr);
  mk_kfree(p);
}

// ---- zeroing ----

TEST(Kmalloc, KzallocAfterDirtyFreeIsZero) {
  for (size_t n : {size_t{8}, size_t{40}, size_t{256}, size_t{3000}, size_t{32768},
                   size_t{40000}, 300 * KiB}) {
    for (int round = 0; round < 3; ++round) {
      std::vector<void*> dirty;
      for (int i = 0; i < 8; ++i) {
        void* p = mk_kmalloc(n, 0);
        std::memset(p, 0xee, mk_ksize(p));
        dirty.push_back(p);
      }
      for (void* p : dirty) mk_kfree(p);
      for (int i = 0; i < 8; ++i) {
        void* p = mk_kzalloc(n, 0);
        ASSERT_NE(p, nullptr);
        ASSERT_TRUE(all_bytes(p, mk_ksize(p), 0)) << "kzalloc(" << n << ") not zero";
        dirty[static_cast<size_t>(i)] = p;
      }
      for (void* p : dirty) mk_kfree(p);
    }
  }
}

TEST(Kmalloc, Kcalloc) {
  void* p = mk_kcalloc(10, 100, 0);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(mk_ksize(p), 1024u);
  EXPECT_TRUE(all_bytes(p, 1024, 0));
  mk_kfree(p);
  void* z = mk_kcalloc(0, 100, 0);  // zero bytes: the smallest object, like kmalloc(0)
  ASSERT_NE(z, nullptr);
  mk_kfree(z);
  errno = 0;
  EXPECT_EQ(mk_kcalloc(SIZE_MAX / 2, 3, 0), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  errno = 0;
  EXPECT_EQ(mk_kcalloc(size_t{1} << 33, size_t{1} << 32, 0), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  void* big = mk_kcalloc(1000, 1000, 0);  // large and zeroed
  ASSERT_NE(big, nullptr);
  EXPECT_TRUE(all_bytes(big, 1000 * 1000, 0));
  mk_kfree(big);
}

TEST(Kmalloc, HugeRequestsFailWithEnomem) {
  for (size_t n : {SIZE_MAX, SIZE_MAX - kPage, static_cast<size_t>(PTRDIFF_MAX) + 1}) {
    errno = 0;
    EXPECT_EQ(mk_kmalloc(n, 0), nullptr) << n;
    EXPECT_EQ(errno, ENOMEM) << n;
  }
}

// ---- large blocks: exact pages ----

TEST(Kmalloc, LargeBlocksTakeExactPages) {
  const size_t max_exact = kPage << MK_MAX_PAGE_ORDER;  // 4 MiB with 4 KiB pages
  // The page heap's own accounting: blocks this thread's cache of large blocks would keep go
  // back first (kmalloc_flush_large_cache; the cache has tests of its own below).
  for (size_t n : {33 * KiB, 100 * KiB, 4 * MiB, 5 * MiB, 64 * MiB, 33 * kPage, 33 * kPage + 1}) {
    memkit::kmalloc_flush_large_cache();
    const mk_page_stats before = page_stats();
    char* p = static_cast<char*>(mk_kmalloc(n, 0));
    ASSERT_NE(p, nullptr) << n;
    const mk_page_stats during = page_stats();
    const size_t bytes = round_pages(n);
    EXPECT_EQ(mk_ksize(p), bytes) << n;
    EXPECT_EQ(mk_page_order(p), -1) << "not a page block of mk_alloc_pages";
    if (bytes <= max_exact) {
      // Exactly the pages asked for left the buddy: the covering block's tail went back.
      EXPECT_EQ(during.allocated_pages - before.allocated_pages, bytes / kPage) << n;
      EXPECT_EQ(during.direct_mappings, before.direct_mappings);
    } else {
      EXPECT_EQ(during.direct_mappings - before.direct_mappings, 1u) << n;
      EXPECT_EQ(during.direct_bytes - before.direct_bytes, bytes) << n;
      EXPECT_EQ(during.allocated_pages, before.allocated_pages);
    }
    p[0] = 1;
    p[n - 1] = 2;
    if (n <= 5 * MiB) std::memset(p, 3, mk_ksize(p));
    mk_kfree(p);
    memkit::kmalloc_flush_large_cache();
    const mk_page_stats after = page_stats();
    EXPECT_EQ(after.allocated_pages, before.allocated_pages) << n;
    EXPECT_EQ(after.direct_mappings, before.direct_mappings) << n;
    EXPECT_EQ(after.direct_bytes, before.direct_bytes) << n;
  }
}

TEST(Kmalloc, ThirtyThreePagesLeaveTheTailFreeAndCoalesceBack) {
  // Keep an arena busy (so none is created or released meanwhile) and warm up the block.
  void* pin = mk_kmalloc(100, 0);
  mk_kfree(mk_kmalloc(33 * kPage, 0));
  memkit::kmalloc_flush_large_cache();  // the buddy's view, not the cache of large blocks
  const mk_page_stats before = page_stats();
  void* p = mk_kmalloc(33 * kPage, 0);
  ASSERT_NE(p, nullptr);
  const mk_page_stats during = page_stats();
  EXPECT_EQ(during.allocated_pages - before.allocated_pages, 33u);
  EXPECT_EQ(before.free_pages - during.free_pages, 33u);
  // The 64-page block was split as alloc_pages_exact does: its 31-page tail is free in blocks
  // of 1, 2, 4, 8 and 16 pages (unless they merged with what was already free beside them).
  size_t free_pages_by_order = 0;
  for (unsigned k = 0; k < MK_NR_PAGE_ORDERS; ++k) free_pages_by_order += during.nr_free[k] << k;
  EXPECT_EQ(free_pages_by_order, during.free_pages);
  mk_kfree(p);
  memkit::kmalloc_flush_large_cache();
  const mk_page_stats after = page_stats();
  EXPECT_EQ(after.free_pages, before.free_pages);
  for (unsigned k = 0; k < MK_NR_PAGE_ORDERS; ++k)
    EXPECT_EQ(after.nr_free[k], before.nr_free[k]) << "order " << k << ": everything merged back";
  mk_kfree(pin);
}

// ---- the per-thread cache of large blocks (kmalloc.cpp) ----

TEST(KmallocLargeCache, AFreedBlockServesTheNextRequestOfItsSize) {
  memkit::kmalloc_flush_large_cache();
  const mk_page_stats before = page_stats();
  char* p = static_cast<char*>(mk_kmalloc(64 * KiB, 0));
  std::memset(p, 0x5a, 64 * KiB);
  mk_kfree(p);
  EXPECT_EQ(memkit::kmalloc_large_cached_bytes() >= 64 * KiB, true);
  EXPECT_EQ(page_stats().allocated_pages - before.allocated_pages, 64 * KiB / kPage)
      << "kept by the thread, still allocated in the page heap";
  char* q = static_cast<char*>(mk_kmalloc(64 * KiB, 0));
  EXPECT_EQ(q, p) << "the same block back, without the page heap";
  char* r = static_cast<char*>(mk_kmalloc(68 * KiB, 0));
  EXPECT_NE(r, p);
  mk_kfree(q);
  char* z = static_cast<char*>(mk_kzalloc(64 * KiB, 0));  // the dirty block again, zeroed
  EXPECT_EQ(z, p);
  EXPECT_TRUE(all_bytes(z, 64 * KiB, 0));
  mk_kfree(z);
  mk_kfree(r);
  memkit::kmalloc_flush_large_cache();
  EXPECT_EQ(page_stats().allocated_pages, before.allocated_pages);
}

TEST(KmallocLargeCache, BoundedAndFlushedAtThreadExit) {
  memkit::kmalloc_flush_large_cache();
  const size_t cached_before = memkit::kmalloc_large_cached_bytes();
  std::thread t([cached_before] {
    std::vector<void*> v;
    for (int i = 0; i < 40; ++i) v.push_back(mk_kmalloc(40 * KiB + i * kPage, 0));
    for (void* p : v) mk_kfree(p);
    // At most 512 KiB (and 8 blocks) stay with the thread.
    const size_t kept = memkit::kmalloc_large_cached_bytes() - cached_before;
    EXPECT_GT(kept, 0u);
    EXPECT_LE(kept, 512 * KiB);
  });
  t.join();
  EXPECT_EQ(memkit::kmalloc_large_cached_bytes(), cached_before) << "the exiting thread's went back";
}

// ---- krealloc ----

TEST(Krealloc, NullAndZero) {
  void* p = mk_krealloc(nullptr, 100, 0);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(mk_ksize(p), 112u);
  EXPECT_EQ(mk_krealloc(p, 0, 0), nullptr);  // freed
}

TEST(Krealloc, InPlaceRules) {
  // Within the block: same address.
  char* p = static_cast<char*>(mk_kmalloc(100, 0));
  fill(p, 1, 0, 100);
  EXPECT_EQ(mk_krealloc(p, 112, 0), p);
  EXPECT_EQ(mk_krealloc(p, 60, 0), p) << "class 64 is at least half of 112";
  EXPECT_TRUE(check(p, 1, 60));
  // Much smaller: moves to a smaller class.
  char* q = static_cast<char*>(mk_krealloc(p, 20, 0));
  EXPECT_NE(q, p);
  EXPECT_EQ(mk_ksize(q), 32u);
  EXPECT_TRUE(check(q, 1, 20));
  // Growing past the block: moves.
  char* r = static_cast<char*>(mk_krealloc(q, 5000, 0));
  EXPECT_EQ(mk_ksize(r), 5120u);
  EXPECT_TRUE(check(r, 1, 20));
  mk_kfree(r);

  // A large arena block shrinks in place, giving its tail pages back.
  char* big = static_cast<char*>(mk_kmalloc(400 * KiB, 0));
  fill(big, 2, 0, 400 * KiB);
  const mk_page_stats before = page_stats();
  EXPECT_EQ(mk_krealloc(big, 150 * KiB, 0), big);
  EXPECT_EQ(mk_ksize(big), round_pages(150 * KiB));
  EXPECT_EQ(before.allocated_pages - page_stats().allocated_pages,
            (round_pages(400 * KiB) - round_pages(150 * KiB)) / kPage);
  EXPECT_TRUE(check(big, 2, 150 * KiB));
  // ... and moves to a class when the new size is class-sized.
  char* small = static_cast<char*>(mk_krealloc(big, 1000, 0));
  EXPECT_NE(small, big);
  EXPECT_EQ(mk_ksize(small), 1024u);
  EXPECT_TRUE(check(small, 2, 1000));
  mk_kfree(small);

  // A direct mapping stays while at most twice too big, else moves.
  char* huge = static_cast<char*>(mk_kmalloc(16 * MiB, 0));
  huge[0] = 7;
  EXPECT_EQ(mk_krealloc(huge, 9 * MiB, 0), huge);
  EXPECT_EQ(mk_ksize(huge), 16 * MiB);
  char* moved = static_cast<char*>(mk_krealloc(huge, 1 * MiB, 0));
  EXPECT_NE(moved, huge);
  EXPECT_EQ(mk_ksize(moved), 1 * MiB);
  EXPECT_EQ(moved[0], 7);
  mk_kfree(moved);
}

TEST(Krealloc, GfpZeroZeroesWhatGrows) {
  // In place: the bytes between the new size and the end of the block are zeroed, so a later
  // growth in place reads zeros there.
  char* p = static_cast<char*>(mk_kzalloc(100, 0));
  std::memset(p, 0xff, 100);
  ASSERT_EQ(mk_krealloc(p, 90, MK_GFP_ZERO), p);
  ASSERT_EQ(mk_krealloc(p, 112, MK_GFP_ZERO), p);
  EXPECT_TRUE(all_bytes(p, 90, 0xff));
  EXPECT_TRUE(all_bytes(p + 90, 22, 0));
  // Moved: everything past the copied bytes is zero.
  char* q = static_cast<char*>(mk_krealloc(p, 70000, MK_GFP_ZERO));
  ASSERT_NE(q, nullptr);
  EXPECT_TRUE(all_bytes(q, 90, 0xff));
  EXPECT_TRUE(all_bytes(q + 90, mk_ksize(q) - 90, 0));
  // A large shrink in place zeroes the rest of its last page.
  std::memset(q, 0xff, mk_ksize(q));
  ASSERT_EQ(mk_krealloc(q, 40000, MK_GFP_ZERO), q);
  EXPECT_EQ(mk_ksize(q), round_pages(40000));
  EXPECT_TRUE(all_bytes(q + 40000, mk_ksize(q) - 40000, 0));
  mk_kfree(q);
}

TEST(Krealloc, FailureLeavesTheBlockAlone) {
  char* p = static_cast<char*>(mk_kmalloc(300, 0));
  fill(p, 3, 0, 300);
  errno = 0;
  EXPECT_EQ(mk_krealloc(p, SIZE_MAX, 0), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  EXPECT_TRUE(check(p, 3, 300));
  EXPECT_EQ(mk_ksize(p), 320u);
  mk_kfree(p);
}

// Random growth/shrink chains over 0 .. 200 KiB against the bytes they must keep.
TEST(Krealloc, RandomChainsKeepTheirContents) {
  std::mt19937_64 rng(42);
  for (int chain = 0; chain < 40; ++chain) {
    void* p = nullptr;
    size_t n = 0;  // bytes whose contents the model knows
    const uint64_t id = static_cast<uint64_t>(chain) + 100;
    for (int step = 0; step < 60; ++step) {
      size_t want;
      switch (rng() % 4) {
        case 0: want = rng() % 257; break;
        case 1: want = rng() % (4 * KiB + 1); break;
        case 2: want = rng() % (40 * KiB + 1); break;
        default: want = rng() % (200 * KiB + 1); break;
      }
      void* q = mk_krealloc(p, want, 0);
      if (want == 0 && p != nullptr) {
        ASSERT_EQ(q, nullptr);
        p = nullptr;
        n = 0;
        continue;
      }
      ASSERT_NE(q, nullptr) << want;
      ASSERT_GE(mk_ksize(q), want);
      ASSERT_TRUE(check(q, id, std::min(n, want))) << "chain " << chain << " step " << step;
      fill(q, id, std::min(n, want), want);
      p = q;
      n = want;
    }
    mk_kfree(p);
  }
}

// ---- the caches in slabinfo ----

TEST(Kmalloc, CachesShowInSlabinfo) {
  void* p = mk_kmalloc(1, 0);
  std::string text(static_cast<size_t>(mk_slabinfo(nullptr, 0)) + 4096, '\0');
  text.resize(static_cast<size_t>(mk_slabinfo(text.data(), text.size())));
  for (unsigned c = 0; c < sc::kNumClasses; ++c) {
    const std::string name = "\nkmalloc-" + std::to_string(sc::class_size(c)) + " ";
    EXPECT_NE(text.find(name), std::string::npos) << name;
  }
  mk_kfree(p);
}

// ---- threads ----

// Producers allocate and fill, consumers (other threads) check and free.
TEST(Kmalloc, FreesFromOtherThreads) {
  struct Item {
    void* p;
    size_t n;
    uint64_t id;
  };
  std::mutex m;
  std::condition_variable cv;
  std::deque<Item> queue;
  int producers_left = 2;
  constexpr int kPerProducer = 4000;

  auto producer = [&](uint64_t seed) {
    std::mt19937_64 rng(seed);
    for (int i = 0; i < kPerProducer; ++i) {
      const size_t n = (rng() % 16 == 0) ? rng() % (300 * KiB) : rng() % 2048;
      void* p = mk_kmalloc(n, 0);
      ASSERT_NE(p, nullptr);
      const uint64_t id = seed * 1000000 + static_cast<uint64_t>(i);
      fill(p, id, 0, n);
      std::lock_guard<std::mutex> g(m);
      queue.push_back({p, n, id});
      cv.notify_one();
    }
    std::lock_guard<std::mutex> g(m);
    --producers_left;
    cv.notify_all();
  };
  std::atomic<int> bad{0};
  auto consumer = [&] {
    for (;;) {
      Item it;
      {
        std::unique_lock<std::mutex> g(m);
        cv.wait(g, [&] { return !queue.empty() || producers_left == 0; });
        if (queue.empty()) return;
        it = queue.front();
        queue.pop_front();
      }
      if (!check(it.p, it.id, it.n) || mk_ksize(it.p) < it.n) bad.fetch_add(1);
      mk_kfree(it.p);
    }
  };
  std::vector<std::thread> threads;
  threads.emplace_back(producer, 1);
  threads.emplace_back(producer, 2);
  threads.emplace_back(consumer);
  threads.emplace_back(consumer);
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0);
}

// ---- randomized model ----

TEST(Kmalloc, RandomAgainstModel) {
  struct Block {
    size_t n;
    uint64_t id;
  };
  std::map<uintptr_t, Block> live;  // by address
  std::mt19937_64 rng(7);
  uint64_t next_id = 1;
  auto random_size = [&]() -> size_t {
    switch (rng() % 8) {
      case 0: return rng() % 17;
      case 1: case 2: case 3: return rng() % 513;
      case 4: case 5: return rng() % (8 * KiB);
      case 6: return rng() % (64 * KiB);
      default: return (rng() % 64 == 0) ? rng() % (6 * MiB) : rng() % (200 * KiB);
    }
  };
  // No two live blocks overlap: [p, p + ksize) against its neighbours.
  auto no_overlap = [&](uintptr_t p) {
    const size_t size = mk_ksize(reinterpret_cast<void*>(p));
    auto it = live.find(p);
    if (it != live.begin()) {
      auto prev = std::prev(it);
      if (prev->first + mk_ksize(reinterpret_cast<void*>(prev->first)) > p) return false;
    }
    auto next = std::next(it);
    return next == live.end() || p + size <= next->first;
  };
  for (int step = 0; step < 20000; ++step) {
    const unsigned op = static_cast<unsigned>(rng() % 10);
    if (op < 4 || live.size() < 10) {
      if (live.size() >= 1500) continue;
      const size_t n = random_size();
      const bool zero = rng() % 4 == 0;
      void* p = zero ? mk_kzalloc(n, 0) : mk_kmalloc(n, 0);
      ASSERT_NE(p, nullptr) << n;
      ASSERT_EQ(mk_ksize(p), expected_ksize(n)) << n;
      if (zero) {
        ASSERT_TRUE(all_bytes(p, mk_ksize(p), 0)) << n;
      }
      const uintptr_t a = reinterpret_cast<uintptr_t>(p);
      ASSERT_EQ(live.count(a), 0u) << "handed out twice";
      const uint64_t id = next_id++;
      fill(p, id, 0, n);
      live[a] = {n, id};
      ASSERT_TRUE(no_overlap(a)) << "step " << step;
    } else if (op < 8) {
      auto it = live.begin();
      std::advance(it, static_cast<long>(rng() % live.size()));
      ASSERT_TRUE(check_sampled(reinterpret_cast<void*>(it->first), it->second.id, it->second.n))
          << "step " << step << ": contents changed";
      mk_kfree(reinterpret_cast<void*>(it->first));
      live.erase(it);
    } else {
      auto it = live.begin();
      std::advance(it, static_cast<long>(rng() % live.size()));
      const Block b = it->second;
      const size_t n = random_size() + 1;
      void* q = mk_krealloc(reinterpret_cast<void*>(it->first), n, 0);
      ASSERT_NE(q, nullptr);
      live.erase(it);
      ASSERT_TRUE(check_sampled(q, b.id, std::min(b.n, n))) << "step " << step << ": krealloc lost bytes";
      fill(q, b.id, std::min(b.n, n), n);
      const uintptr_t a = reinterpret_cast<uintptr_t>(q);
      ASSERT_EQ(live.count(a), 0u);
      live[a] = {n, b.id};
      ASSERT_TRUE(no_overlap(a)) << "step " << step;
    }
  }
  for (const auto& [a, b] : live) {
    ASSERT_TRUE(check_sampled(reinterpret_cast<void*>(a), b.id, b.n));
    mk_kfree(reinterpret_cast<void*>(a));
  }
}

// ---- fatal reports ----

class KmallocDeathTest : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(KmallocDeathTest, ForeignPointers) {
  int local = 0;
  EXPECT_DEATH(mk_kfree(&local),
               "memkit: ERROR: invalid-free mk_kfree 0x[0-9a-f]+ is not memory memkit handed out");
  static char global_buf[64];
  EXPECT_DEATH(mk_kfree(global_buf), "memkit: ERROR: invalid-free mk_kfree 0x");
  void* m = std::malloc(64);
  EXPECT_DEATH(mk_kfree(m), "memkit: ERROR: invalid-free mk_kfree 0x");
  std::free(m);
  EXPECT_DEATH(mk_ksize(&local), "memkit: ERROR: invalid-pointer mk_ksize 0x");
  EXPECT_DEATH(mk_krealloc(&local, 10, 0), "memkit: ERROR: invalid-pointer mk_krealloc 0x");
}

TEST_F(KmallocDeathTest, MiddleOfAnObject) {
  EXPECT_DEATH(
      {
        char* p = static_cast<char*>(mk_kmalloc(64, 0));
        mk_kfree(p + 8);
      },
      "memkit: ERROR: invalid-free mk_kfree 0x[0-9a-f]+ cache kmalloc-64 \\(object size 64\\): "
      "not the start of an object");
  EXPECT_DEATH(
      {
        char* p = static_cast<char*>(mk_kmalloc(1000, 0));
        mk_ksize(p + 16);
      },
      "memkit: ERROR: invalid-pointer mk_ksize 0x[0-9a-f]+ is not the start of an object of "
      "cache kmalloc-1024");
}

TEST_F(KmallocDeathTest, ObjectOfAUserCache) {
  EXPECT_DEATH(
      {
        mk_cache_t* c = mk_cache_create("kfree_victim", 64, 0, 0, nullptr);
        void* p = mk_cache_alloc(c, 0);
        mk_kfree(p);
      },
      "memkit: ERROR: invalid-free mk_kfree 0x[0-9a-f]+ is an object of cache kfree_victim");
}

TEST_F(KmallocDeathTest, LargeBlockFreedTwiceWhileCached) {
  EXPECT_DEATH(
      {
        void* p = mk_kmalloc(64 * KiB, 0);
        mk_kfree(p);  // kept in this thread's cache of large blocks
        mk_kfree(p);
      },
      "memkit: ERROR: double-free mk_kfree 0x[0-9a-f]+ the block is already free");
}

TEST_F(KmallocDeathTest, LargeBlocks) {
  EXPECT_DEATH(
      {
        char* p = static_cast<char*>(mk_kmalloc(100 * KiB, 0));
        mk_kfree(p + kPage);
      },
      "memkit: ERROR: invalid-free mk_kfree 0x[0-9a-f]+ is not the start of a block");
  EXPECT_DEATH(
      {
        char* p = static_cast<char*>(mk_kmalloc(100 * KiB, 0));
        mk_kfree(p + 100);
      },
      "memkit: ERROR: invalid-free mk_kfree 0x");
  EXPECT_DEATH(
      {
        void* p = mk_kmalloc(100 * KiB, 0);
        mk_kfree(p);
        mk_kfree(p);
      },
      "memkit: ERROR: double-free mk_kfree 0x[0-9a-f]+ the block is already free");
  EXPECT_DEATH(
      {
        char* p = static_cast<char*>(mk_kmalloc(8 * MiB, 0));
        mk_kfree(p + kPage);
      },
      "memkit: ERROR: invalid-free mk_kfree 0x");
}

TEST_F(KmallocDeathTest, PageBlocksOfTheOtherApis) {
  EXPECT_DEATH(mk_kfree(mk_alloc_pages(0, 2)),
               "memkit: ERROR: invalid-free mk_kfree 0x[0-9a-f]+ is a page block of "
               "mk_alloc_pages or mk_vmalloc");
  EXPECT_DEATH(mk_kfree(mk_vmalloc(8 * MiB)),
               "memkit: ERROR: invalid-free mk_kfree 0x[0-9a-f]+ is a page block of "
               "mk_alloc_pages or mk_vmalloc");
  // ... and the other way round.
  EXPECT_DEATH(mk_free_pages(mk_kmalloc(64 * KiB, 0), 4), "memkit: ERROR: invalid-free mk_free_pages 0x");
  EXPECT_DEATH(mk_vfree(mk_kmalloc(64 * KiB, 0)), "memkit: ERROR: invalid-free mk_vfree 0x");
  EXPECT_DEATH(mk_vfree(mk_kmalloc(8 * MiB, 0)), "memkit: ERROR: invalid-free mk_vfree 0x");
}

}  // namespace
