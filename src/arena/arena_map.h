// memkit — the arena map (src/arena/arena_map.h)
//
// Says in O(1), without a lock, whether an address belongs to memkit and to which arena or
// direct mapping: a two-level radix table over the 47-bit user address space at a granularity
// of 4 MiB chunks (the largest buddy block with 4 KiB pages):
//
//   address:  [ root: 12 bits | leaf: 13 bits | offset in chunk: 22 bits ]
//   root_[i] -> leaf (8192 atomic words, 64 KiB from the OS, made on first use, kept)
//   leaf[j]  -> an entry: an Arena* or a tagged DirectMapping* (bit 0), or 0
//
// Every memkit region starts on a chunk boundary (arenas are aligned to their size, direct
// mappings to at least a chunk), so no chunk holds two of memkit's regions; a direct mapping's
// last chunk may end in someone else's memory, which is why callers check the region's bounds.
// Writers (arena creation and release, direct map/unmap) hold the page heap's lock; readers
// only load.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "os/os.h"

namespace memkit {

class ArenaMap {
 public:
  static constexpr unsigned kChunkShift = 22;
  static constexpr size_t kChunkSize = size_t{1} << kChunkShift;
  static constexpr unsigned kAddressBits = 47;
  static constexpr unsigned kLeafBits = 13;
  static constexpr unsigned kRootBits = kAddressBits - kChunkShift - kLeafBits;
  static constexpr uintptr_t kDirectTag = 1;

  explicit ArenaMap(const os::OsApi* os) : os_(os) {}
  ArenaMap(const ArenaMap&) = delete;
  ArenaMap& operator=(const ArenaMap&) = delete;
  ~ArenaMap();

  /// Points every chunk of [start, start + size) at `entry`. start is chunk-aligned. Returns 0,
  /// or ENOMEM (a leaf could not be mapped; nothing changed) / EINVAL (above 47 bits).
  int set(uintptr_t start, size_t size, uintptr_t entry);
  /// Clears the chunks of [start, start + size).
  void clear(uintptr_t start, size_t size);
  /// The entry for p's chunk, or 0.
  uintptr_t lookup(const void* p) const {
    const uintptr_t a = reinterpret_cast<uintptr_t>(p);
    if (a >> kAddressBits) return 0;
    const std::atomic<uintptr_t>* leaf =
        root_[a >> (kChunkShift + kLeafBits)].load(std::memory_order_acquire);
    if (leaf == nullptr) return 0;
    return leaf[(a >> kChunkShift) & ((uintptr_t{1} << kLeafBits) - 1)].load(
        std::memory_order_acquire);
  }

 private:
  static constexpr size_t kLeafBytes = sizeof(std::atomic<uintptr_t>) << kLeafBits;
  int ensure_leaf(size_t root_index);

  const os::OsApi* os_;
  std::atomic<std::atomic<uintptr_t>*> root_[size_t{1} << kRootBits] = {};
};

}  // namespace memkit
