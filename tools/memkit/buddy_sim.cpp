// memkit CLI — a BuddyAllocator over a scratch range (tools/memkit/buddy_sim.cpp): see
// buddy_sim.h.
#include "buddy_sim.h"

#include <fmt/core.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>

#include "command.h"
#include "memkit/fragmentation.hpp"
#include "os/os.h"

namespace memkit::cli {

BuddySim::BuddySim(size_t pages, unsigned max_order) {
  if (pages > SIZE_MAX / kSimPageSize) {
    throw usage_error(fmt::format("--pages {} is too large", pages));
  }
  range_bytes_ = pages * kSimPageSize;
  // A reservation (MAP_NORESERVE) through the OS seam: the allocator works on addresses and
  // never touches the pages, so even a huge range costs no memory.
  if (const int err = os::system_os().reserve(range_bytes_, kSimPageSize, &range_); err != 0) {
    range_ = nullptr;
    throw usage_error(
        fmt::format("cannot reserve {} pages of address space: {}", pages, std::strerror(err)));
  }
  const size_t bytes = BuddyAllocator::metadata_bytes(pages, max_order);
  metadata_.resize((bytes + sizeof(uint64_t) - 1) / sizeof(uint64_t));
  BuddyConfig config;
  config.page_size = kSimPageSize;
  config.max_order = max_order;
  const BuddyStatus status =
      buddy_.init(range_, pages, config, metadata_.data(), metadata_.size() * sizeof(uint64_t));
  if (status != BuddyStatus::kOk) {
    throw internal_error(fmt::format("BuddyAllocator::init: {}", to_string(status)));
  }
}

BuddySim::~BuddySim() {
  if (range_ != nullptr) os::system_os().release(range_, range_bytes_);
}

std::optional<size_t> BuddySim::alloc(unsigned order) {
  ++counters_.ops;
  size_t page = 0;
  const BuddyStatus status = buddy_.alloc_index(order, &page);
  if (status == BuddyStatus::kNoMemory) {
    ++counters_.failed_allocs;
    return std::nullopt;
  }
  if (status != BuddyStatus::kOk) {
    throw internal_error(fmt::format("alloc_index({}): {}", order, to_string(status)));
  }
  ++counters_.allocs;
  return page;
}

void BuddySim::free(const Block& block) {
  ++counters_.ops;
  const BuddyStatus status = buddy_.free_index(block.page, block.order);
  if (status != BuddyStatus::kOk) {
    throw internal_error(
        fmt::format("free_index({}, {}): {}", block.page, block.order, to_string(status)));
  }
  ++counters_.frees;
}

void BuddySim::skip_free() {
  ++counters_.ops;
  ++counters_.skipped_frees;
}

BuddyReport BuddySim::report() const {
  BuddyReport r;
  r.ops = counters_.ops;
  r.buddyinfo = buddyinfo();
  const unsigned max_order = buddy_.max_order();
  for (unsigned k = 0; k <= max_order; ++k) {
    r.free_blocks.push_back(buddy_.nr_free(k));
    r.unusable_index.push_back(unusable_free_index(buddy_.free_counts(), max_order, k));
    r.extfrag_index.push_back(fragmentation_index(buddy_.free_counts(), max_order, k));
  }
  return r;
}

std::string BuddySim::buddyinfo() const {
  std::string line(64, '\0');
  int n = buddy_.format_buddyinfo(line.data(), line.size());
  if (n >= 0 && static_cast<size_t>(n) >= line.size()) {
    line.resize(static_cast<size_t>(n) + 1);
    n = buddy_.format_buddyinfo(line.data(), line.size());
  }
  if (n < 1) throw internal_error("format_buddyinfo failed");
  line.resize(static_cast<size_t>(n) - 1);  // without the '\n'
  return line;
}

std::vector<MapBlock> BuddySim::block_map(std::vector<Block> allocated) const {
  std::sort(allocated.begin(), allocated.end(),
            [](const Block& a, const Block& b) { return a.page < b.page; });
  const unsigned max_order = buddy_.max_order();
  std::vector<MapBlock> map;
  std::vector<uint64_t> free_counts(max_order + 1, 0);

  // The free blocks are the gaps between allocated blocks, cut greedily into the largest
  // naturally aligned blocks (order <= max_order) that fit. This is exactly the allocator's
  // free lists because free blocks are always maximally coalesced: two free buddies of order
  // k < max_order inside the range are always merged, so a fully free aligned block of order k
  // is always (part of) one free block. The per-order counts are checked against nr_free(k).
  auto add_free_run = [&](size_t page, size_t end) {
    while (page < end) {
      unsigned k = 0;
      while (k < max_order && (page & ((size_t{2} << k) - 1)) == 0 &&
             page + (size_t{2} << k) <= end) {
        ++k;
      }
      map.push_back(MapBlock{page, k, true});
      ++free_counts[k];
      page += size_t{1} << k;
    }
  };

  size_t page = 0;
  for (const Block& b : allocated) {
    if (b.page < page) throw internal_error(fmt::format("block map: overlap at page {}", b.page));
    add_free_run(page, b.page);
    map.push_back(MapBlock{b.page, b.order, false});
    page = b.page + (size_t{1} << b.order);
  }
  add_free_run(page, buddy_.pages());

  for (unsigned k = 0; k <= max_order; ++k) {
    if (free_counts[k] != buddy_.nr_free(k)) {
      throw internal_error(
          fmt::format("block map: {} free blocks of order {} inferred, the allocator has {}",
                      free_counts[k], k, buddy_.nr_free(k)));
    }
  }
  return map;
}

}  // namespace memkit::cli
