// Randomized test of the object caches against a model (src/slab/): random allocs and frees
// over several caches of different sizes, alignments and flags, from one thread, with every
// live object in a std::map (address -> cache, size, pattern seed). Each object is filled with
// a pattern of its own when allocated and checked before it is freed, so an object handed out
// twice, two overlapping objects or a write by the allocator into a live object shows up as a
// broken pattern; every new object is also checked against its neighbours in the map. Ctor
// caches check the constructed state on alloc and restore it before the free. The slabinfo
// counters are checked against the model as the run goes: active_objs >= live objects
// always, and == after a shrink (single thread: no other magazines hold objects).
#include <stdint.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "memkit/memkit.h"
#include "slab_testing.h"
#include "test_support.h"

namespace {

using memkit::test::slabinfo_row;
using memkit::test::SlabinfoRow;

struct Spec {
  const char* name;
  size_t size;
  size_t align;
  unsigned flags;
  bool ctor;
};

constexpr Spec kSpecs[] = {
    {"model_8", 8, 0, 0, false},
    {"model_1", 1, 0, 0, false},
    {"model_24", 24, 0, 0, false},
    {"model_100", 100, 0, 0, false},
    {"model_hw20", 20, 0, MK_SLAB_HWCACHE_ALIGN, false},
    {"model_hw100", 100, 0, MK_SLAB_HWCACHE_ALIGN, false},
    {"model_a256", 72, 256, 0, false},
    {"model_rz200", 200, 32, MK_SLAB_RED_ZONE, false},
    {"model_poison512", 512, 0, MK_SLAB_POISON, false},
    {"model_dbg333", 333, 0, MK_SLAB_POISON | MK_SLAB_RED_ZONE, false},
    {"model_ctor48", 48, 0, 0, true},
    {"model_ctor_rz", 96, 16, MK_SLAB_RED_ZONE | MK_SLAB_POISON, true},
    {"model_3000", 3000, 0, 0, false},
    {"model_20k", 20000, 0, 0, false},
};
constexpr size_t kNumSpecs = sizeof kSpecs / sizeof kSpecs[0];

// The constructed state of ctor caches: 0xc7 in every byte. A ctor is not told the object
// size: the test sets t_ctor_size before each alloc (a ctor runs only inside an alloc here).
constexpr unsigned char kCtorByte = 0xc7;
thread_local size_t t_ctor_size = 0;
void model_ctor(void* p) { std::memset(p, kCtorByte, t_ctor_size); }

struct Live {
  size_t cache;
  uint64_t seed;
};

uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return x;
}

void fill(void* p, size_t size, uint64_t seed) {
  auto* b = static_cast<unsigned char*>(p);
  uint64_t s = seed;
  for (size_t i = 0; i < size; ++i) {
    if (i % 8 == 0) s = mix(s + i);
    b[i] = static_cast<unsigned char>(s >> ((i % 8) * 8));
  }
}

bool check(const void* p, size_t size, uint64_t seed) {
  const auto* b = static_cast<const unsigned char*>(p);
  uint64_t s = seed;
  for (size_t i = 0; i < size; ++i) {
    if (i % 8 == 0) s = mix(s + i);
    if (b[i] != static_cast<unsigned char>(s >> ((i % 8) * 8))) return false;
  }
  return true;
}

using memkit::testing::all_bytes;

size_t expected_align(const Spec& s) {
  size_t align = s.align;
  if (s.flags & MK_SLAB_HWCACHE_ALIGN) {
    size_t ralign = 64;
    while (s.size <= ralign / 2) ralign /= 2;
    if (ralign > align) align = ralign;
  }
  return align < 8 ? 8 : align;
}

#if defined(__SANITIZE_THREAD__)
constexpr int kOps = 15000;  // ThreadSanitizer makes every map and pattern access ~20x dearer
#else
constexpr int kOps = 60000;
#endif

class SlabModel : public ::testing::TestWithParam<uint32_t> {};

