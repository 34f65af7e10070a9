// memkit — coherent DMA buffers (src/dma/dma.cpp): mk_dma_alloc_coherent and its registry.
//
// A buffer is one mapping of its own: hugetlbfs pages, else transparent huge pages (kept only
// when the kernel really made them: MADV_COLLAPSE succeeded, or pagemap shows aligned runs of
// PFNs), else normal pages (MADV_NOHUGEPAGE, so that the answer does not depend on THP being
// "always"). It is locked with mlock after it is populated; any failure unmaps it whole.
// The registry: records (struct mk_dma_info) in pages chained from g_registry, under g_lock.
#include "dma/dma.h"

#include <errno.h>
#include <pthread.h>

#include <cstdio>
#include <cstring>

#include "os/dma_os.h"
#include "os/os.h"
#include "os/report.h"

namespace memkit::dma {
namespace {

constexpr uint64_t kPresent = uint64_t{1} << 63;
constexpr uint64_t kPfnMask = (uint64_t{1} << 55) - 1;

struct RegistryPage {
  RegistryPage* next;
  size_t capacity;
  mk_dma_info rec[1];  // capacity records; vaddr == nullptr: a free slot
};

pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
RegistryPage* g_registry = nullptr;

struct Guard {
  Guard() { pthread_mutex_lock(&g_lock); }
  ~Guard() { pthread_mutex_unlock(&g_lock); }
  Guard(const Guard&) = delete;
  Guard& operator=(const Guard&) = delete;
};

// Under g_lock.
mk_dma_info* find_locked(const void* addr) {
  const auto a = reinterpret_cast<uintptr_t>(addr);
  for (RegistryPage* pg = g_registry; pg != nullptr; pg = pg->next)
    for (size_t i = 0; i < pg->capacity; ++i) {
      mk_dma_info& r = pg->rec[i];
      const auto start = reinterpret_cast<uintptr_t>(r.vaddr);
      if (r.vaddr != nullptr && a >= start && a - start < r.mapped) return &r;
    }
  return nullptr;
}

// Under g_lock: a free slot, mapping a new registry page when all are taken. nullptr: ENOMEM.
mk_dma_info* free_slot_locked() {
  for (RegistryPage* pg = g_registry; pg != nullptr; pg = pg->next)
    for (size_t i = 0; i < pg->capacity; ++i)
      if (pg->rec[i].vaddr == nullptr) return &pg->rec[i];
  const size_t ps = os::page_size();
  void* mem = nullptr;
  if (os::system_os().map(ps, ps, &mem) != 0) return nullptr;
  auto* pg = static_cast<RegistryPage*>(mem);
  pg->capacity = (ps - offsetof(RegistryPage, rec)) / sizeof(mk_dma_info);
  pg->next = g_registry;
  g_registry = pg;
  return &pg->rec[0];
}

// What pagemap says of [p, p + bytes): whether every PFN could be read, whether each aligned
// run of `unit` bytes is physically contiguous and aligned, whether the whole range is one
// physical range, and the physical address of p.
struct PhysLayout {
  bool known = false;
  bool units_contiguous = false;
  bool all_contiguous = false;
  mk_dma_addr_t first = MK_DMA_ADDR_UNKNOWN;
};

PhysLayout phys_layout(const void* p, size_t bytes, size_t unit) {
  PhysLayout out;
  const size_t ps = os::page_size();
  const size_t pages = bytes / ps;
  const size_t per_unit = unit / ps;
  uint64_t batch[512];
  uint64_t prev = 0;
  bool units = true;
  bool all = true;
  for (size_t done = 0; done < pages;) {
    const size_t n = pages - done < 512 ? pages - done : 512;
    if (os::read_pagemap(static_cast<const char*>(p) + done * ps, n, batch) != 0) return out;
    for (size_t i = 0; i < n; ++i) {
      const uint64_t e = batch[i];
      if ((e & kPresent) == 0 || (e & kPfnMask) == 0) return out;  // absent or hidden
      const uint64_t pfn = e & kPfnMask;
      const size_t idx = done + i;
      if (idx == 0) out.first = pfn * ps;
      if (idx % per_unit == 0) {
        if (pfn % per_unit != 0) units = false;
      } else if (pfn != prev + 1) {
        units = false;
      }
      if (idx != 0 && pfn != prev + 1) all = false;
      prev = pfn;
    }
    done += n;
  }
  out.known = true;
  out.units_contiguous = units;
  out.all_contiguous = all;
  return out;
}

size_t round_up(size_t v, size_t to) { return (v + to - 1) / to * to; }

// Writes a zero into every page (the mapping is fresh, so it stays zeroed): faults the pages
// in now, huge ones where the mapping allows.
void touch(void* p, size_t bytes, size_t step) {
  volatile char* c = static_cast<volatile char*>(p);
  for (size_t off = 0; off < bytes; off += step) c[off] = 0;
}

// One backing attempt. kind: 0 hugetlb, 1 THP, 2 normal pages. 0, or an errno value with
// nothing left mapped.
int try_backing(int kind, size_t size, mk_dma_info* info) {
  const os::OsApi& sys = os::system_os();
  const size_t ps = os::page_size();
  const size_t unit = kind == 0 ? os::hugetlb_page_size() : kind == 1 ? os::thp_size() : ps;
  if (unit == 0) return ENOMEM;
  if (size > SIZE_MAX - unit) return ENOMEM;
  const size_t mapped = round_up(size, unit);
  // Normal pages are aligned like the kernel's coherent buffers: to the smallest power of two
  // >= the size (up to 4 MiB, order 10), so a dma_pool's boundaries fall on its chunks'.
  size_t align = unit;
  if (kind == 2)
    while (align < mapped && align < (size_t{4} << 20)) align <<= 1;
  void* p = nullptr;
  int err = kind == 0 ? os::map_hugetlb(mapped, unit, &p) : sys.map(mapped, align, &p);
  if (err != 0) return err == EINVAL && kind == 0 ? ENOMEM : err;
  bool collapsed = false;
  if (kind == 1) {
    sys.hugepage_hint(p, mapped);
    touch(p, mapped, unit);
    collapsed = os::thp_collapse(p, mapped) == 0;
  } else if (kind == 2) {
    os::no_hugepage(p, mapped);
  }
  err = os::lock(p, mapped);  // populates what is not yet
  if (err == 0) touch(p, mapped, kind == 0 ? unit : ps);
  if (err != 0) {
    sys.release(p, mapped);
    return err;
  }
  const PhysLayout phys = phys_layout(p, mapped, unit);
  if (kind == 1 && !(phys.known ? phys.units_contiguous : collapsed)) {
    sys.release(p, mapped);  // the kernel gave normal pages: the caller falls back
    return EAGAIN;
  }
  info->vaddr = p;
  info->size = size;
  info->mapped = mapped;
  info->page_size = unit;
  info->dma_addr = phys.known ? phys.first : MK_DMA_ADDR_UNKNOWN;
  unsigned flags = MK_DMA_INFO_LOCKED;
  if (kind == 0) flags |= MK_DMA_INFO_HUGETLB;
  if (kind == 1) flags |= MK_DMA_INFO_THP;
  if (phys.known) flags |= MK_DMA_INFO_PHYS_KNOWN;
  // One (huge or base) page is contiguous by itself; more, only as pagemap shows.
  if (mapped == unit || (phys.known && phys.all_contiguous)) flags |= MK_DMA_INFO_CONTIGUOUS;
  if (kind == 2 && (flags & MK_DMA_INFO_CONTIGUOUS) == 0) flags |= MK_DMA_INFO_NONCONTIG;
  info->flags = flags;
  info->contig_size = (flags & MK_DMA_INFO_CONTIGUOUS) != 0 ? mapped : unit;
  return 0;
}

}  // namespace

int alloc_coherent(size_t size, int flags, mk_dma_info* out) {
  const unsigned f = static_cast<unsigned>(flags);
  if (size == 0 || (f & ~0xfu) != 0 || ((f & MK_DMA_HUGETLB) && (f & MK_DMA_NO_HUGETLB)))
    return EINVAL;
  mk_dma_info info{};
  int err = ENOMEM;
  if ((f & MK_DMA_NO_HUGETLB) == 0) err = try_backing(0, size, &info);
  if (err != 0 && (f & MK_DMA_HUGETLB) != 0) return ENOMEM;
  if (err != 0 && (f & MK_DMA_NO_THP) == 0) {
    err = try_backing(1, size, &info);
    if (err == ENOMEM && os::thp_size() != 0) return err;  // the lock limit: pages would not do
  }
  if (err != 0) err = try_backing(2, size, &info);
  if (err != 0) return err == EAGAIN ? ENOMEM : err;
  if ((f & MK_DMA_CONTIGUOUS) != 0 && (info.flags & MK_DMA_INFO_CONTIGUOUS) == 0) {
    os::system_os().release(info.vaddr, info.mapped);
    return (info.flags & MK_DMA_INFO_PHYS_KNOWN) != 0 ? ENOMEM : EPERM;
  }
  {
    Guard g;
    mk_dma_info* slot = free_slot_locked();
    if (slot != nullptr) {
      *slot = info;
      *out = info;
      return 0;
    }
  }
  os::system_os().release(info.vaddr, info.mapped);
  return ENOMEM;
}

void free_coherent(size_t size, void* vaddr, mk_dma_addr_t handle, const char* function) {
  if (vaddr == nullptr) return;
  mk_dma_info rec;
  {
    Guard g;
    mk_dma_info* r = find_locked(vaddr);
    char detail[160];
    if (r == nullptr || r->vaddr != vaddr) {
      report_fatal("invalid-free", function, vaddr,
                   r == nullptr ? "is not a live DMA buffer"
                                : "is inside a DMA buffer, not at its start");
    }
    if (size != r->size) {
      std::snprintf(detail, sizeof detail, "size %zu, but the buffer was allocated with %zu",
                    size, r->size);
      report_fatal("invalid-free", function, vaddr, detail);
    }
    if (handle != r->dma_addr) {
      std::snprintf(detail, sizeof detail, "dma handle %#llx, but the buffer's is %#llx",
                    static_cast<unsigned long long>(handle),
                    static_cast<unsigned long long>(r->dma_addr));
      report_fatal("invalid-free", function, vaddr, detail);
    }
    rec = *r;
    r->vaddr = nullptr;
  }
  os::system_os().release(rec.vaddr, rec.mapped);  // unmapping unlocks
}

mk_dma_addr_t virt_to_phys(const void* p) {
  const size_t ps = os::page_size();
  uint64_t e = 0;
  if (os::read_pagemap(p, 1, &e) != 0) return MK_DMA_ADDR_UNKNOWN;
  if ((e & kPresent) == 0 || (e & kPfnMask) == 0) return MK_DMA_ADDR_UNKNOWN;
  return (e & kPfnMask) * ps + (reinterpret_cast<uintptr_t>(p) & (ps - 1));
}

}  // namespace memkit::dma

extern "C" {

void* mk_dma_alloc_coherent(size_t size, mk_dma_addr_t* dma_handle, int flags) {
  mk_dma_info info;
  const int err = memkit::dma::alloc_coherent(size, flags, &info);
  if (err != 0) {
    errno = err;
    return nullptr;
  }
  if (dma_handle != nullptr) *dma_handle = info.dma_addr;
  return info.vaddr;
}

void mk_dma_free_coherent(size_t size, void* vaddr, mk_dma_addr_t dma_handle) {
  memkit::dma::free_coherent(size, vaddr, dma_handle, "mk_dma_free_coherent");
}

int mk_dma_get_info(const void* addr, struct mk_dma_info* out) {
  memkit::dma::Guard g;
  const mk_dma_info* r = memkit::dma::find_locked(addr);
  if (r == nullptr) return -EINVAL;
  *out = *r;
  return 0;
}

mk_dma_addr_t mk_dma_virt_to_phys(const void* addr) { return memkit::dma::virt_to_phys(addr); }

}  // extern "C"
