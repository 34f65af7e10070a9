// memkit — virtual to physical through /proc/PID/pagemap (src/inspect/pagemap.h)
//
// One 64-bit little-endian entry per virtual page, at file offset (vaddr / page size) · 8
// (Documentation/admin-guide/mm/pagemap.rst):
//
//   63 present   62 swapped   61 file page or shared anonymous   58 guard region (6.15)
//   57 uffd-wp   56 exclusively mapped   55 soft-dirty (0 without CONFIG_MEM_SOFT_DIRTY)
//   0-54 PFN when present; when swapped, 0-4 swap type and 5-54 swap offset
//
// Since Linux 4.2 the PFN field reads 0 for a reader without CAP_SYS_ADMIN (a Rowhammer
// mitigation): a present page with PFN 0 means "hidden", not frame 0. Opening the file needs
// ptrace-read access to the process; reads must be 8-byte aligned and sized (else EINVAL);
// an unmapped or untouched page reads 0.
//
//   physical address = (PFN << PAGE_SHIFT) | (vaddr & (page size - 1))
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "inspect/procfs.h"

namespace memkit::inspect {

struct PagemapEntry {
  uint64_t raw = 0;

  static constexpr uint64_t kPfnMask = (uint64_t{1} << 55) - 1;

  bool present() const { return (raw >> 63) & 1; }
  bool swapped() const { return (raw >> 62) & 1; }
  bool file_or_shared() const { return (raw >> 61) & 1; }
  bool guard() const { return (raw >> 58) & 1; }
  bool uffd_wp() const { return (raw >> 57) & 1; }
  bool exclusive() const { return (raw >> 56) & 1; }
  bool soft_dirty() const { return (raw >> 55) & 1; }
  /// The page frame number of a present page (0: hidden from this reader, or not present).
  uint64_t pfn() const { return present() ? raw & kPfnMask : 0; }
  unsigned swap_type() const { return swapped() ? static_cast<unsigned>(raw & 0x1f) : 0; }
  uint64_t swap_offset() const { return swapped() ? (raw & kPfnMask) >> 5 : 0; }
  /// Present, but the kernel zeroed the PFN (the reader lacks CAP_SYS_ADMIN).
  bool pfn_hidden() const { return present() && pfn() == 0; }
  /// The physical address of `vaddr` in this page; 0 when not present or hidden.
  uint64_t physical_address(uint64_t vaddr, uint64_t page_size) const;
};

/// Decodes a run of entries as read from the file (little-endian u64s); a length that is not
/// a multiple of 8 is an InspectError naming `path`.
std::vector<PagemapEntry> parse_pagemap(std::string_view bytes, const std::string& path);

/// /proc/PID/pagemap held open, read one entry at a time with pread.
class PagemapReader {
 public:
  /// Opens PID's pagemap (rel "1234/pagemap" under fs); throws InspectError (permission
  /// denied, no such process).
  PagemapReader(const ProcFs& fs, const std::string& pid);
  ~PagemapReader();
  PagemapReader(const PagemapReader&) = delete;
  PagemapReader& operator=(const PagemapReader&) = delete;

  /// The entry of the page holding `vaddr`. Throws InspectError on a read error or when the
  /// file has no entry there (past the end of the address space or of a snapshot's copy).
  PagemapEntry entry(uint64_t vaddr, uint64_t page_size) const;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace memkit::inspect
