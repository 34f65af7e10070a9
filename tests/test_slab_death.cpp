// Death tests of the object caches' fatal reports (src/slab/slab_cache.cpp): each forks (the
// "threadsafe" style re-runs the test binary) and expects memkit's one-line report and abort:
//
//   memkit: ERROR: <kind> <function> <object> cache NAME (object size N): <what>
//
// Frees go to the calling thread's magazine first, and objects come back LIFO, so a write
// after free is caught when the object is handed out again: alloc right after the free.
// Objects reach their slab's free list only through mk_cache_shrink (which flushes this
// thread's magazines and the depot) or when the depot overflows. A double free is caught
// wherever the object waits (the free key, src/slab/slab_cache.h): this thread's magazine,
// another thread's, the depot, its slab's free list.
#include <stdint.h>
#include <stdlib.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "memkit/memkit.h"

namespace {

class SlabDeathTest : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

constexpr const char* kPtr = "0x[0-9a-f]+";

std::string report(const char* kind, const char* fn, const char* cache, size_t size,
                   const char* what) {
  return std::string("memkit: ERROR: ") + kind + " " + fn + " " + kPtr + " cache " + cache +
         " \\(object size " + std::to_string(size) + "\\): " + what;
}

mk_cache_t* make(const char* name, size_t size, unsigned flags, size_t align = 0) {
  mk_cache_t* c = mk_cache_create(name, size, align, flags, nullptr);
  if (c == nullptr) abort();
  return c;
}

// ---- use after free (POISON) ----

TEST_F(SlabDeathTest, PoisonWriteAfterFree) {
  EXPECT_DEATH(
      {
        mk_cache_t* c = make("uaf_cache", 64, MK_SLAB_POISON);
        auto* p = static_cast<char*>(mk_cache_alloc(c, 0));
        mk_cache_free(c, p);
        p[3] = 1;                 // write after free
        mk_cache_alloc(c, 0);     // the same object, LIFO: checked on the way out
      },
      report("slab-use-after-free", "mk_cache_alloc", "uaf_cache", 64,
             "poison overwritten at offset 3 \\(use after free\\)"));
}

TEST_F(SlabDeathTest, PoisonWriteToLastByteAfterFree) {
  EXPECT_DEATH(
      {
        mk_cache_t* c = make("uaf_last", 24, MK_SLAB_POISON);
        auto* p = static_cast<unsigned char*>(mk_cache_alloc(c, 0));
        mk_cache_free(c, p);
        p[23] = 0x6b;  // POISON_END replaced by POISON_FREE
        mk_cache_alloc(c, 0);
      },
      report("slab-use-after-free", "mk_cache_alloc", "uaf_last", 24,
             "poison overwritten at offset 23"));
}

TEST_F(SlabDeathTest, PoisonWriteAfterFreeCaughtAfterTheObjectWentBackToItsSlab) {
  // The object goes through the depot and its slab's free list (shrink), not just a magazine;
  // with POISON the free pointer lives outside the object, so the poison is intact there.
  EXPECT_DEATH(
      {
        mk_cache_t* c = make("uaf_slab", 48, MK_SLAB_POISON);
        void* keep = mk_cache_alloc(c, 0);  // keeps the slab alive through the shrink
        auto* p = static_cast<char*>(mk_cache_alloc(c, 0));
        mk_cache_free(c, p);
        mk_cache_shrink(c);
        p[40] = 'x';
        for (int i = 0; i < 200; ++i) mk_cache_alloc(c, 0);
        mk_cache_free(c, keep);
      },
      report("slab-use-after-free", "mk_cache_alloc", "uaf_slab", 48,
             "poison overwritten at offset 40"));
}

// ---- red zones ----

TEST_F(SlabDeathTest, RedZoneOverflowByOneByte) {
  for (size_t size : {size_t{64}, size_t{13}, size_t{1}, size_t{100}}) {
    const std::string name = "rz_over_" + std::to_string(size);
    char what[96];
    std::snprintf(what, sizeof what, "right red zone overwritten at offset %zu \\(overflow\\)",
                  size);
    EXPECT_DEATH(
        {
          mk_cache_t* c = make(name.c_str(), size, MK_SLAB_RED_ZONE);
          auto* p = static_cast<char*>(mk_cache_alloc(c, 0));
          std::memset(p, 0, size);
          p[size] = 'x';  // one past the end
          mk_cache_free(c, p);
        },
        report("slab-redzone", "mk_cache_free", name.c_str(), size, what));
  }
}

TEST_F(SlabDeathTest, RedZoneOverflowFurtherOut) {
  EXPECT_DEATH(
      {
        mk_cache_t* c = make("rz_far", 20, MK_SLAB_RED_ZONE);
        auto* p = static_cast<char*>(mk_cache_alloc(c, 0));
        p[23] = 'x';  // bytes 20..27 are the right red zone
        mk_cache_free(c, p);
      },
      report("slab-redzone", "mk_cache_free", "rz_far", 20,
             "right red zone overwritten at offset 23 \\(overflow\\)"));
}

TEST_F(SlabDeathTest, RedZoneUnderflow) {
  EXPECT_DEATH(
      {
        mk_cache_t* c = make("rz_under", 64, MK_SLAB_RED_ZONE);
        auto* p = static_cast<char*>(mk_cache_alloc(c, 0));
        p[-1] = 'x';
        mk_cache_free(c, p);
      },
      report("slab-redzone", "mk_cache_free", "rz_under", 64,
             "left red zone overwritten at offset -1 \\(underflow\\)"));
  EXPECT_DEATH(
      {
        mk_cache_t* c = make("rz_under_al", 64, MK_SLAB_RED_ZONE, 64);
        auto* p = static_cast<char*>(mk_cache_alloc(c, 0));
        p[-64] = 'x';  // the left red zone is a whole alignment unit here
        mk_cache_free(c, p);
      },
      report("slab-redzone", "mk_cache_free", "rz_under_al", 64,
             "left red zone overwritten at offset -64 \\(underflow\\)"));
}

TEST_F(SlabDeathTest, RedZoneOverwrittenWhileFree) {
  EXPECT_DEATH(
      {
        mk_cache_t* c = make("rz_free", 32, MK_SLAB_RED_ZONE);
        auto* p = static_cast<char*>(mk_cache_alloc(c, 0));
        mk_cache_free(c, p);
        p[32] = 'x';
        mk_cache_alloc(c, 0);
      },
      report("slab-redzone", "mk_cache_alloc", "rz_free", 32,
             "right red zone overwritten while free, at offset 32"));
  EXPECT_DEATH(
      {
        mk_cache_t* c = make("rz_free_l", 32, MK_SLAB_RED_ZONE);
        auto* p = static_cast<char*>(mk_cache_alloc(c, 0));
        mk_cache_free(c, p);
        p[-3] = 'x';
        mk_cache_alloc(c, 0);
      },
      report("slab-redzone", "mk_cache_alloc", "rz_free_l", 32,
             "left red zone overwritten while free, at offset -3"));
}

// ---- double free ----

TEST_F(SlabDeathTest, DoubleFreeRedZone) {
  EXPECT_DEATH(
      {
        mk_cache_t* c = make("df_redzone", 64, MK_SLAB_RED_ZONE);
        void* p = mk_cache_alloc(c, 0);
        mk_cache_free(c, p);
        mk_cache_free(c, p);
      },
      report("double-free", "mk_cache_free", "df_redzone", 64, "the object is already free"));
}

TEST_F(SlabDeathTest, DoubleFreePoison) {
  EXPECT_DEATH(
      {
        mk_cache_t* c = make("df_poison", 64, MK_SLAB_POISON);
        void* p = mk_cache_alloc(c, 0);
        mk_cache_free(c, p);
        mk_cache_free(c, p);
      },
      report("double-free", "mk_cache_free", "df_poison", 64,
             "the object is already free \\(poisoned\\)"));
}

TEST_F(SlabDeathTest, DoubleFreeAfterOtherFrees) {
  // Not the last object freed: the red zones still tell.
  EXPECT_DEATH(
      {
        mk_cache_t* c = make("df_later", 40, MK_SLAB_RED_ZONE | MK_SLAB_POISON);
        std::vector<void*> v;
        for (int i = 0; i < 100; ++i) v.push_back(mk_cache_alloc(c, 0));
        for (void* p : v) mk_cache_free(c, p);
        mk_cache_free(c, v[17]);
      },
      report("double-free", "mk_cache_free", "df_later", 40, "the object is already free"));
}

// No debugging flags from here on: the free key alone.

TEST_F(SlabDeathTest, DoubleFreeRightAway) {
  EXPECT_DEATH(
      {
        mk_cache_t* c = make("df_plain", 64, 0);
        void* p = mk_cache_alloc(c, 0);
        mk_cache_free(c, p);
        mk_cache_free(c, p);
      },
      report("double-free", "mk_cache_free", "df_plain", 64,
             "the object is already free \\(in this thread's magazine\\)"));
}

TEST_F(SlabDeathTest, DoubleFreeInTheDepot) {
  // 64-byte objects, 64 to a magazine: p and 150 other frees fill the loaded magazine, then
  // the previous one, and p's magazine goes to the depot.
  EXPECT_DEATH(
      {
        mk_cache_t* c = make("df_depot", 64, 0);
        std::vector<void*> v;
        for (int i = 0; i < 200; ++i) v.push_back(mk_cache_alloc(c, 0));
        mk_cache_free(c, v[0]);
        for (int i = 1; i <= 150; ++i) mk_cache_free(c, v[i]);
        mk_cache_free(c, v[0]);
      },
      report("double-free", "mk_cache_free", "df_depot", 64,
             "the object is already free \\(in the depot\\)"));
}

TEST_F(SlabDeathTest, DoubleFreeOnTheSlabsFreeList) {
  // The object goes back to its slab (shrink); a live neighbour keeps the slab.
  EXPECT_DEATH(
      {
        mk_cache_t* c = make("df_slab", 64, 0);
        void* keep = mk_cache_alloc(c, 0);
        std::vector<void*> v;
        for (int i = 0; i < 10; ++i) v.push_back(mk_cache_alloc(c, 0));
        for (void* p : v) mk_cache_free(c, p);
        mk_cache_shrink(c);
        mk_cache_free(c, v[4]);  // not the head of the free list
        mk_cache_free(c, keep);
      },
      report("double-free", "mk_cache_free", "df_slab", 64,
             "the object is already free \\(on its slab's free list\\)"));
}

TEST_F(SlabDeathTest, DoubleFreeAfterTheDepotOverflowed) {
  // Enough other frees that p goes back to its slab without a shrink: the depot keeps at most
  // 64 full magazines (64 objects each here), and when it is full the magazine put last before
  // a new one goes back to the slabs. So: 4500 frees fill the depot, p's magazine goes in on
  // top, and the next one pushes it out.
  EXPECT_DEATH(
      {
        mk_cache_t* c = make("df_overflow", 64, 0);
        std::vector<void*> v;
        for (int i = 0; i < 4751; ++i) v.push_back(mk_cache_alloc(c, 0));
        for (int i = 1; i <= 4500; ++i) mk_cache_free(c, v[i]);
        mk_cache_free(c, v[0]);
        for (int i = 4501; i <= 4750; ++i) mk_cache_free(c, v[i]);
        mk_cache_free(c, v[0]);
      },
      report("double-free", "mk_cache_free", "df_overflow", 64,
             "the object is already free \\(on its slab's free list\\)"));
}

TEST_F(SlabDeathTest, DoubleFreeFromAnotherThread) {
  // Another thread frees p and stays (p is in its magazine); this thread frees p again.
  EXPECT_DEATH(
      {
        mk_cache_t* c = make("df_thread", 64, 0);
        void* p = mk_cache_alloc(c, 0);
        std::atomic<bool> freed{false};
        std::thread t([&] {
          mk_cache_free(c, p);
          freed.store(true);
          for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
        });
        t.detach();
        while (!freed.load()) std::this_thread::yield();
        mk_cache_free(c, p);
      },
      report("double-free", "mk_cache_free", "df_thread", 64,
             "the object is already free \\(in another thread's magazine\\)"));
  // The same once that thread has exited: its magazines went to the depot.
  EXPECT_DEATH(
      {
        mk_cache_t* c = make("df_exited", 64, 0);
        void* p = mk_cache_alloc(c, 0);
        std::thread([&] { mk_cache_free(c, p); }).join();
        mk_cache_free(c, p);
      },
      report("double-free", "mk_cache_free", "df_exited", 64,
             "the object is already free \\(in the depot\\)"));
}

TEST_F(SlabDeathTest, DoubleFreeOfAnObjectWithACtor) {
  // The free words follow the object (it keeps its constructed state): the key is there too.
  EXPECT_DEATH(
      {
        mk_cache_t* c = mk_cache_create("df_ctor", 40, 0, 0, [](void* o) { std::memset(o, 7, 40); });
        void* p = mk_cache_alloc(c, 0);
        mk_cache_free(c, p);
        mk_cache_free(c, p);
      },
      report("double-free", "mk_cache_free", "df_ctor", 40,
             "the object is already free \\(in this thread's magazine\\)"));
}

// ---- invalid frees ----

TEST_F(SlabDeathTest, FreeToTheWrongCache) {
  EXPECT_DEATH(
      {
        mk_cache_t* a = make("owner_cache", 64, 0);
        mk_cache_t* b = make("other_cache", 64, 0);
        void* p = mk_cache_alloc(a, 0);
        mk_cache_free(b, p);
      },
      report("invalid-free", "mk_cache_free", "other_cache", 64,
             "the object belongs to cache owner_cache"));
}

TEST_F(SlabDeathTest, PointerIntoTheMiddleOfAnObject) {
  for (size_t off : {size_t{1}, size_t{8}, size_t{63}}) {
    EXPECT_DEATH(
        {
          mk_cache_t* c = make("middle_cache", 64, 0);
          auto* p = static_cast<char*>(mk_cache_alloc(c, 0));
          mk_cache_free(c, p + off);
        },
        report("invalid-free", "mk_cache_free", "middle_cache", 64,
               "not the start of an object"));
  }
  // A red-zone cache: the slot start (the left red zone) is not the object.
  EXPECT_DEATH(
      {
        mk_cache_t* c = make("middle_rz", 64, MK_SLAB_RED_ZONE);
        auto* p = static_cast<char*>(mk_cache_alloc(c, 0));
        mk_cache_free(c, p - 8);
      },
      report("invalid-free", "mk_cache_free", "middle_rz", 64, "not the start of an object"));
  // The colour area in front of the first object, and the leftover behind the last.
  EXPECT_DEATH(
      {
        mk_cache_t* c = make("leftover_cache", 200, 0, 8);  // 20 per page, 96 bytes left
        auto* p = static_cast<char*>(mk_cache_alloc(c, 0));
        const uintptr_t page = reinterpret_cast<uintptr_t>(p) & ~uintptr_t{4095};
        mk_cache_free(c, reinterpret_cast<void*>(page + 4096 - 8));
      },
      report("invalid-free", "mk_cache_free", "leftover_cache", 200,
             "not the start of an object"));
}

TEST_F(SlabDeathTest, PointerNotFromAnyCache) {
  EXPECT_DEATH(
      {
        mk_cache_t* c = make("stack_cache", 64, 0);
        char local[64];
        mk_cache_free(c, local);
      },
      report("invalid-free", "mk_cache_free", "stack_cache", 64, "not an object of any cache"));
  EXPECT_DEATH(
      {
        mk_cache_t* c = make("heap_cache", 64, 0);
        void* m = malloc(64);
        mk_cache_free(c, m);
      },
      report("invalid-free", "mk_cache_free", "heap_cache", 64, "not an object of any cache"));
  EXPECT_DEATH(
      {
        mk_cache_t* c = make("pages_cache", 64, 0);
        void* pages = mk_alloc_pages(0, 1);
        mk_cache_free(c, pages);  // memkit's, but a page block, not a slab
      },
      report("invalid-free", "mk_cache_free", "pages_cache", 64, "not an object of any cache"));
  EXPECT_DEATH(
      {
        mk_cache_t* c = make("freed_slab", 64, 0);
        void* p = mk_cache_alloc(c, 0);
        mk_cache_free(c, p);
        mk_cache_shrink(c);   // the slab went back to the page heap
        mk_cache_free(c, p);
      },
      report("invalid-free", "mk_cache_free", "freed_slab", 64, "not an object of any cache"));
}

// ---- a corrupted free list ----

TEST_F(SlabDeathTest, FreePointerOverwritten) {
  // No POISON, no ctor: the free words (key, pointer) overlay the object. Put the object on its
  // slab's free list (shrink), clobber the pointer, and let the slab hand out objects.
  EXPECT_DEATH(
      {
        mk_cache_t* c = make("freelist_cache", 64, 0);
        void* keep = mk_cache_alloc(c, 0);
        auto* p = static_cast<uint64_t*>(mk_cache_alloc(c, 0));
        mk_cache_free(c, p);
        mk_cache_shrink(c);
        p[1] = 0x4141414141414141ULL;
        for (int i = 0; i < 100; ++i) mk_cache_alloc(c, 0);
        mk_cache_free(c, keep);
      },
      report("slab-corruption", "mk_cache_alloc", "freelist_cache", 64,
             "free list pointer overwritten"));
}

TEST_F(SlabDeathTest, OverflowIntoAFreeObject) {
  // The object in front overflows by 16 bytes into a free object on the slab's free list: the
  // next allocation that reaches it reports it rather than following its link.
  EXPECT_DEATH(
      {
        mk_cache_t* c = make("overflow_cache", 64, 0);
        void* a = mk_cache_alloc(c, 0);
        void* b = mk_cache_alloc(c, 0);
        char* low = static_cast<char*>(std::min(a, b));
        char* high = static_cast<char*>(std::max(a, b));
        if (high != low + 64) abort();  // neighbours in a fresh slab
        mk_cache_free(c, high);
        mk_cache_shrink(c);  // high goes back to the slab; low keeps the slab
        std::memset(low, 0x41, 64 + 16);
        for (int i = 0; i < 100; ++i) mk_cache_alloc(c, 0);
      },
      report("slab-corruption", "mk_cache_alloc", "overflow_cache", 64,
             "free object overwritten \\(its free key\\)"));
}

// Not a death: the same sequences without the bug survive (the tests above are not vacuous).
TEST(SlabNoDeath, CorrectUseSurvives) {
  mk_cache_t* c = make("survivor", 64, MK_SLAB_POISON | MK_SLAB_RED_ZONE);
  auto* p = static_cast<char*>(mk_cache_alloc(c, 0));
  std::memset(p, 0, 64);
  mk_cache_free(c, p);
  p = static_cast<char*>(mk_cache_alloc(c, 0));
  mk_cache_free(c, p);
  mk_cache_shrink(c);
  void* q = mk_cache_alloc(c, 0);
  mk_cache_free(c, q);
  EXPECT_EQ(mk_cache_destroy(c), 0);
}

// A live object whose first word holds the free key's value (a program may store anything):
// the free finds it nowhere free and goes on, in every place a free object can wait.
TEST(SlabNoDeath, AnObjectHoldingTheKeyIsNotTakenForAFreeOne) {
  mk_cache_t* c = make("key_holder", 64, 0);
  void* p = mk_cache_alloc(c, 0);
  mk_cache_free(c, p);
  const uint64_t key = *static_cast<uint64_t*>(p);  // a free object's first word
  void* q = mk_cache_alloc(c, 0);
  ASSERT_EQ(q, p);
  EXPECT_EQ(*static_cast<uint64_t*>(q), 0u) << "allocation clears the key";
  std::vector<void*> v;
  for (int i = 0; i < 5000; ++i) v.push_back(mk_cache_alloc(c, 0));
  for (void* o : v) *static_cast<uint64_t*>(o) = key;
  *static_cast<uint64_t*>(q) = key;
  mk_cache_free(c, q);  // nothing free anywhere but on slabs
  for (void* o : v) mk_cache_free(c, o);  // each goes on while the magazines and depot fill
  for (int i = 0; i < 5000; ++i) {
    void* o = mk_cache_alloc(c, 0);
    ASSERT_NE(o, nullptr);
    *static_cast<uint64_t*>(o) = key;
    v[static_cast<size_t>(i)] = o;
  }
  std::thread([&] {
    for (void* o : v) mk_cache_free(c, o);  // another thread, with this one's magazines full
  }).join();
  mk_cache_shrink(c);
  EXPECT_EQ(mk_cache_destroy(c), 0);
}

}  // namespace
