// memkit — the list of all caches and the bootstrap caches (src/slab/registry.cpp)
#include "slab/registry.h"

#include <errno.h>
#include <pthread.h>

#include <new>

#include "slab/magazine.h"

namespace memkit {
namespace {

pthread_mutex_t g_registry_lock = PTHREAD_MUTEX_INITIALIZER;
SlabCache* g_caches[kMaxSlabCaches];  // under g_registry_lock
size_t g_high = 0;                    // indices [0, g_high) have been used

constexpr unsigned kMagazineCapacities[] = {64, 32, 16, 8};
constexpr size_t kBootstrapCount = 3 + sizeof kMagazineCapacities / sizeof kMagazineCapacities[0];

alignas(SlabCache) unsigned char g_boot_storage[kBootstrapCount][sizeof(SlabCache)];
SlabCache* g_boot[kBootstrapCount];
pthread_once_t g_boot_once = PTHREAD_ONCE_INIT;

SlabCache* make_boot(size_t slot, const char* name, size_t size, size_t align = 0) {
  SlabCache* c = new (g_boot_storage[slot]) SlabCache();
  // Bootstrap caches cannot fail to initialise with these sizes; a failure here means the
  // registry is full, which cannot happen this early.
  c->init(&global_page_heap(), name, size, align, kSlabNoMagazines, nullptr);
  return c;
}

void init_boot() {
  g_boot[0] = make_boot(0, "kmem_cache", sizeof(SlabCache));
  g_boot[1] = make_boot(1, "memkit_thread", sizeof(ThreadCache), alignof(ThreadCache));
  g_boot[2] = make_boot(2, "memkit_cpu_cache", sizeof(CpuCache) * kCpuCacheChunk, alignof(CpuCache));
  static const char* const kNames[] = {"memkit_magazine_64", "memkit_magazine_32",
                                       "memkit_magazine_16", "memkit_magazine_8"};
  for (size_t i = 0; i < sizeof kMagazineCapacities / sizeof kMagazineCapacities[0]; ++i)
    g_boot[3 + i] =
        make_boot(3 + i, kNames[i], sizeof(Magazine) + kMagazineCapacities[i] * sizeof(void*));
}

}  // namespace

int registry_add(SlabCache* cache, unsigned* index) {
  pthread_mutex_lock(&g_registry_lock);
  for (size_t i = kReservedCacheIndices; i < kMaxSlabCaches; ++i) {
    if (g_caches[i] != nullptr) continue;
    g_caches[i] = cache;
    if (i >= g_high) g_high = i + 1;
    *index = static_cast<unsigned>(i);
    pthread_mutex_unlock(&g_registry_lock);
    return 0;
  }
  pthread_mutex_unlock(&g_registry_lock);
  return ENOSPC;
}

int registry_add_at(SlabCache* cache, unsigned index) {
  if (index >= kMaxSlabCaches) return ENOSPC;
  pthread_mutex_lock(&g_registry_lock);
  const bool taken = g_caches[index] != nullptr;
  if (!taken) {
    g_caches[index] = cache;
    if (index >= g_high) g_high = index + 1;
  }
  pthread_mutex_unlock(&g_registry_lock);
  return taken ? ENOSPC : 0;
}

void registry_remove(unsigned index) {
  pthread_mutex_lock(&g_registry_lock);
  g_caches[index] = nullptr;
  pthread_mutex_unlock(&g_registry_lock);
}

void registry_for_each(void (*fn)(SlabCache*, void*), void* ctx) {
  pthread_mutex_lock(&g_registry_lock);
  for (size_t i = 0; i < g_high; ++i)
    if (g_caches[i] != nullptr) fn(g_caches[i], ctx);
  pthread_mutex_unlock(&g_registry_lock);
}

// A bootstrap cache by where it lives (g_boot[] is filled after registry_add, outside the lock).
static bool is_bootstrap(const SlabCache* c) {
  const auto* p = reinterpret_cast<const unsigned char*>(c);
  return p >= &g_boot_storage[0][0] && p < &g_boot_storage[0][0] + sizeof g_boot_storage;
}

void registry_fork_prepare() {
  magazine_fork_lock();
  pthread_mutex_lock(&g_registry_lock);
  // Ordinary caches take magazine-cache locks while they hold their own (magazines are
  // bootstrap objects), and the bootstrap caches are taken last by everyone.
  for (size_t i = 0; i < g_high; ++i)
    if (g_caches[i] != nullptr && !is_bootstrap(g_caches[i])) g_caches[i]->lock_for_fork();
  for (size_t i = g_high; i-- > 0;)
    if (g_caches[i] != nullptr && is_bootstrap(g_caches[i])) g_caches[i]->lock_for_fork();
}

void registry_fork_release() {
  for (size_t i = 0; i < g_high; ++i)
    if (g_caches[i] != nullptr) g_caches[i]->unlock_after_fork();
  pthread_mutex_unlock(&g_registry_lock);
  magazine_fork_unlock();
}

SlabCache* bootstrap_cache(Bootstrap kind) {
  pthread_once(&g_boot_once, init_boot);
  return g_boot[static_cast<size_t>(kind)];
}

SlabCache* magazine_cache(unsigned capacity) {
  pthread_once(&g_boot_once, init_boot);
  for (size_t i = 0; i < sizeof kMagazineCapacities / sizeof kMagazineCapacities[0]; ++i)
    if (kMagazineCapacities[i] == capacity) return g_boot[3 + i];
  return nullptr;
}

}  // namespace memkit
