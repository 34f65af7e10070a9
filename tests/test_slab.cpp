// Unit tests of the object caches through the C API (include/memkit/memkit.h, src/slab/):
// the kernel's calculate_alignment rule, the slab order bound (waste <= 1/8), no header in
// front of objects, Bonwick's colouring, ctor semantics, MK_GFP_ZERO, POISON and RED_ZONE
// bytes, shrink and the reaping of empty slabs, destroy (-EBUSY with live objects, index reuse
// afterwards), the exact /proc/slabinfo 2.1 format, argument errors, many caches and ENOSPC.
//
// Objects freed go to this thread's magazine first, and slabs only see them again when a
// magazine goes back (depot overflow, shrink, destroy): the tests that count slabs shrink first.
#include <errno.h>
#include <stdint.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "memkit/memkit.h"
#include "slab/magazine.h"
#include "slab_testing.h"

namespace {

using memkit::test::parse_slabinfo_line;
using memkit::test::slabinfo_row;
using memkit::test::slabinfo_text;
using memkit::test::SlabinfoRow;
using memkit::test::split_lines;
using memkit::test::split_ws;

constexpr size_t kPage = 4096;

uintptr_t addr(const void* p) { return reinterpret_cast<uintptr_t>(p); }

SlabinfoRow row_of(const char* name) {
  auto r = slabinfo_row(name);
  EXPECT_TRUE(r.has_value()) << "no slabinfo line for " << name;
  if (!r) return SlabinfoRow{};
  EXPECT_TRUE(r->well_formed) << r->line;
  return *r;
}

size_t slab_bytes_of(const SlabinfoRow& r) { return r.pagesperslab * kPage; }

// The kernel's calculate_alignment() with 64-byte cache lines.
size_t expected_align(size_t size, size_t align, unsigned flags) {
  if (flags & MK_SLAB_HWCACHE_ALIGN) {
    size_t ralign = 64;
    while (size <= ralign / 2) ralign /= 2;
    align = std::max(align, ralign);
  }
  align = std::max<size_t>(align, 8);
  return (align + 7) & ~size_t{7};
}

std::vector<void*> alloc_n(mk_cache_t* c, size_t n, unsigned gfp = 0) {
  std::vector<void*> v;
  v.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    void* p = mk_cache_alloc(c, gfp);
    EXPECT_NE(p, nullptr);
    if (p == nullptr) break;
    v.push_back(p);
  }
  return v;
}

void free_all(mk_cache_t* c, std::vector<void*>& v) {
  for (void* p : v) mk_cache_free(c, p);
  v.clear();
}

size_t allocated_pages() {
  mk_page_stats s;
  mk_get_page_stats(&s);
  return s.allocated_pages;
}

// ---- alignment (calculate_alignment) ----

struct AlignCase {
  size_t size, align;
  unsigned flags;
  size_t want;  // the alignment the kernel's rule gives
};

TEST(Slab, CalculateAlignment) {
  const AlignCase cases[] = {
      {20, 0, MK_SLAB_HWCACHE_ALIGN, 32},  // the kernel's documented example
      {8, 0, MK_SLAB_HWCACHE_ALIGN, 8},    {16, 0, MK_SLAB_HWCACHE_ALIGN, 16},
      {17, 0, MK_SLAB_HWCACHE_ALIGN, 32},  {32, 0, MK_SLAB_HWCACHE_ALIGN, 32},
      {33, 0, MK_SLAB_HWCACHE_ALIGN, 64},  {100, 0, MK_SLAB_HWCACHE_ALIGN, 64},
      {20, 128, MK_SLAB_HWCACHE_ALIGN, 128}, {1, 0, 0, 8},  {20, 0, 0, 8},
      {20, 16, 0, 16},  {24, 64, 0, 64},   {100, 256, 0, 256}, {3000, 1024, 0, 1024},
      {100, 4096, 0, 4096}, {7, 2, 0, 8},  {40, 1, 0, 8},
  };
  for (const AlignCase& c : cases) {
    SCOPED_TRACE(testing::Message() << "size " << c.size << " align " << c.align << " flags "
                                    << c.flags);
    ASSERT_EQ(expected_align(c.size, c.align, c.flags), c.want);
    mk_cache_t* cache = mk_cache_create("align_test", c.size, c.align, c.flags, nullptr);
    ASSERT_NE(cache, nullptr);
    const SlabinfoRow r = row_of("align_test");
    EXPECT_EQ(r.objsize % c.want, 0u) << "slots keep every object aligned";
    EXPECT_GE(r.objsize, c.size);
    std::vector<void*> v = alloc_n(cache, 2 * r.objperslab + 3);
    for (void* p : v) {
      ASSERT_EQ(addr(p) % c.want, 0u) << p;
      std::memset(p, 0x33, c.size);
    }
    free_all(cache, v);
    EXPECT_EQ(mk_cache_destroy(cache), 0);
  }
}

TEST(Slab, HwcacheAlign20BytesGives32ByteSlots) {
  mk_cache_t* c = mk_cache_create("hw20", 20, 0, MK_SLAB_HWCACHE_ALIGN, nullptr);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(row_of("hw20").objsize, 32u);
  EXPECT_EQ(mk_cache_size(c), 20u);
  EXPECT_EQ(mk_cache_destroy(c), 0);
}

TEST(Slab, TinyObjectsTakeTwoWords) {
  // An object smaller than two pointers still needs room for the free words (the free key and
  // the free pointer), but no more.
  for (size_t size = 1; size <= 16; ++size) {
    mk_cache_t* c = mk_cache_create("tiny", size, 0, 0, nullptr);
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(row_of("tiny").objsize, 16u) << "size " << size;
    std::vector<void*> v = alloc_n(c, 1000);
    std::set<void*> distinct(v.begin(), v.end());
    EXPECT_EQ(distinct.size(), v.size());
    for (void* p : v) std::memset(p, 0xee, size);
    free_all(c, v);
    v = alloc_n(c, 1000);  // the free pointers survived the 0xee bytes
    free_all(c, v);
    EXPECT_EQ(mk_cache_destroy(c), 0);
  }
}