TEST_P(SlabModel, RandomOpsAgainstAModel) {
  std::mt19937_64 rng(GetParam());
  std::vector<mk_cache_t*> caches(kNumSpecs);
  std::vector<std::string> names(kNumSpecs);
  for (size_t i = 0; i < kNumSpecs; ++i) {
    names[i] = std::string(kSpecs[i].name) + "_" + std::to_string(GetParam());
    caches[i] = mk_cache_create(names[i].c_str(), kSpecs[i].size, kSpecs[i].align,
                                kSpecs[i].flags, kSpecs[i].ctor ? model_ctor : nullptr);
    ASSERT_NE(caches[i], nullptr) << names[i];
  }

  std::map<uintptr_t, Live> live;
  std::vector<size_t> live_count(kNumSpecs, 0);
  std::vector<uintptr_t> order;  // live objects, for picking a random one to free
  uint64_t next_seed = 1;

  auto check_counts = [&](size_t ci, bool exact) {
    const auto r = slabinfo_row(names[ci]);
    ASSERT_TRUE(r.has_value());
    ASSERT_TRUE(r->well_formed) << r->line;
    if (exact) {
      ASSERT_EQ(r->active_objs, live_count[ci]) << names[ci];
    } else {
      ASSERT_GE(r->active_objs, live_count[ci]) << names[ci];
    }
    ASSERT_LE(r->active_objs, r->num_objs);
    ASSERT_EQ(r->num_objs, r->num_slabs * r->objperslab);
  };

  auto do_free = [&](size_t idx) {
    const uintptr_t a = order[idx];
    order[idx] = order.back();
    order.pop_back();
    auto it = live.find(a);
    ASSERT_NE(it, live.end());
    const Live l = it->second;
    const Spec& s = kSpecs[l.cache];
    void* p = reinterpret_cast<void*>(a);
    ASSERT_TRUE(check(p, s.size, l.seed)) << names[l.cache] << " object " << p
                                          << " lost its contents (overlap or double hand-out)";
    if (s.ctor) std::memset(p, kCtorByte, s.size);  // freed in the constructed state
    live.erase(it);
    --live_count[l.cache];
    mk_cache_free(caches[l.cache], p);
  };

  for (int op = 0; op < kOps; ++op) {
    const unsigned r = static_cast<unsigned>(rng() % 1000);
    // Phases: grow for a while, then shrink, so slabs fill, empty and get reaped.
    const bool growing = (op / (kOps / 8)) % 2 == 0;
    const unsigned alloc_share = growing ? 600 : 380;
    if (r < alloc_share || order.empty()) {
      const size_t ci = rng() % kNumSpecs;
      const Spec& s = kSpecs[ci];
      const bool zero = rng() % 8 == 0;
      t_ctor_size = s.size;
      void* p = mk_cache_alloc(caches[ci], zero ? MK_GFP_ZERO : 0);
      ASSERT_NE(p, nullptr);
      const uintptr_t a = reinterpret_cast<uintptr_t>(p);
      ASSERT_EQ(a % expected_align(s), 0u) << names[ci];
      if (zero) {
        ASSERT_TRUE(all_bytes(p, s.size, 0)) << names[ci];
      } else if (s.ctor) {
        ASSERT_TRUE(all_bytes(p, s.size, kCtorByte)) << names[ci] << ": not constructed";
      }
      // No overlap with the neighbours.
      auto next = live.lower_bound(a);
      if (next != live.end()) {
        ASSERT_GE(next->first, a + s.size) << "overlaps the next object";
      }
      if (next != live.begin()) {
        auto prev = std::prev(next);
        ASSERT_LE(prev->first + kSpecs[prev->second.cache].size, a) << "overlaps the previous";
      }
      const uint64_t seed = next_seed++;
      fill(p, s.size, seed);
      live.emplace(a, Live{ci, seed});
      order.push_back(a);
      ++live_count[ci];
    } else if (r < 995) {
      do_free(rng() % order.size());
    } else if (r < 998) {
      const size_t ci = rng() % kNumSpecs;
      mk_cache_shrink(caches[ci]);
      check_counts(ci, true);
    } else {
      check_counts(rng() % kNumSpecs, false);
    }
    if (HasFatalFailure()) return;
  }

  // Every live object still holds its pattern.
  for (const auto& [a, l] : live)
    ASSERT_TRUE(check(reinterpret_cast<void*>(a), kSpecs[l.cache].size, l.seed));
  while (!order.empty()) {
    do_free(order.size() - 1);
    if (HasFatalFailure()) return;
  }
  for (size_t ci = 0; ci < kNumSpecs; ++ci) {
    mk_cache_shrink(caches[ci]);
    const auto r = slabinfo_row(names[ci]);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->active_objs, 0u) << names[ci];
    EXPECT_EQ(r->num_slabs, 0u) << names[ci];
    EXPECT_EQ(r->sharedavail, 0u) << names[ci];
    EXPECT_EQ(mk_cache_destroy(caches[ci]), 0) << names[ci];
  }
}

INSTANTIATE_TEST_SUITE_P(Seeds, SlabModel, ::testing::Values(1u, 2u, 3u, 20240611u));

// Alloc-heavy bursts from one cache then frees in random order, so whole slabs come and go:
// the page heap gets every page back after the final shrink.
TEST(SlabModelPages, BurstsGiveEveryPageBack) {
  std::mt19937_64 rng(7);
  mk_cache_t* c = mk_cache_create("model_bursts", 136, 0, 0, nullptr);
  ASSERT_NE(c, nullptr);
  // This thread's magazine layer (its ThreadCache, CpuCache chunk and magazines, from the
  // bootstrap caches) is made by the first use, before the count starts.
  mk_cache_free(c, mk_cache_alloc(c, 0));
  mk_cache_shrink(c);
  mk_page_stats before;
  mk_get_page_stats(&before);
  for (int round = 0; round < 20; ++round) {
    std::vector<std::pair<void*, uint64_t>> v(1 + rng() % 5000);
    for (size_t i = 0; i < v.size(); ++i) {
      v[i] = {mk_cache_alloc(c, 0), rng()};
      ASSERT_NE(v[i].first, nullptr);
      fill(v[i].first, 136, v[i].second);
    }
    std::shuffle(v.begin(), v.end(), rng);
    for (auto& [p, seed] : v) {
      ASSERT_TRUE(check(p, 136, seed));
      mk_cache_free(c, p);
    }
  }
  mk_cache_shrink(c);
  const auto r = slabinfo_row("model_bursts");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->num_slabs, 0u);
  mk_page_stats after;
  mk_get_page_stats(&after);
  // Magazines come from bootstrap caches that may keep a couple of empty slabs.
  EXPECT_LE(after.allocated_pages, before.allocated_pages + 4);
  EXPECT_EQ(mk_cache_destroy(c), 0);
}

}  // namespace
