// memkit — DMA-style buffers and dma pools (tests/test_dma.cpp)
//
// Checks what the kernel would show: the lock (VmLck in /proc/self/status, "lo" and Locked:
// in smaps), the backing (smaps' AnonHugePages for THP, VmFlags "ht" for hugetlbfs), and, as
// root, the contiguity the flags claim against the PFNs of /proc/self/pagemap read here
// independently. Every backing is forced in turn through the flags; explicit huge pages are
// reserved for the one test that needs them (vm.nr_hugepages, put back afterwards) when the
// machine has none free and the test runs as root. The lock limit and hidden PFNs are checked
// in a child that drops CAP_IPC_LOCK or CAP_SYS_ADMIN.
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <gtest/gtest.h>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "memkit/dma.h"
#include "memkit/dma.hpp"
#include "memkit/memkit.h"
#include "test_support.h"

namespace {

using memkit::testing::slurp;

const size_t kPage = static_cast<size_t>(sysconf(_SC_PAGESIZE));

// A "Key:   N kB" line of /proc/self/status, in bytes.
size_t status_bytes(const char* key) {
  std::istringstream in(slurp("/proc/self/status"));
  std::string line;
  const std::string k = std::string(key) + ":";
  while (std::getline(in, line))
    if (line.rfind(k, 0) == 0) return std::stoull(line.substr(k.size())) * 1024;
  return 0;
}

// A /proc/meminfo value (the number, in its unit), 0 when absent.
size_t meminfo_value(const std::string& key) {
  std::istringstream in(slurp("/proc/meminfo"));
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + ":", 0) == 0) return std::stoull(line.substr(key.size() + 1));
  return 0;
}

struct SmapsEntry {
  bool found = false;
  size_t anon_huge = 0;
  size_t locked = 0;
  std::string vm_flags;
};

// The smaps entry of the VMA holding p.
SmapsEntry smaps_of(const void* p) {
  const auto a = reinterpret_cast<uintptr_t>(p);
  std::istringstream in(slurp("/proc/self/smaps"));
  std::string line;
  SmapsEntry e;
  bool inside = false;
  while (std::getline(in, line)) {
    const size_t dash = line.find('-');
    const size_t sp = line.find(' ');
    if (dash != std::string::npos && sp != std::string::npos && dash < sp &&
        line.find(':') > sp) {
      const uint64_t start = std::stoull(line.substr(0, dash), nullptr, 16);
      const uint64_t end = std::stoull(line.substr(dash + 1, sp - dash - 1), nullptr, 16);
      if (inside) break;
      inside = a >= start && a < end;
      e.found = inside;
      continue;
    }
    if (!inside) continue;
    if (line.rfind("AnonHugePages:", 0) == 0) e.anon_huge = std::stoull(line.substr(14)) * 1024;
    if (line.rfind("Locked:", 0) == 0) e.locked = std::stoull(line.substr(7)) * 1024;
    if (line.rfind("VmFlags:", 0) == 0) e.vm_flags = line.substr(8) + " ";
  }
  return e;
}

// The PFN of every page of [p, p + bytes) from /proc/self/pagemap (0: hidden or absent).
std::vector<uint64_t> pfns(const void* p, size_t bytes) {
  std::vector<uint64_t> raw(bytes / kPage);
  const int fd = open("/proc/self/pagemap", O_RDONLY);
  EXPECT_GE(fd, 0);
  const off_t off = static_cast<off_t>(reinterpret_cast<uintptr_t>(p) / kPage * 8);
  EXPECT_EQ(pread(fd, raw.data(), raw.size() * 8, off), static_cast<ssize_t>(raw.size() * 8));
  close(fd);
  for (uint64_t& e : raw) e = (e >> 63) != 0 ? e & ((uint64_t{1} << 55) - 1) : 0;
  return raw;
}

bool pfns_visible() {
  int local = 1;
  return pfns(reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(&local) & ~(kPage - 1)),
              kPage)[0] != 0;
}