// ---- slab order: waste <= 1/8 ----

TEST(Slab, SlabOrderBoundsWaste) {
  std::vector<size_t> sizes;
  for (size_t s = 8; s <= 512; s += 8) sizes.push_back(s);
  for (size_t s = 520; s <= 65536; s = s * 9 / 8 + 3) sizes.push_back(s);
  for (size_t s : {size_t{1000}, size_t{1025}, size_t{2049}, size_t{4095}, size_t{4097},
                   size_t{5000}, size_t{8193}, size_t{12345}, size_t{16385}, size_t{40000},
                   size_t{65535}, size_t{65536}})
    sizes.push_back(s);
  for (size_t size : sizes) {
    SCOPED_TRACE(testing::Message() << "size " << size);
    mk_cache_t* c = mk_cache_create("order_test", size, 0, 0, nullptr);
    ASSERT_NE(c, nullptr);
    const SlabinfoRow r = row_of("order_test");
    const size_t slab = slab_bytes_of(r);
    ASSERT_GE(r.objsize, size);
    ASSERT_LT(r.objsize, std::max<size_t>(size, 16) + 8);  // 16: the free words
    ASSERT_GE(r.objperslab, 1u);
    EXPECT_EQ(r.objperslab, slab / r.objsize);
    EXPECT_TRUE(r.pagesperslab >= 1 && (r.pagesperslab & (r.pagesperslab - 1)) == 0);
    EXPECT_LE((slab - r.objsize * r.objperslab) * 8, slab)
        << r.objperslab << " x " << r.objsize << " in " << r.pagesperslab << " pages";
    // The smallest order that meets the bound: half the slab would not.
    if (r.pagesperslab > 1) {
      const size_t half = slab / 2;
      const size_t n = half / r.objsize;
      EXPECT_TRUE(n == 0 || (half - n * r.objsize) * 8 > half) << "a smaller order would do";
    }
    EXPECT_EQ(mk_cache_destroy(c), 0);
  }
}

TEST(Slab, LargeObjects) {
  for (size_t size : {size_t{64} << 10, size_t{1} << 20, size_t{3} << 20, size_t{4} << 20}) {
    SCOPED_TRACE(testing::Message() << "size " << size);
    mk_cache_t* c = mk_cache_create("large_objs", size, 0, 0, nullptr);
    ASSERT_NE(c, nullptr);
    std::vector<void*> v = alloc_n(c, 3);
    for (size_t i = 0; i < v.size(); ++i) std::memset(v[i], static_cast<int>(i + 1), size);
    for (size_t i = 0; i < v.size(); ++i) {
      const auto* b = static_cast<const unsigned char*>(v[i]);
      EXPECT_EQ(b[0], i + 1);
      EXPECT_EQ(b[size - 1], i + 1);
    }
    const SlabinfoRow r = row_of("large_objs");
    EXPECT_LE(r.pagesperslab, size_t{1} << MK_MAX_PAGE_ORDER);
    free_all(c, v);
    EXPECT_GT(mk_cache_shrink(c), 0u);
    EXPECT_EQ(mk_cache_destroy(c), 0);
  }
}

// ---- layout: no header, colouring ----

TEST(Slab, NoHeaderInFrontOfObjects) {
  const struct {
    size_t size, align;
    unsigned flags;
  } cases[] = {{8, 0, 0},    {24, 0, 0},    {100, 0, 0},   {200, 0, 0},
               {1000, 0, 0}, {4096, 0, 0},  {5000, 0, 0},  {20, 0, MK_SLAB_HWCACHE_ALIGN},
               {48, 64, 0},  {64, 0, MK_SLAB_RED_ZONE}, {64, 0, MK_SLAB_POISON}};
  for (const auto& k : cases) {
    SCOPED_TRACE(testing::Message() << "size " << k.size << " flags " << k.flags);
    mk_cache_t* c = mk_cache_create("nohdr", k.size, k.align, k.flags, nullptr);
    ASSERT_NE(c, nullptr);
    const SlabinfoRow r = row_of("nohdr");
    if (k.flags == 0) {
      const size_t a = expected_align(k.size, k.align, 0);
      // The object rounded up to its alignment, and at least the two free words (16 bytes).
      EXPECT_EQ(r.objsize, std::max<size_t>((k.size + a - 1) / a * a, 16));
    }
    const size_t slab = slab_bytes_of(r);
    // Enough for three whole slabs whatever the magazine batches leave behind.
    std::vector<void*> v = alloc_n(c, 4 * r.objperslab + 64);
    std::map<uintptr_t, std::vector<uintptr_t>> by_slab;
    for (void* p : v) by_slab[addr(p) & ~(slab - 1)].push_back(addr(p));
    size_t whole = 0;
    for (auto& [base, objs] : by_slab) {
      ASSERT_LE(objs.size(), r.objperslab);
      if (objs.size() != r.objperslab) continue;
      ++whole;
      std::sort(objs.begin(), objs.end());
      for (size_t i = 1; i < objs.size(); ++i)
        ASSERT_EQ(objs[i] - objs[i - 1], r.objsize) << "objects are exactly objsize apart";
      const size_t red_left = (k.flags & MK_SLAB_RED_ZONE) ? 8 : 0;
      EXPECT_LE(objs.back() - red_left + r.objsize, base + slab);
      EXPECT_LE(objs.front() - base, slab - r.objperslab * r.objsize + (r.objsize - k.size))
          << "the first object starts within the colour range";
    }
    EXPECT_GE(whole, 3u);
    free_all(c, v);
    EXPECT_EQ(mk_cache_destroy(c), 0);
  }
}

