// memkit — a process's address space (src/inspect/maps.cpp): see maps.h.
#include "inspect/maps.h"

#include <algorithm>

#include "inspect/scan.h"

namespace memkit::inspect {
namespace {

constexpr char kMapsFormat[] = "\"START-END PERMS OFFSET MAJ:MIN INODE [PATH]\"";

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

bool parse_dev(std::string_view token, unsigned* major, unsigned* minor) {
  const size_t colon = token.find(':');
  uint64_t ma = 0;
  uint64_t mi = 0;
  if (colon == std::string_view::npos || !parse_u64(token.substr(0, colon), &ma, 16) ||
      !parse_u64(token.substr(colon + 1), &mi, 16) || ma > 0xfff || mi > 0xfffff)
    return false;
  *major = static_cast<unsigned>(ma);
  *minor = static_cast<unsigned>(mi);
  return true;
}

// Parses one maps line; false when it is not one.
bool parse_vma_line(std::string_view line, Vma* vma) {
  const std::vector<std::string_view> tokens = split_ws(line);
  if (tokens.size() < 5) return false;
  const std::string_view range = tokens[0];
  const size_t dash = range.find('-');
  if (dash == std::string_view::npos || !parse_u64(range.substr(0, dash), &vma->start, 16) ||
      !parse_u64(range.substr(dash + 1), &vma->end, 16))
    return false;
  const std::string_view p = tokens[1];
  if (p.size() != 4 || (p[0] != 'r' && p[0] != '-') || (p[1] != 'w' && p[1] != '-') ||
      (p[2] != 'x' && p[2] != '-') || (p[3] != 'p' && p[3] != 's'))
    return false;
  vma->read = p[0] == 'r';
  vma->write = p[1] == 'w';
  vma->exec = p[2] == 'x';
  vma->shared = p[3] == 's';
  if (!parse_u64(tokens[2], &vma->offset, 16) ||
      !parse_dev(tokens[3], &vma->dev_major, &vma->dev_minor) ||
      !parse_u64(tokens[4], &vma->inode, 10))
    return false;
  // The path is the rest of the line after the inode's spacing (it may hold spaces).
  if (tokens.size() > 5) {
    const auto from = static_cast<size_t>(tokens[5].data() - line.data());
    vma->name = std::string(line.substr(from));
  } else {
    vma->name.clear();
  }
  return true;
}

std::string hex(uint64_t v) {
  static const char kDigits[] = "0123456789abcdef";
  std::string s;
  do {
    s.insert(s.begin(), kDigits[v & 15]);
    v >>= 4;
  } while (v != 0);
  return "0x" + s;
}

// Checks a parsed VMA against the one before it.
void check_range(const std::string& path, const TextLine& line, const Vma& vma,
                 const Vma* previous) {
  if (vma.end <= vma.start)
    throw line_error(path, line.number,
                     "empty or reversed range " + hex(vma.start) + "-" + hex(vma.end));
  if (previous != nullptr && vma.start < previous->end)
    throw line_error(path, line.number,
                     "range " + hex(vma.start) + "-" + hex(vma.end) +
                         " starts before the previous one ends (" + hex(previous->end) + ")");
}

// A "Key: N [kB]" or "VmFlags: ..." line into `fields`; false when the line is not a field
// (it may be a VMA header). Throws on a field with a bad value.
bool parse_field_line(const std::string& path, const TextLine& line, SmapsFields* fields) {
  const size_t colon = line.text.find(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  const std::string_view key = line.text.substr(0, colon);
  for (const char c : key)
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f)
      return false;
  const std::vector<std::string_view> rest = split_ws(line.text.substr(colon + 1));
  if (key == "VmFlags") {
    for (const std::string_view f : rest) fields->vm_flags.emplace_back(f);
    return true;
  }
  uint64_t value = 0;
  if (rest.empty() || rest.size() > 2 || (rest.size() == 2 && rest[1] != "kB") ||
      !parse_u64(rest[0], &value))
    throw expected_error(path, line, "\"Key: N kB\"");
  if (rest.size() == 2 && value > (UINT64_MAX >> 10))
    throw line_error(path, line.number, std::string(key) + ": value too large");
  if (fields->has(key)) throw line_error(path, line.number, std::string(key) + " appears twice");
  (rest.size() == 2 ? fields->kb : fields->counts).emplace_back(std::string(key), value);
  return true;
}

// Fields of an smaps entry that must be there, and agree with its header.
void check_smaps_entry(const std::string& path, size_t header_line, const SmapsVma& entry) {
  if (!entry.fields.has("Size") || !entry.fields.has("Rss"))
    throw line_error(path, header_line, "the VMA has no Size or Rss line (truncated?)");
  if (entry.fields.bytes("Size") != entry.vma.size())
    throw line_error(path, header_line,
                     "Size " + std::to_string(entry.fields.bytes("Size") / 1024) +
                         " kB is not the size of " + hex(entry.vma.start) + "-" +
                         hex(entry.vma.end));
}

bool is_exe_vma(const Vma& v, const Vma* exe) {
  return exe != nullptr && v.inode != 0 && v.inode == exe->inode &&
         v.dev_major == exe->dev_major && v.dev_minor == exe->dev_minor;
}

bool overlaps(const Vma& v, uint64_t start, uint64_t end) {
  return start < end && v.start < end && start < v.end;
}

const char* mmap_detail(const Vma& v, const std::vector<Vma>& all) {
  if (v.inode == 0) return v.shared ? "anon-shared" : "anon";
  const bool library = std::any_of(all.begin(), all.end(), [&](const Vma& o) {
    return o.exec && o.inode == v.inode && o.dev_major == v.dev_major &&
           o.dev_minor == v.dev_minor;
  });
  if (library) return v.exec ? "lib-text" : "lib-data";
  return v.shared ? "file-shared" : "file";
}

}  // namespace

std::string Vma::perms() const {
  return {read ? 'r' : '-', write ? 'w' : '-', exec ? 'x' : '-', shared ? 's' : 'p'};
}

bool Vma::deleted() const {
  constexpr std::string_view kDeleted = " (deleted)";
  return name.size() >= kDeleted.size() &&
         std::string_view(name).substr(name.size() - kDeleted.size()) == kDeleted;
}

uint64_t SmapsFields::bytes(std::string_view key) const {
  for (const auto& [k, v] : kb)
    if (k == key) return v * 1024;
  return 0;
}

bool SmapsFields::has(std::string_view key) const {
  for (const auto& [k, v] : kb)
    if (k == key) return true;
  for (const auto& [k, v] : counts)
    if (k == key) return true;
  return false;
}

bool SmapsFields::has_flag(std::string_view flag) const {
  return std::find(vm_flags.begin(), vm_flags.end(), flag) != vm_flags.end();
}

std::vector<Vma> parse_maps(std::string_view text, const std::string& path) {
  std::vector<Vma> vmas;
  for (const TextLine& line : complete_lines(text, path, nullptr)) {
    Vma vma;
    if (!parse_vma_line(line.text, &vma)) throw expected_error(path, line, kMapsFormat);
    check_range(path, line, vma, vmas.empty() ? nullptr : &vmas.back());
    vmas.push_back(std::move(vma));
  }
  return vmas;
}

std::vector<SmapsVma> parse_smaps(std::string_view text, const std::string& path) {
  std::vector<SmapsVma> out;
  size_t header_line = 0;
  for (const TextLine& line : complete_lines(text, path, nullptr)) {
    if (!out.empty() && parse_field_line(path, line, &out.back().fields)) continue;
    SmapsVma entry;
    if (!parse_vma_line(line.text, &entry.vma))
      throw expected_error(path, line, out.empty() ? kMapsFormat : "a VMA header or \"Key: N kB\"");
    check_range(path, line, entry.vma, out.empty() ? nullptr : &out.back().vma);
    if (!out.empty()) check_smaps_entry(path, header_line, out.back());
    header_line = line.number;
    out.push_back(std::move(entry));
  }
  if (!out.empty()) check_smaps_entry(path, header_line, out.back());
  return out;
}

SmapsFields parse_smaps_rollup(std::string_view text, const std::string& path) {
  const std::vector<TextLine> lines = complete_lines(text, path, nullptr);
  if (lines.empty())
    throw InspectError(path, "empty file (a kernel thread, or the process is exiting)");
  Vma header;
  if (!parse_vma_line(lines[0].text, &header))
    throw expected_error(path, lines[0], "\"START-END ---p 00000000 00:00 0 [rollup]\"");
  SmapsFields fields;
  for (size_t i = 1; i < lines.size(); ++i)
    if (!parse_field_line(path, lines[i], &fields))
      throw expected_error(path, lines[i], "\"Key: N kB\"");
  if (!fields.has("Rss")) throw InspectError(path, "no Rss line (truncated?)");
  return fields;
}

ProcessLayout parse_stat_layout(std::string_view text, const std::string& path) {
  const size_t paren = text.rfind(')');
  if (paren == std::string_view::npos)
    throw InspectError(path, "expected \"PID (COMM) STATE ...\", got " + quote(text));
  // Fields from 3 (state) on; field n is at index n - 3.
  const std::vector<std::string_view> f = split_ws(text.substr(paren + 1));
  if (f.size() < 47 - 3 + 1)
    throw InspectError(path, std::to_string(f.size() + 2) +
                                 " fields where start_brk is field 47 (truncated?)");
  ProcessLayout layout;
  const std::pair<int, uint64_t*> wanted[] = {{26, &layout.start_code},
                                              {27, &layout.end_code},
                                              {45, &layout.start_data},
                                              {46, &layout.end_data},
                                              {47, &layout.start_brk}};
  for (const auto& [n, out] : wanted) {
    std::string_view token = f[static_cast<size_t>(n - 3)];
    if (!parse_u64(token, out))
      throw InspectError(path,
                         "field " + std::to_string(n) + ": " + quote(token) + " is not a number");
  }
  return layout;
}

const char* region_name(RegionKind kind) {
  switch (kind) {
    case RegionKind::kText: return "TEXT";
    case RegionKind::kData: return "DATA";
    case RegionKind::kBss: return "BSS";
    case RegionKind::kHeap: return "HEAP";
    case RegionKind::kStack: return "STACK";
    case RegionKind::kMmap: return "MMAP";
    case RegionKind::kVdso: return "VDSO";
    case RegionKind::kVvar: return "VVAR";
    case RegionKind::kVsyscall: return "VSYSCALL";
  }
  return "?";
}

std::vector<Region> classify_regions(const std::vector<Vma>& vmas, const ProcessLayout& layout) {
  // The executable: the file VMA holding start_code.
  const Vma* exe = nullptr;
  if (layout.start_code != 0) {
    for (const Vma& v : vmas)
      if (v.inode != 0 && v.contains(layout.start_code)) exe = &v;
  }
  uint64_t exe_end = 0;  // end of the executable's last VMA
  for (const Vma& v : vmas)
    if (is_exe_vma(v, exe)) exe_end = std::max(exe_end, v.end);

  std::vector<Region> out;
  out.reserve(vmas.size());
  for (const Vma& v : vmas) {
    Region r;
    if (v.name == "[heap]") {
      r.kind = RegionKind::kHeap;
    } else if (v.name == "[stack]") {
      r.kind = RegionKind::kStack;
    } else if (v.name == "[vdso]") {
      r.kind = RegionKind::kVdso;
    } else if (starts_with(v.name, "[vvar")) {
      r.kind = RegionKind::kVvar;
    } else if (v.name == "[vsyscall]") {
      r.kind = RegionKind::kVsyscall;
    } else if (is_exe_vma(v, exe)) {
      if (overlaps(v, layout.start_data, layout.end_data)) {
        r.kind = RegionKind::kData;
      } else {
        r.kind = v.exec || !v.write ? RegionKind::kText : RegionKind::kData;
      }
    } else if (v.inode == 0 && v.name.empty() && exe_end != 0 && v.start == exe_end &&
               (layout.start_brk == 0 || v.start < layout.start_brk)) {
      r.kind = RegionKind::kBss;
    } else {
      r.kind = RegionKind::kMmap;
      r.detail = mmap_detail(v, vmas);
    }
    out.push_back(r);
  }
  return out;
}

VmCounters compute_vm_counters(const std::vector<SmapsVma>& vmas, const std::vector<Region>& kinds,
                               const ProcessLayout& layout, uint64_t page_size) {
  VmCounters c;
  uint64_t exec = 0;
  uint64_t exe_text = 0;  // executable VMAs of the executable, when start_code is hidden
  for (size_t i = 0; i < vmas.size(); ++i) {
    const Vma& v = vmas[i].vma;
    const RegionKind kind = i < kinds.size() ? kinds[i].kind : RegionKind::kMmap;
    if (kind == RegionKind::kVsyscall) continue;
    const bool stack = vmas[i].fields.vm_flags.empty() ? kind == RegionKind::kStack
                                                       : vmas[i].fields.has_flag("gd");
    c.size += v.size();
    if (v.write && !v.shared && !stack) c.data += v.size();
    if (stack) c.stk += v.size();
    if (v.exec && !v.write && !stack) {
      exec += v.size();
      if (kind == RegionKind::kText) exe_text += v.size();
    }
  }
  if (layout.start_code != 0 && layout.end_code >= layout.start_code && page_size != 0) {
    const uint64_t mask = ~(page_size - 1);
    c.exe = ((layout.end_code + page_size - 1) & mask) - (layout.start_code & mask);
  } else {
    c.exe = exe_text;
  }
  c.exe = std::min(c.exe, exec);
  c.lib = exec - c.exe;
  return c;
}

MemoryMarks memory_marks(const SmapsFields& f) {
  MemoryMarks m;
  m.locked = f.bytes("Locked") != 0 || f.has_flag("lo");
  m.hugetlb = f.has_flag("ht");
  m.thp_bytes = f.bytes("AnonHugePages");
  return m;
}

}  // namespace memkit::inspect
