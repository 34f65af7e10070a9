// memkit — the arena map (src/arena/arena_map.cpp)
#include "arena/arena_map.h"

#include <errno.h>

namespace memkit {

namespace fast_arena {
constinit uint8_t g_table[kSlots] = {};
}  // namespace fast_arena

ArenaMap::~ArenaMap() {
  for (auto& slot : root_) {
    std::atomic<uintptr_t>* leaf = slot.load(std::memory_order_relaxed);
    if (leaf != nullptr) os_->release(leaf, kLeafBytes);
  }
}

int ArenaMap::ensure_leaf(size_t root_index) {
  if (root_[root_index].load(std::memory_order_acquire) != nullptr) return 0;
  void* mem = nullptr;
  const int err = os_->reserve(kLeafBytes, 0x1000, &mem);
  if (err != 0) return err;
  // Fresh anonymous memory reads as zero: every entry is "not memkit's".
  root_[root_index].store(static_cast<std::atomic<uintptr_t>*>(mem), std::memory_order_release);
  return 0;
}

int ArenaMap::set(uintptr_t start, size_t size, uintptr_t entry) {
  if (size == 0) return 0;
  const uintptr_t last = start + size - 1;
  if (last < start || (last >> kAddressBits) != 0) return EINVAL;
  const size_t first_root = start >> (kChunkShift + kLeafBits);
  const size_t last_root = last >> (kChunkShift + kLeafBits);
  for (size_t r = first_root; r <= last_root; ++r) {
    const int err = ensure_leaf(r);
    if (err != 0) return err;  // leaves made so far stay: they are empty and reused later
  }
  for (uintptr_t c = start >> kChunkShift; c <= (last >> kChunkShift); ++c) {
    std::atomic<uintptr_t>* leaf = root_[c >> kLeafBits].load(std::memory_order_relaxed);
    const uintptr_t old = leaf[c & ((uintptr_t{1} << kLeafBits) - 1)].exchange(entry, std::memory_order_acq_rel);
    used_[c >> kLeafBits] += (old == 0) - (entry == 0);
  }
  return 0;
}

void ArenaMap::clear(uintptr_t start, size_t size) {
  if (size == 0) return;
  const uintptr_t last = start + size - 1;
  for (uintptr_t c = start >> kChunkShift; c <= (last >> kChunkShift); ++c) {
    std::atomic<uintptr_t>* leaf = root_[c >> kLeafBits].load(std::memory_order_relaxed);
    if (leaf == nullptr) continue;
    const uintptr_t old = leaf[c & ((uintptr_t{1} << kLeafBits) - 1)].exchange(0, std::memory_order_acq_rel);
    if (old == 0) continue;
    // The leaf's last entry gone: its pages go back to the OS. It stays mapped (a lookup that
    // races with this, which only an invalid free can be, reads zeros: "not memkit's"), so a
    // huge direct mapping's entries cost nothing once it is freed.
    if (--used_[c >> kLeafBits] == 0) os_->decommit(leaf, kLeafBytes, /*lazy=*/false);
  }
}

}  // namespace memkit
