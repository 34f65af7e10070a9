// memkit — /proc/meminfo and what `free` makes of it (src/inspect/meminfo.cpp): see meminfo.h.
#include "inspect/meminfo.h"

#include <unordered_set>

#include "inspect/scan.h"

namespace memkit::inspect {

const MeminfoField* Meminfo::find(std::string_view key) const {
  for (const MeminfoField& f : fields)
    if (f.key == key) return &f;
  return nullptr;
}

std::optional<uint64_t> Meminfo::bytes(std::string_view key) const {
  const MeminfoField* f = find(key);
  if (f == nullptr) return std::nullopt;
  return f->bytes();
}

uint64_t Meminfo::require(std::string_view key) const {
  const MeminfoField* f = find(key);
  if (f == nullptr) throw InspectError(path, "no " + std::string(key) + " line");
  return f->bytes();
}

Meminfo parse_meminfo(std::string_view text, const std::string& path) {
  static const char kFormat[] = "\"Key: value [kB]\"";
  Meminfo info;
  info.path = path;
  const std::vector<TextLine> lines = complete_lines(text, path);

  std::unordered_set<std::string_view> seen;
  for (const TextLine& line : lines) {
    const size_t colon = line.text.find(':');
    if (colon == std::string_view::npos || colon == 0) throw expected_error(path, line, kFormat);
    const std::string_view key = line.text.substr(0, colon);
    for (const char c : key)
      if (c == ' ' || c == '\t' || static_cast<unsigned char>(c) < 0x21 ||
          static_cast<unsigned char>(c) > 0x7e)
        throw expected_error(path, line, kFormat);
    const std::vector<std::string_view> rest = split_ws(line.text.substr(colon + 1));
    if (rest.empty() || rest.size() > 2 || (rest.size() == 2 && rest[1] != "kB"))
      throw expected_error(path, line, kFormat);

    MeminfoField field;
    field.key = std::string(key);
    field.kb = rest.size() == 2;
    if (field.kb) {
      field.value = parse_kb(rest[0], path, line.number, key);
    } else if (!parse_u64(rest[0], &field.value)) {
      throw line_error(path, line.number,
                       std::string(key) + ": " + quote(rest[0]) + " is not a number");
    }
    if (!seen.insert(key).second)
      throw line_error(path, line.number, std::string(key) + " appears twice");
    info.fields.push_back(std::move(field));
  }
  return info;
}

Meminfo read_meminfo(const ProcFs& fs) {
  return parse_meminfo(fs.read("meminfo"), fs.proc_path("meminfo"));
}

const char* free_formula_text(FreeFormula formula) {
  switch (formula) {
    case FreeFormula::kAvailable:
      return "used = total - available (procps-ng >= 4.0.1; --classic for the 3.3 formula)";
    case FreeFormula::kClassic:
      return "used = total - free - buffers - cache (procps-ng 3.3, htop; cache = Cached + "
             "SReclaimable)";
  }
  return "";
}

FreeSummary compute_free(const Meminfo& info, FreeFormula formula) {
  FreeSummary s;
  s.formula = formula;
  s.total = info.require("MemTotal");
  s.free = info.require("MemFree");
  s.swap_total = info.require("SwapTotal");
  s.swap_free = info.require("SwapFree");
  s.buffers = info.bytes("Buffers").value_or(0);
  s.cache = info.bytes("Cached").value_or(0) + info.bytes("SReclaimable").value_or(0);
  s.buff_cache = s.buffers + s.cache;
  s.shared = info.bytes("Shmem").value_or(0);

  // procps-ng 4.0.2 library/meminfo.c: MemAvailable absent or 0 → MemFree; larger than
  // MemTotal (the "lxc container" guard) → MemFree.
  const std::optional<uint64_t> avail = info.bytes("MemAvailable");
  if (!avail) {
    s.available = s.free;
    s.available_source = "MemFree (this kernel has no MemAvailable line)";
  } else if (*avail == 0) {
    s.available = s.free;
    s.available_source = "MemFree (MemAvailable is 0)";
  } else if (*avail > s.total) {
    s.available = s.free;
    s.available_source = "MemFree (MemAvailable exceeds MemTotal)";
  } else {
    s.available = *avail;
  }

  const auto total = static_cast<int64_t>(s.total);
  if (formula == FreeFormula::kAvailable) {
    s.used = total - static_cast<int64_t>(s.available);
  } else {
    s.used = total - static_cast<int64_t>(s.free) - static_cast<int64_t>(s.buffers) -
             static_cast<int64_t>(s.cache);
  }
  if (s.used < 0) {
    s.used = total - static_cast<int64_t>(s.free);
    s.used_fell_back = true;
  }
  s.swap_used = static_cast<int64_t>(s.swap_total) - static_cast<int64_t>(s.swap_free);
  return s;
}

namespace {

struct Description {
  const char* key;
  const char* text;
};

// Documentation/filesystems/proc.rst "meminfo", fs/proc/meminfo.c and reference §4.1.
constexpr Description kDescriptions[] = {
    {"MemTotal", "usable RAM: physical memory minus reserved pages and the kernel image"},
    {"MemFree", "RAM not used for anything (LowFree + HighFree)"},
    {"MemAvailable",
     "estimate of memory available for new programs without swapping: free + reclaimable page "
     "cache and slab, minus watermarks"},
    {"Buffers", "page cache of raw block devices (filesystem metadata, not file contents)"},
    {"Cached", "page cache of files, including tmpfs and shared memory (Shmem); excludes "
               "SwapCached and Buffers"},
    {"SwapCached", "memory swapped out and back in, still also in the swap file (no I/O needed "
                   "to evict it again)"},
    {"Active", "memory used recently, normally not reclaimed unless needed: Active(anon) + "
               "Active(file)"},
    {"Inactive", "memory used less recently, first to be reclaimed: Inactive(anon) + "
                 "Inactive(file)"},
    {"Active(anon)", "anonymous and swap-backed (tmpfs/shmem) memory on the active LRU list"},
    {"Inactive(anon)", "anonymous and swap-backed memory on the inactive LRU list: candidates "
                       "for swapping out"},
    {"Active(file)", "file page cache on the active LRU list"},
    {"Inactive(file)", "file page cache on the inactive LRU list: first to be reclaimed"},
    {"Unevictable", "memory that cannot be reclaimed (mlocked, ramfs, locked shm)"},
    {"Mlocked", "memory locked with mlock()/mlockall()"},
    {"HighTotal", "total highmem (32-bit kernels: memory not permanently mapped by the kernel)"},
    {"HighFree", "free highmem"},
    {"LowTotal", "total lowmem (memory the kernel can address directly)"},
    {"LowFree", "free lowmem"},
    {"MmapCopy", "memory used to copy mmap()ed files (no-MMU kernels)"},
    {"SwapTotal", "total swap space"},
    {"SwapFree", "swap space not in use"},
    {"Zswap", "memory used by the zswap compressed swap cache"},
    {"Zswapped", "amount of anonymous memory stored (compressed) in zswap"},
    {"Dirty", "memory waiting to be written back to disk"},
    {"Writeback", "memory being written back to disk now"},
    {"AnonPages", "anonymous (non file-backed) memory mapped into user page tables"},
    {"Mapped", "files (page cache) mapped into user address spaces with mmap, e.g. libraries"},
    {"Shmem", "shared memory (SysV shm, POSIX shm, tmpfs, shared anonymous mappings); counted in "
              "Cached too"},
    {"KReclaimable", "kernel memory the kernel will reclaim under pressure: SReclaimable + other "
                     "reclaimable kernel allocations"},
    {"Slab", "kernel slab allocator memory: SReclaimable + SUnreclaim"},
    {"SReclaimable", "slab memory that can be reclaimed (dentry and inode caches)"},
    {"SUnreclaim", "slab memory that cannot be reclaimed under pressure"},
    {"KernelStack", "kernel stacks of all tasks (one per thread)"},
    {"ShadowCallStack", "shadow call stacks (arm64 CONFIG_SHADOW_CALL_STACK)"},
    {"PageTables", "memory in the lowest level of user page tables"},
    {"SecPageTables", "secondary page tables (KVM stage-2, IOMMU)"},
    {"NFS_Unstable", "NFS pages sent to the server but not yet committed (always 0 since 5.8)"},
    {"Bounce", "memory used for block device bounce buffers"},
    {"WritebackTmp", "memory used by FUSE for temporary writeback buffers"},
    {"CommitLimit", "overcommit limit: (RAM - hugetlb) * overcommit_ratio/100 + swap; enforced "
                    "only with vm.overcommit_memory=2"},
    {"Committed_AS", "memory committed (promised) to all processes: what would be needed if all "
                     "of it were touched"},
    {"VmallocTotal", "size of the kernel's vmalloc address space"},
    {"VmallocUsed", "vmalloc memory in use"},
    {"VmallocChunk", "largest free vmalloc block (0 since 4.4: no longer computed)"},
    {"Percpu", "memory of the per-CPU allocator (per-CPU variables of the kernel)"},
    {"HardwareCorrupted", "memory the kernel found corrupted and took out of use"},
    {"AnonHugePages", "anonymous transparent huge pages mapped into user page tables"},
    {"ShmemHugePages", "shared memory (tmpfs/shmem) backed by transparent huge pages"},
    {"ShmemPmdMapped", "shared memory huge pages mapped into user space with a PMD"},
    {"FileHugePages", "file page cache backed by transparent huge pages"},
    {"FilePmdMapped", "file huge pages mapped into user space with a PMD"},
    {"CmaTotal", "memory reserved for the contiguous memory allocator (CMA)"},
    {"CmaFree", "free CMA memory"},
    {"Unaccepted", "memory not yet accepted by the guest (confidential VMs)"},
    {"Balloon", "memory taken by the virtio balloon driver (returned to the host)"},
    {"GPUActive", "memory used by GPU drivers, active"},
    {"GPUReclaim", "memory used by GPU drivers, reclaimable"},
    {"HugePages_Total", "number of pages in the hugetlb pool (a count, not kB)"},
    {"HugePages_Free", "hugetlb pool pages not yet allocated (a count)"},
    {"HugePages_Rsvd", "hugetlb pages reserved for mappings but not yet faulted in (a count)"},
    {"HugePages_Surp", "hugetlb pages above vm.nr_hugepages (overcommitted; a count)"},
    {"Hugepagesize", "default huge page size"},
    {"Hugetlb", "total memory of all hugetlb pools, all page sizes"},
    {"DirectMap4k", "kernel direct map of RAM using 4 KiB pages"},
    {"DirectMap2M", "kernel direct map of RAM using 2 MiB pages"},
    {"DirectMap4M", "kernel direct map of RAM using 4 MiB pages (32-bit)"},
    {"DirectMap1G", "kernel direct map of RAM using 1 GiB pages"},
};

}  // namespace

const char* meminfo_description(std::string_view key) {
  for (const Description& d : kDescriptions)
    if (key == d.key) return d.text;
  return nullptr;
}

}  // namespace memkit::inspect
