// memkit — a process's address space: /proc/PID/maps, smaps, smaps_rollup (src/inspect/maps.h)
//
// maps: one line per VMA (fs/proc/task_mmu.c show_map_vma), "start-end perms offset dev inode
// [path]": hex addresses, perms rwxp or rwxs, hex offset, "maj:min" in hex, decimal inode, then
// the path padded to column 74. The path may hold spaces and may end in " (deleted)";
// pseudo-paths are [heap], [stack], [vdso], [vvar], [vvar_vclock], [vsyscall], [anon:NAME], ...
//
// smaps: the same header line, then "Key: N kB" lines (the set varies by kernel, so every one
// is kept), a few unitless "Key: N" (THPeligible, ProtectionKey) and "VmFlags: rd wr ...".
// smaps_rollup: one header "start-end ---p 00000000 00:00 0 [rollup]" and the fields summed
// over every VMA (plus Pss_Anon, Pss_File, Pss_Shmem).
//
// Every parser checks the whole text before anything is printed: a malformed line, an address
// range that is empty or goes backward, a Size field that is not the range's size, an empty
// rollup or a last line without its '\n' (a truncated copy) is an InspectError naming the file
// and the line.
//
// Classification (reference §4.5), from the VMAs and the boundaries in /proc/PID/stat:
//
//   [heap] → HEAP, [stack] → STACK, [vdso] → VDSO, [vvar*] → VVAR, [vsyscall] → VSYSCALL
//   a VMA of the executable (the file mapped at start_code):
//       overlapping [start_data, end_data) → DATA (this takes in the read-only RELRO page),
//       else executable → TEXT, else writable → DATA, else read-only image (ELF header,
//       rodata) → TEXT
//   the anonymous VMA starting where the executable's last VMA ends, below start_brk → BSS
//   anything else → MMAP, with a detail: anon, anon-shared, lib-text and lib-data (a file
//   that has an executable VMA), file, file-shared
//
// compute_vm_counters() recomputes /proc/PID/status's VmSize, VmData, VmStk, VmExe and VmLib
// from the VMAs the way the kernel accounts them (mm/mmap.c vm_stat_account, task_mem):
//
//   VmSize = Σ size of every VMA but [vsyscall] (the gate area is no VMA of the mm)
//   VmData = Σ size where writable, private and not a stack   (VM_WRITE & ~VM_SHARED & ~VM_STACK)
//   VmStk  = Σ size of stack VMAs (VmFlags "gd", VM_GROWSDOWN; [stack] without smaps)
//   exec   = Σ size where executable, not writable, not a stack, but [vsyscall]
//   VmExe  = min(PAGE_ALIGN(end_code) - (start_code & PAGE_MASK), exec)
//            (without start_code: the executable VMAs of the executable)
//   VmLib  = exec - VmExe
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "inspect/procfs.h"

namespace memkit::inspect {

struct Vma {
  uint64_t start = 0;
  uint64_t end = 0;
  bool read = false;
  bool write = false;
  bool exec = false;
  bool shared = false;  // 's' (MAP_SHARED) rather than 'p'
  uint64_t offset = 0;
  unsigned dev_major = 0;
  unsigned dev_minor = 0;
  uint64_t inode = 0;
  std::string name;  // the path or pseudo-path; empty for plain anonymous memory

  uint64_t size() const { return end - start; }
  /// "r-xp" as in the file.
  std::string perms() const;
  bool deleted() const;
  bool contains(uint64_t addr) const { return addr >= start && addr < end; }
};

/// The fields of one smaps entry or of smaps_rollup.
struct SmapsFields {
  std::vector<std::pair<std::string, uint64_t>> kb;      // "Rss" → kB, in file order
  std::vector<std::pair<std::string, uint64_t>> counts;  // unitless: "THPeligible" → 0
  std::vector<std::string> vm_flags;                     // "rd", "wr", "gd", ...

  /// The kB field in bytes, 0 when absent.
  uint64_t bytes(std::string_view key) const;
  bool has(std::string_view key) const;
  bool has_flag(std::string_view flag) const;
};

/// What keeps a VMA's pages in RAM or makes them huge, from its smaps fields (all false/0
/// when read from maps): locked (smaps "Locked:" > 0, or VmFlags "lo": mlock, MAP_LOCKED; the
/// kernel never marks hugetlb VMAs "lo"), hugetlb (VmFlags "ht": hugetlbfs pages) and the
/// bytes of transparent huge pages (AnonHugePages).
struct MemoryMarks {
  bool locked = false;
  bool hugetlb = false;
  uint64_t thp_bytes = 0;

  bool any() const { return locked || hugetlb || thp_bytes != 0; }
};
MemoryMarks memory_marks(const SmapsFields& f);

struct SmapsVma {
  Vma vma;
  SmapsFields fields;
};

/// Parses the text of /proc/PID/maps (empty for a kernel thread); `path` names the file.
std::vector<Vma> parse_maps(std::string_view text, const std::string& path);
/// Parses the text of /proc/PID/smaps.
std::vector<SmapsVma> parse_smaps(std::string_view text, const std::string& path);
/// Parses the text of /proc/PID/smaps_rollup (an empty file is an error).
SmapsFields parse_smaps_rollup(std::string_view text, const std::string& path);

/// The boundaries /proc/PID/stat gives (fields 26, 27, 45, 46, 47); 0 when hidden (no ptrace
/// access) or absent (a kernel thread).
struct ProcessLayout {
  uint64_t start_code = 0;
  uint64_t end_code = 0;
  uint64_t start_data = 0;
  uint64_t end_data = 0;
  uint64_t start_brk = 0;
};

/// Parses the text of /proc/PID/stat ("pid (comm) state ..."; comm may hold spaces and
/// parentheses, so fields are counted from the last ')').
ProcessLayout parse_stat_layout(std::string_view text, const std::string& path);

enum class RegionKind { kText, kData, kBss, kHeap, kStack, kMmap, kVdso, kVvar, kVsyscall };
inline constexpr int kRegionKinds = 9;

/// "TEXT", "DATA", "BSS", "HEAP", "STACK", "MMAP", "VDSO", "VVAR", "VSYSCALL".
const char* region_name(RegionKind kind);

struct Region {
  RegionKind kind = RegionKind::kMmap;
  const char* detail = "";  // MMAP only: "anon", "anon-shared", "lib-text", "lib-data", ...
};

/// One Region per VMA (same order), by the rules at the top of this file.
std::vector<Region> classify_regions(const std::vector<Vma>& vmas, const ProcessLayout& layout);

/// The status counters recomputed from smaps, in bytes (see the top of this file).
struct VmCounters {
  uint64_t size = 0;
  uint64_t data = 0;
  uint64_t stk = 0;
  uint64_t exe = 0;
  uint64_t lib = 0;
};
VmCounters compute_vm_counters(const std::vector<SmapsVma>& vmas, const std::vector<Region>& kinds,
                               const ProcessLayout& layout, uint64_t page_size);

}  // namespace memkit::inspect
