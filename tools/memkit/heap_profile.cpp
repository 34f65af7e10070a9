// memkit CLI — the heap profiler's output (tools/memkit/heap_profile.cpp): see heap_profile.h.
#include "heap_profile.h"

#include <cxxabi.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <fmt/core.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include "command.h"

namespace memkit::cli {

// ---- the raw profile ----

namespace {

bool parse_site(std::istringstream& in, RawSite* s) {
  unsigned depth = 0;
  if (!(in >> s->live_bytes >> s->live_objects >> s->alloc_bytes >> s->alloc_objects >> depth))
    return false;
  for (unsigned i = 0; i < depth; ++i) {
    std::string hex;
    if (!(in >> hex)) return false;
    s->frames.push_back(std::strtoull(hex.c_str(), nullptr, 16));
  }
  return true;
}

}  // namespace

RawProfile parse_raw_profile(const std::string& text) {
  RawProfile p;
  std::istringstream lines(text);
  std::string line;
  if (!std::getline(lines, line) || line != "memkit-profile 1")
    throw internal_error("profile: the program wrote no heap profile (not on libmemkit.so, killed, "
                         "or exited through _exit?)");
  while (std::getline(lines, line)) {
    std::istringstream in(line);
    std::string tag;
    in >> tag;
    if (tag == "sample") {
      in >> p.sample;
    } else if (tag == "dropped") {
      in >> p.dropped;
    } else if (tag == "peak") {
      in >> p.peak;
    } else if (tag == "site" || tag == "peaksite") {
      RawSite s;
      if (!parse_site(in, &s)) throw internal_error("profile: a malformed site line in the raw profile");
      (tag == "site" ? p.sites : p.peak_sites).push_back(std::move(s));
    } else if (tag == "report") {
      while (std::getline(lines, line) && line != "end-report") p.report += line + "\n";
    } else if (tag == "maps") {
      std::ostringstream rest;
      rest << lines.rdbuf();
      p.maps = rest.str();
      break;
    }
  }
  return p;
}

// ---- symbols ----

std::string Frame::text() const {
  if (function.empty()) return fmt::format("{}+0x{:x}", module.empty() ? "?" : module, offset);
  if (file.empty()) return function;
  return fmt::format("{} ({}:{})", function, file, line);
}

struct Symbolizer::Impl {
  Dwfl* dwfl = nullptr;
  char* debuginfo_path = nullptr;
  Dwfl_Callbacks callbacks{};
};

Symbolizer::Symbolizer(const std::string& maps) : impl_(std::make_unique<Impl>()) {
  impl_->callbacks.find_elf = dwfl_build_id_find_elf;
  impl_->callbacks.find_debuginfo = dwfl_standard_find_debuginfo;
  impl_->callbacks.section_address = dwfl_offline_section_address;
  impl_->callbacks.debuginfo_path = &impl_->debuginfo_path;
  impl_->dwfl = dwfl_begin(&impl_->callbacks);
  // Each file's load base: the start of its mapping at file offset 0.
  std::map<std::string, uint64_t> base;
  std::istringstream lines(maps);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream in(line);
    std::string range, perms, offset, dev, inode, path;
    if (!(in >> range >> perms >> offset >> dev >> inode)) continue;
    std::getline(in >> std::ws, path);
    if (path.empty() || path[0] != '/') continue;
    const uint64_t start = std::strtoull(range.c_str(), nullptr, 16);
    const uint64_t end = std::strtoull(range.c_str() + range.find('-') + 1, nullptr, 16);
    const uint64_t off = std::strtoull(offset.c_str(), nullptr, 16);
    if (off == 0 && !base.contains(path)) base[path] = start;
    if (perms.size() >= 3 && perms[2] == 'x') mappings_.push_back({start, end, off, path, ""});
  }
  if (impl_->dwfl != nullptr) {
    dwfl_report_begin(impl_->dwfl);
    for (Mapping& m : mappings_) {
      auto b = base.find(m.path);
      if (b == base.end() || b->second == UINT64_MAX) continue;
      const std::string name = m.path.substr(m.path.rfind('/') + 1);
      if (Dwfl_Module* mod = dwfl_report_elf(impl_->dwfl, name.c_str(), m.path.c_str(), -1, b->second, false)) {
        const unsigned char* bits = nullptr;
        GElf_Addr vaddr = 0;
        const int len = dwfl_module_build_id(mod, &bits, &vaddr);
        for (int i = 0; i < len; ++i) m.build_id += fmt::format("{:02x}", bits[i]);
      }
      b->second = UINT64_MAX;  // reported once
    }
    dwfl_report_end(impl_->dwfl, nullptr, nullptr);
    for (Mapping& m : mappings_)  // the build ids of a file's other mappings
      for (const Mapping& o : mappings_)
        if (m.build_id.empty() && o.path == m.path) m.build_id = o.build_id;
  }
}

