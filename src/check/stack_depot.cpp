// memkit — the stack depot (src/check/stack_depot.cpp): see stack_depot.h.
#include "check/stack_depot.h"

#include <pthread.h>

#include <new>

#include "os/os.h"

namespace memkit::check {
namespace {

// A rotate and an xor a frame (a multiply a frame made the hash a chain of 16 multiplies, a
// tenth of a Python program's malloc), then one multiply to mix: collisions only cost compares.
uint32_t hash_frames(const uintptr_t* frames, unsigned depth) {
  uint64_t h = 0x9e3779b97f4a7c15ull ^ depth;
  for (unsigned i = 0; i < depth; ++i) h = ((h << 7) | (h >> 57)) ^ frames[i];
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 29;
  h *= 0xc4ceb9fe1a85ec53ull;
  return static_cast<uint32_t>(h >> 32);
}

alignas(StackDepot) unsigned char g_depot_storage[sizeof(StackDepot)];
pthread_once_t g_depot_once = PTHREAD_ONCE_INIT;

void make_depot() {
  StackDepot* d = new (g_depot_storage) StackDepot();
  d->init(size_t{256} << 20);  // on failure every put() returns 0: stacks are just not kept
}

}  // namespace

int StackDepot::init(size_t bytes) {
  void* p = nullptr;
  const int err = os::system_os().reserve(bytes, os::page_size(), &p);
  if (err != 0) return err;
  base_ = p;
  bytes_ = bytes;
  used_.store(kBuckets * sizeof(uint32_t), std::memory_order_relaxed);
  return 0;
}

uint32_t StackDepot::put(const uintptr_t* frames, unsigned depth) {
  if (depth == 0 || base_ == nullptr) return 0;
  if (depth > kMaxFrames) depth = kMaxFrames;
  const uint32_t h = hash_frames(frames, depth);
  std::atomic<uint32_t>& head = buckets()[h & (kBuckets - 1)];
  uint32_t first = head.load(std::memory_order_acquire);
  for (uint32_t id = first; id != 0;) {
    const Node* n = node(id);
    if (n->hash == h && n->depth == depth) {
      unsigned i = 0;
      while (i < depth && n->frames[i] == frames[i]) ++i;
      if (i == depth) return id;
    }
    id = n->next;
  }
  const size_t need = (offsetof(Node, frames) + depth * sizeof(uintptr_t) + 7) & ~size_t{7};
  const size_t at = used_.fetch_add(need, std::memory_order_relaxed);
  if (at + need > bytes_ || at / 8 > UINT32_MAX) return 0;  // full
  const uint32_t id = static_cast<uint32_t>(at / 8);
  Node* n = node(id);
  n->hash = h;
  n->depth = depth;
  for (unsigned i = 0; i < depth; ++i) n->frames[i] = frames[i];
  do {
    n->next = first;
  } while (!head.compare_exchange_weak(first, id, std::memory_order_release,
                                       std::memory_order_acquire));
  count_.fetch_add(1, std::memory_order_relaxed);
  return id;
}

unsigned StackDepot::get(uint32_t id, const uintptr_t** frames) const {
  if (id == 0 || base_ == nullptr || size_t{id} * 8 >= used_.load(std::memory_order_acquire))
    return 0;
  const Node* n = node(id);
  *frames = n->frames;
  return n->depth;
}

StackDepot& stack_depot() {
  pthread_once(&g_depot_once, make_depot);
  return *reinterpret_cast<StackDepot*>(g_depot_storage);
}

}  // namespace memkit::check
