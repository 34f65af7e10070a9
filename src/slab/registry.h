// memkit — the list of all caches and the bootstrap caches (src/slab/registry.h)
//
// Every SlabCache has an index (its slot in the per-thread CpuCache chunks and in this list).
// The slab layer's own metadata comes from bootstrap caches that bypass the magazine layer, as
// the kernel's kmem_cache cache does: "kmem_cache" (SlabCache objects), "memkit_thread"
// (ThreadCache), "memkit_cpu_cache" (chunks of 64 CpuCaches) and one "memkit_magazine_M" per
// magazine capacity M. They live in static storage and are made on first use, over the
// process's page heap.
#pragma once

#include <cstddef>

#include "slab/slab_cache.h"

namespace memkit {

/// Gives `cache` a free index at or above kReservedCacheIndices. 0 or ENOSPC.
int registry_add(SlabCache* cache, unsigned* index);
/// Gives `cache` the index `index` (any index, reserved or not). 0, or ENOSPC if it is taken.
int registry_add_at(SlabCache* cache, unsigned index);
void registry_remove(unsigned index);
/// Calls fn(cache, ctx) for every registered cache, in index order, under the registry lock
/// (so none is destroyed meanwhile).
void registry_for_each(void (*fn)(SlabCache*, void*), void* ctx);

/// fork() safety (pthread_atfork): takes every lock of the slab layer in the order the layer
/// itself takes them — the thread list, the registry, the ordinary caches by index, the
/// magazine caches, the other bootstrap caches — and releases them after the fork, in the
/// parent and in the child, so that the child of a multithreaded parent finds them free and
/// consistent.
void registry_fork_prepare();
void registry_fork_release();

enum class Bootstrap { kCache, kThread, kCpuCache };
/// The bootstrap cache of that kind.
SlabCache* bootstrap_cache(Bootstrap kind);
/// The bootstrap cache for magazines of `capacity` rounds (one of magazine_capacity_for's).
SlabCache* magazine_cache(unsigned capacity);

}  // namespace memkit