Symbolizer::~Symbolizer() {
  if (impl_->dwfl != nullptr) dwfl_end(impl_->dwfl);
}

int Symbolizer::mapping_of(uint64_t addr) const {
  for (size_t i = 0; i < mappings_.size(); ++i)
    if (addr >= mappings_[i].start && addr < mappings_[i].limit) return static_cast<int>(i);
  return -1;
}

const Frame& Symbolizer::frame(uint64_t addr) {
  auto it = cache_.find(addr);
  if (it != cache_.end()) return it->second;
  Frame f;
  const uint64_t a = addr > 0 ? addr - 1 : addr;
  Dwfl_Module* m = impl_->dwfl != nullptr ? dwfl_addrmodule(impl_->dwfl, a) : nullptr;
  if (m != nullptr) {
    Dwarf_Addr start = 0;
    const char* mod = dwfl_module_info(m, nullptr, &start, nullptr, nullptr, nullptr, nullptr, nullptr);
    f.module = mod != nullptr ? mod : "";
    f.offset = a - start;
    // The function whose code this is: the innermost inlined one if the address lies in an
    // inlined call (the line below is that one's), else the symbol's.
    const char* name = nullptr;
    Dwarf_Addr bias = 0;
    if (Dwarf_Die* cu = dwfl_module_addrdie(m, a, &bias)) {
      Dwarf_Die* scopes = nullptr;
      const int n = dwarf_getscopes(cu, a - bias, &scopes);
      for (int i = 0; i < n && name == nullptr; ++i) {
        if (dwarf_tag(&scopes[i]) != DW_TAG_inlined_subroutine) continue;
        Dwarf_Attribute attr;
        name = dwarf_formstring(dwarf_attr_integrate(&scopes[i], DW_AT_linkage_name, &attr));
        if (name == nullptr) name = dwarf_formstring(dwarf_attr_integrate(&scopes[i], DW_AT_MIPS_linkage_name, &attr));
        if (name == nullptr) name = dwarf_diename(&scopes[i]);
      }
      std::free(scopes);
    }
    if (name == nullptr) name = dwfl_module_addrname(m, a);
    if (name != nullptr) {
      int status = 0;
      char* demangled = abi::__cxa_demangle(name, nullptr, nullptr, &status);
      f.function = status == 0 && demangled != nullptr ? demangled : name;
      std::free(demangled);
    }
    if (Dwfl_Line* l = dwfl_module_getsrc(m, a)) {
      int lineno = 0;
      if (const char* file = dwfl_lineinfo(l, nullptr, &lineno, nullptr, nullptr, nullptr)) {
        f.file = file;
        f.line = lineno;
      }
    }
  } else if (const int i = mapping_of(a); i >= 0) {
    const Mapping& mp = mappings_[static_cast<size_t>(i)];
    f.module = mp.path.substr(mp.path.rfind('/') + 1);
    f.offset = a - mp.start + mp.offset;
  } else {
    f.offset = a;
  }
  return cache_.emplace(addr, std::move(f)).first->second;
}

// ---- pprof (profile.proto), encoded by hand ----

