// memkit — the checked mode's table of block records (src/check/block_table.cpp): see block_table.h.
#include "check/block_table.h"

#include "os/os.h"
#include "os/report.h"

namespace memkit::check {

namespace table {
namespace detail {
Shard* g_shards = nullptr;
}  // namespace detail

namespace {
using detail::g_shards;
uintptr_t g_table_lo = 0;
uintptr_t g_table_hi = 0;
alignas(64) Shard g_shard_storage[kShards];
}  // namespace

void init(size_t page) {
  const size_t bytes = kShards * kBuckets * sizeof(Block*);
  void* mem = nullptr;
  if (os::system_os().reserve(bytes, page, &mem) != 0) {
    report_fatal("out-of-memory", "malloc", nullptr, "checked mode: no memory for its block table");
  }
  for (unsigned i = 0; i < kShards; ++i) {
    g_shard_storage[i].buckets = static_cast<Block**>(mem) + i * kBuckets;
  }
  g_table_lo = reinterpret_cast<uintptr_t>(mem);
  g_table_hi = g_table_lo + bytes;
  g_shards = g_shard_storage;
}

void insert(Block* b) {
  Shard& s = shard_for(b->user_);
  s.lock.lock();
  Block** head = bucket_for(b->user_);
  b->next_ = *head;
  *head = b;
  ++s.records;
  s.lock.unlock();
}

void remove(Block* b) {
  Shard& s = shard_for(b->user_);
  s.lock.lock();
  for (Block** pp = bucket_for(b->user_); *pp != nullptr; pp = &(*pp)->next_) {
    if (*pp == b) {
      *pp = b->next_;
      --s.records;
      break;
    }
  }
  s.lock.unlock();
}

void lock_shards() {
  for (unsigned i = 0; i < kShards; ++i) g_shards[i].lock.lock();
}

void unlock_shards() {
  for (unsigned i = kShards; i-- > 0;) g_shards[i].lock.unlock();
}

bool for_each(bool (*fn)(Block* b, void* ctx), void* ctx) {
  if (g_shards == nullptr) return true;
  for (unsigned s = 0; s < kShards; ++s)
    for (size_t i = 0; i < kBuckets && g_shards[s].records != 0; ++i)
      for (Block* b = g_shards[s].buckets[i]; b != nullptr; b = b->next_)
        if (!fn(b, ctx)) return false;
  return true;
}

}  // namespace table

Shard* shards() { return table::detail::g_shards; }

void table_range(uintptr_t* lo, uintptr_t* hi) {
  *lo = table::g_table_lo;
  *hi = table::g_table_hi;
}

bool find_containing_unlocked(uintptr_t addr, Block* out) {
  Shard* const sh = table::detail::g_shards;
  if (sh == nullptr) return false;
  for (unsigned s = 0; s < kShards; ++s) {
    for (size_t i = 0; i < kBuckets && sh[s].records != 0; ++i) {
      for (const Block* b = sh[s].buckets[i]; b != nullptr; b = b->next_) {
        if (addr >= b->base_ && addr < b->base_ + b->span_) {
          *out = *b;
          return true;
        }
      }
    }
  }
  return false;
}

}  // namespace memkit::check
