// memkit — the malloc layer (src/malloc/malloc.cpp): see malloc.h.
#include "malloc/malloc.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "arena/background_purge.h"
#include "arena/page_heap.h"
#include "memkit/memkit.h"
#include "slab/registry.h"

namespace memkit {

size_t malloc_page_size() { return global_page_heap().page_size(); }

void* calloc_impl(size_t n, size_t size) {
  size_t bytes;
  if (__builtin_mul_overflow(n, size, &bytes)) {
    errno = ENOMEM;
    return nullptr;
  }
  return kmalloc(bytes < kMallocMinSize ? kMallocMinSize : bytes, MK_GFP_ZERO);
}

void* realloc_impl(void* p, size_t size, const char* caller) {
  if (p == nullptr) return malloc_impl(size);
  if (size == 0) {
    kfree(p, caller);
    return nullptr;
  }
  return krealloc(p, size < kMallocMinSize ? kMallocMinSize : size, 0, caller);
}

void* memalign_impl(size_t align, size_t size) {
  if (align <= kMallocMinSize) return malloc_impl(size);
  if (size > static_cast<size_t>(PTRDIFF_MAX)) {
    errno = ENOMEM;
    return nullptr;
  }
  PageHeap& heap = global_page_heap();
  const size_t page = heap.page_size();
  const size_t npages = size == 0 ? 1 : (size + page - 1) / page;
  if (align > page) return heap.alloc_pages_exact_aligned(npages, align, 0);
  // Powers of two up to the page size are classes aligned to their size.
  const size_t want = size > align ? size : align;
  if (want <= page) {
    const size_t pow2 = size_t{1} << (64 - __builtin_clzll(want - 1));
    return kmalloc(pow2, 0);
  }
  return heap.alloc_pages_exact(npages, 0);  // page-aligned; kfree and ksize know it
}

size_t usable_size_impl(const void* p, const char* caller) { return ksize(p, caller); }

bool trim_impl() {
  size_t pages = 0;
  for (unsigned c = 0; c < size_class::kNumClasses; ++c)
    if (SlabCache* cache = kmalloc_cache(c)) pages += cache->shrink();
  const size_t purged = global_page_heap().purge();
  return pages != 0 || purged != 0;
}

namespace {

void put(int fd, const char* text, size_t len) {
  while (len > 0) {
    const ssize_t n = ::write(fd, text, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    text += n;
    len -= static_cast<size_t>(n);
  }
}

pthread_mutex_t g_stats_lock = PTHREAD_MUTEX_INITIALIZER;
char g_stats_buf[1 << 16];  // under g_stats_lock: no malloc while reporting on malloc

void fork_prepare() {
  pthread_mutex_lock(&g_stats_lock);
  registry_fork_prepare();
  global_page_heap().fork_prepare();
}

void fork_release() {
  global_page_heap().fork_release();
  registry_fork_release();
  pthread_mutex_unlock(&g_stats_lock);
}

void fork_release_child() {
  fork_release();
  bg_purge::fork_child();
}

pthread_once_t g_fork_once = PTHREAD_ONCE_INIT;

void register_fork_handlers() { pthread_atfork(fork_prepare, fork_release, fork_release_child); }

}  // namespace

void install_fork_handlers() { pthread_once(&g_fork_once, register_fork_handlers); }

void write_stats(int fd) {
  pthread_mutex_lock(&g_stats_lock);
  mk_page_stats s;
  mk_get_page_stats(&s);
  const size_t page = malloc_page_size();
  int n = std::snprintf(g_stats_buf, sizeof g_stats_buf,
                        "memkit: %zu arenas (%zu bytes reserved), %zu bytes in allocated pages, "
                        "%zu free, %zu dirty; %zu direct mappings (%zu bytes); %zu bytes purged, "
                        "%zu unmapped so far\n",
                        s.arenas, s.arena_bytes, s.allocated_pages * page, s.free_pages * page,
                        s.dirty_pages * page, s.direct_mappings, s.direct_bytes, s.purged_bytes,
                        s.unmapped_bytes);
  if (n > 0) put(fd, g_stats_buf, static_cast<size_t>(n) < sizeof g_stats_buf ? static_cast<size_t>(n) : sizeof g_stats_buf - 1);
  n = mk_slabinfo(g_stats_buf, sizeof g_stats_buf);
  if (n > 0) put(fd, g_stats_buf, std::strlen(g_stats_buf));
  n = mk_buddyinfo(g_stats_buf, sizeof g_stats_buf);
  if (n > 0) put(fd, g_stats_buf, std::strlen(g_stats_buf));
  pthread_mutex_unlock(&g_stats_lock);
}

}  // namespace memkit

// ---- the prefixed C API ----

extern "C" {

void* mk_malloc(size_t size) { return memkit::malloc_impl(size); }
void mk_free(void* p) { memkit::free_impl(p, "mk_free"); }
void* mk_calloc(size_t n, size_t size) { return memkit::calloc_impl(n, size); }
void* mk_realloc(void* p, size_t size) { return memkit::realloc_impl(p, size, "mk_realloc"); }
void* mk_aligned_alloc(size_t align, size_t size) {
  if (align == 0 || (align & (align - 1)) != 0) {
    errno = EINVAL;
    return nullptr;
  }
  return memkit::memalign_impl(align, size);
}
int mk_posix_memalign(void** out, size_t align, size_t size) {
  if (align < sizeof(void*) || (align & (align - 1)) != 0) return EINVAL;
  const int saved = errno;
  void* p = memkit::memalign_impl(align, size);
  if (p == nullptr) {
    const int err = errno;
    errno = saved;
    return err != 0 ? err : ENOMEM;
  }
  *out = p;
  return 0;
}
size_t mk_malloc_usable_size(const void* p) {
  return memkit::usable_size_impl(p, "mk_malloc_usable_size");
}
int mk_malloc_trim(void) { return memkit::trim_impl() ? 1 : 0; }
void mk_malloc_stats(void) { memkit::write_stats(2); }

}  // extern "C"