std::vector<uintptr_t>* g_ctor_log = nullptr;
size_t g_ctor_calls = 0;

void logging_ctor(void* p) {
  ++g_ctor_calls;
  if (g_ctor_log != nullptr) g_ctor_log->push_back(addr(p));
  std::memset(p, 0x42, 8);
}

// Slabs in creation order, from the ctor's log (objects of one slab are constructed together):
// the offset of each slab's lowest object within its slab.
std::vector<size_t> first_offsets_in_creation_order(const std::vector<uintptr_t>& log,
                                                    size_t slab_bytes) {
  std::vector<size_t> out;
  uintptr_t cur = 0;
  uintptr_t lowest = 0;
  for (uintptr_t a : log) {
    const uintptr_t base = a & ~(slab_bytes - 1);
    if (out.empty() || base != cur) {
      if (!out.empty()) out.back() = lowest - cur;
      cur = base;
      lowest = a;
      out.push_back(0);
    }
    lowest = std::min(lowest, a);
  }
  if (!out.empty()) out.back() = lowest - cur;
  return out;
}

TEST(Slab, ColouringCyclesThroughTheLeftover) {
  // Bonwick's example (200-byte objects, 8-byte alignment) with a ctor, so the free words (key
  // and pointer) follow the object (216-byte slots: 18 per page, 208 bytes left: colours 0, 8,
  // ..., 208), and the same with 32-byte alignment (224-byte slots, 18 per page, colours 0, 32,
  // 64).
  for (size_t align : {size_t{8}, size_t{32}}) {
    SCOPED_TRACE(testing::Message() << "align " << align);
    std::vector<uintptr_t> log;
    g_ctor_log = &log;
    mk_cache_t* c = mk_cache_create("colour_ctor", 200, align, 0, logging_ctor);
    ASSERT_NE(c, nullptr);
    const SlabinfoRow r = row_of("colour_ctor");
    ASSERT_EQ(r.pagesperslab, 1u);
    const size_t leftover = kPage - r.objperslab * r.objsize;
    const size_t colours = leftover / align + 1;
    if (align == 8) {
      EXPECT_EQ(r.objsize, 216u);
      EXPECT_EQ(colours, 27u);
    } else {
      EXPECT_EQ(r.objsize, 224u);
      EXPECT_EQ(colours, 3u);
    }
    std::vector<void*> v = alloc_n(c, r.objperslab * (2 * colours + 1));
    const std::vector<size_t> offs = first_offsets_in_creation_order(log, kPage);
    ASSERT_GE(offs.size(), 2 * colours + 1);
    for (size_t k = 0; k < offs.size(); ++k)
      EXPECT_EQ(offs[k], (k % colours) * align) << "slab " << k;
    g_ctor_log = nullptr;
    free_all(c, v);
    EXPECT_EQ(mk_cache_destroy(c), 0);
  }
}

TEST(Slab, ColouringBonwickExample) {
  // 200-byte objects, 8-byte alignment, no ctor: 20 per 4 KiB slab, 96 bytes left over:
  // 13 colours (0, 8, ..., 96), used in turn.
  mk_cache_t* c = mk_cache_create("bonwick200", 200, 8, 0, nullptr);
  ASSERT_NE(c, nullptr);
  const SlabinfoRow r = row_of("bonwick200");
  ASSERT_EQ(r.objsize, 200u);
  ASSERT_EQ(r.objperslab, 20u);
  ASSERT_EQ(r.pagesperslab, 1u);
  // 640 objects: 20 magazine batches of 32, all taken; 32 slabs.
  std::vector<void*> v = alloc_n(c, 640);
  const SlabinfoRow after = row_of("bonwick200");
  ASSERT_EQ(after.num_slabs, 32u);
  ASSERT_EQ(after.active_objs, 640u);
  std::map<uintptr_t, uintptr_t> lowest;  // slab -> lowest object
  for (void* p : v) {
    const uintptr_t base = addr(p) & ~(kPage - 1);
    auto it = lowest.find(base);
    if (it == lowest.end())
      lowest[base] = addr(p);
    else
      it->second = std::min(it->second, addr(p));
  }
  ASSERT_EQ(lowest.size(), 32u);
  std::map<size_t, int> colour_uses;
  for (auto& [base, low] : lowest) ++colour_uses[low - base];
  ASSERT_EQ(colour_uses.size(), 13u);
  size_t expect = 0;
  for (auto& [off, n] : colour_uses) {
    EXPECT_EQ(off, expect);
    EXPECT_EQ(n, off / 8 < 6 ? 3 : 2) << "32 slabs = 2 rounds of 13 colours + 6";
    expect += 8;
  }
  free_all(c, v);
  EXPECT_EQ(mk_cache_destroy(c), 0);
}

// ---- constructor semantics ----

constexpr uint64_t kCtorMagic = 0x0b1ec7c70c0ffeeULL;

struct Constructed {
  uint64_t magic;
  uintptr_t self;
  unsigned char body[48];
};

void constructed_ctor(void* p) {
  ++g_ctor_calls;
  auto* o = static_cast<Constructed*>(p);
  o->magic = kCtorMagic;
  o->self = addr(p);
  std::memset(o->body, 0x5c, sizeof o->body);
}

bool is_constructed(const void* p) {
  const auto* o = static_cast<const Constructed*>(p);
  if (o->magic != kCtorMagic || o->self != addr(p)) return false;
  for (unsigned char b : o->body)
    if (b != 0x5c) return false;
  return true;
}

