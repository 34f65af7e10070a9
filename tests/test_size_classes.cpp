// Tests of kmalloc's size-class table (src/kmalloc/size_classes.h): the properties the table
// asserts at compile time, again at run time (so a failure names the class); the lookup
// against a naive search for every size 0 .. 32768; the 25 % waste bound for every request
// above 64 B (not only the worst one); the alignment rule; the slab geometry of each class's
// cache (what `memkit sizeclasses` prints) against the real kmalloc caches; and the CLI's
// text and JSON output.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "arena/page_heap.h"
#include "kmalloc/kmalloc.h"
#include "kmalloc/size_classes.h"
#include "memkit/memkit.h"
#include "slab/slab_cache.h"
#include "test_support.h"

namespace {

namespace sc = memkit::size_class;

unsigned naive(size_t size) {
  for (unsigned c = 0; c < sc::kNumClasses; ++c)
    if (size <= sc::class_size(c)) return c;
  return sc::kNumClasses;
}

bool is_pow2(size_t x) { return x != 0 && (x & (x - 1)) == 0; }

TEST(SizeClasses, TableShape) {
  ASSERT_EQ(sc::kNumClasses, 41u);
  EXPECT_EQ(sc::class_size(0), 8u);
  EXPECT_EQ(sc::class_size(1), 16u);
  EXPECT_EQ(sc::class_size(2), 32u);
  EXPECT_EQ(sc::class_size(3), 48u);
  EXPECT_EQ(sc::class_size(4), 64u);
  EXPECT_EQ(sc::class_size(sc::kNumClasses - 1), size_t{MK_KMALLOC_MAX_CACHE_SIZE});
  EXPECT_EQ(sc::kMaxSize, 32768u);
  for (unsigned c = 1; c < sc::kNumClasses; ++c) {
    EXPECT_GT(sc::class_size(c), sc::class_size(c - 1)) << "class " << c;
    if (sc::class_size(c) >= 16) {
      EXPECT_EQ(sc::class_size(c) % 16, 0u) << "class " << c;
    }
  }
}

TEST(SizeClasses, FourClassesPerDoublingAbove64) {
  for (size_t p = 64; p < sc::kMaxSize; p *= 2) {
    std::vector<size_t> in;
    for (unsigned c = 0; c < sc::kNumClasses; ++c)
      if (sc::class_size(c) > p && sc::class_size(c) <= 2 * p) in.push_back(sc::class_size(c));
    ASSERT_EQ(in.size(), 4u) << "classes in (" << p << ", " << 2 * p << "]";
    for (size_t i = 0; i < 4; ++i) EXPECT_EQ(in[i], p + (i + 1) * p / 4);
  }
}

TEST(SizeClasses, LookupMatchesNaiveSearchForEverySize) {
  for (size_t s = 0; s <= sc::kMaxSize; ++s) {
    const unsigned c = sc::size_to_class(s);
    ASSERT_EQ(c, naive(s)) << "size " << s;
    ASSERT_GE(sc::class_size(c), s);
    if (c > 0) {
      ASSERT_LT(sc::class_size(c - 1), s) << "size " << s << " is not in the smallest class";
    }
  }
  EXPECT_EQ(sc::size_to_class(0), 0u);  // kmalloc(0): the smallest class
  EXPECT_LT(sc::lookup_index(sc::kMaxSize), sc::kLookupSize);
}

TEST(SizeClasses, WasteAtMostAQuarterAbove64) {
  double worst = 0;
  for (size_t s = 65; s <= sc::kMaxSize; ++s) {
    const size_t waste = sc::class_size(sc::size_to_class(s)) - s;
    ASSERT_LE(waste * 4, s) << "size " << s;
    worst = std::max(worst, static_cast<double>(waste) / static_cast<double>(s));
  }
  EXPECT_LT(worst, 0.25);
  EXPECT_GT(worst, 0.23);  // the bound is tight (65 -> 80: 15/65 = 23.1 %)
  for (unsigned c = 5; c < sc::kNumClasses; ++c)
    EXPECT_LE(sc::worst_waste_permille(c), 250u) << "class " << c;
}

TEST(SizeClasses, AlignmentRule) {
  for (size_t page : {size_t{4096}, size_t{16384}, size_t{65536}}) {
    for (unsigned c = 0; c < sc::kNumClasses; ++c) {
      const size_t s = sc::class_size(c);
      const size_t a = sc::class_align(c, page);
      if (is_pow2(s) && s <= page)
        EXPECT_EQ(a, s) << "class " << s << " page " << page;
      else
        EXPECT_EQ(a, s >= 16 ? 16u : 8u) << "class " << s << " page " << page;
      EXPECT_EQ(s % a, 0u);
    }
  }
}

// The geometry the CLI prints is the geometry of the caches kmalloc really makes.
TEST(SizeClasses, GeometryMatchesTheKmallocCaches) {
  const memkit::PageHeap& heap = memkit::global_page_heap();
  for (unsigned c = 0; c < sc::kNumClasses; ++c) {
    memkit::SlabGeometry g{};
    ASSERT_EQ(memkit::kmalloc_class_geometry(c, heap.page_size(), heap.config().arena.max_order, &g),
              0);
    memkit::SlabCache* cache = memkit::kmalloc_cache(c);
    ASSERT_NE(cache, nullptr);
    EXPECT_TRUE(memkit::is_kmalloc_cache(cache));
    memkit::SlabCacheStats st{};
    cache->stats(&st);
    EXPECT_EQ(std::string(st.name), "kmalloc-" + std::to_string(sc::class_size(c)));
    EXPECT_EQ(st.object_size, sc::class_size(c));
    EXPECT_EQ(st.size, g.slot_size) << st.name;
    // No slot overhead, but for kmalloc-8, whose slots hold the two free words (the free key
    // and the free pointer, src/slab/slab_cache.h).
    EXPECT_EQ(st.size, std::max<size_t>(sc::class_size(c), 16)) << st.name << ": no slot overhead";
    EXPECT_EQ(st.align, g.align) << st.name;
    EXPECT_EQ(st.order, g.order) << st.name;
    EXPECT_EQ(st.objects_per_slab, g.objects) << st.name;
    EXPECT_EQ(g.leftover, (heap.page_size() << g.order) - size_t{g.objects} * g.slot_size);
    // Bonwick's bound holds for every class: at most 1/8 of a slab left over.
    EXPECT_LE(g.leftover * 8, heap.page_size() << g.order) << st.name;
  }
  EXPECT_EQ(memkit::kmalloc_cache(sc::kNumClasses), nullptr);
  EXPECT_FALSE(memkit::is_kmalloc_cache(nullptr));
  SUCCEED();
}

#ifdef MEMKIT_CLI_PATH
class SizeClassesCli : public memkit::testing::ScratchDirTest {
 protected:
  // Runs `memkit args...` and returns its stdout (exit status in *status).
  std::string run_cli(std::vector<std::string> args, int* status) const {
    args.insert(args.begin(), MEMKIT_CLI_PATH);
    const memkit::testing::Result r = run(args);
    *status = r.status;
    return r.out;
  }
};

TEST_F(SizeClassesCli, JsonIsTheTable) {
  int status = -1;
  const std::string out = run_cli({"sizeclasses", "--json"}, &status);
  ASSERT_EQ(status, 0);
  const nlohmann::json j = nlohmann::json::parse(out);
  EXPECT_EQ(j["max_cache_size"], sc::kMaxSize);
  const size_t page = j["page_size"];
  const unsigned max_order = j["max_order"];
  ASSERT_EQ(j["classes"].size(), sc::kNumClasses);
  for (unsigned c = 0; c < sc::kNumClasses; ++c) {
    const nlohmann::json& row = j["classes"][c];
    memkit::SlabGeometry g{};
    ASSERT_EQ(memkit::kmalloc_class_geometry(c, page, max_order, &g), 0);
    EXPECT_EQ(row["class"], c);
    EXPECT_EQ(row["size"], sc::class_size(c));
    EXPECT_EQ(row["align"], g.align);
    EXPECT_EQ(row["order"], g.order);
    EXPECT_EQ(row["pages_per_slab"], size_t{1} << g.order);
    EXPECT_EQ(row["objects_per_slab"], g.objects);
    EXPECT_EQ(row["leftover"], g.leftover);
    EXPECT_EQ(row["worst_request"], sc::worst_request(c));
    const double pct = row["worst_waste_pct"];
    if (c >= 5) {
      EXPECT_LE(pct, 25.0);
    }
  }
}

TEST_F(SizeClassesCli, TextHasOneRowPerClass) {
  int status = -1;
  const std::string out = run_cli({"sizeclasses"}, &status);
  ASSERT_EQ(status, 0);
  std::istringstream lines(out);
  std::string line;
  std::getline(lines, line);
  EXPECT_NE(line.find("41 classes"), std::string::npos) << line;
  std::getline(lines, line);
  EXPECT_NE(line.find("waste%"), std::string::npos) << line;
  for (unsigned c = 0; c < sc::kNumClasses; ++c) {
    ASSERT_TRUE(std::getline(lines, line));
    std::istringstream fields(line);
    unsigned cls = 99;
    size_t size = 0;
    fields >> cls >> size;
    EXPECT_EQ(cls, c);
    EXPECT_EQ(size, sc::class_size(c));
  }
}
#endif

}  // namespace
