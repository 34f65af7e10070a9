// memkit — a fixed amount of allocator work, for counting instructions per operation
// (bench/count_ops.cpp, driven by bench/instructions.sh under valgrind --tool=callgrind).
//
//   count_ops WORKLOAD N
//
// Runs N repetitions of one operation after a fixed set-up. instructions.sh runs it with N and
// 2N and divides the difference by N, so the set-up cancels out and the figure is the cost of
// one operation (an alloc+free pair), stable on a noisy machine.
//
// Workloads:
//   buddy-pair-K   BuddyAllocator::alloc_index(K) + free_index on a 1 GiB range, half in use
//   buddy-mixed    one alloc or free from a pre-generated mix of orders 0..10 (P ∝ 2^-k)
//   buddy-mixed@P  the same on a range of P pages instead of 1 GiB (range scaling)
//   heap-pair-K    PageHeap alloc_pages(K) + free_pages (decay off: no system calls)
//   slab-pair-S    mk_cache_alloc + mk_cache_free of an S-byte object (magazine fast path)
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "arena/page_heap.h"
#include "memkit/buddy.hpp"
#include "memkit/memkit.h"

namespace {

size_t g_pages = size_t{1} << 18;  // 1 GiB of 4 KiB pages unless buddy-mixed@P says otherwise
void* const kFakeBase = reinterpret_cast<void*>(uintptr_t{1} << 40);  // never touched

struct Rng {
  uint64_t s = 0x9e3779b97f4a7c15ull;
  uint64_t next() {
    s += 0x9e3779b97f4a7c15ull;
    uint64_t z = s;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  unsigned order() {  // P(k) ∝ 2^-k over 0..10
    const uint64_t r = next() | (uint64_t{1} << 10);
    return static_cast<unsigned>(__builtin_ctzll(r));
  }
};

// Fills about half the range with random blocks, so the bitmaps have real depth.
void half_fill(memkit::BuddyAllocator& b, Rng& rng, std::vector<std::pair<size_t, unsigned>>& live) {
  while (b.free_pages() > g_pages / 2) {
    const unsigned o = rng.order();
    size_t page;
    if (b.alloc_index(o, &page) == memkit::BuddyStatus::kOk) live.push_back({page, o});
  }
  // Free every other block to scatter holes.
  for (size_t i = 0; i < live.size(); i += 2) b.free_index(live[i].first, live[i].second);
}

int run_buddy(const char* workload, long n) {
  std::vector<uint64_t> meta(memkit::BuddyAllocator::metadata_bytes(g_pages, 10) / 8 + 1);
  memkit::BuddyAllocator b;
  if (b.init(kFakeBase, g_pages, {}, meta.data(), meta.size() * 8) != memkit::BuddyStatus::kOk) return 1;
  Rng rng;
  std::vector<std::pair<size_t, unsigned>> live;
  half_fill(b, rng, live);
  uint64_t sum = 0;
  unsigned k = 0;
  if (std::sscanf(workload, "buddy-pair-%u", &k) == 1) {
    for (long i = 0; i < n; ++i) {
      size_t page;
      b.alloc_index(k, &page);
      b.free_index(page, k);
      sum += page;
    }
  } else if (std::strncmp(workload, "buddy-mixed", 11) == 0) {
    std::vector<std::pair<size_t, unsigned>> mine;
    mine.reserve(static_cast<size_t>(n));
    for (long i = 0; i < n; ++i) {
      if (mine.empty() || (rng.next() & 1)) {
        const unsigned o = rng.order();
        size_t page;
        if (b.alloc_index(o, &page) == memkit::BuddyStatus::kOk) mine.push_back({page, o});
      } else {
        const size_t j = rng.next() % mine.size();
        b.free_index(mine[j].first, mine[j].second);
        mine[j] = mine.back();
        mine.pop_back();
      }
    }
    sum = mine.size();
  } else {
    return 2;
  }
  std::printf("%s %ld checksum %llu\n", workload, n, static_cast<unsigned long long>(sum));
  return 0;
}

int run_heap(unsigned k, long n) {
  memkit::PageHeapConfig config;
  config.decay_ms = -1;
  static memkit::PageHeap heap(memkit::os::system_os(), config);
  uint64_t sum = 0;
  for (long i = 0; i < n; ++i) {
    void* p = heap.alloc_pages(k, 0);
    sum += reinterpret_cast<uintptr_t>(p) & 0xfff;
    heap.free_pages(p, k);
  }
  std::printf("heap-pair-%u %ld checksum %llu\n", k, n, static_cast<unsigned long long>(sum));
  return 0;
}

int run_slab(size_t size, long n) {
  mk_cache_t* cache = mk_cache_create("count_ops", size, 0, 0, nullptr);
  if (cache == nullptr) return 1;
  uint64_t sum = 0;
  for (long i = 0; i < n; ++i) {
    void* p = mk_cache_alloc(cache, 0);
    sum += reinterpret_cast<uintptr_t>(p) & 0xff;
    mk_cache_free(cache, p);
  }
  std::printf("slab-pair-%zu %ld checksum %llu\n", size, n, static_cast<unsigned long long>(sum));
  return mk_cache_destroy(cache) == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: count_ops buddy-pair-K|buddy-mixed[@PAGES]|heap-pair-K|slab-pair-SIZE N\n");
    return 2;
  }
  const long n = std::atol(argv[2]);
  unsigned k = 0;
  if (const char* at = std::strchr(argv[1], '@')) g_pages = std::strtoull(at + 1, nullptr, 10);
  if (std::sscanf(argv[1], "heap-pair-%u", &k) == 1) return run_heap(k, n);
  size_t size = 0;
  if (std::sscanf(argv[1], "slab-pair-%zu", &size) == 1) return run_slab(size, n);
  const int rc = run_buddy(argv[1], n);
  if (rc == 2) std::fprintf(stderr, "count_ops: unknown workload '%s'\n", argv[1]);
  return rc;
}
