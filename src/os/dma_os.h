// memkit — the system calls behind DMA-style buffers (src/os/dma_os.h)
//
// What src/dma needs from the kernel beyond OsApi: explicit huge pages (hugetlbfs through
// MAP_HUGETLB), transparent huge pages (MADV_HUGEPAGE, MADV_COLLAPSE), locking (mlock), the
// lock limit (RLIMIT_MEMLOCK) and the page frame numbers of /proc/self/pagemap. Like OsApi,
// each call returns 0 or an errno value; nothing here allocates, prints or aborts.
#pragma once

#include <cstddef>
#include <cstdint>

namespace memkit::os {

/// The default hugetlbfs page size ("Hugepagesize:" of /proc/meminfo), 0 when the kernel has
/// none. Read once.
size_t hugetlb_page_size();

/// Maps `size` bytes (a multiple of huge_size) of explicit huge pages of huge_size, private
/// and anonymous (MAP_HUGETLB | MAP_HUGE_<size>). The kernel reserves the pages at mmap time:
/// ENOMEM when the pool (HugePages_Free - HugePages_Rsvd) is short.
int map_hugetlb(size_t size, size_t huge_size, void** out);

/// The transparent huge page size (/sys/kernel/mm/transparent_hugepage/hpage_pmd_size), or 0
/// when THP is absent or "[never]" in .../enabled. Read once.
size_t thp_size();

/// MADV_COLLAPSE: makes [p, p+size) (huge-page aligned) transparent huge pages now. 0 when
/// every huge-page range of it is one; EINVAL where the kernel lacks it (before 6.1).
int thp_collapse(void* p, size_t size);

/// MADV_NOHUGEPAGE: keeps [p, p+size) on normal pages even where THP is "always".
int no_hugepage(void* p, size_t size);

/// mlock / munlock. mlock's EAGAIN and EPERM (the RLIMIT_MEMLOCK limit of an unprivileged
/// process) come back as ENOMEM, the kernel's error for "over the lock limit".
int lock(void* p, size_t size);
int unlock(void* p, size_t size);

/// RLIMIT_MEMLOCK's soft limit in bytes (SIZE_MAX when unlimited), read at each call.
size_t memlock_limit();

/// Reads the /proc/self/pagemap entries of `pages` pages from the page holding `addr` into
/// out (raw 64-bit entries: bit 63 present, bits 0-54 the PFN, 0 when hidden from a reader
/// without CAP_SYS_ADMIN).
int read_pagemap(const void* addr, size_t pages, uint64_t* out);

}  // namespace memkit::os