TEST(Slab, CtorRunsOncePerObjectWhenSlabsAreCreated) {
  for (unsigned flags : {0u, unsigned{MK_SLAB_POISON}, unsigned{MK_SLAB_RED_ZONE},
                         unsigned{MK_SLAB_POISON | MK_SLAB_RED_ZONE}}) {
    SCOPED_TRACE(testing::Message() << "flags " << flags);
    g_ctor_calls = 0;
    mk_cache_t* c = mk_cache_create("ctor_cache", sizeof(Constructed), 0, flags, constructed_ctor);
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(g_ctor_calls, 0u) << "nothing is constructed before the cache grows";
    void* first = mk_cache_alloc(c, 0);
    ASSERT_NE(first, nullptr);
    SlabinfoRow r = row_of("ctor_cache");
    EXPECT_EQ(g_ctor_calls, r.num_objs) << "every object of the new slab, once";
    EXPECT_TRUE(is_constructed(first));

    std::vector<void*> v = alloc_n(c, 5 * r.objperslab);
    v.push_back(first);
    r = row_of("ctor_cache");
    EXPECT_EQ(g_ctor_calls, r.num_objs);
    for (void* p : v) ASSERT_TRUE(is_constructed(p));
    // Use the objects, then put them back in their constructed state before freeing.
    for (void* p : v) static_cast<Constructed*>(p)->body[0] = 1;
    for (void* p : v) static_cast<Constructed*>(p)->body[0] = 0x5c;
    const size_t calls = g_ctor_calls;
    const size_t n = v.size();
    free_all(c, v);
    v = alloc_n(c, n);
    EXPECT_EQ(g_ctor_calls, calls) << "alloc does not run the ctor";
    for (void* p : v) ASSERT_TRUE(is_constructed(p)) << "objects come back constructed";
    free_all(c, v);

    // After a shrink the slabs are new: constructed again, once.
    EXPECT_GT(mk_cache_shrink(c), 0u);
    EXPECT_EQ(row_of("ctor_cache").num_slabs, 0u);
    g_ctor_calls = 0;
    v = alloc_n(c, 3);
    EXPECT_EQ(g_ctor_calls, row_of("ctor_cache").num_objs);
    for (void* p : v) EXPECT_TRUE(is_constructed(p));
    free_all(c, v);
    EXPECT_EQ(mk_cache_destroy(c), 0);
  }
}

TEST(Slab, GfpZero) {
  for (unsigned flags : {0u, unsigned{MK_SLAB_POISON}, unsigned{MK_SLAB_RED_ZONE}}) {
    mk_cache_t* c = mk_cache_create("zero_cache", 100, 0, flags, nullptr);
    ASSERT_NE(c, nullptr);
    std::vector<void*> v = alloc_n(c, 200);
    for (void* p : v) std::memset(p, 0xab, 100);
    free_all(c, v);
    v = alloc_n(c, 200, MK_GFP_ZERO);
    for (void* p : v) {
      const auto* b = static_cast<const unsigned char*>(p);
      ASSERT_TRUE(std::all_of(b, b + 100, [](unsigned char x) { return x == 0; }));
    }
    free_all(c, v);
    EXPECT_EQ(mk_cache_destroy(c), 0);
  }
  // With a ctor, MK_GFP_ZERO zeroes the constructed object (as documented).
  mk_cache_t* c = mk_cache_create("zero_ctor", sizeof(Constructed), 0, 0, constructed_ctor);
  ASSERT_NE(c, nullptr);
  void* p = mk_cache_alloc(c, MK_GFP_ZERO);
  ASSERT_NE(p, nullptr);
  const auto* b = static_cast<const unsigned char*>(p);
  EXPECT_TRUE(std::all_of(b, b + sizeof(Constructed), [](unsigned char x) { return x == 0; }));
  constructed_ctor(p);  // back to the constructed state before the free
  mk_cache_free(c, p);
  EXPECT_EQ(mk_cache_destroy(c), 0);
}

// ---- debugging bytes (the fatal reports are in test_slab_death.cpp) ----

TEST(Slab, PoisonFillsFreeObjects) {
  mk_cache_t* c = mk_cache_create("poison_fill", 40, 0, MK_SLAB_POISON, nullptr);
  ASSERT_NE(c, nullptr);
  auto* p = static_cast<unsigned char*>(mk_cache_alloc(c, 0));
  ASSERT_NE(p, nullptr);
  // Allocated objects are filled with POISON_INUSE (the kernel's SLAB; Bonwick's 0xbaddcafe).
  EXPECT_TRUE(std::all_of(p, p + 40, [](unsigned char x) { return x == 0x5a; }));
  std::memset(p, 0, 40);
  mk_cache_free(c, p);
  // Free objects hold POISON_FREE, and POISON_END in the last byte.
  EXPECT_TRUE(std::all_of(p, p + 39, [](unsigned char x) { return x == 0x6b; }));
  EXPECT_EQ(p[39], 0xa5);
  EXPECT_EQ(mk_cache_alloc(c, 0), p) << "LIFO: the object just freed comes back first";
  EXPECT_TRUE(std::all_of(p, p + 40, [](unsigned char x) { return x == 0x5a; }));
  mk_cache_free(c, p);  // freed without being written: not a double free
  for (int i = 0; i < 3; ++i) mk_cache_free(c, mk_cache_alloc(c, 0));
  // The same for 1-byte objects, where POISON_END is the whole object.
  mk_cache_t* one = mk_cache_create("poison_one", 1, 0, MK_SLAB_POISON, nullptr);
  ASSERT_NE(one, nullptr);
  for (int i = 0; i < 3; ++i) mk_cache_free(one, mk_cache_alloc(one, 0));
  EXPECT_EQ(mk_cache_destroy(one), 0);
  EXPECT_EQ(mk_cache_destroy(c), 0);
}

