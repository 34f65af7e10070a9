// memkit — the malloc layer under threads (tests/test_malloc_threads.cpp): threads pass blocks
// to each other through mailboxes with deterministic randomness (most frees are remote), many
// sizes from 1 B to 200 KiB, threads exiting while others still hold their blocks and new
// threads starting in their place. Every block carries a pattern naming its writer, checked
// by whoever frees it. Run under ThreadSanitizer in CI (the tsan preset).
#include <gtest/gtest.h>
#include <stdint.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "memkit/memkit.h"

namespace {

#if defined(__SANITIZE_THREAD__)
constexpr int kOpsPerThread = 3000;
#else
constexpr int kOpsPerThread = 40000;
#endif
constexpr int kSlots = 4;        // threads alive at once
constexpr int kGenerations = 4;  // each slot's thread is replaced this many times

struct Block {
  unsigned char* p;
  size_t n;
  unsigned char tag;
};

struct Mailbox {
  std::mutex mu;
  std::vector<Block> blocks;
};

bool intact(const Block& b) {
  for (size_t i = 0; i < b.n; ++i)
    if (b.p[i] != b.tag) return false;
  return true;
}

TEST(MallocThreads, BlocksPassBetweenThreadsThatComeAndGo) {
  Mailbox boxes[kSlots];
  std::atomic<int> bad{0};
  std::atomic<long> allocated{0}, freed{0};

  auto worker = [&](int slot, int generation) {
    std::mt19937_64 rng(static_cast<uint64_t>(slot * 1000 + generation));
    const auto tag = static_cast<unsigned char>(1 + slot * kGenerations + generation);
    std::vector<Block> mine;
    for (int op = 0; op < kOpsPerThread; ++op) {
      const unsigned what = rng() % 8;
      if (what < 4) {  // allocate, keep or post it
        const size_t n = rng() % 16 == 0 ? rng() % 200000 + 1 : rng() % 1024 + 1;
        auto* p = static_cast<unsigned char*>(rng() % 8 == 0
                                                  ? mk_aligned_alloc(size_t{64} << (rng() % 6), n)
                                                  : mk_malloc(n));
        if (p == nullptr || mk_malloc_usable_size(p) < n) {
          ++bad;
          mk_free(p);
          continue;
        }
        std::memset(p, tag, n);
        allocated.fetch_add(1, std::memory_order_relaxed);
        const Block b{p, n, tag};
        if (rng() % 2 == 0) {
          mine.push_back(b);
        } else {
          Mailbox& box = boxes[rng() % kSlots];
          std::lock_guard<std::mutex> lock(box.mu);
          box.blocks.push_back(b);
        }
      } else if (what < 6) {  // free a block another thread posted here
        Block b{};
        {
          std::lock_guard<std::mutex> lock(boxes[slot].mu);
          if (boxes[slot].blocks.empty()) continue;
          b = boxes[slot].blocks.back();
          boxes[slot].blocks.pop_back();
        }
        if (!intact(b)) ++bad;
        mk_free(b.p);
        freed.fetch_add(1, std::memory_order_relaxed);
      } else if (!mine.empty()) {  // free or grow one of its own
        const size_t i = rng() % mine.size();
        if (!intact(mine[i])) ++bad;
        if (what == 6) {
          mk_free(mine[i].p);
          freed.fetch_add(1, std::memory_order_relaxed);
          mine[i] = mine.back();
          mine.pop_back();
        } else {
          const size_t n = rng() % 5000 + 1;
          auto* p = static_cast<unsigned char*>(mk_realloc(mine[i].p, n));
          if (p == nullptr) {
            ++bad;
            continue;
          }
          for (size_t k = 0; k < std::min(n, mine[i].n); ++k)
            if (p[k] != tag) {
              ++bad;
              break;
            }
          std::memset(p, tag, n);
          mine[i].p = p;
          mine[i].n = n;
        }
      }
    }
    // Exit with half of its own blocks still live, posted for others (or main) to free.
    for (size_t i = 0; i < mine.size(); ++i) {
      if (i % 2 == 0) {
        mk_free(mine[i].p);
        freed.fetch_add(1, std::memory_order_relaxed);
      } else {
        Mailbox& box = boxes[(static_cast<size_t>(slot) + i) % kSlots];
        std::lock_guard<std::mutex> lock(box.mu);
        box.blocks.push_back(mine[i]);
      }
    }
  };

  std::thread threads[kSlots];
  for (int g = 0; g < kGenerations; ++g) {
    for (int s = 0; s < kSlots; ++s) threads[s] = std::thread(worker, s, g);
    for (std::thread& t : threads) t.join();
  }
  for (Mailbox& box : boxes) {
    for (const Block& b : box.blocks) {
      if (!intact(b)) ++bad;
      mk_free(b.p);
      freed.fetch_add(1, std::memory_order_relaxed);
    }
    box.blocks.clear();
  }
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(allocated.load(), freed.load());
  EXPECT_GT(allocated.load(), 0);
}

}  // namespace
