// memkit — the checked mode's table of block records (src/check/block_table.h)
//
// The records of the blocks that do not carry theirs in a header (check=full's blocks on their own
// pages, guard_sample_rate's, aligned and large blocks: see check.h), keyed by the block's user
// address: kShards shards, each a lock (a hash of the address's page, so that threads working on
// their own slabs rarely share one) and kBuckets direct-mapped buckets (by address, so that blocks
// close in memory have records in nearby buckets and the table is touched where the program
// touches its heap anyway: a fully mixing hash made every malloc and free miss the cache and the
// TLB on a random line of the 32 MiB table), chained through Block::next_. The buckets are
// reserved from os/ once; the records are kmalloc objects the allocator (check.cpp) makes.
#pragma once

#include <cstddef>
#include <cstdint>

#include "check/check.h"

namespace memkit::check::table {

namespace detail {
extern Shard* g_shards;
}

/// Reserves the buckets (a fatal report if there is no memory). Once, before any other call.
void init(size_t page);

inline uint64_t hash_addr(uintptr_t a) {
  const uint64_t shard = ((a >> 12) * 0x9e3779b97f4a7c15ull) >> (64 - kShardBits);
  return (shard << kBucketBits) | ((a >> 4) & (kBuckets - 1));
}
/// The shard (and so the lock) of the record of the block at user address a.
inline Shard& shard_for(uintptr_t a) { return detail::g_shards[hash_addr(a) >> kBucketBits]; }
inline Block** bucket_for(uintptr_t a) {
  const uint64_t h = hash_addr(a);
  return &detail::g_shards[h >> kBucketBits].buckets[h & (kBuckets - 1)];
}

/// The record of the block at user address `user`, or nullptr. The caller holds its shard's lock.
inline Block* find_locked(uintptr_t user) {
  for (Block* b = *bucket_for(user); b != nullptr; b = b->next_)
    if (b->user_ == user) return b;
  return nullptr;
}

/// Adds / takes out a record (b->user_ set), taking its shard's lock.
void insert(Block* b);
void remove(Block* b);

/// Every shard's lock, in order / in reverse.
void lock_shards();
void unlock_shards();

/// Calls fn on every record until it returns false (then returns false). Under lock_shards().
bool for_each(bool (*fn)(Block* b, void* ctx), void* ctx);

}  // namespace memkit::check::table