namespace {

struct Proto {
  std::string out;
  void varint(uint64_t v) {
    while (v >= 0x80) {
      out.push_back(static_cast<char>(v | 0x80));
      v >>= 7;
    }
    out.push_back(static_cast<char>(v));
  }
  void key(int field, int wire) { varint(static_cast<uint64_t>(field) << 3 | static_cast<uint64_t>(wire)); }
  void u64(int field, uint64_t v) {
    if (v == 0) return;
    key(field, 0);
    varint(v);
  }
  void boolean(int field, bool v) { u64(field, v ? 1 : 0); }
  void bytes(int field, const std::string& b) {
    key(field, 2);
    varint(b.size());
    out += b;
  }
  void packed(int field, const std::vector<uint64_t>& v) {
    Proto p;
    for (uint64_t x : v) p.varint(x);
    bytes(field, p.out);
  }
};

struct Strings {
  std::vector<std::string> table{""};
  std::unordered_map<std::string, uint64_t> index{{"", 0}};
  uint64_t id(const std::string& s) {
    auto [it, fresh] = index.emplace(s, table.size());
    if (fresh) table.push_back(s);
    return it->second;
  }
};

std::string gzip(const std::string& data) {
  z_stream z{};
  if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw internal_error("profile: zlib's deflateInit2 failed");
  std::string out(deflateBound(&z, data.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) throw internal_error("profile: zlib's deflate failed");
  return out;
}

uint64_t round_count(double v) { return v <= 0 ? 0 : static_cast<uint64_t>(std::llround(v)); }

}  // namespace

std::string pprof_gz(const RawProfile& raw, const std::vector<RawSite>& sites, Symbolizer& sym) {
  Strings str;
  Proto prof;
  const char* types[4][2] = {{"alloc_objects", "count"}, {"alloc_space", "bytes"},
                             {"inuse_objects", "count"}, {"inuse_space", "bytes"}};
  for (auto& t : types) {
    Proto vt;
    vt.u64(1, str.id(t[0]));
    vt.u64(2, str.id(t[1]));
    prof.bytes(1, vt.out);
  }
  std::unordered_map<uint64_t, uint64_t> location;  // address -> location id
  std::map<std::string, uint64_t> function;       // "name\0file" -> function id
  Proto locations, functions;
  for (const RawSite& s : sites) {
    if (s.alloc_objects <= 0 && s.live_objects <= 0) continue;
    std::vector<uint64_t> ids;
    for (uint64_t addr : s.frames) {
      auto [it, fresh] = location.emplace(addr, location.size() + 1);
      ids.push_back(it->second);
      if (!fresh) continue;
      const Frame& f = sym.frame(addr);
      const std::string name = f.function.empty() ? f.text() : f.function;
      auto [fn, new_fn] = function.emplace(name + '\0' + f.file, function.size() + 1);
      if (new_fn) {
        Proto p;
        p.u64(1, fn->second);
        p.u64(2, str.id(name));
        p.u64(3, str.id(name));
        p.u64(4, str.id(f.file));
        functions.bytes(5, p.out);
      }
      Proto line;
      line.u64(1, fn->second);
      line.u64(2, static_cast<uint64_t>(f.line));
      Proto loc;
      loc.u64(1, it->second);
      const int m = sym.mapping_of(addr - 1);
      if (m >= 0) loc.u64(2, static_cast<uint64_t>(m) + 1);
      loc.u64(3, addr);
      loc.bytes(4, line.out);
      locations.bytes(4, loc.out);
    }
    Proto sample;
    sample.packed(1, ids);
    // values: alloc_objects, alloc_space, inuse_objects, inuse_space (int64 as varints)
    sample.packed(2, {round_count(s.alloc_objects), round_count(s.alloc_bytes),
                      round_count(s.live_objects), round_count(s.live_bytes)});
    prof.bytes(2, sample.out);
  }
  const auto& maps = sym.mappings();
  for (size_t i = 0; i < maps.size(); ++i) {
    Proto m;
    m.u64(1, i + 1);
    m.u64(2, maps[i].start);
    m.u64(3, maps[i].limit);
    m.u64(4, maps[i].offset);
    m.u64(5, str.id(maps[i].path));
    m.u64(6, str.id(maps[i].build_id));
    m.boolean(7, true);  // has_functions, filenames, line numbers: symbolised already
    m.boolean(8, true);
    m.boolean(9, true);
    prof.bytes(3, m.out);
  }
  prof.out += locations.out;
  prof.out += functions.out;
  // period_type (11) and period (12): the sampling interval, in bytes of space.
  Proto pt;
  pt.u64(1, str.id("space"));
  pt.u64(2, str.id("bytes"));
  for (const std::string& s : str.table) prof.bytes(6, s);
  prof.bytes(11, pt.out);
  prof.u64(12, raw.sample);
  return gzip(prof.out);
}

// ---- the other files ----

namespace {

void write_file(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
  out.close();
  if (!out) throw internal_error(fmt::format("profile: cannot write {}: {}", path, std::strerror(errno)));
}

std::string folded(const std::vector<RawSite>& sites, Symbolizer& sym) {
  std::map<std::string, double> stacks;
  for (const RawSite& s : sites) {
    if (round_count(s.live_bytes) == 0) continue;
    std::string key;
    for (size_t i = s.frames.size(); i-- > 0;) {
      std::string t = sym.frame(s.frames[i]).text();
      std::replace(t.begin(), t.end(), ';', ':');
      std::replace(t.begin(), t.end(), '\n', ' ');
      key += t;
      if (i != 0) key += ';';
    }
    if (key.empty()) key = "[no stack]";
    stacks[key] += s.live_bytes;
  }
  std::string out;
  for (const auto& [k, v] : stacks) out += fmt::format("{} {}\n", k, round_count(v));
  return out;
}

std::string csv_quote(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) {
    if (c == '"') q += '"';
    q += c;
  }
  return q + "\"";
}

struct SiteRow {
  std::string function, file;
  int line = 0;
  double live_b = 0, live_o = 0, alloc_b = 0, alloc_o = 0, peak_b = 0, peak_o = 0;
};

std::string sites_csv(const RawProfile& raw, Symbolizer& sym) {
  std::map<std::string, SiteRow> rows;
  auto row_of = [&](const RawSite& s) -> SiteRow& {
    Frame f;
    if (!s.frames.empty()) f = sym.frame(s.frames[0]);
    const std::string function = f.function.empty() ? (s.frames.empty() ? "[no stack]" : f.text()) : f.function;
    SiteRow& r = rows[function + '\0' + f.file + '\0' + std::to_string(f.line)];
    r.function = function;
    r.file = f.file;
    r.line = f.line;
    return r;
  };
  for (const RawSite& s : raw.sites) {
    SiteRow& r = row_of(s);
    r.live_b += s.live_bytes;
    r.live_o += s.live_objects;
    r.alloc_b += s.alloc_bytes;
    r.alloc_o += s.alloc_objects;
  }
  for (const RawSite& s : raw.peak_sites) {
    SiteRow& r = row_of(s);
    r.peak_b += s.live_bytes;
    r.peak_o += s.live_objects;
  }
  std::vector<SiteRow> sorted;
  for (auto& [k, r] : rows) sorted.push_back(r);
  std::stable_sort(sorted.begin(), sorted.end(), [](const SiteRow& a, const SiteRow& b) {
    if (a.peak_b != b.peak_b) return a.peak_b > b.peak_b;
    return a.alloc_b > b.alloc_b;
  });
  std::string out = "function,file,line,live_bytes,live_objects,alloc_bytes,alloc_objects,peak_bytes,peak_objects\n";
  for (const SiteRow& r : sorted)
    out += fmt::format("{},{},{},{},{},{},{},{},{}\n", csv_quote(r.function), csv_quote(r.file), r.line,
                       round_count(r.live_b), round_count(r.live_o), round_count(r.alloc_b),
                       round_count(r.alloc_o), round_count(r.peak_b), round_count(r.peak_o));
  return out;
}

}  // namespace

