// memkit example: std::pmr::vector on memkit's page allocator (memkit/pmr.hpp).
//
// PageResource gives each allocation its own buddy block (whole pages, aligned to their size),
// which suits big buffers. MonotonicArena bumps a pointer through blocks of growing size and
// frees them all at once with release(): scratch memory for one phase of work.
#include <cstdio>
#include <memory_resource>
#include <numeric>
#include <vector>

#include <memkit/memkit.h>
#include <memkit/pmr.hpp>

static size_t allocated_pages() {
  mk_page_stats s;
  mk_get_page_stats(&s);
  return s.allocated_pages;
}

int main() {
  const size_t pages_at_start = allocated_pages();

  // A big buffer: one 2^order-page block per (re)allocation.
  memkit::PageResource pages;
  double total = 0;
  {
    std::pmr::vector<double> samples(&pages);
    for (int i = 0; i < 100000; ++i) samples.push_back(i * 0.5);
    total = std::accumulate(samples.begin(), samples.end(), 0.0);
    std::printf("%zu samples, sum %.1f, in one block of 2^%d pages\n", samples.size(), total,
                mk_page_order(samples.data()));
  }  // the block goes back to the page heap

  // Scratch vectors for one phase, all released together.
  memkit::MonotonicArena scratch;
  long evens = 0;
  for (int round = 0; round < 10; ++round) {
    std::pmr::vector<int> tmp(&scratch);
    for (int i = 0; i < 10000; ++i)
      if (i % 2 == 0) tmp.push_back(i);
    evens += static_cast<long>(tmp.size());
  }
  std::printf("scratch: %ld evens, arena holds %zu blocks (%zu KiB)\n", evens, scratch.blocks(),
              scratch.block_bytes() / 1024);
  scratch.release();

  const size_t pages_at_end = allocated_pages();
  std::printf("pages allocated: %zu at start, %zu at end\n", pages_at_start, pages_at_end);
  return total == 0.5 * 99999 * 100000 / 2 && evens == 50000 && pages_at_end == pages_at_start
             ? 0
             : 1;
}
