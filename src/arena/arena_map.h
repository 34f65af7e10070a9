// memkit — the arena map (src/arena/arena_map.h)
//
// Says in O(1), without a lock, whether an address belongs to memkit and to which arena or
// direct mapping: a two-level radix table over the 47-bit user address space at a granularity
// of 4 MiB chunks (the largest buddy block with 4 KiB pages):
//
//   address:  [ root: 12 bits | leaf: 13 bits | offset in chunk: 22 bits ]
//   root_[i] -> leaf (8192 atomic words, 64 KiB from the OS, made on first use, kept mapped;
//               its pages go back to the OS whenever its last entry is cleared)
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
  // Non-zero entries per leaf (under the writers' lock); a leaf that empties is decommitted.
  uint16_t used_[size_t{1} << kRootBits] = {};
};

// The process heap's arenas by 256 MiB region, one byte each (1: an arena of the heap under
// kmalloc, see PageHeapConfig::fast_table): the free fast path's "is this pointer in one of our
// arenas" in one load, before it reads the page descriptor at the region's base. 2^19 bytes of
// .bss over the 47-bit address space, of which a program touches a page or two (a page covers
// 1 TiB of addresses). Written under the page heap's lock when an arena is made live and
// before it is unmapped; read with relaxed loads: a stale 1 can only be seen by a free of a
// pointer into an arena that holds no live block (an invalid free, as racy as the program).
namespace fast_arena {
inline constexpr unsigned kShift = 28;  // the arena size, 256 MiB
inline constexpr unsigned kPageShift = 12;
inline constexpr size_t kSlots = size_t{1} << (ArenaMap::kAddressBits - kShift);
// Hidden: inside libmemkit.so it is reached RIP-relative, not through the GOT.
extern uint8_t g_table[kSlots] __attribute__((visibility("hidden")));

/// Whether p lies in an arena of the fast table.
inline bool contains(uintptr_t p) {
  const uintptr_t region = p >> kShift;
  return region < kSlots &&
         std::atomic_ref<uint8_t>(g_table[region]).load(std::memory_order_relaxed) != 0;
}
inline void set(uintptr_t base, bool live) {
  std::atomic_ref<uint8_t>(g_table[base >> kShift]).store(live ? 1 : 0, std::memory_order_relaxed);
}
}  // namespace fast_arena

}  // namespace memkit
