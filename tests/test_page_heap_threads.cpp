// Multi-threaded test of the page heap (src/arena/page_heap.h): worker threads allocate and
// free blocks of random orders (deterministic per-thread seeds) from one PageHeap, hand some
// blocks to other threads through a mutex-protected exchange (cross-thread frees), and write
// a per-block tag on every page, checked before the free, so two blocks handed out over the
// same pages are caught. Small arenas (16 MiB) make arenas come and go while the workers run;
// with decay 0 every free purges, and a separate thread calls purge(), stats() and
// format_buddyinfo() all the time, so arena creation, purging and release race with the
// allocation and free paths. A few huge vmalloc blocks (direct mappings) join in.
//
// The background purger (BackgroundPurge.*) gives the process heap's decayed blocks back while
// nobody frees, and wakes again for later frees, with threads churning meanwhile.
//
// Meant to run clean under ThreadSanitizer (tsan preset) and AddressSanitizer (asan preset);
// the iteration counts are smaller under sanitizers.
#include <errno.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "arena/background_purge.h"
#include "arena/page_heap.h"
#include "options/options.h"
#include "fake_os.h"

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define MEMKIT_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define MEMKIT_TEST_SANITIZED 1
#endif
#endif

namespace {

using memkit::BuddyStatus;
using memkit::PageHeap;
using memkit::PageHeapConfig;
using memkit::test::FakeOs;
using memkit::test::FakeOsScope;

constexpr size_t MiB = size_t{1} << 20;
constexpr size_t kPage = 4096;
constexpr unsigned kMaxOrder = 10;

#ifdef MEMKIT_TEST_SANITIZED
constexpr int kOpsPerThread = 1500;
#else
constexpr int kOpsPerThread = 4000;
#endif

struct Block {
  void* p = nullptr;
  size_t bytes = 0;
  unsigned order = 0;  // for page blocks
  bool vm = false;     // from vmalloc (freed with vfree)
  uint64_t tag = 0;
};

// A block's tag sits in the first word of each of its pages, its complement in the last word.
void write_tag(const Block& b) {
  char* c = static_cast<char*>(b.p);
  for (size_t off = 0; off < b.bytes; off += kPage) std::memcpy(c + off, &b.tag, sizeof b.tag);
  const uint64_t inv = ~b.tag;
  std::memcpy(c + b.bytes - sizeof inv, &inv, sizeof inv);
}

bool tag_intact(const Block& b) {
  const char* c = static_cast<const char*>(b.p);
  uint64_t w;
  for (size_t off = 0; off < b.bytes; off += kPage) {
    std::memcpy(&w, c + off, sizeof w);
    if (w != b.tag) return false;
  }
  std::memcpy(&w, c + b.bytes - sizeof w, sizeof w);
  return w == ~b.tag;
}

bool reads_zero(const Block& b) {
  const char* c = static_cast<const char*>(b.p);
  uint64_t w;
  for (size_t off = 0; off < b.bytes; off += kPage) {
    std::memcpy(&w, c + off, sizeof w);
    if (w != 0) return false;
  }
  std::memcpy(&w, c + b.bytes - sizeof w, sizeof w);
  return w == 0;
}

class Exchange {
 public:
  void push(const Block& b) {
    std::lock_guard<std::mutex> g(m_);
    q_.push_back(b);
  }
  bool pop(Block* out) {
    std::lock_guard<std::mutex> g(m_);
    if (q_.empty()) return false;
    *out = q_.back();
    q_.pop_back();
    return true;
  }

 private:
  std::mutex m_;
  std::vector<Block> q_;
};

struct Shared {
  PageHeap* heap = nullptr;
  Exchange exchange;
  std::atomic<long> errors{0};
  std::atomic<long> allocs{0};
  std::atomic<long> cross_frees{0};
  std::mutex msg_mutex;
  std::string first_error;

