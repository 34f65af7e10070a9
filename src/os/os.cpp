// memkit — the system OsApi (src/os/os.cpp): the only mmap/munmap/mremap/madvise/mprotect calls.
#include "os/os.h"

#include <errno.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

namespace memkit::os {
namespace {

int sys_reserve(size_t size, size_t align, void** out) {
  const size_t ps = page_size();
  if (size == 0 || (size & (ps - 1)) != 0 || align == 0 || (align & (align - 1)) != 0)
    return EINVAL;
  if (align < ps) align = ps;
  const int prot = PROT_READ | PROT_WRITE;
  const int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
  if (align == ps) {
    void* p = mmap(nullptr, size, prot, flags, -1, 0);
    if (p == MAP_FAILED) return errno;
    *out = p;
    return 0;
  }
  // Over-reserve by align - page, then trim the unaligned head and the tail.
  if (size > SIZE_MAX - (align - ps)) return ENOMEM;
  const size_t over = size + align - ps;
  void* raw = mmap(nullptr, over, prot, flags, -1, 0);
  if (raw == MAP_FAILED) return errno;
  const uintptr_t start = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (start + align - 1) & ~(uintptr_t{align} - 1);
  const size_t head = aligned - start;
  const size_t tail = over - head - size;
  if (head != 0) munmap(raw, head);
  if (tail != 0) munmap(reinterpret_cast<void*>(aligned + size), tail);
  *out = reinterpret_cast<void*>(aligned);
  return 0;
}

int sys_release(void* p, size_t size) { return munmap(p, size) == 0 ? 0 : errno; }

int sys_commit(void* p, size_t size) {
  return mprotect(p, size, PROT_READ | PROT_WRITE) == 0 ? 0 : errno;
}

int sys_decommit(void* p, size_t size, bool lazy) {
#ifdef MADV_FREE
  if (lazy) {
    static std::atomic<bool> free_unsupported{false};
    if (!free_unsupported.load(std::memory_order_relaxed)) {
      if (madvise(p, size, MADV_FREE) == 0) return 0;
      if (errno != EINVAL) return errno;
      free_unsupported.store(true, std::memory_order_relaxed);
    }
  }
#else
  (void)lazy;
#endif
  return madvise(p, size, MADV_DONTNEED) == 0 ? 0 : errno;
}

int sys_protect(void* p, size_t size) { return mprotect(p, size, PROT_NONE) == 0 ? 0 : errno; }

int sys_hugepage_hint(void* p, size_t size) {
#ifdef MADV_HUGEPAGE
  return madvise(p, size, MADV_HUGEPAGE) == 0 ? 0 : errno;
#else
  (void)p;
  (void)size;
  return EINVAL;
#endif
}

int sys_move(void* from, size_t size, void* to) {
  void* p = mremap(from, size, size, MREMAP_MAYMOVE | MREMAP_FIXED, to);
  if (p == MAP_FAILED) return errno;
  return p == to ? 0 : EINVAL;
}

constexpr OsApi kSystemOs = {"system",       sys_reserve, sys_release, sys_commit,
                             sys_decommit,   sys_protect, sys_hugepage_hint, sys_move};

}  // namespace

const OsApi& system_os() { return kSystemOs; }

size_t page_size() {
  static std::atomic<size_t> cached{0};
  size_t ps = cached.load(std::memory_order_relaxed);
  if (ps == 0) {
    const long v = sysconf(_SC_PAGESIZE);
    ps = v > 0 ? static_cast<size_t>(v) : 4096;
    cached.store(ps, std::memory_order_relaxed);
  }
  return ps;
}

uint64_t now_ns() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

void random_bytes(void* buf, size_t len) {
  unsigned char* out = static_cast<unsigned char*>(buf);
  while (len > 0) {
    const ssize_t n = getrandom(out, len, GRND_NONBLOCK);
    if (n <= 0) break;
    out += n;
    len -= static_cast<size_t>(n);
  }
  // Fallback: splitmix64 over the clock and an address (ASLR).
  uint64_t x = now_ns() ^ reinterpret_cast<uintptr_t>(&len);
  while (len > 0) {
    x += 0x9e3779b97f4a7c15ull;
    uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    const size_t n = len < sizeof z ? len : sizeof z;
    memcpy(out, &z, n);
    out += n;
    len -= n;
  }
}

}  // namespace memkit::os