// Checks the contiguity `info` claims against the PFNs.
void expect_claims_hold(const mk_dma_info& info) {
  if (!pfns_visible()) return;  // not root: the kernel hides PFNs (the skip is in the caller)
  const std::vector<uint64_t> pf = pfns(info.vaddr, info.mapped);
  ASSERT_NE(pf[0], 0u);
  EXPECT_EQ(info.dma_addr, pf[0] * kPage);
  EXPECT_TRUE(info.flags & MK_DMA_INFO_PHYS_KNOWN);
  const size_t per_run = info.contig_size / kPage;
  ASSERT_GE(per_run, 1u);
  for (size_t i = 0; i < pf.size(); ++i) {
    ASSERT_NE(pf[i], 0u) << "page " << i << " not present: the buffer is not locked in";
    if (i % per_run != 0) {
      ASSERT_EQ(pf[i], pf[i - 1] + 1) << "page " << i << " breaks a run of "
                                      << info.contig_size << " bytes the flags claim";
    } else if (info.page_size > kPage) {
      ASSERT_EQ(pf[i] % (info.page_size / kPage), 0u) << "huge page " << i << " not aligned";
    }
  }
  if (info.flags & MK_DMA_INFO_CONTIGUOUS) {
    EXPECT_EQ(info.contig_size, info.mapped);
  }
  // The claim of normal pages is the weak one: contiguous only when pagemap showed it.
  if (info.flags & MK_DMA_INFO_NONCONTIG) {
    bool all = true;
    for (size_t i = 1; i < pf.size(); ++i) all = all && pf[i] == pf[i - 1] + 1;
    EXPECT_FALSE(all) << "NONCONTIG claimed, but pagemap shows one physical range";
  }
}

mk_dma_info info_of(const void* p) {
  mk_dma_info info{};
  EXPECT_EQ(mk_dma_get_info(p, &info), 0);
  return info;
}

bool all_zero(const void* p, size_t n) {
  const auto* c = static_cast<const unsigned char*>(p);
  return std::all_of(c, c + n, [](unsigned char b) { return b == 0; });
}

// Runs fn in a forked child; returns its exit status (or 128 + signal).
template <typename Fn>
int in_child(Fn fn) {
  const pid_t pid = fork();
  if (pid == 0) _exit(fn());
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

// Drops one capability from this thread's effective set (a child's only thread).
bool drop_capability(int cap) {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (syscall(SYS_capget, &hdr, data) != 0) return false;
  data[cap / 32].effective &= ~(1u << (cap % 32));
  return syscall(SYS_capset, &hdr, data) == 0;
}

// ------------------------------------------------------------------------- coherent buffers

TEST(DmaCoherent, NormalPagesAreZeroedLockedAndSayTheyAreNotContiguous) {
  const size_t before = status_bytes("VmLck");
  const size_t size = 1000 * 1000;  // not a page multiple
  mk_dma_addr_t dma = 0;
  void* p = mk_dma_alloc_coherent(size, &dma, MK_DMA_NO_HUGETLB | MK_DMA_NO_THP);
  ASSERT_NE(p, nullptr) << std::strerror(errno);
  const mk_dma_info info = info_of(p);
  EXPECT_EQ(info.vaddr, p);
  EXPECT_EQ(info.size, size);
  EXPECT_EQ(info.mapped, (size + kPage - 1) / kPage * kPage);
  EXPECT_EQ(info.page_size, kPage);
  EXPECT_EQ(info.dma_addr, dma);
  EXPECT_TRUE(info.flags & MK_DMA_INFO_LOCKED);
  EXPECT_FALSE(info.flags & (MK_DMA_INFO_HUGETLB | MK_DMA_INFO_THP));
  // Either NONCONTIG, or (by chance) CONTIGUOUS as pagemap showed: never both, never neither.
  EXPECT_NE(!(info.flags & MK_DMA_INFO_NONCONTIG), !(info.flags & MK_DMA_INFO_CONTIGUOUS));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % kPage, 0u);
  EXPECT_TRUE(all_zero(p, info.mapped));
  EXPECT_EQ(status_bytes("VmLck"), before + info.mapped);
  const SmapsEntry sm = smaps_of(p);
  EXPECT_NE(sm.vm_flags.find(" lo "), std::string::npos) << sm.vm_flags;
  EXPECT_EQ(sm.locked, info.mapped);
  EXPECT_EQ(sm.anon_huge, 0u);
  expect_claims_hold(info);
  // Any byte of the buffer finds it; the byte after it does not.
  EXPECT_EQ(info_of(static_cast<char*>(p) + size - 1).vaddr, p);
  mk_dma_info none;
  EXPECT_EQ(mk_dma_get_info(static_cast<char*>(p) + info.mapped, &none), -EINVAL);
  mk_dma_free_coherent(size, p, dma);
  EXPECT_EQ(status_bytes("VmLck"), before);
  EXPECT_EQ(mk_dma_get_info(p, &none), -EINVAL);
}

