// memkit — the system calls behind DMA-style buffers (src/os/dma_os.cpp)
#include "os/dma_os.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

#include "os/os.h"

namespace memkit::os {
namespace {

// Reads a small /proc or /sys file into buf (NUL-terminated); the bytes read, or -1.
ssize_t read_small_file(const char* path, char* buf, size_t len) {
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t got = 0;
  while (got + 1 < len) {
    const ssize_t n = read(fd, buf + got, len - 1 - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  close(fd);
  buf[got] = '\0';
  return static_cast<ssize_t>(got);
}

// The decimal number after `key` in text (skipping blanks), or 0.
size_t number_after(const char* text, const char* key) {
  const char* p = std::strstr(text, key);
  if (p == nullptr) return 0;
  p += std::strlen(key);
  while (*p == ' ' || *p == '\t') ++p;
  size_t v = 0;
  while (*p >= '0' && *p <= '9') v = v * 10 + static_cast<size_t>(*p++ - '0');
  return v;
}

constexpr size_t kUnread = ~size_t{0};

}  // namespace

size_t hugetlb_page_size() {
  static std::atomic<size_t> cached{kUnread};
  size_t v = cached.load(std::memory_order_relaxed);
  if (v == kUnread) {
    char buf[8192];
    v = read_small_file("/proc/meminfo", buf, sizeof buf) > 0
            ? number_after(buf, "\nHugepagesize:") * 1024
            : 0;
    cached.store(v, std::memory_order_relaxed);
  }
  return v;
}

int map_hugetlb(size_t size, size_t huge_size, void** out) {
#ifdef MAP_HUGETLB
  if (huge_size == 0 || (huge_size & (huge_size - 1)) != 0 || size == 0 ||
      size % huge_size != 0)
    return EINVAL;
  const int shift = __builtin_ctzll(huge_size);
  int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB;
#ifdef MAP_HUGE_SHIFT
  flags |= shift << MAP_HUGE_SHIFT;
#else
  (void)shift;
#endif
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, flags, -1, 0);
  if (p == MAP_FAILED) return errno;
  *out = p;
  return 0;
#else
  (void)size;
  (void)huge_size;
  (void)out;
  return EINVAL;
#endif
}

size_t thp_size() {
  static std::atomic<size_t> cached{kUnread};
  size_t v = cached.load(std::memory_order_relaxed);
  if (v == kUnread) {
    char buf[256];
    v = 0;
    if (read_small_file("/sys/kernel/mm/transparent_hugepage/enabled", buf, sizeof buf) > 0 &&
        std::strstr(buf, "[never]") == nullptr &&
        read_small_file("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", buf, sizeof buf) >
            0)
      v = number_after(buf, "");
    if ((v & (v - 1)) != 0 || v <= page_size()) v = 0;
    cached.store(v, std::memory_order_relaxed);
  }
  return v;
}

int thp_collapse(void* p, size_t size) {
#ifndef MADV_COLLAPSE
  constexpr int MADV_COLLAPSE = 25;  // Linux 6.1 (uapi/asm-generic/mman-common.h)
#endif
  return madvise(p, size, MADV_COLLAPSE) == 0 ? 0 : errno;
}

int no_hugepage(void* p, size_t size) {
#ifdef MADV_NOHUGEPAGE
  return madvise(p, size, MADV_NOHUGEPAGE) == 0 ? 0 : errno;
#else
  (void)p;
  (void)size;
  return 0;
#endif
}

// The raw system calls: AddressSanitizer's mlock/munlock interceptors do nothing, and a DMA
// buffer must be locked in a sanitizer build too.
int lock(void* p, size_t size) {
  if (syscall(SYS_mlock, p, size) == 0) return 0;
  const int e = errno;
  return e == EAGAIN || e == EPERM ? ENOMEM : e;
}

int unlock(void* p, size_t size) { return syscall(SYS_munlock, p, size) == 0 ? 0 : errno; }

size_t memlock_limit() {
  struct rlimit rl;
  if (getrlimit(RLIMIT_MEMLOCK, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return SIZE_MAX;
  return static_cast<size_t>(rl.rlim_cur);
}

int read_pagemap(const void* addr, size_t pages, uint64_t* out) {
  const int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  const size_t ps = page_size();
  off_t off = static_cast<off_t>(reinterpret_cast<uintptr_t>(addr) / ps * sizeof(uint64_t));
  char* dst = reinterpret_cast<char*>(out);
  size_t left = pages * sizeof(uint64_t);
  int err = 0;
  while (left > 0) {
    const ssize_t n = pread(fd, dst, left, off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      err = n < 0 ? errno : EIO;
      break;
    }
    dst += n;
    off += n;
    left -= static_cast<size_t>(n);
  }
  close(fd);
  return err;
}

}  // namespace memkit::os
