// memkit — the system OsApi (src/os/os.cpp): the only mmap/munmap/mremap/madvise/mprotect calls.
#include "os/os.h"

#include <errno.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

namespace memkit::os {
namespace {

// The lowest address of an over-aligned mapping made so far (a hint for the next one).
std::atomic<uintptr_t> g_lowest_aligned{0};

void note_aligned(uintptr_t a) {
  uintptr_t cur = g_lowest_aligned.load(std::memory_order_relaxed);
  while ((cur == 0 || a < cur) &&
         !g_lowest_aligned.compare_exchange_weak(cur, a, std::memory_order_relaxed)) {
  }
}

// mmap of size bytes aligned to align (a power of two >= the page size), with the given flags.
// An address-space limit (RLIMIT_AS, RLIMIT_DATA) counts every byte mapped, even for a moment,
// so over-reserving by align is the last resort: first a plain mapping (often aligned already),
// then the aligned addresses just below and just above where the kernel put it (the kernel
// maps top-down, so the space below is usually free), each only size bytes.
int map_aligned(size_t size, size_t align, int flags, void** out) {
  const size_t ps = page_size();
  if (size == 0 || (size & (ps - 1)) != 0 || align == 0 || (align & (align - 1)) != 0)
    return EINVAL;
  if (align < ps) align = ps;
  const int prot = PROT_READ | PROT_WRITE;
  void* p = mmap(nullptr, size, prot, flags, -1, 0);
  if (p == MAP_FAILED) return errno;
  const uintptr_t start = reinterpret_cast<uintptr_t>(p);
  if ((start & (align - 1)) == 0) {
    *out = p;
    return 0;
  }
  munmap(p, size);
  const uintptr_t down = start & ~(uintptr_t{align} - 1);
  const uintptr_t up = down + align;
  // And below the lowest aligned mapping made so far: where the kernel's top-down search put
  // p may be a hole just big enough, between neighbours that leave no aligned room around it.
  const uintptr_t low = g_lowest_aligned.load(std::memory_order_relaxed);
  const uintptr_t below = low > size + align ? (low - size) & ~(uintptr_t{align} - 1) : 0;
  for (const uintptr_t want : {down, up, below}) {
    if (want == 0) continue;
    // A hint, not MAP_FIXED: the kernel maps there only if the range is free.
    void* q = mmap(reinterpret_cast<void*>(want), size, prot, flags, -1, 0);
    if (q == MAP_FAILED) return errno;
    if (reinterpret_cast<uintptr_t>(q) == want) {
      note_aligned(want);
      *out = q;
      return 0;
    }
    munmap(q, size);
  }
  // Over-reserve by align - page, then trim the unaligned head and the tail.
  if (size > SIZE_MAX - (align - ps)) return ENOMEM;
  const size_t over = size + align - ps;
  void* raw = mmap(nullptr, over, prot, flags, -1, 0);
  if (raw == MAP_FAILED) return errno;
  const uintptr_t rs = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (rs + align - 1) & ~(uintptr_t{align} - 1);
  const size_t head = aligned - rs;
  const size_t tail = over - head - size;
  if (head != 0) munmap(raw, head);
  if (tail != 0) munmap(reinterpret_cast<void*>(aligned + size), tail);
  note_aligned(aligned);
  *out = reinterpret_cast<void*>(aligned);
  return 0;
}

int sys_reserve(size_t size, size_t align, void** out) {
  return map_aligned(size, align, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, out);
}

// Without MAP_NORESERVE: the kernel's overcommit policy decides, as for glibc's mmap'd chunks.
int sys_map(size_t size, size_t align, void** out) {
  return map_aligned(size, align, MAP_PRIVATE | MAP_ANONYMOUS, out);
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

constexpr OsApi kSystemOs = {"system",     sys_reserve,       sys_release, sys_commit, sys_decommit,
                             sys_protect, sys_hugepage_hint, sys_move,    sys_map};

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

size_t address_space_limit() {
  size_t limit = SIZE_MAX;
  for (const int resource : {RLIMIT_AS, RLIMIT_DATA}) {
    struct rlimit rl;
    if (getrlimit(resource, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < limit)
      limit = static_cast<size_t>(rl.rlim_cur);
  }
  return limit;
}

int shared_file_create(const char* name, size_t size, int* fd_out, void** map_out) {
  const int fd = memfd_create(name, MFD_CLOEXEC);
  if (fd < 0) return errno;
  int err = 0;
  if (fchmod(fd, 0600) != 0 || ftruncate(fd, static_cast<off_t>(size)) != 0) {
    err = errno;
  } else {
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p != MAP_FAILED) {
      *fd_out = fd;
      *map_out = p;
      return 0;
    }
    err = errno;
  }
  close(fd);
  return err;
}

void shared_file_release(int fd, void* map, size_t size) {
  if (map != nullptr) munmap(map, size);
  if (fd >= 0) close(fd);
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
