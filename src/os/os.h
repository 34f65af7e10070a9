// memkit — the one seam to the kernel (src/os/os.h)
//
// Every memory system call memkit makes goes through an OsApi: a table of primitives with a
// documented contract, so that the layers above can be tested against a fake OS that injects
// failures (tests/fake_os.h) and so that no other folder calls mmap, munmap, madvise or
// mprotect. Each primitive returns 0 or an errno value (ENOMEM, EINVAL, ...); nothing here
// aborts, prints or allocates.
//
//   reserve(size, align)   map `size` bytes read-write, private, anonymous, MAP_NORESERVE,
//                          aligned to `align` (a power of two). Pages cost nothing until first
//                          touched. Under an address-space limit, only `size` bytes are mapped
//                          at any moment where the kernel allows (an aligned address next to
//                          where it put the mapping); over-reserve and trim is the last resort.
//   map(size, align)       the same without MAP_NORESERVE: the kernel's overcommit policy
//                          applies, so a request it would not honour for glibc's malloc fails
//                          here too (ENOMEM). For memory handed out whole (direct mappings).
//   release(p, size)       unmap.
//   commit(p, size)        make [p, p+size) accessible again (read-write) after protect().
//   decommit(p, size, lazy)
//                          give the pages back: MADV_DONTNEED (the next touch sees zeros; RSS
//                          drops now) or, when lazy, MADV_FREE (the kernel reclaims them under
//                          pressure; falls back to MADV_DONTNEED where unsupported).
//   protect(p, size)       make [p, p+size) inaccessible (guard pages).
//   hugepage_hint(p, size) MADV_HUGEPAGE; failure is harmless (THP may be off).
//   move(from, size, to)   mremap(MREMAP_MAYMOVE | MREMAP_FIXED): the pages of
//                          [from, from+size) (one mapping, page-aligned) now appear at
//                          [to, to+size), with their contents and without page faults, replacing
//                          what was mapped there; [from, from+size) is unmapped. Only page tables
//                          move, so reusing committed pages at another address costs no faults.
#pragma once

#include <cstddef>
#include <cstdint>

namespace memkit::os {

struct OsApi {
  const char* name;
  int (*reserve)(size_t size, size_t align, void** out);
  int (*release)(void* p, size_t size);
  int (*commit)(void* p, size_t size);
  int (*decommit)(void* p, size_t size, bool lazy);
  int (*protect)(void* p, size_t size);
  int (*hugepage_hint)(void* p, size_t size);
  int (*move)(void* from, size_t size, void* to);
  int (*map)(size_t size, size_t align, void** out);
};

/// The real kernel, through mmap/munmap/madvise/mprotect.
const OsApi& system_os();

/// The kernel's page size (sysconf(_SC_PAGESIZE), read once).
size_t page_size();

/// The smaller of RLIMIT_AS and RLIMIT_DATA (soft limits) in bytes, or SIZE_MAX when neither
/// is set. Read at each call (a program may lower it while it runs).
size_t address_space_limit();

/// An anonymous shared memory file of `size` bytes (memfd_create with MFD_CLOEXEC, mode 0600):
/// it has no name in any filesystem and disappears with the process's last descriptor and
/// mapping, even after SIGKILL; /proc/PID/fd shows it as "/memfd:NAME (deleted)", and only the
/// process's user (and root) may open it there (the kernel's ptrace-read access check). Mapped
/// read-write and shared at *map_out; *fd_out is its descriptor. 0 or an errno value (nothing
/// is left behind on failure).
int shared_file_create(const char* name, size_t size, int* fd_out, void** map_out);
/// Unmaps and closes what shared_file_create made.
void shared_file_release(int fd, void* map, size_t size);

/// CLOCK_MONOTONIC in nanoseconds (the coarse clock: a few ms resolution, no syscall).
uint64_t now_ns();

/// Fills buf with random bytes from getrandom(2), or from the clock and the address space
/// layout if getrandom is unavailable. Never fails.
void random_bytes(void* buf, size_t len);

}  // namespace memkit::os
