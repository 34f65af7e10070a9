// memkit CLI — a BuddyAllocator over a scratch range, with counters and reports
// (tools/memkit/buddy_sim.h)
//
// What `memkit buddy simulate` drives: it owns the range (reserved address space: the
// allocator never touches the pages), the allocator's metadata and the counters, and turns the
// allocator's state into reports (per-order counts and the kernel's fragmentation indices) and
// into the map of every block for the SVG picture.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "memkit/buddy.hpp"

namespace memkit::cli {

inline constexpr size_t kSimPageSize = 4096;

struct Block {
  size_t page;
  unsigned order;
};

struct SimCounters {
  uint64_t ops = 0;     // every alloc, free and skipped free
  uint64_t allocs = 0;  // successful
  uint64_t failed_allocs = 0;
  uint64_t frees = 0;
  uint64_t skipped_frees = 0;  // frees of a block whose allocation had failed
};

/// The state as /proc/buddyinfo and debugfs extfrag would show it, per order 0..max_order.
struct BuddyReport {
  uint64_t ops = 0;
  std::string buddyinfo;  // the /proc/buddyinfo line of zone "memkit", without the '\n'
  std::vector<uint64_t> free_blocks;
  std::vector<int> unusable_index;
  std::vector<int> extfrag_index;
};

/// One block of the range at the end, for pictures: allocated or free.
struct MapBlock {
  size_t page;
  unsigned order;
  bool free;
};

class BuddySim {
 public:
  /// Throws Failure (usage error) if the range cannot be reserved.
  BuddySim(size_t pages, unsigned max_order);
  ~BuddySim();
  BuddySim(const BuddySim&) = delete;
  BuddySim& operator=(const BuddySim&) = delete;

  /// The first page of a new block, or nullopt (counted) when no block of that order is free.
  std::optional<size_t> alloc(unsigned order);
  void free(const Block& block);
  /// Counts a free of a block whose allocation failed.
  void skip_free();

  const BuddyAllocator& buddy() const { return buddy_; }
  const SimCounters& counters() const { return counters_; }
  BuddyReport report() const;

  /// Every block of the range in page order, given the allocated ones (any order). Throws an
  /// internal error if the free blocks it infers disagree with the allocator's counts.
  std::vector<MapBlock> block_map(std::vector<Block> allocated) const;

 private:
  std::string buddyinfo() const;

  void* range_ = nullptr;
  size_t range_bytes_ = 0;
  std::vector<uint64_t> metadata_;
  BuddyAllocator buddy_;
  SimCounters counters_;
};

}  // namespace memkit::cli