TEST(Slab, RedZonesAroundObjects) {
  mk_cache_t* c = mk_cache_create("redzone_bytes", 13, 0, MK_SLAB_RED_ZONE, nullptr);
  ASSERT_NE(c, nullptr);
  auto* p = static_cast<unsigned char*>(mk_cache_alloc(c, 0));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(addr(p) % 8, 0u);
  EXPECT_EQ(p[-1], 0xcc) << "left red zone, active";
  EXPECT_EQ(p[13], 0xcc) << "right red zone, active";
  std::memset(p, 0x11, 13);  // the whole object is usable
  mk_cache_free(c, p);
  EXPECT_EQ(p[-1], 0xbb) << "left red zone, inactive";
  EXPECT_EQ(p[13], 0xbb) << "right red zone, inactive";
  void* q = mk_cache_alloc(c, 0);
  EXPECT_EQ(q, p);
  mk_cache_free(c, q);
  EXPECT_EQ(mk_cache_destroy(c), 0);
}

// ---- shrink, reaping, destroy ----

TEST(Slab, ShrinkGivesPagesBack) {
  mk_cache_t* c = mk_cache_create("shrink_test", 512, 0, 0, nullptr);
  ASSERT_NE(c, nullptr);
  const size_t base_pages = allocated_pages();
  std::vector<void*> v = alloc_n(c, 800);
  SlabinfoRow r = row_of("shrink_test");
  const size_t slab_pages = r.num_slabs * r.pagesperslab;
  EXPECT_GE(r.num_objs, 800u);
  EXPECT_GE(allocated_pages(), base_pages + slab_pages);
  free_all(c, v);
  const size_t before_shrink = allocated_pages();
  r = row_of("shrink_test");
  const size_t held = r.num_slabs * r.pagesperslab;
  const size_t given = mk_cache_shrink(c);
  EXPECT_GT(given, 0u);
  EXPECT_EQ(given, held) << "every slab was empty";
  r = row_of("shrink_test");
  EXPECT_EQ(r.active_objs, 0u);
  EXPECT_EQ(r.num_objs, 0u);
  EXPECT_EQ(r.num_slabs, 0u);
  EXPECT_EQ(r.sharedavail, 0u);
  EXPECT_LE(allocated_pages() + given, before_shrink) << "the page heap has them back";
  EXPECT_EQ(mk_cache_shrink(c), 0u) << "nothing left to give";
  EXPECT_EQ(mk_cache_destroy(c), 0);
}

TEST(Slab, ShrinkKeepsLiveObjects) {
  mk_cache_t* c = mk_cache_create("shrink_live", 64, 0, 0, nullptr);
  ASSERT_NE(c, nullptr);
  std::vector<void*> v = alloc_n(c, 1000);
  for (size_t i = 0; i < v.size(); ++i) std::memset(v[i], static_cast<int>(i & 0xff), 64);
  std::vector<void*> keep;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i % 97 == 0)
      keep.push_back(v[i]);
    else
      mk_cache_free(c, v[i]);
  }
  mk_cache_shrink(c);
  const SlabinfoRow r = row_of("shrink_live");
  EXPECT_EQ(r.active_objs, keep.size()) << "single thread after shrink: exact";
  EXPECT_LE(r.num_slabs, keep.size());
  for (size_t i = 0; i < keep.size(); ++i) {
    const auto* b = static_cast<const unsigned char*>(keep[i]);
    const int want = static_cast<int>((i * 97) & 0xff);
    EXPECT_TRUE(std::all_of(b, b + 64, [&](unsigned char x) { return x == want; }));
  }
  free_all(c, keep);
  EXPECT_EQ(mk_cache_destroy(c), 0);
}

TEST(Slab, AnIdleDepotShrinksBackAtTheDecayRounds) {
  mk_cache_t* c = mk_cache_create("depot_decay", 64, 0, 0, nullptr);
  ASSERT_NE(c, nullptr);
  std::vector<void*> v = alloc_n(c, 64 * 40);  // 40 magazines' worth
  free_all(c, v);                               // most of them wait in the depot
  const SlabinfoRow held = row_of("depot_decay");
  ASSERT_GT(held.limit, 0u);
  EXPECT_GE(held.sharedavail, 30u * held.limit);
  memkit::magazine_decay_depots();  // used since the last round: kept
  EXPECT_EQ(row_of("depot_decay").sharedavail, held.sharedavail);
  memkit::magazine_decay_depots();  // idle for a round: back to 4 full magazines
  const SlabinfoRow after = row_of("depot_decay");
  EXPECT_EQ(after.sharedavail, 4u * after.limit);
  EXPECT_LT(after.num_slabs, held.num_slabs / 2) << "the slabs of the objects given back went too";
  // In use again (a burst through the depot): kept at the next round, not at the one after.
  v = alloc_n(c, 64 * 20);
  free_all(c, v);
  const SlabinfoRow busy = row_of("depot_decay");
  EXPECT_GT(busy.sharedavail, 4u * busy.limit);
  memkit::magazine_decay_depots();
  EXPECT_EQ(row_of("depot_decay").sharedavail, busy.sharedavail);
  memkit::magazine_decay_depots();
  EXPECT_EQ(row_of("depot_decay").sharedavail, 4u * busy.limit);
  EXPECT_EQ(mk_cache_destroy(c), 0);
}