TEST(DmaCoherent, OnePageIsContiguous) {
  mk_dma_addr_t dma;
  void* p = mk_dma_alloc_coherent(100, &dma, MK_DMA_NO_HUGETLB | MK_DMA_NO_THP);
  ASSERT_NE(p, nullptr);
  const mk_dma_info info = info_of(p);
  EXPECT_TRUE(info.flags & MK_DMA_INFO_CONTIGUOUS);
  EXPECT_FALSE(info.flags & MK_DMA_INFO_NONCONTIG);
  EXPECT_EQ(info.contig_size, kPage);
  expect_claims_hold(info);
  mk_dma_free_coherent(100, p, dma);
}

TEST(DmaCoherent, TransparentHugePages) {
  const std::string thp = slurp("/sys/kernel/mm/transparent_hugepage/enabled");
  if (thp.empty() || thp.find("[never]") != std::string::npos)
    GTEST_SKIP() << "transparent huge pages are off here";
  const size_t huge = std::stoull(slurp("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size"));
  const size_t before = status_bytes("VmLck");
  const size_t size = 3 * huge + 5;
  mk_dma_addr_t dma;
  void* p = mk_dma_alloc_coherent(size, &dma, MK_DMA_NO_HUGETLB);
  ASSERT_NE(p, nullptr) << std::strerror(errno);
  const mk_dma_info info = info_of(p);
  ASSERT_TRUE(info.flags & MK_DMA_INFO_THP)
      << "the kernel gave no huge pages (memory too fragmented?): flags " << info.flags;
  EXPECT_EQ(info.page_size, huge);
  EXPECT_EQ(info.mapped, 4 * huge);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % huge, 0u);
  EXPECT_FALSE(info.flags & MK_DMA_INFO_NONCONTIG);
  EXPECT_TRUE(all_zero(p, info.mapped));
  EXPECT_EQ(status_bytes("VmLck"), before + info.mapped);
  const SmapsEntry sm = smaps_of(p);
  EXPECT_EQ(sm.anon_huge, info.mapped) << "smaps disagrees: not all THP";
  EXPECT_EQ(sm.locked, info.mapped);
  expect_claims_hold(info);
  mk_dma_free_coherent(size, p, dma);
  EXPECT_EQ(status_bytes("VmLck"), before);

  // One huge page: contiguous whatever the reader may see.
  p = mk_dma_alloc_coherent(huge, &dma, MK_DMA_NO_HUGETLB | MK_DMA_CONTIGUOUS);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(info_of(p).flags & MK_DMA_INFO_CONTIGUOUS);
  mk_dma_free_coherent(huge, p, dma);
}

