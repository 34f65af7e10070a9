// memkit — double frees of small blocks through kmalloc and malloc (tests/test_double_free.cpp)
//
// A free writes the free key (g_free_key, src/slab/slab_cache.h) into the block and an
// allocation clears it; a free or realloc that finds the key looks for the block among the free
// ones (every thread's magazines, the depot, its slab's free list) and reports it:
//
//   memkit: ERROR: double-free <call> <ptr> cache kmalloc-N (object size N): the object is
//   already free (in this thread's magazine | in another thread's magazine | in the depot |
//   on its slab's free list)
//
// Death tests for each place, then randomized runs against a model that never frees twice —
// with blocks that hold the key's value themselves, one thread and many — which must never
// report (no false positives). Run under ThreadSanitizer too (the tsan preset).
#include <gtest/gtest.h>
#include <stdint.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "memkit/memkit.h"
#include "slab/slab_cache.h"

namespace {

class DoubleFreeDeathTest : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

std::string report(const char* call, size_t cls, const char* where) {
  return std::string("memkit: ERROR: double-free ") + call + " 0x[0-9a-f]+ cache kmalloc-" +
         std::to_string(cls) + " \\(object size " + std::to_string(cls) +
         "\\): the object is already free \\(" + where + "\\)";
}

// ---- the death tests ----

TEST_F(DoubleFreeDeathTest, RightAway) {
  EXPECT_DEATH(
      {
        void* p = mk_malloc(40);
        mk_free(p);
        mk_free(p);
      },
      report("mk_free", 48, "in this thread's magazine"));
  EXPECT_DEATH(
      {
        void* p = mk_kmalloc(8, 0);
        mk_kfree(p);
        mk_kfree(p);
      },
      report("mk_kfree", 8, "in this thread's magazine"));
}

TEST_F(DoubleFreeDeathTest, WithOtherFreesBetween) {
  // 64-byte blocks, 64 to a magazine: 150 other frees push p's magazine into the depot.
  EXPECT_DEATH(
      {
        std::vector<void*> v;
        for (int i = 0; i < 300; ++i) v.push_back(mk_malloc(64));
        mk_free(v[0]);
        for (int i = 1; i <= 150; ++i) mk_free(v[i]);
        mk_free(v[0]);
      },
      report("mk_free", 64, "in the depot"));
  // Back on its slab: malloc_trim gives the magazines and the depot back to the slabs.
  EXPECT_DEATH(
      {
        std::vector<void*> v;
        for (int i = 0; i < 300; ++i) v.push_back(mk_malloc(64));
        for (int i = 0; i < 300; i += 2) mk_free(v[i]);  // the odd ones keep their slabs
        mk_malloc_trim();
        mk_free(v[100]);
      },
      report("mk_free", 64, "on its slab's free list"));
}

TEST_F(DoubleFreeDeathTest, FromAnotherThread) {
  EXPECT_DEATH(
      {
        void* p = mk_malloc(100);
        std::atomic<bool> freed{false};
        std::thread t([&] {
          mk_free(p);
          freed.store(true);
          for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
        });
        t.detach();
        while (!freed.load()) std::this_thread::yield();
        mk_free(p);
      },
      report("mk_free", 112, "in another thread's magazine"));
  // The other way round: this thread freed it, another frees it again.
  EXPECT_DEATH(
      {
        void* p = mk_malloc(100);
        mk_free(p);
        std::thread([&] { mk_free(p); }).join();
      },
      report("mk_free", 112, "in another thread's magazine"));
}

TEST_F(DoubleFreeDeathTest, ReallocOfAFreedBlock) {
  // In place (the size fits the block) and moving (it does not): neither uses the block.
  EXPECT_DEATH(
      {
        void* p = mk_malloc(100);
        mk_free(p);
        mk_realloc(p, 90);
      },
      report("mk_realloc", 112, "in this thread's magazine"));
  EXPECT_DEATH(
      {
        void* p = mk_malloc(100);
        mk_free(p);
        mk_realloc(p, 5000);
      },
      report("mk_realloc", 112, "in this thread's magazine"));
  EXPECT_DEATH(
      {
        void* p = mk_kmalloc(32, 0);
        mk_kfree(p);
        mk_krealloc(p, 16, 0);
      },
      report("mk_krealloc", 32, "in this thread's magazine"));
}

TEST_F(DoubleFreeDeathTest, ReallocOfAFreedLargeBlock) {
  // A freed large block of up to 64 KiB waits in this thread's cache of large blocks, still
  // allocated in the page heap: realloc must not take it for a live one.
  EXPECT_DEATH(
      {
        void* p = mk_malloc(40000);
        mk_free(p);
        mk_realloc(p, 100000);
      },
      "memkit: ERROR: double-free mk_realloc 0x[0-9a-f]+ the block is already free");
}

// ---- no false positives ----

// A block's first word may hold anything, the free key's value too: such a block is found
// nowhere free, and its free goes on. Sets the key in a share of the live blocks.
uint64_t key_value() { return memkit::g_free_key; }

struct Block {
  unsigned char* p;
  size_t n;
  uint64_t seed;
};

size_t block_size(std::mt19937_64& rng) {
  const unsigned r = static_cast<unsigned>(rng() % 16);
  return r < 12 ? rng() % 256 + 1 : r < 15 ? rng() % 4096 + 1 : rng() % 40000 + 1;
}

void fill(const Block& b) {
  std::memset(b.p, static_cast<int>(b.seed & 0xff), b.n);
  // A quarter of the blocks hold the key's value in their first word.
  if (b.n >= 8 && b.seed % 4 == 0) {
    const uint64_t k = key_value();
    std::memcpy(b.p, &k, 8);
  }
}

bool intact(const Block& b) {
  size_t i = 0;
  if (b.n >= 8 && b.seed % 4 == 0) {
    uint64_t k;
    std::memcpy(&k, b.p, 8);
    if (k != key_value()) return false;
    i = 8;
  }
  for (; i < b.n; ++i)
    if (b.p[i] != static_cast<unsigned char>(b.seed & 0xff)) return false;
  return true;
}

TEST(DoubleFreeModel, RandomOpsNeverReport) {
  std::mt19937_64 rng(20261207);
  std::vector<Block> live;
  std::unordered_map<uintptr_t, size_t> where;  // address -> index in live
#if defined(__SANITIZE_THREAD__)
  constexpr int kOps = 20000;
#else
  constexpr int kOps = 300000;
#endif
  for (int op = 0; op < kOps; ++op) {
    const unsigned what = static_cast<unsigned>(rng() % 16);
    if (what < 8 || live.empty()) {
      Block b{nullptr, block_size(rng), rng()};
      b.p = static_cast<unsigned char*>(mk_malloc(b.n));
      ASSERT_NE(b.p, nullptr);
      ASSERT_TRUE(where.emplace(reinterpret_cast<uintptr_t>(b.p), live.size()).second)
          << "a block handed out twice";
      fill(b);
      live.push_back(b);
    } else if (what < 14) {
      const size_t i = rng() % live.size();
      ASSERT_TRUE(intact(live[i]));
      where.erase(reinterpret_cast<uintptr_t>(live[i].p));
      mk_free(live[i].p);
      live[i] = live.back();
      live.pop_back();
      if (i < live.size()) where[reinterpret_cast<uintptr_t>(live[i].p)] = i;
    } else {
      const size_t i = rng() % live.size();
      Block& b = live[i];
      ASSERT_TRUE(intact(b));
      where.erase(reinterpret_cast<uintptr_t>(b.p));
      const size_t n = block_size(rng);
      auto* q = static_cast<unsigned char*>(mk_realloc(b.p, n));
      ASSERT_NE(q, nullptr);
      b.p = q;
      b.n = n;
      b.seed = rng();
      ASSERT_TRUE(where.emplace(reinterpret_cast<uintptr_t>(q), i).second);
      fill(b);
    }
    if (op % 50000 == 49999) mk_malloc_trim();  // blocks back to their slabs
  }
  for (const Block& b : live) {
    ASSERT_TRUE(intact(b));
    mk_free(b.p);
  }
}

// Threads that pass blocks to each other (most frees are another thread's), come and go, and
// trim: every block is freed exactly once, a quarter of them hold the key's value.
TEST(DoubleFreeModel, ThreadsPassingBlocksNeverReport) {
#if defined(__SANITIZE_THREAD__)
  constexpr int kOps = 4000;
#else
  constexpr int kOps = 60000;
#endif
  constexpr int kThreads = 4;
  constexpr int kGenerations = 3;
  struct Mailbox {
    std::mutex mu;
    std::vector<Block> blocks;
  } boxes[kThreads];
  std::atomic<int> bad{0};
  auto worker = [&](int slot, int generation) {
    std::mt19937_64 rng(static_cast<uint64_t>(slot * 100 + generation));
    std::vector<Block> mine;
    for (int op = 0; op < kOps; ++op) {
      const unsigned what = static_cast<unsigned>(rng() % 8);
      if (what < 4) {
        Block b{nullptr, block_size(rng), rng()};
        b.p = static_cast<unsigned char*>(mk_malloc(b.n));
        if (b.p == nullptr) {
          bad.fetch_add(1);
          return;
        }
        fill(b);
        if (what < 2) {
          Mailbox& box = boxes[rng() % kThreads];
          std::lock_guard<std::mutex> g(box.mu);
          box.blocks.push_back(b);
        } else {
          mine.push_back(b);
        }
      } else if (what < 7) {
        Mailbox& box = boxes[slot];
        std::vector<Block> got;
        {
          std::lock_guard<std::mutex> g(box.mu);
          got.swap(box.blocks);
        }
        for (const Block& b : got) {
          if (!intact(b)) bad.fetch_add(1);
          mk_free(b.p);
        }
        if (!mine.empty()) {
          const size_t i = rng() % mine.size();
          if (!intact(mine[i])) bad.fetch_add(1);
          mk_free(mine[i].p);
          mine[i] = mine.back();
          mine.pop_back();
        }
      } else if (!mine.empty()) {
        Block& b = mine[rng() % mine.size()];
        if (!intact(b)) bad.fetch_add(1);
        b.n = block_size(rng);
        b.seed = rng();
        b.p = static_cast<unsigned char*>(mk_realloc(b.p, b.n));
        if (b.p == nullptr) {
          bad.fetch_add(1);
          return;
        }
        fill(b);
      }
      if (op % 20000 == 19999) mk_malloc_trim();
    }
    for (const Block& b : mine) {
      if (!intact(b)) bad.fetch_add(1);
      mk_free(b.p);
    }
  };
  for (int g = 0; g < kGenerations; ++g) {
    std::vector<std::thread> threads;
    for (int s = 0; s < kThreads; ++s) threads.emplace_back(worker, s, g);
    for (std::thread& t : threads) t.join();
  }
  for (Mailbox& box : boxes)
    for (const Block& b : box.blocks) {
      if (!intact(b)) bad.fetch_add(1);
      mk_free(b.p);
    }
  EXPECT_EQ(bad.load(), 0);
}

}  // namespace