TEST(Slab, EmptySlabsBeyondASmallReserveGoBackOnFree) {
  // The depot keeps at most 64 full magazines (src/slab/magazine.cpp: kDepotMaxFull, fewer for
  // larger objects); this frees 300 magazines' worth.
  constexpr unsigned kMaxHeld = 2 + 64;  // loaded and previous, then the depot
  mk_cache_t* c = mk_cache_create("reap_on_free", 64, 0, 0, nullptr);
  ASSERT_NE(c, nullptr);
  std::vector<void*> v = alloc_n(c, 64 * 300);
  const SlabinfoRow full = row_of("reap_on_free");
  EXPECT_GE(full.num_slabs, 300u);
  const size_t pages_full = allocated_pages();
  free_all(c, v);  // magazines overflow the depot and go back to the slabs
  const SlabinfoRow after = row_of("reap_on_free");
  EXPECT_LE(after.active_objs, kMaxHeld * after.limit) << "at most 2 loaded + 64 in the depot";
  EXPECT_LE(after.num_slabs, after.active_objs / after.objperslab + 8)
      << "the slabs of the objects held, a few partial ones and the kept empty ones";
  // The released slabs' pages went back, less the magazines that now hold objects (allocated
  // on the way: 66 of 64 rounds, 528 bytes each, about 9 pages).
  const size_t magazine_pages = (kMaxHeld * (after.limit * sizeof(void*) + 16) + 4095) / 4096;
  EXPECT_LE(allocated_pages() + (full.num_slabs - after.num_slabs) * full.pagesperslab,
            pages_full + magazine_pages + 1);
  EXPECT_GT(full.num_slabs - after.num_slabs, full.num_slabs / 2);
  EXPECT_EQ(mk_cache_destroy(c), 0);
}

TEST(Slab, DestroyWithLiveObjectsIsBusy) {
  mk_cache_t* c = mk_cache_create("busy_cache", 48, 0, 0, nullptr);
  ASSERT_NE(c, nullptr);
  std::vector<void*> v = alloc_n(c, 3);
  std::vector<void*> extra = alloc_n(c, 100);
  free_all(c, extra);  // cached in this thread's magazines: not "remaining"
  testing::internal::CaptureStderr();
  const int rc = mk_cache_destroy(c);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(rc, -EBUSY);
  EXPECT_NE(err.find("memkit: warning: 3 objects remaining in cache busy_cache"),
            std::string::npos)
      << err;
  // Still usable.
  void* p = mk_cache_alloc(c, 0);
  ASSERT_NE(p, nullptr);
  std::memset(p, 1, 48);
  v.push_back(p);
  EXPECT_NE(slabinfo_row("busy_cache"), std::nullopt);
  testing::internal::CaptureStderr();
  EXPECT_EQ(mk_cache_destroy(c), -EBUSY);
  EXPECT_NE(testing::internal::GetCapturedStderr().find("4 objects remaining in cache busy_cache"),
            std::string::npos);
  free_all(c, v);
  EXPECT_EQ(mk_cache_destroy(c), 0);
  EXPECT_EQ(slabinfo_row("busy_cache"), std::nullopt) << "gone from slabinfo";
}

TEST(Slab, DestroyGivesEverythingBack) {
  // This thread's magazine layer (ThreadCache, CpuCache chunk, magazines of the size used
  // below) is made by a first use, before the count starts.
  mk_cache_t* warm = mk_cache_create("destroy_warm", 1000, 0, 0, nullptr);
  ASSERT_NE(warm, nullptr);
  mk_cache_free(warm, mk_cache_alloc(warm, 0));
  EXPECT_EQ(mk_cache_destroy(warm), 0);
  const size_t before = allocated_pages();
  mk_cache_t* c = mk_cache_create("destroy_all", 1000, 0, 0, nullptr);
  ASSERT_NE(c, nullptr);
  std::vector<void*> v = alloc_n(c, 500);
  free_all(c, v);  // in magazines and the depot
  EXPECT_EQ(mk_cache_destroy(c), 0);
  // Bootstrap caches (magazines, the cache itself) may keep a couple of empty slabs.
  EXPECT_LE(allocated_pages(), before + 8);
}

TEST(Slab, DestroyNullAndFreeNull) {
  EXPECT_EQ(mk_cache_destroy(nullptr), 0);
  mk_cache_t* c = mk_cache_create("null_free", 8, 0, 0, nullptr);
  ASSERT_NE(c, nullptr);
  mk_cache_free(c, nullptr);
  EXPECT_EQ(mk_cache_destroy(c), 0);
}

TEST(Slab, IndexReuseAfterDestroyDoesNotMixObjects) {
  // A's objects sit in this thread's magazines when A is destroyed; B probably takes A's index.
  // B must never hand out A's (returned) objects, and freeing B's objects must not be refused.
  for (int round = 0; round < 20; ++round) {
    mk_cache_t* a = mk_cache_create("reuse_a", 96, 0, 0, nullptr);
    ASSERT_NE(a, nullptr);
    std::vector<void*> v = alloc_n(a, 150);
    free_all(a, v);
    ASSERT_EQ(mk_cache_destroy(a), 0);
    mk_cache_t* b = mk_cache_create("reuse_b", 96, 0, 0, nullptr);
    ASSERT_NE(b, nullptr);
    v = alloc_n(b, 150);
    std::set<void*> distinct(v.begin(), v.end());
    EXPECT_EQ(distinct.size(), v.size());
    const SlabinfoRow r = row_of("reuse_b");
    EXPECT_GE(r.active_objs, 150u);
    free_all(b, v);  // a fatal report here would mean A's objects leaked into B
    mk_cache_shrink(b);
    EXPECT_EQ(row_of("reuse_b").active_objs, 0u);
    ASSERT_EQ(mk_cache_destroy(b), 0);
  }
}

// ---- slabinfo ----

TEST(Slab, SlabinfoHeader) {
  const std::vector<std::string> lines = split_lines(slabinfo_text());
  ASSERT_GE(lines.size(), 2u);
  EXPECT_EQ(lines[0], "slabinfo - version: 2.1");
  EXPECT_EQ(lines[1],
            "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : "
            "tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> "
            "<num_slabs> <sharedavail>");
  EXPECT_EQ(slabinfo_text().back(), '\n');
}