void write_profile_outputs(const RawProfile& raw, Symbolizer& sym, const std::string& dir) {
  write_file(dir + "/heap.pb.gz", pprof_gz(raw, raw.sites, sym));
  write_file(dir + "/peak.pb.gz", pprof_gz(raw, raw.peak_sites, sym));
  write_file(dir + "/heap.folded", folded(raw.sites, sym));
  write_file(dir + "/peak.folded", folded(raw.peak_sites, sym));
  write_file(dir + "/sites.csv", sites_csv(raw, sym));
  // The heap report near the peak: its slabinfo and its buddyinfo lines, as the kernel prints them.
  std::string slabinfo, buddyinfo;
  std::istringstream lines(raw.report);
  std::string line;
  bool in_slab = false;
  while (std::getline(lines, line)) {
    if (line.rfind("slabinfo - version", 0) == 0) in_slab = true;
    if (line.rfind("Node ", 0) == 0) {
      in_slab = false;
      buddyinfo += line + "\n";
      continue;
    }
    if (in_slab && !line.empty() && line.rfind("memkit:", 0) != 0) slabinfo += line + "\n";
  }
  write_file(dir + "/peak-slabinfo.txt", slabinfo);
  write_file(dir + "/peak-buddyinfo.txt", buddyinfo);
}

}  // namespace memkit::cli
