// memkit — helpers shared by the page-heap tests (tests/page_heap_testing.h).
#pragma once

#include <cstring>

#include "arena/page_heap.h"
#include "memkit/memkit.h"

namespace memkit::testing {

/// The heap's counters now.
inline mk_page_stats stats_of(const PageHeap& h) {
  mk_page_stats s;
  h.stats(&s);
  return s;
}

/// Whether two snapshots of the counters are identical, field for field.
inline bool same_stats(const mk_page_stats& a, const mk_page_stats& b) {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

}  // namespace memkit::testing