// The line the kernel's cache_show() would print for these values.
std::string kernel_line(const SlabinfoRow& r) {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "%-17s %6lu %6lu %6lu %4lu %4lu : tunables %4lu %4lu %4lu : slabdata %6lu %6lu "
                "%6lu",
                r.name.c_str(), r.active_objs, r.num_objs, r.objsize, r.objperslab,
                r.pagesperslab, r.limit, r.batchcount, r.sharedfactor, r.active_slabs,
                r.num_slabs, r.sharedavail);
  return buf;
}

TEST(Slab, SlabinfoLinesHaveTheKernelFormat) {
  mk_cache_t* c = mk_cache_create("fmt_cache", 100, 0, 0, nullptr);
  ASSERT_NE(c, nullptr);
  mk_cache_t* longname =
      mk_cache_create("a_cache_name_of_31_characters__", 4000, 0, 0, nullptr);
  ASSERT_NE(longname, nullptr);
  const std::vector<std::string> lines = split_lines(slabinfo_text());
  size_t seen = 0;
  for (size_t i = 2; i < lines.size(); ++i) {
    const SlabinfoRow r = parse_slabinfo_line(lines[i]);
    ASSERT_TRUE(r.well_formed) << "16 tokens: " << lines[i];
    EXPECT_EQ(lines[i], kernel_line(r));
    EXPECT_EQ(r.num_objs, r.num_slabs * r.objperslab);
    EXPECT_LE(r.active_objs, r.num_objs);
    EXPECT_LE(r.active_slabs, r.num_slabs);
    EXPECT_EQ(r.sharedfactor, 0u);
    if (r.name == "fmt_cache" || r.name == "a_cache_name_of_31_characters__") ++seen;
  }
  EXPECT_EQ(seen, 2u);
  // The name column is %-17s: short names padded to 17, long ones push the columns right.
  EXPECT_EQ(row_of("fmt_cache").line.substr(0, 18), "fmt_cache         ");
  EXPECT_EQ(row_of("a_cache_name_of_31_characters__").line.substr(0, 32),
            "a_cache_name_of_31_characters__ ");
  EXPECT_EQ(mk_cache_destroy(longname), 0);
  EXPECT_EQ(mk_cache_destroy(c), 0);
}

TEST(Slab, SlabinfoValues) {
  mk_cache_t* c = mk_cache_create("values_cache", 100, 0, 0, nullptr);
  ASSERT_NE(c, nullptr);
  SlabinfoRow r = row_of("values_cache");
  EXPECT_EQ(r.active_objs, 0u);
  EXPECT_EQ(r.num_objs, 0u);
  EXPECT_EQ(r.objsize, 104u);
  EXPECT_EQ(r.objperslab, 39u);  // 39 * 104 = 4056 of 4096
  EXPECT_EQ(r.pagesperslab, 1u);
  EXPECT_EQ(r.limit, 64u) << "magazine rounds";
  EXPECT_EQ(r.batchcount, 32u);
  EXPECT_EQ(r.sharedfactor, 0u);
  EXPECT_EQ(r.active_slabs, 0u);
  EXPECT_EQ(r.num_slabs, 0u);
  EXPECT_EQ(r.sharedavail, 0u);

  std::vector<void*> v = alloc_n(c, 10);
  r = row_of("values_cache");
  EXPECT_GE(r.active_objs, 10u) << "objects in magazines count as active";
  EXPECT_EQ(r.active_objs, 32u) << "one batch went to the magazine";
  EXPECT_EQ(r.num_objs, 39u);
  EXPECT_EQ(r.active_slabs, 1u);
  EXPECT_EQ(r.num_slabs, 1u);

  std::vector<void*> more = alloc_n(c, 100);
  r = row_of("values_cache");
  EXPECT_EQ(r.num_slabs, (r.active_objs + 38) / 39);
  EXPECT_EQ(r.num_objs, r.num_slabs * 39);
  EXPECT_GE(r.active_objs, 110u);
  free_all(c, more);
  free_all(c, v);
  mk_cache_shrink(c);
  r = row_of("values_cache");
  EXPECT_EQ(r.active_objs, 0u);
  EXPECT_EQ(r.num_slabs, 0u);
  EXPECT_EQ(r.active_slabs, 0u);

  // Magazine sizes by object size.
  const struct {
    size_t size;
    unsigned long limit;
  } mags[] = {{8, 64}, {256, 64}, {257, 32}, {2048, 32}, {2049, 16}, {8192, 16}, {8193, 8}};
  for (const auto& m : mags) {
    mk_cache_t* k = mk_cache_create("mag_size", m.size, 0, 0, nullptr);
    ASSERT_NE(k, nullptr);
    const SlabinfoRow mr = row_of("mag_size");
    EXPECT_EQ(mr.limit, m.limit) << m.size;
    EXPECT_EQ(mr.batchcount, m.limit / 2) << m.size;
    EXPECT_EQ(mk_cache_destroy(k), 0);
  }
  EXPECT_EQ(mk_cache_destroy(c), 0);
}

TEST(Slab, SlabinfoListsBootstrapCaches) {
  mk_cache_t* c = mk_cache_create("boot_probe", 8, 0, 0, nullptr);
  ASSERT_NE(c, nullptr);
  // The first alloc of this thread creates its memkit_thread and memkit_cpu_cache objects;
  // ctest runs each test in its own process, so nothing else has done so before.
  void* obj = mk_cache_alloc(c, 0);
  ASSERT_NE(obj, nullptr);
  for (const char* name : {"kmem_cache", "memkit_thread", "memkit_cpu_cache"}) {
    const SlabinfoRow r = row_of(name);
    EXPECT_EQ(r.limit, 0u) << name << ": no magazine layer";
    EXPECT_GE(r.active_objs, 1u) << name;
  }
  mk_cache_free(c, obj);
  EXPECT_EQ(mk_cache_destroy(c), 0);
}

