// memkit — the stack depot (src/check/stack_depot.h)
//
// Checked mode records an allocation stack for every block and a free stack for every freed
// one. Most programs allocate from a few thousand distinct call paths, so each distinct stack is
// stored once and blocks keep a 32-bit id (as the kernel's stackdepot and the sanitizers do).
//
//   region (reserved from os/, MAP_NORESERVE; pages cost only when touched):
//   [ buckets: kBuckets atomic u32 heads ][ node ][ node ] ...  <- bump pointer
//   node: { u32 next id | u32 hash | u32 depth | u32 unused | uintptr_t frames[depth] }
//   id = node offset / 8 (0: no stack)
//
// put() is lock-free: look the chain up, else bump-allocate a node and push it on its bucket
// with a compare-and-swap (a lost race stores a duplicate, which is harmless). Nodes are never
// freed. No malloc anywhere.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace memkit::check {

inline constexpr unsigned kMaxFrames = 64;

class StackDepot {
 public:
  /// Reserves `bytes` of address space for the depot. 0 or an errno value.
  int init(size_t bytes);
  /// The id of this stack (stored if new); 0 for an empty stack or when the depot is full.
  uint32_t put(const uintptr_t* frames, unsigned depth);
  /// The frames of id; returns the depth (0 for id 0 or an unknown id).
  unsigned get(uint32_t id, const uintptr_t** frames) const;
  /// Distinct stacks stored.
  size_t size() const { return count_.load(std::memory_order_relaxed); }
  /// The depot's address range (the leak scan does not treat it as a root).
  uintptr_t begin() const { return reinterpret_cast<uintptr_t>(base_); }
  uintptr_t end() const { return reinterpret_cast<uintptr_t>(base_) + bytes_; }

 private:
  static constexpr unsigned kBucketBits = 16;
  static constexpr size_t kBuckets = size_t{1} << kBucketBits;
  struct Node {
    uint32_t next;
    uint32_t hash;
    uint32_t depth;
    uint32_t unused;
    uintptr_t frames[1];  // depth of them
  };
  Node* node(uint32_t id) const {
    return reinterpret_cast<Node*>(static_cast<char*>(base_) + size_t{id} * 8);
  }
  std::atomic<uint32_t>* buckets() const { return static_cast<std::atomic<uint32_t>*>(base_); }

  void* base_ = nullptr;
  size_t bytes_ = 0;
  std::atomic<size_t> used_{0};
  std::atomic<size_t> count_{0};
};

/// The process's depot (reserved on first use: 256 MiB of address space).
StackDepot& stack_depot();

}  // namespace memkit::check