// Explicit huge pages: ENOMEM without free ones; with some (reserved here when none are, as
// root, and given back), a hugetlb VMA ("ht"), locked but not counted in VmLck.
TEST(DmaCoherent, ExplicitHugePages) {
  const size_t huge = meminfo_value("Hugepagesize") * 1024;
  if (huge == 0) GTEST_SKIP() << "no hugetlbfs here";
  const auto free_huge = [] {
    return meminfo_value("HugePages_Free") - meminfo_value("HugePages_Rsvd");
  };
  const char* const knob = "/proc/sys/vm/nr_hugepages";
  const std::string saved = slurp(knob);
  bool reserved_here = false;
  if (free_huge() == 0) {
    mk_dma_addr_t dma;
    errno = 0;
    EXPECT_EQ(mk_dma_alloc_coherent(huge, &dma, MK_DMA_HUGETLB), nullptr);
    EXPECT_EQ(errno, ENOMEM);
    // Without MK_DMA_HUGETLB the allocation falls back.
    void* p = mk_dma_alloc_coherent(huge, &dma, 0);
    ASSERT_NE(p, nullptr);
    EXPECT_FALSE(info_of(p).flags & MK_DMA_INFO_HUGETLB);
    mk_dma_free_coherent(huge, p, dma);
    if (geteuid() != 0) GTEST_SKIP() << "no free huge pages, and not root to reserve some";
    std::ofstream(knob) << std::stoull(saved) + 2 << "\n";
    reserved_here = true;
    if (free_huge() < 2) {
      std::ofstream(knob) << saved;
      GTEST_SKIP() << "could not reserve 2 huge pages";
    }
  }
  const size_t before = status_bytes("VmLck");
  mk_dma_addr_t dma;
  void* p = mk_dma_alloc_coherent(huge + 1, &dma, MK_DMA_HUGETLB);
  const int err = errno;
  if (p != nullptr) {
    const mk_dma_info info = info_of(p);
    EXPECT_TRUE(info.flags & MK_DMA_INFO_HUGETLB);
    EXPECT_TRUE(info.flags & MK_DMA_INFO_LOCKED);
    EXPECT_EQ(info.page_size, huge);
    EXPECT_EQ(info.mapped, 2 * huge);
    EXPECT_EQ(info.dma_addr, dma);
    EXPECT_TRUE(all_zero(p, info.mapped));
    EXPECT_NE(smaps_of(p).vm_flags.find(" ht "), std::string::npos);
    EXPECT_EQ(status_bytes("VmLck"), before);  // the kernel does not count hugetlb pages
    expect_claims_hold(info);
    mk_dma_free_coherent(huge + 1, p, dma);
    // The default order prefers them.
    p = mk_dma_alloc_coherent(100, &dma, 0);
    EXPECT_TRUE(p != nullptr && (info_of(p).flags & MK_DMA_INFO_HUGETLB));
    mk_dma_free_coherent(100, p, dma);
  }
  if (reserved_here) std::ofstream(knob) << saved;
  ASSERT_NE(p, nullptr) << std::strerror(err);
}

TEST(DmaCoherent, ContiguousRequiredIsCheckedOrRefused) {
  if (!pfns_visible()) GTEST_SKIP() << "PFNs hidden (not root): covered by HiddenPfns";
  // 64 normal pages are very rarely one physical range: either ENOMEM or checked contiguous.
  mk_dma_addr_t dma;
  void* p = mk_dma_alloc_coherent(64 * kPage, &dma,
                                  MK_DMA_NO_HUGETLB | MK_DMA_NO_THP | MK_DMA_CONTIGUOUS);
  if (p == nullptr) {
    EXPECT_EQ(errno, ENOMEM);
  } else {
    EXPECT_TRUE(info_of(p).flags & MK_DMA_INFO_CONTIGUOUS);
    expect_claims_hold(info_of(p));
    mk_dma_free_coherent(64 * kPage, p, dma);
  }
}