  void fail(const std::string& what) {
    if (errors.fetch_add(1) == 0) {
      std::lock_guard<std::mutex> g(msg_mutex);
      first_error = what;
    }
  }
};

std::string hex(const void* p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%p", p);
  return buf;
}

void free_block(Shared& sh, const Block& b, const char* who) {
  if (!tag_intact(b))
    sh.fail(std::string(who) + ": block " + hex(b.p) + " was overwritten (overlapping blocks)");
  const BuddyStatus st = b.vm ? sh.heap->vfree(b.p) : sh.heap->free_pages(b.p, b.order);
  if (st != BuddyStatus::kOk)
    sh.fail(std::string(who) + ": free of " + hex(b.p) + " refused: " + memkit::to_string(st));
}

unsigned random_order(std::mt19937_64& rng) {
  if (rng() % 10 < 3) return static_cast<unsigned>(rng() % (kMaxOrder + 1));  // uniform
  const unsigned k = static_cast<unsigned>(__builtin_ctzll(rng() | (uint64_t{1} << 20)));
  return k > kMaxOrder ? kMaxOrder : k;  // geometric: mostly small
}

void worker(Shared& sh, unsigned id) {
  std::mt19937_64 rng(0x9e3779b97f4a7c15ull * (id + 1));
  std::vector<Block> mine;
  uint64_t seq = 0;
  for (int i = 0; i < kOpsPerThread; ++i) {
    const unsigned r = static_cast<unsigned>(rng() % 100);
    if (r < 45 || mine.empty()) {
      Block b;
      const bool zero = (rng() & 1) != 0;
      if (rng() % 100 == 0) {  // a huge vmalloc block: a direct mapping
        b.vm = true;
        b.bytes = 4 * MiB + kPage * (1 + rng() % 256);
        b.p = sh.heap->vmalloc(b.bytes, zero ? MK_GFP_ZERO : 0);
      } else {
        b.order = random_order(rng);
        b.bytes = kPage << b.order;
        b.p = sh.heap->alloc_pages(b.order, zero ? MK_GFP_ZERO : 0);
      }
      if (b.p == nullptr) {
        sh.fail("thread " + std::to_string(id) + ": allocation of " + std::to_string(b.bytes) +
                " bytes failed, errno " + std::to_string(errno));
        continue;
      }
      if (zero && !reads_zero(b)) sh.fail("MK_GFP_ZERO block " + hex(b.p) + " is not zero");
      b.tag = (uint64_t{id + 1} << 56) | ++seq;
      write_tag(b);
      mine.push_back(b);
      sh.allocs.fetch_add(1, std::memory_order_relaxed);
    } else if (r < 80 || mine.size() > 48) {
      const size_t k = rng() % mine.size();
      free_block(sh, mine[k], "owner");
      mine[k] = mine.back();
      mine.pop_back();
    } else if (r < 90) {
      const size_t k = rng() % mine.size();
      sh.exchange.push(mine[k]);
      mine[k] = mine.back();
      mine.pop_back();
    } else {
      Block b;
      if (sh.exchange.pop(&b)) {
        free_block(sh, b, "other thread");
        sh.cross_frees.fetch_add(1, std::memory_order_relaxed);
      }
    }
  }
  for (const Block& b : mine) free_block(sh, b, "owner at exit");
}

void purger(Shared& sh, const std::atomic<bool>& stop) {
  char buf[4096];
  while (!stop.load(std::memory_order_acquire)) {
    sh.heap->purge();
    mk_page_stats s;
    sh.heap->stats(&s);
    sh.heap->format_buddyinfo(buf, sizeof buf);
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
}

PageHeapConfig config(long decay_ms) {
  PageHeapConfig c;
  c.arena.size = 16 * MiB;
  c.arena.page_shift = 12;
  c.arena.max_order = kMaxOrder;
  c.arena.purge_order = 4;
  c.decay_ms = decay_ms;
  c.release_arenas = true;
  return c;
}

void run(long decay_ms, unsigned workers, bool with_purger) {
  if (sysconf(_SC_PAGESIZE) != static_cast<long>(kPage)) GTEST_SKIP() << "needs 4 KiB pages";
  FakeOsScope scope;
  const long long baseline = FakeOs::live_bytes();
  {
    auto heap = std::make_unique<PageHeap>(FakeOs::api(), config(decay_ms));
    Shared sh;
    sh.heap = heap.get();
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < workers; ++t) threads.emplace_back(worker, std::ref(sh), t);
    std::thread purge_thread;
    if (with_purger) purge_thread = std::thread(purger, std::ref(sh), std::cref(stop));
    for (auto& t : threads) t.join();
    stop.store(true, std::memory_order_release);
    if (purge_thread.joinable()) purge_thread.join();
    Block b;
    while (sh.exchange.pop(&b)) free_block(sh, b, "main at exit");

    EXPECT_EQ(sh.errors.load(), 0) << sh.first_error;
    EXPECT_GT(sh.allocs.load(), workers * kOpsPerThread / 4);
    EXPECT_GT(sh.cross_frees.load(), 0);
    mk_page_stats s;
    heap->stats(&s);
    EXPECT_EQ(s.allocated_pages, 0u);
    EXPECT_EQ(s.direct_mappings, 0u);
    heap->purge();
    heap->stats(&s);
    EXPECT_EQ(s.arenas, 0u);
    EXPECT_EQ(s.dirty_pages, 0u);
    EXPECT_GT(FakeOs::reserve_calls(), 2) << "arenas were made during the run";
  }
  EXPECT_EQ(FakeOs::live_bytes(), baseline) << "leaked OS memory";
}

// Lock-free readers against arena and direct-mapping churn: one thread makes and unmaps
// arenas (an order-10 block, its free, purge()) and direct mappings (vmalloc/vfree) in a loop;
// another asks owns(), order_of() and vfree() about pointers into regions that are being
// unmapped and remapped right then (what a checked free of a stale or foreign pointer does),
// and calls stats() and format_buddyinfo(). The answers for such pointers may be either way;
// what is checked is that nothing crashes and that, under TSan, the readers do not race with
// the writers (Arena::create/destroy writing base_/size_, vmalloc/vfree writing a record).
TEST(PageHeapThreads, LookupsAndStatsDuringArenaChurn) {
  if (sysconf(_SC_PAGESIZE) != static_cast<long>(kPage)) GTEST_SKIP() << "needs 4 KiB pages";
  auto heap = std::make_unique<PageHeap>(memkit::os::system_os(), config(-1));
  std::atomic<bool> stop{false};
  std::atomic<void*> last_block{nullptr};
  std::atomic<void*> last_direct{nullptr};
  std::atomic<long> refused{0};
  std::thread observer([&] {
    char buf[1024];
    while (!stop.load(std::memory_order_acquire)) {
      char* b = static_cast<char*>(last_block.load(std::memory_order_relaxed));
      char* d = static_cast<char*>(last_direct.load(std::memory_order_relaxed));
      unsigned order;
      (void)heap->owns(b);
      (void)heap->order_of(b, &order);
      if (b != nullptr && heap->vfree(b + kPage) == BuddyStatus::kOk) refused.fetch_add(1000000);
      (void)heap->owns(d);
      (void)heap->owns(d + 4 * MiB);
      mk_page_stats st;
      heap->stats(&st);
      heap->format_buddyinfo(buf, sizeof buf);
    }
  });
#ifdef MEMKIT_TEST_SANITIZED
  constexpr int kRounds = 400;
#else
  constexpr int kRounds = 2000;
#endif
  for (int i = 0; i < kRounds; ++i) {
    void* p = heap->alloc_pages(kMaxOrder, 0);
    ASSERT_NE(p, nullptr);
    ASSERT_TRUE(heap->owns(p));
    last_block.store(p, std::memory_order_relaxed);
    ASSERT_EQ(heap->free_pages(p, kMaxOrder), BuddyStatus::kOk);
    heap->purge();
    void* v = heap->vmalloc(4 * MiB + kPage, 0);
    ASSERT_NE(v, nullptr);
    ASSERT_TRUE(heap->owns(v));
    last_direct.store(v, std::memory_order_relaxed);
    ASSERT_EQ(heap->vfree(v), BuddyStatus::kOk);
  }
  stop.store(true, std::memory_order_release);
  observer.join();
  EXPECT_EQ(refused.load(), 0) << "vfree of an interior pointer was accepted";
  mk_page_stats st;
  heap->stats(&st);
  EXPECT_EQ(st.arenas, 0u);
  EXPECT_EQ(st.direct_mappings, 0u);
}

TEST(PageHeapThreads, DecayZeroWithConcurrentPurge) { run(/*decay_ms=*/0, 3, true); }

TEST(PageHeapThreads, ShortDecayTwoThreads) { run(/*decay_ms=*/2, 2, false); }

TEST(PageHeapThreads, NoDecayFourThreadsAndPurger) { run(/*decay_ms=*/-1, 4, true); }

// Polls the process heap until nothing is dirty (or 10 s pass). True if it got there.
bool wait_until_clean(PageHeap& heap) {
  for (int i = 0; i < 1000; ++i) {
    mk_page_stats st;
    heap.stats(&st);
    if (st.dirty_pages == 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

size_t dirty_pages(PageHeap& heap) {
  mk_page_stats st;
  heap.stats(&st);
  return st.dirty_pages;
}

// The process heap (global_page_heap), with a short decay time when this test is the first to
// use it (ctest runs each test in its own process); with the default 1 s it only takes longer.
TEST(BackgroundPurge, GivesDecayedBlocksBackWhileIdleAndWakesAgain) {
  namespace bg = memkit::bg_purge;
  setenv("MEMKIT_OPTIONS", "decay_ms=40", 1);
  memkit::reload_options_for_testing();
  ASSERT_TRUE(bg::enable());
  PageHeap& heap = memkit::global_page_heap();
  const unsigned order = heap.config().arena.purge_order;

  auto churn = [&heap, order](int blocks) {
    std::vector<void*> held;
    for (int i = 0; i < blocks; ++i) {
      void* p = heap.alloc_pages(order + static_cast<unsigned>(i % 3), 0);
      ASSERT_NE(p, nullptr);
      std::memset(p, 0xa5, kPage);
      held.push_back(p);
    }
    for (int i = 0; i < blocks; ++i)
      ASSERT_EQ(heap.free_pages(held[static_cast<size_t>(i)], order + static_cast<unsigned>(i % 3)),
                BuddyStatus::kOk);
  };

  // A free that leaves dirty blocks asks for the thread; a safe point starts it.
  churn(32);
  ASSERT_GT(dirty_pages(heap), 0u);
  const int state = bg::g_state.load();
  EXPECT_TRUE(state == bg::kStartRequested || state == bg::kRunning) << state;
  bg::at_safe_point();
  EXPECT_EQ(bg::g_state.load(), bg::kRunning);
  ASSERT_TRUE(wait_until_clean(heap)) << dirty_pages(heap) << " pages still dirty";
  const bg::Counters first = bg::counters();
  EXPECT_GE(first.rounds, 1u);
  EXPECT_GT(first.bytes, 0u);

  // Asleep now (nothing dirty): the next frees wake it, also while threads churn.
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([&churn] {
      for (int r = 0; r < 20; ++r) {
        churn(8);
        memkit::bg_purge::at_safe_point();
      }
    });
  for (std::thread& t : threads) t.join();
  ASSERT_TRUE(wait_until_clean(heap)) << dirty_pages(heap) << " pages still dirty";
  const bg::Counters second = bg::counters();
  EXPECT_GE(second.wakeups, first.wakeups + 1);
  EXPECT_GT(second.bytes, first.bytes);
}

}  // namespace
