// Threaded tests of the object caches and their magazine layer (src/slab/magazine.cpp),
// written to run clean under ThreadSanitizer: objects passed between threads through
// lock-protected queues and freed by a thread other than the one that allocated them; a pure
// producer/consumer pair; threads that exit while their magazines hold objects (the key
// destructor must hand them to the depot, so that destroy succeeds after the joins); memory
// of a dead thread freed by another; 200 short-lived threads; mk_cache_shrink and mk_slabinfo
// racing with allocs and frees; and caches created, used and destroyed on several threads at
// once (destroy walks every thread's magazines while other threads make theirs).
//
// Every object carries a pattern (its owner's tag and a sequence number, spread over the
// object) written by the allocating thread and checked by the freeing one.
#include <errno.h>
#include <stdint.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "memkit/memkit.h"
#include "slab/magazine.h"
#include "slab_testing.h"

namespace {

using memkit::test::slabinfo_row;

uint64_t mix(uint64_t x) {
  x ^= x >> 31;
  x *= 0x9e3779b97f4a7c15ULL;
  x ^= x >> 29;
  return x;
}

void stamp(void* p, size_t size, uint64_t tag) {
  auto* w = static_cast<uint64_t*>(p);
  const size_t words = size / 8;
  w[0] = tag;
  for (size_t i = 1; i < words; ++i) w[i] = mix(tag + i);
}

bool stamped(const void* p, size_t size, uint64_t tag) {
  const auto* w = static_cast<const uint64_t*>(p);
  const size_t words = size / 8;
  if (w[0] != tag) return false;
  for (size_t i = 1; i < words; ++i)
    if (w[i] != mix(tag + i)) return false;
  return true;
}

struct Obj {
  void* p;
  uint64_t tag;
};

// A lock-protected queue of objects (the hand-over between threads).
class Mailbox {
 public:
  void put(Obj o) {
    {
      std::lock_guard<std::mutex> g(m_);
      q_.push_back(o);
    }
    cv_.notify_one();
  }
  bool try_take(Obj* o) {
    std::lock_guard<std::mutex> g(m_);
    if (q_.empty()) return false;
    *o = q_.front();
    q_.pop_front();
    return true;
  }
  // Blocks until an object or close(); false when closed and empty.
  bool take(Obj* o) {
    std::unique_lock<std::mutex> g(m_);
    cv_.wait(g, [&] { return !q_.empty() || closed_; });
    if (q_.empty()) return false;
    *o = q_.front();
    q_.pop_front();
    return true;
  }
  // Blocks while the queue holds `limit` objects or more.
  void wait_below(size_t limit) {
    std::unique_lock<std::mutex> g(m_);
    cv_space_.wait(g, [&] { return q_.size() < limit; });
  }
  void notify_space() { cv_space_.notify_all(); }
  void close() {
    {
      std::lock_guard<std::mutex> g(m_);
      closed_ = true;
    }
    cv_.notify_all();
  }