TEST(Slab, SlabinfoTruncatesLikeSnprintf) {
  const std::string full = slabinfo_text();
  const int need = mk_slabinfo(nullptr, 0);
  ASSERT_EQ(static_cast<size_t>(need), full.size());
  EXPECT_EQ(mk_slabinfo(nullptr, 0), need);
  std::vector<char> buf(full.size() + 2, 'X');
  for (size_t len = 1; len <= full.size() + 1; len += (len < 300 ? 1 : 37)) {
    std::fill(buf.begin(), buf.end(), 'X');
    ASSERT_EQ(mk_slabinfo(buf.data(), len), need);
    ASSERT_EQ(std::string(buf.data()), full.substr(0, len - 1)) << "len " << len;
    ASSERT_EQ(buf[len], 'X') << "wrote past len " << len;
  }
}

// ---- argument errors ----

TEST(Slab, CreateArgumentErrors) {
  auto fails = [](const char* name, size_t size, size_t align, unsigned flags) {
    errno = 0;
    mk_cache_t* c = mk_cache_create(name, size, align, flags, nullptr);
    const int err = errno;
    if (c != nullptr) mk_cache_destroy(c);
    return c == nullptr && err == EINVAL;
  };
  EXPECT_TRUE(fails(nullptr, 8, 0, 0));
  EXPECT_TRUE(fails("name_of_thirty_two_characters___", 8, 0, 0)) << "32 characters";
  EXPECT_FALSE(fails("name_of_thirty_one_characters__", 8, 0, 0)) << "31 characters";
  EXPECT_TRUE(fails("zero", 0, 0, 0));
  EXPECT_TRUE(fails("huge", (kPage << MK_MAX_PAGE_ORDER) + 1, 0, 0));
  EXPECT_FALSE(fails("max", kPage << MK_MAX_PAGE_ORDER, 0, 0));
  EXPECT_TRUE(fails("align3", 8, 3, 0));
  EXPECT_TRUE(fails("align24", 8, 24, 0));
  EXPECT_TRUE(fails("align_big", 8, 2 * kPage, 0));
  EXPECT_FALSE(fails("align_page", 8, kPage, 0));
  EXPECT_TRUE(fails("flag1", 8, 0, 1u));
  EXPECT_TRUE(fails("flag_internal", 8, 0, 1u << 16));
  EXPECT_TRUE(fails("flag_gfp", 8, 0, MK_GFP_ZERO));
  EXPECT_FALSE(fails("flags_ok", 8, 0,
                     MK_SLAB_RED_ZONE | MK_SLAB_POISON | MK_SLAB_HWCACHE_ALIGN));
  // Names that would break slabinfo's whitespace-separated columns.
  EXPECT_TRUE(fails("", 8, 0, 0));
  EXPECT_TRUE(fails("two words", 8, 0, 0));
  EXPECT_TRUE(fails("tab\tname", 8, 0, 0));
  EXPECT_TRUE(fails("new\nline", 8, 0, 0));
}

// ---- many caches ----

TEST(Slab, ManyCaches) {
  constexpr size_t kCount = 300;  // indices past several CpuCache chunks of 64
  std::vector<mk_cache_t*> caches;
  std::vector<std::vector<void*>> objs(kCount);
  for (size_t i = 0; i < kCount; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "many_%zu", i);
    const size_t size = 8 + i * 24;
    mk_cache_t* c = mk_cache_create(name, size, 0, i % 3 == 0 ? MK_SLAB_HWCACHE_ALIGN : 0,
                                    nullptr);
    ASSERT_NE(c, nullptr) << i;
    EXPECT_EQ(mk_cache_size(c), size);
    caches.push_back(c);
    objs[i] = alloc_n(c, 3);
    for (void* p : objs[i]) std::memset(p, static_cast<int>(i & 0xff), size);
  }
  const std::string text = slabinfo_text();
  for (size_t i = 0; i < kCount; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "\nmany_%zu ", i);
    EXPECT_NE(text.find(name), std::string::npos) << name;
  }
  for (size_t i = 0; i < kCount; ++i) {
    const size_t size = 8 + i * 24;
    for (void* p : objs[i]) {
      const auto* b = static_cast<const unsigned char*>(p);
      ASSERT_TRUE(std::all_of(b, b + size, [&](unsigned char x) { return x == (i & 0xff); }));
    }
    free_all(caches[i], objs[i]);
    EXPECT_EQ(mk_cache_destroy(caches[i]), 0);
  }
}

TEST(Slab, TooManyCachesIsEnospc) {
  std::vector<mk_cache_t*> caches;
  int err = 0;
  for (size_t i = 0; i < 10000; ++i) {
    errno = 0;
    mk_cache_t* c = mk_cache_create("enospc", 16, 0, 0, nullptr);
    if (c == nullptr) {
      err = errno;
      break;
    }
    caches.push_back(c);
  }
  EXPECT_EQ(err, ENOSPC);
  EXPECT_GT(caches.size(), 4000u);
  EXPECT_LE(caches.size(), 4096u);
  // The last one still works.
  void* p = mk_cache_alloc(caches.back(), 0);
  ASSERT_NE(p, nullptr);
  mk_cache_free(caches.back(), p);
  for (mk_cache_t* c : caches) ASSERT_EQ(mk_cache_destroy(c), 0);
  mk_cache_t* again = mk_cache_create("after_enospc", 16, 0, 0, nullptr);
  EXPECT_NE(again, nullptr);
  EXPECT_EQ(mk_cache_destroy(again), 0);
}

}  // namespace