TEST(DmaCoherent, BadArguments) {
  mk_dma_addr_t dma;
  errno = 0;
  EXPECT_EQ(mk_dma_alloc_coherent(0, &dma, 0), nullptr);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(mk_dma_alloc_coherent(4096, &dma, MK_DMA_HUGETLB | MK_DMA_NO_HUGETLB), nullptr);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(mk_dma_alloc_coherent(4096, &dma, 0x100), nullptr);
  EXPECT_EQ(errno, EINVAL);
  errno = 0;
  EXPECT_EQ(mk_dma_alloc_coherent(SIZE_MAX - 100, &dma, 0), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  mk_dma_free_coherent(123, nullptr, 0);  // ignored
}

// Over RLIMIT_MEMLOCK: NULL, ENOMEM, nothing left locked. A child without CAP_IPC_LOCK (root
// bypasses the limit with it).
TEST(DmaCoherent, TheLockLimitIsENOMEMNeverAPartialLock) {
  const int rc = in_child([] {
    if (geteuid() == 0 && !drop_capability(CAP_IPC_LOCK)) return 10;
    const struct rlimit rl{1 << 20, 1 << 20};  // 1 MiB
    if (setrlimit(RLIMIT_MEMLOCK, &rl) != 0) return 11;
    const size_t before = status_bytes("VmLck");
    for (int flags : {0, MK_DMA_NO_HUGETLB | MK_DMA_NO_THP}) {
      mk_dma_addr_t dma;
      errno = 0;
      if (mk_dma_alloc_coherent(4 << 20, &dma, flags) != nullptr) return 12;
      if (errno != ENOMEM) return 13;
      if (status_bytes("VmLck") != before) return 14;
    }
    // Under the limit it works.
    mk_dma_addr_t dma;
    void* p = mk_dma_alloc_coherent(256 << 10, &dma, MK_DMA_NO_HUGETLB | MK_DMA_NO_THP);
    if (p == nullptr) return 15;
    if (status_bytes("VmLck") != before + (256 << 10)) return 16;
    mk_dma_free_coherent(256 << 10, p, dma);
    return 0;
  });
  EXPECT_EQ(rc, 0);
}

// Without CAP_SYS_ADMIN the kernel hides PFNs: the handle is MK_DMA_ADDR_UNKNOWN and a
// contiguity that needs pagemap cannot be promised (EPERM).
TEST(DmaCoherent, HiddenPfns) {
  const int rc = in_child([] {
    if (geteuid() == 0 && !drop_capability(CAP_SYS_ADMIN)) return 10;
    mk_dma_addr_t dma = 0;
    void* p = mk_dma_alloc_coherent(8 * kPage, &dma, MK_DMA_NO_HUGETLB | MK_DMA_NO_THP);
    if (p == nullptr) return 11;
    if (dma != MK_DMA_ADDR_UNKNOWN) return 12;
    mk_dma_info info{};
    if (mk_dma_get_info(p, &info) != 0) return 13;
    if ((info.flags & (MK_DMA_INFO_PHYS_KNOWN | MK_DMA_INFO_CONTIGUOUS)) != 0) return 14;
    if ((info.flags & MK_DMA_INFO_NONCONTIG) == 0) return 15;
    if (mk_dma_virt_to_phys(p) != MK_DMA_ADDR_UNKNOWN) return 16;
    mk_dma_free_coherent(8 * kPage, p, dma);
    errno = 0;
    if (mk_dma_alloc_coherent(8 * kPage, &dma,
                              MK_DMA_NO_HUGETLB | MK_DMA_NO_THP | MK_DMA_CONTIGUOUS) != nullptr)
      return 17;
    return errno == EPERM ? 0 : 18;
  });
  EXPECT_EQ(rc, 0);
}

TEST(DmaCoherentDeathTest, BadFreesAreFatal) {
  mk_dma_addr_t dma;
  void* p = mk_dma_alloc_coherent(3 * kPage, &dma, MK_DMA_NO_HUGETLB | MK_DMA_NO_THP);
  ASSERT_NE(p, nullptr);
  EXPECT_DEATH(mk_dma_free_coherent(2 * kPage, p, dma),
               "memkit: ERROR: invalid-free mk_dma_free_coherent 0x[0-9a-f]+ size 8192, but");
  EXPECT_DEATH(mk_dma_free_coherent(3 * kPage, p, dma ^ 0x1000), "dma handle");
  EXPECT_DEATH(mk_dma_free_coherent(3 * kPage, static_cast<char*>(p) + kPage, dma),
               "inside a DMA buffer");
  int local;
  EXPECT_DEATH(mk_dma_free_coherent(4, &local, dma), "is not a live DMA buffer");
  mk_dma_free_coherent(3 * kPage, p, dma);
  EXPECT_DEATH(mk_dma_free_coherent(3 * kPage, p, dma), "is not a live DMA buffer");
}

TEST(DmaCoherent, VirtToPhysOfAnyPage) {
  if (!pfns_visible()) GTEST_SKIP() << "PFNs hidden (not root)";
  static char page[8192] __attribute__((aligned(4096)));
  page[100] = 1;
  const uint64_t pfn = pfns(page, kPage)[0];
  EXPECT_EQ(mk_dma_virt_to_phys(page + 100), pfn * kPage + 100);
}

// ------------------------------------------------------------------------------- dma pools

struct Block {
  char* p;
  mk_dma_addr_t dma;
};

// Allocates n blocks and checks the kernel's rules on each: aligned, not crossing a boundary
// (virtual and physical), distinct and not overlapping, the handle is the block's physical
// address, and a block fits in a physically contiguous run when it can.
std::vector<Block> alloc_and_check(mk_dma_pool_t* pool, size_t n, size_t size, size_t align,
                                   size_t boundary) {
  std::vector<Block> blocks;
  const bool visible = pfns_visible();
  for (size_t i = 0; i < n; ++i) {
    Block b{};
    b.p = static_cast<char*>(mk_dma_pool_alloc(pool, 0, &b.dma));
    EXPECT_NE(b.p, nullptr);
    if (b.p == nullptr) break;
    blocks.push_back(b);
    const auto a = reinterpret_cast<uintptr_t>(b.p);
    EXPECT_EQ(a % (align ? align : 1), 0u) << "block " << i;
    if (boundary != 0) {
      EXPECT_EQ(a / boundary, (a + size - 1) / boundary) << "block " << i << " crosses";
      if (visible) {
        EXPECT_EQ(b.dma / boundary, (b.dma + size - 1) / boundary);
      }
    }
    if (visible) {
      EXPECT_EQ(b.dma, mk_dma_virt_to_phys(b.p)) << "block " << i;
      mk_dma_info info{};
      EXPECT_EQ(mk_dma_get_info(b.p, &info), 0);
      if (size <= info.contig_size) {  // contiguous: the last byte is where the handle says
        EXPECT_EQ(mk_dma_virt_to_phys(b.p + size - 1), b.dma + size - 1) << "block " << i;
      }
    } else {
      EXPECT_EQ(b.dma, MK_DMA_ADDR_UNKNOWN);
    }
  }
  std::vector<Block> sorted = blocks;
  std::sort(sorted.begin(), sorted.end(), [](const Block& x, const Block& y) { return x.p < y.p; });
  for (size_t i = 1; i < sorted.size(); ++i)
    EXPECT_GE(sorted[i].p - sorted[i - 1].p, static_cast<ptrdiff_t>(size)) << "overlap";
  return blocks;
}

struct PoolCase {
  size_t size, align, boundary;
  int flags;
  size_t block;  // the block size the kernel's rules give
};

class DmaPoolRules : public ::testing::TestWithParam<PoolCase> {};

TEST_P(DmaPoolRules, AlignmentBoundaryAndHandles) {
  const PoolCase c = GetParam();
  mk_dma_pool_t* pool = mk_dma_pool_create_flags("test", c.size, c.align, c.boundary, c.flags);
  ASSERT_NE(pool, nullptr) << std::strerror(errno);
  mk_dma_pool_stats st{};
  mk_dma_pool_get_stats(pool, &st);
  EXPECT_EQ(st.size, c.block);
  EXPECT_EQ(st.chunks, 0u);
  // Enough blocks for three chunks at least.
  Block first{};
  first.p = static_cast<char*>(mk_dma_pool_alloc(pool, 0, &first.dma));
  ASSERT_NE(first.p, nullptr);
  mk_dma_pool_get_stats(pool, &st);
  EXPECT_EQ(st.chunks, 1u);
  EXPECT_GT(st.blocks_per_chunk, 0u);
  const size_t n = 2 * st.blocks_per_chunk + 3;
  std::vector<Block> blocks = alloc_and_check(pool, n, c.block, c.align, c.boundary);
  blocks.push_back(first);
  mk_dma_pool_get_stats(pool, &st);
  EXPECT_EQ(st.in_use, n + 1);
  EXPECT_EQ(st.chunks, 3u + (n + 1 > 3 * st.blocks_per_chunk ? 1 : 0));
  EXPECT_EQ(st.free_blocks + st.in_use, st.chunks * st.blocks_per_chunk);
  // zalloc zeroes a block that was dirtied.
  std::memset(blocks[0].p, 0xab, c.block);
  mk_dma_pool_free(pool, blocks[0].p, blocks[0].dma);
  mk_dma_addr_t dma;
  char* z = static_cast<char*>(mk_dma_pool_zalloc(pool, 0, &dma));
  EXPECT_EQ(z, blocks[0].p);  // the last freed goes out first
  EXPECT_EQ(dma, blocks[0].dma);
  EXPECT_TRUE(all_zero(z, c.block));
  for (const Block& b : blocks) mk_dma_pool_free(pool, b.p, b.dma);
  mk_dma_pool_get_stats(pool, &st);
  EXPECT_EQ(st.in_use, 0u);
  mk_dma_pool_destroy(pool);
}

const size_t kHuge = 2u << 20;
INSTANTIATE_TEST_SUITE_P(
    Kernel, DmaPoolRules,
    ::testing::Values(
        // size rounded up to 16 and to align; boundary 0: none
        PoolCase{1, 0, 0, 0, 16}, PoolCase{24, 8, 0, 0, 24}, PoolCase{100, 64, 0, 0, 128},
        // blocks that would straddle a boundary skip to it
        PoolCase{96, 32, 256, 0, 96}, PoolCase{1500, 0, 4096, 0, 1500},
        PoolCase{3000, 8, 8192, 0, 3000},
        // normal pages (not contiguous beyond a page): no block crosses a page even without a
        // boundary; larger blocks span pages
        PoolCase{1500, 4, 0, MK_DMA_NO_HUGETLB | MK_DMA_NO_THP, 1500},
        PoolCase{64, 64, 1024, MK_DMA_NO_HUGETLB | MK_DMA_NO_THP, 64},
        PoolCase{3 * 4096, 4096, 0, MK_DMA_NO_HUGETLB | MK_DMA_NO_THP, 3 * 4096},
        // blocks of a quarter of a huge page
        PoolCase{kHuge / 4, 4096, kHuge, MK_DMA_NO_HUGETLB, kHuge / 4}));

TEST(DmaPool, NormalPageBlocksNeverCrossAPage) {
  mk_dma_pool_t* pool =
      mk_dma_pool_create_flags("pages", 1000, 8, 0, MK_DMA_NO_HUGETLB | MK_DMA_NO_THP);
  ASSERT_NE(pool, nullptr);
  std::vector<Block> blocks;
  for (int i = 0; i < 200; ++i) {
    Block b{};
    b.p = static_cast<char*>(mk_dma_pool_alloc(pool, 0, &b.dma));
    ASSERT_NE(b.p, nullptr);
    const auto a = reinterpret_cast<uintptr_t>(b.p);
    EXPECT_EQ(a / kPage, (a + 1000 - 1) / kPage);
    blocks.push_back(b);
  }
  mk_dma_pool_stats st{};
  mk_dma_pool_get_stats(pool, &st);
  EXPECT_EQ(st.blocks_per_chunk, st.chunk_bytes / kPage * (kPage / 1000));
  for (const Block& b : blocks) mk_dma_pool_free(pool, b.p, b.dma);
  mk_dma_pool_destroy(pool);
}

TEST(DmaPool, TheKernelsArgumentChecks) {
  for (const auto& [size, align, boundary] : std::vector<std::tuple<size_t, size_t, size_t>>{
           {0, 0, 0},          // size 0
           {64, 3, 0},         // align not a power of two
           {64, 0, 32},        // boundary < size
           {64, 0, 1000},      // boundary not a power of two
           {64, 2 * kPage, 0}, // align above the page size (memkit's limit)
       }) {
    errno = 0;
    EXPECT_EQ(mk_dma_pool_create("bad", size, align, boundary), nullptr)
        << size << " " << align << " " << boundary;
    EXPECT_EQ(errno, EINVAL);
  }
  mk_dma_pool_destroy(nullptr);
}

TEST(DmaPoolDeathTest, BadFreesAreFatal) {
  mk_dma_pool_t* pool = mk_dma_pool_create("desc", 64, 64, 0);
  ASSERT_NE(pool, nullptr);
  mk_dma_addr_t dma;
  char* b = static_cast<char*>(mk_dma_pool_alloc(pool, 0, &dma));
  ASSERT_NE(b, nullptr);
  EXPECT_DEATH(mk_dma_pool_free(pool, b + 8, dma),
               "memkit: ERROR: invalid-free mk_dma_pool_free 0x[0-9a-f]+ is inside a block of "
               "dma pool desc");
  int local;
  EXPECT_DEATH(mk_dma_pool_free(pool, &local, dma), "is not a block of dma pool desc");
  EXPECT_DEATH(mk_dma_pool_free(pool, b, dma + 1), "dma handle");
  EXPECT_DEATH(mk_dma_pool_free(pool, b + 64, dma + 64), "double-free.*already free");
  mk_dma_pool_free(pool, b, dma);
  EXPECT_DEATH(mk_dma_pool_free(pool, b, dma), "double-free mk_dma_pool_free");
  mk_dma_pool_destroy(pool);
}

TEST(DmaPool, DestroyWithBlocksOutWarnsAndKeepsThem) {
  mk_dma_pool_t* pool = mk_dma_pool_create("busy", 32, 0, 0);
  ASSERT_NE(pool, nullptr);
  mk_dma_addr_t dma;
  char* b = static_cast<char*>(mk_dma_pool_alloc(pool, 0, &dma));
  ASSERT_NE(b, nullptr);
  testing::internal::CaptureStderr();
  mk_dma_pool_destroy(pool);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("memkit: warning: dma pool busy destroyed with 1 blocks still allocated"),
            std::string::npos)
      << err;
  b[0] = 1;  // still mapped (and locked): a device may still write there
  mk_dma_info info{};
  EXPECT_EQ(mk_dma_get_info(b, &info), 0);
}

// ---------------------------------------------------------------------------------- C++ API

TEST(DmaCpp, BufferAndPool) {
  memkit::DmaBuffer buf = memkit::DmaBuffer::allocate(10000, MK_DMA_NO_HUGETLB | MK_DMA_NO_THP);
  ASSERT_TRUE(buf);
  EXPECT_EQ(buf.size(), 10000u);
  EXPECT_TRUE(buf.info().flags & MK_DMA_INFO_LOCKED);
  EXPECT_EQ(buf.dma_addr(), buf.info().dma_addr);
  memkit::DmaBuffer moved = std::move(buf);
  EXPECT_FALSE(buf);
  EXPECT_TRUE(moved);
  moved.reset();
  EXPECT_FALSE(moved);

  memkit::DmaPool pool("cpp", 48, 16, 4096);
  ASSERT_TRUE(pool);
  memkit::DmaPool::Block b = pool.zalloc();
  ASSERT_NE(b.vaddr, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b.vaddr) % 16, 0u);
  pool.free(b);
}

}  // namespace