 private:
  std::mutex m_;
  std::condition_variable cv_, cv_space_;
  std::deque<Obj> q_;
  bool closed_ = false;
};

#if defined(__SANITIZE_THREAD__)
constexpr int kScale = 4;  // TSan runs ~10x slower: do a quarter of the work
#else
constexpr int kScale = 1;
#endif

unsigned long active_objs(const char* name) {
  const auto r = slabinfo_row(name);
  EXPECT_TRUE(r.has_value()) << name;
  return r ? r->active_objs : ~0ul;
}

// ---- objects passed between threads ----

// The background purger's decay rounds (magazine_decay_depots) run on their own thread while
// the program allocates and frees in bursts through the depot: no object lost or handed out
// twice, every stamp intact, and the cache empty at the end.
TEST(SlabThreads, DepotDecayWhileThreadsAllocateInBursts) {
  constexpr size_t kSize = 96;
  mk_cache_t* c = mk_cache_create("decay_race", kSize, 0, 0, nullptr);
  ASSERT_NE(c, nullptr);
  std::atomic<bool> done{false};
  std::atomic<int> bad{0};
  std::thread decayer([&] {
    while (!done.load(std::memory_order_relaxed)) {
      memkit::magazine_decay_depots();
      std::this_thread::yield();
    }
  });
  auto worker = [&](unsigned id) {
    std::mt19937_64 rng(id);
    std::vector<Obj> held;
    for (int round = 0; round < 200 / kScale; ++round) {
      const size_t burst = 64 + rng() % 3000;  // up to ~47 magazines' worth
      for (size_t i = 0; i < burst; ++i) {
        void* p = mk_cache_alloc(c, 0);
        if (p == nullptr) {
          bad.fetch_add(1);
          return;
        }
        const uint64_t tag = mix((uint64_t{id} << 40) ^ (uint64_t(round) << 20) ^ i);
        stamp(p, kSize, tag);
        held.push_back({p, tag});
      }
      for (const Obj& o : held) {
        if (!stamped(o.p, kSize, o.tag)) bad.fetch_add(1);
        mk_cache_free(c, o.p);
      }
      held.clear();
    }
  };
  std::thread a(worker, 1), b(worker, 2);
  a.join();
  b.join();
  done.store(true);
  decayer.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(mk_cache_destroy(c), 0) << "every object came back";
}

TEST(SlabThreads, PassObjectsAroundAndFreeElsewhere) {
  constexpr size_t kSize = 88;
  constexpr int kThreads = 4;
  const int iters = 40000 / kScale;
  mk_cache_t* c = mk_cache_create("thr_pass", kSize, 0, 0, nullptr);
  ASSERT_NE(c, nullptr);
  std::vector<Mailbox> boxes(kThreads);
  std::atomic<int> bad{0};
  std::atomic<int> producing{kThreads};

  auto worker = [&](int id) {
    std::mt19937 rng(static_cast<unsigned>(id) * 7919u + 1u);
    uint64_t seq = 0;
    auto consume = [&](const Obj& o) {
      if (!stamped(o.p, kSize, o.tag)) bad.fetch_add(1);
      mk_cache_free(c, o.p);
    };
    for (int i = 0; i < iters; ++i) {
      const unsigned burst = 1 + rng() % 8;
      for (unsigned k = 0; k < burst; ++k) {
        void* p = mk_cache_alloc(c, 0);
        if (p == nullptr) {
          bad.fetch_add(1);
          continue;
        }
        const uint64_t tag = (uint64_t{static_cast<unsigned>(id)} << 56) | ++seq;
        stamp(p, kSize, tag);
        int to = static_cast<int>(rng() % (kThreads - 1));
        if (to >= id) ++to;  // another thread
        boxes[static_cast<size_t>(to)].put(Obj{p, tag});
      }
      Obj o;
      for (unsigned k = 0; k < burst + 1 && boxes[static_cast<size_t>(id)].try_take(&o); ++k)
        consume(o);
    }
    producing.fetch_sub(1);
    // Drain until every thread stopped producing, then once more for the last puts.
    Mailbox& mine = boxes[static_cast<size_t>(id)];
    for (;;) {
      Obj o;
      if (mine.try_take(&o)) {
        consume(o);
        continue;
      }
      if (producing.load() == 0) {
        while (mine.try_take(&o)) consume(o);
        break;
      }
      std::this_thread::yield();
    }
  };
  std::vector<std::thread> ts;
  for (int i = 0; i < kThreads; ++i) ts.emplace_back(worker, i);
  for (auto& t : ts) t.join();
  EXPECT_EQ(bad.load(), 0);
  // The workers' magazines went to the depot when they exited.
  mk_cache_shrink(c);
  EXPECT_EQ(active_objs("thr_pass"), 0u);
  EXPECT_EQ(mk_cache_destroy(c), 0);
}

TEST(SlabThreads, ProducerConsumer) {
  constexpr size_t kSize = 200;
  const int n = 200000 / kScale;
  mk_cache_t* c = mk_cache_create("thr_prodcons", kSize, 0, MK_SLAB_HWCACHE_ALIGN, nullptr);
  ASSERT_NE(c, nullptr);
  Mailbox box;
  std::atomic<int> bad{0};
  std::thread producer([&] {
    for (int i = 0; i < n; ++i) {
      if (i % 256 == 0) box.wait_below(4096);
      void* p = mk_cache_alloc(c, 0);
      if (p == nullptr) {
        bad.fetch_add(1);
        continue;
      }
      if (reinterpret_cast<uintptr_t>(p) % 64 != 0) bad.fetch_add(1);
      stamp(p, kSize, static_cast<uint64_t>(i) * 2 + 1);
      box.put(Obj{p, static_cast<uint64_t>(i) * 2 + 1});
    }
    box.close();
  });
  std::thread consumer([&] {
    Obj o;
    int got = 0;
    while (box.take(&o)) {
      if (!stamped(o.p, kSize, o.tag)) bad.fetch_add(1);
      mk_cache_free(c, o.p);
      if (++got % 256 == 0) box.notify_space();
    }
    box.notify_space();
  });
  producer.join();
  consumer.join();
  EXPECT_EQ(bad.load(), 0);
  // No shrink: destroy alone must find every object (in the depot, from the exited threads).
  EXPECT_EQ(mk_cache_destroy(c), 0);
}

// ---- threads that exit with cached objects ----

TEST(SlabThreads, ThreadsExitHoldingMagazines) {
  constexpr size_t kSize = 64;
  constexpr int kThreads = 4;
  mk_cache_t* c = mk_cache_create("thr_exit", kSize, 0, 0, nullptr);
  mk_cache_t* c2 = mk_cache_create("thr_exit_big", 3000, 0, 0, nullptr);
  ASSERT_NE(c, nullptr);
  ASSERT_NE(c2, nullptr);
  std::mutex m;
  std::vector<Obj> handed;  // live objects the threads leave to main
  std::atomic<int> bad{0};
  std::vector<std::thread> ts;
  for (int id = 0; id < kThreads; ++id) {
    ts.emplace_back([&, id] {
      std::vector<Obj> mine;
      for (int i = 0; i < 1000; ++i) {
        void* p = mk_cache_alloc(c, 0);
        if (p == nullptr) {
          bad.fetch_add(1);
          continue;
        }
        const uint64_t tag = (uint64_t{static_cast<unsigned>(id)} << 32) | static_cast<unsigned>(i);
        stamp(p, kSize, tag);
        mine.push_back(Obj{p, tag});
      }
      for (int i = 0; i < 50; ++i) mk_cache_free(c2, mk_cache_alloc(c2, 0));
      // Free 90 %: this thread's magazines (and the depot) now hold objects.
      for (size_t i = 0; i < mine.size(); ++i) {
        if (i % 10 == 0) continue;
        if (!stamped(mine[i].p, kSize, mine[i].tag)) bad.fetch_add(1);
        mk_cache_free(c, mine[i].p);
      }
      std::lock_guard<std::mutex> g(m);
      for (size_t i = 0; i < mine.size(); i += 10) handed.push_back(mine[i]);
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(handed.size(), 400u);
  const auto r = slabinfo_row("thr_exit");
  ASSERT_TRUE(r.has_value());
  EXPECT_GE(r->active_objs, 400u);
  // Nobody holds objects but main: destroy says exactly how many.
  testing::internal::CaptureStderr();
  EXPECT_EQ(mk_cache_destroy(c), -EBUSY);
  EXPECT_NE(testing::internal::GetCapturedStderr().find("400 objects remaining in cache thr_exit"),
            std::string::npos);
  for (const Obj& o : handed) {
    EXPECT_TRUE(stamped(o.p, kSize, o.tag));
    mk_cache_free(c, o.p);
  }
  EXPECT_EQ(mk_cache_destroy(c), 0);
  EXPECT_EQ(mk_cache_destroy(c2), 0);
}

TEST(SlabThreads, DeadThreadsMemoryFreedByAnother) {
  constexpr size_t kSize = 136;
  const int n = 20000 / kScale;
  mk_cache_t* c = mk_cache_create("thr_dead", kSize, 0, MK_SLAB_RED_ZONE, nullptr);
  ASSERT_NE(c, nullptr);
  std::vector<Obj> objs;
  std::thread a([&] {
    for (int i = 0; i < n; ++i) {
      void* p = mk_cache_alloc(c, 0);
      ASSERT_NE(p, nullptr);
      stamp(p, kSize, static_cast<uint64_t>(i) + 77);
      objs.push_back(Obj{p, static_cast<uint64_t>(i) + 77});
    }
    // Some frees too, so the dying thread's magazines are not empty.
    for (int i = 0; i < 100; ++i) {
      mk_cache_free(c, objs.back().p);
      objs.pop_back();
    }
  });
  a.join();
  std::atomic<int> bad{0};
  std::thread b([&] {
    for (const Obj& o : objs) {
      if (!stamped(o.p, kSize, o.tag)) bad.fetch_add(1);
      mk_cache_free(c, o.p);
    }
  });
  b.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(mk_cache_destroy(c), 0);
}

// ---- thread churn ----

TEST(SlabThreads, ManyShortLivedThreads) {
  constexpr int kTotal = 200;
  constexpr int kWave = 4;
  constexpr int kCaches = 70;  // indices in two CpuCache chunks
  std::vector<mk_cache_t*> caches;
  for (int i = 0; i < kCaches; ++i) {
    const std::string name = "churn_" + std::to_string(i);
    caches.push_back(mk_cache_create(name.c_str(), 16 + 8 * static_cast<size_t>(i), 0, 0, nullptr));
    ASSERT_NE(caches.back(), nullptr);
  }
  const unsigned long threads_before = active_objs("memkit_thread");
  const unsigned long chunks_before = active_objs("memkit_cpu_cache");
  std::atomic<int> bad{0};
  for (int wave = 0; wave < kTotal / kWave; ++wave) {
    std::vector<std::thread> ts;
    for (int k = 0; k < kWave; ++k) {
      ts.emplace_back([&, seed = wave * kWave + k] {
        std::mt19937 rng(static_cast<unsigned>(seed));
        std::vector<std::pair<int, Obj>> held;
        const int n = static_cast<int>(rng() % 300);
        for (int i = 0; i < n; ++i) {
          const int ci = (i % 3 == 0) ? kCaches - 1 - static_cast<int>(rng() % 6)
                                      : static_cast<int>(rng() % kCaches);
          const size_t size = 16 + 8 * static_cast<size_t>(ci);
          void* p = mk_cache_alloc(caches[static_cast<size_t>(ci)], 0);
          if (p == nullptr) {
            bad.fetch_add(1);
            continue;
          }
          const uint64_t tag = (uint64_t{static_cast<unsigned>(seed)} << 32) | static_cast<unsigned>(i);
          stamp(p, size, tag);
          held.push_back({ci, Obj{p, tag}});
        }
        for (auto& [ci, o] : held) {
          if (!stamped(o.p, 16 + 8 * static_cast<size_t>(ci), o.tag)) bad.fetch_add(1);
          mk_cache_free(caches[static_cast<size_t>(ci)], o.p);
        }
      });
    }
    for (auto& t : ts) t.join();
  }
  EXPECT_EQ(bad.load(), 0);
  // Every exited thread gave back its ThreadCache and its CpuCache chunks.
  EXPECT_EQ(active_objs("memkit_thread"), threads_before);
  EXPECT_EQ(active_objs("memkit_cpu_cache"), chunks_before);
  for (mk_cache_t* c : caches) EXPECT_EQ(mk_cache_destroy(c), 0);
}

// ---- shrink and slabinfo racing with allocs and frees ----

TEST(SlabThreads, ConcurrentShrinkAndSlabinfo) {
  constexpr size_t kSize = 112;
  constexpr int kWorkers = 3;
  const int iters = 60000 / kScale;
  mk_cache_t* c = mk_cache_create("thr_shrink", kSize, 0, MK_SLAB_POISON, nullptr);
  ASSERT_NE(c, nullptr);
  std::atomic<int> running{kWorkers};
  std::atomic<int> bad{0};
  // The workers start once the shrinker and the reader have each made a first pass, so that
  // they run alongside the workers however fast the workers are (they can finish before a
  // late-starting thread looks at `running`).
  std::atomic<int> watchers_ready{0};
  std::vector<std::thread> ts;
  for (int id = 0; id < kWorkers; ++id) {
    ts.emplace_back([&, id] {
      while (watchers_ready.load() < 2) std::this_thread::yield();
      std::mt19937 rng(static_cast<unsigned>(id) + 100u);
      std::vector<Obj> live;
      for (int i = 0; i < iters; ++i) {
        if (live.size() < 600 && (live.empty() || rng() % 100 < 55)) {
          void* p = mk_cache_alloc(c, rng() % 4 == 0 ? MK_GFP_ZERO : 0);
          if (p == nullptr) {
            bad.fetch_add(1);
            continue;
          }
          const uint64_t tag = (uint64_t{static_cast<unsigned>(id)} << 40) | static_cast<unsigned>(i);
          stamp(p, kSize, tag);
          live.push_back(Obj{p, tag});
        } else {
          const size_t k = rng() % live.size();
          if (!stamped(live[k].p, kSize, live[k].tag)) bad.fetch_add(1);
          mk_cache_free(c, live[k].p);
          live[k] = live.back();
          live.pop_back();
        }
        if (i % 5000 == 0) mk_cache_shrink(c);  // the workers shrink too
      }
      for (const Obj& o : live) {
        if (!stamped(o.p, kSize, o.tag)) bad.fetch_add(1);
        mk_cache_free(c, o.p);
      }
      running.fetch_sub(1);
    });
  }
  size_t shrinks = 0, pages = 0;
  std::thread shrinker([&] {
    do {
      pages += mk_cache_shrink(c);
      ++shrinks;
      const int n = mk_slabinfo(nullptr, 0);
      if (n <= 0) bad.fetch_add(1);
      if (shrinks == 1) watchers_ready.fetch_add(1);
      std::this_thread::yield();
    } while (running.load() > 0);
  });
  std::thread reader([&] {
    bool first = true;
    do {
      const auto r = slabinfo_row("thr_shrink");
      if (!r || !r->well_formed || r->active_objs > r->num_objs) bad.fetch_add(1);
      if (first) watchers_ready.fetch_add(1);
      first = false;
    } while (running.load() > 0);
  });
  for (auto& t : ts) t.join();
  shrinker.join();
  reader.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(shrinks, 0u);
  mk_cache_shrink(c);
  EXPECT_EQ(active_objs("thr_shrink"), 0u);
  EXPECT_EQ(slabinfo_row("thr_shrink")->num_slabs, 0u);
  EXPECT_EQ(mk_cache_destroy(c), 0);
}

// ---- caches made and destroyed on several threads at once ----

TEST(SlabThreads, CachesCreatedUsedAndDestroyedConcurrently) {
  constexpr int kThreads = 3;
  const int rounds = 40 / kScale;
  std::atomic<int> bad{0};
  mk_cache_t* shared = mk_cache_create("thr_shared", 48, 0, 0, nullptr);
  ASSERT_NE(shared, nullptr);
  std::vector<std::thread> ts;
  for (int id = 0; id < kThreads; ++id) {
    ts.emplace_back([&, id] {
      for (int round = 0; round < rounds; ++round) {
        // Many caches at once, so this thread's indices spread over several CpuCache chunks
        // while the other threads create theirs and destroy (walking every thread's chunks).
        std::vector<mk_cache_t*> mine;
        for (int k = 0; k < 40; ++k) {
          char name[32];
          std::snprintf(name, sizeof name, "thr_cd_%d_%d", id, k);
          mk_cache_t* c = mk_cache_create(name, 24 + static_cast<size_t>(k) * 8, 0, 0, nullptr);
          if (c == nullptr) {
            bad.fetch_add(1);
            continue;
          }
          mine.push_back(c);
        }
        for (size_t k = 0; k < mine.size(); ++k) {
          void* objs[40];
          for (void*& p : objs) {
            p = mk_cache_alloc(mine[k], 0);
            if (p == nullptr) bad.fetch_add(1);
            else std::memset(p, id + 1, 24);
          }
          void* s = mk_cache_alloc(shared, 0);
          std::memset(s, id, 48);
          mk_cache_free(shared, s);
          for (void* p : objs) mk_cache_free(mine[k], p);
        }
        for (mk_cache_t* c : mine)
          if (mk_cache_destroy(c) != 0) bad.fetch_add(1);
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(mk_cache_destroy(shared), 0);
}

}  // namespace

// Two threads allocating from one cache take their objects from different slabs (the
// partial-slab lanes, slab_cache.h), so that they never write to each other's cache lines;
// with one shared partial list the second thread's first refill takes from the first thread's
// last, partial slab.
TEST(SlabThreads, TwoThreadsDoNotShareSlabs) {
  mk_cache_t* c = mk_cache_create("lanes", 48, 0, 0, nullptr);
  ASSERT_NE(c, nullptr);
  const size_t page = mk_page_size();
  auto slabs_of = [&](const std::vector<void*>& objs) {
    std::set<uintptr_t> pages;  // order-0 slabs: a page each
    for (void* p : objs) pages.insert(reinterpret_cast<uintptr_t>(p) / page);
    return pages;
  };
  std::vector<void*> a, b;
  // One after the other while both live (an exited thread's magazines would go to the depot,
  // and the other thread would rightly reuse its objects); each keeps its objects, so that its
  // last slab stays partial.
  std::atomic<int> step{0};
  std::thread ta([&] {
    for (int i = 0; i < 500; ++i) a.push_back(mk_cache_alloc(c, 0));
    step.store(1);
    while (step.load() != 2) std::this_thread::yield();
  });
  std::thread tb([&] {
    while (step.load() != 1) std::this_thread::yield();
    for (int i = 0; i < 500; ++i) b.push_back(mk_cache_alloc(c, 0));
    step.store(2);
  });
  ta.join();
  tb.join();
  const std::set<uintptr_t> sa = slabs_of(a), sb = slabs_of(b);
  for (uintptr_t s : sa) EXPECT_EQ(sb.count(s), 0u) << "a slab holds objects of both threads";
  for (void* p : a) mk_cache_free(c, p);
  for (void* p : b) mk_cache_free(c, p);
  EXPECT_EQ(mk_cache_destroy(c), 0);
}
