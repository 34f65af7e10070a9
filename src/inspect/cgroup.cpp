// memkit — a process's memory cgroup: its limit and usage (src/inspect/cgroup.cpp): see cgroup.h.
#include "inspect/cgroup.h"

#include <unistd.h>

#include <algorithm>
#include <unordered_set>

#include "inspect/scan.h"
#include "inspect/status.h"

namespace memkit::inspect {
namespace {

std::vector<std::string> split_on(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t pos = 0;
  for (;;) {
    const size_t next = s.find(sep, pos);
    out.emplace_back(s.substr(pos, next == std::string_view::npos ? next : next - pos));
    if (next == std::string_view::npos) break;
    pos = next + 1;
  }
  return out;
}

// mountinfo escapes ' ', '\t', '\n' and '\\' as \ooo.
std::string unescape_octal(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && s.size() - i >= 4 && s[i + 1] >= '0' &&
        s[i + 1] <= '3' && s[i + 2] >= '0' && s[i + 2] <= '7' && s[i + 3] >= '0' &&
        s[i + 3] <= '7') {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

bool has(const std::vector<std::string>& v, std::string_view x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// v1 stores "unlimited" as PAGE_COUNTER_MAX pages: LONG_MAX rounded down to a page.
constexpr uint64_t kV1Unlimited = 0x7FFFFFFFFFFFF000ULL;  // 9223372036854771712

// The live path `abs` (under /sys) through `fs`, so that a snapshot works the same.
struct SysPath {
  const ProcFs& fs;

  static bool rel(const std::string& abs, std::string* out) {
    static const std::string kSys = "/sys/";
    if (abs.compare(0, kSys.size(), kSys) != 0) return false;
    *out = abs.substr(kSys.size());
    return true;
  }
  std::string shown(const std::string& abs) const {
    std::string r;
    return rel(abs, &r) ? fs.sys_path(r) : abs;
  }
  void check(const std::string& abs) const {
    std::string r;
    if (!rel(abs, &r) && !fs.live())
      throw InspectError(abs, "outside /sys: a snapshot holds only DIR/sys (read it live)");
  }
  bool exists(const std::string& abs) const {
    check(abs);
    std::string r;
    return rel(abs, &r) ? fs.exists_sys(r) : ::access(abs.c_str(), F_OK) == 0;
  }
  std::string read(const std::string& abs) const {
    check(abs);
    std::string r;
    return rel(abs, &r) ? fs.read_sys(r) : read_file(abs);
  }
};

struct FileSpec {
  const char* name;
  const char* role;
  bool limit;
};

constexpr FileSpec kV2Files[] = {
    {"memory.current", "usage", false},
    {"memory.max", "limit", true},
    {"memory.high", "high (throttled above)", true},
    {"memory.low", "low (best-effort protection)", true},
    {"memory.min", "min (hard protection)", true},
    {"memory.peak", "peak usage", false},
    {"memory.swap.current", "swap usage", false},
    {"memory.swap.max", "swap limit", true},
};

constexpr FileSpec kV1Files[] = {
    {"memory.usage_in_bytes", "usage (approximate in v1)", false},
    {"memory.limit_in_bytes", "limit", true},
    {"memory.soft_limit_in_bytes", "soft limit", true},
    {"memory.max_usage_in_bytes", "peak usage", false},
    {"memory.memsw.usage_in_bytes", "memory+swap usage", false},
    {"memory.memsw.limit_in_bytes", "memory+swap limit", true},
    {"memory.failcnt", "times the limit was hit", false},
};

// The cgroup's directory and its ancestors up to the mount point (in a container the mount's
// root is the container's own cgroup, which has a memory.max; the real root has none).
std::vector<std::string> v2_ancestors(const CgroupLocation& where) {
  std::vector<std::string> dirs{where.dir};
  std::string dir = where.dir;
  while (dir.size() > where.mount_point.size()) {
    const size_t slash = dir.rfind('/');
    if (slash == std::string::npos || slash < where.mount_point.size()) break;
    dir.resize(slash);
    dirs.push_back(dir);
  }
  return dirs;
}

std::string mountinfo_rel(const ProcFs& fs, const std::string& pid) {
  if (fs.exists("self/mountinfo") || fs.live()) return "self/mountinfo";
  return pid + "/mountinfo";
}

CgroupLocation locate(const ProcFs& fs, const std::string& pid) {
  const std::string cg_rel = pid + "/cgroup";
  const std::vector<CgroupLine> cgroups = parse_proc_cgroup(fs.read(cg_rel), fs.proc_path(cg_rel));
  const std::string mi_rel = mountinfo_rel(fs, pid);
  const std::vector<MountInfo> mounts = parse_mountinfo(fs.read(mi_rel), fs.proc_path(mi_rel));
  return locate_memory_cgroup(cgroups, mounts, fs.proc_path(cg_rel), fs.proc_path(mi_rel));
}

}  // namespace

std::vector<CgroupLine> parse_proc_cgroup(std::string_view text, const std::string& path) {
  std::vector<CgroupLine> out;
  for (const TextLine& line : complete_lines(text, path)) {
    const size_t c1 = line.text.find(':');
    const size_t c2 = c1 == std::string_view::npos ? c1 : line.text.find(':', c1 + 1);
    if (c2 == std::string_view::npos)
      throw expected_error(path, line, "\"ID:controllers:/path\"");
    CgroupLine cg;
    if (!parse_u64(line.text.substr(0, c1), &cg.id))
      throw line_error(path, line.number,
                       "hierarchy ID " + quote(line.text.substr(0, c1)) + " is not a number");
    const std::string_view list = line.text.substr(c1 + 1, c2 - c1 - 1);
    if (!list.empty()) cg.controllers = split_on(list, ',');
    cg.path = std::string(line.text.substr(c2 + 1));
    if (cg.path.empty() || cg.path[0] != '/')
      throw line_error(path, line.number, "cgroup path " + quote(cg.path) + " does not start with /");
    out.push_back(std::move(cg));
  }
  return out;
}

std::vector<MountInfo> parse_mountinfo(std::string_view text, const std::string& path) {
  static const char kFormat[] =
      "\"ID PARENT MAJ:MIN ROOT MOUNT-POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER-OPTIONS\"";
  std::vector<MountInfo> out;
  for (const TextLine& line : complete_lines(text, path)) {
    const std::vector<std::string_view> t = split_ws(line.text);
    size_t dash = 6;
    while (dash < t.size() && t[dash] != "-") ++dash;
    // Six fields, the optional ones, "-", then fstype and source (super options may be absent).
    if (t.size() < 9 || dash >= t.size() || t.size() - dash < 3)
      throw expected_error(path, line, kFormat);
    uint64_t id = 0;
    if (!parse_u64(t[0], &id) || !parse_u64(t[1], &id))
      throw expected_error(path, line, kFormat);
    MountInfo m;
    m.root = unescape_octal(t[3]);
    m.mount_point = unescape_octal(t[4]);
    m.fstype = std::string(t[dash + 1]);
    m.source = unescape_octal(t[dash + 2]);
    if (t.size() > dash + 3) m.super_options = split_on(t[dash + 3], ',');
    out.push_back(std::move(m));
  }
  return out;
}

KeyValues parse_key_values(std::string_view text, const std::string& path) {
  KeyValues out;
  std::unordered_set<std::string_view> seen;
  for (const TextLine& line : complete_lines(text, path)) {
    const std::vector<std::string_view> t = split_ws(line.text);
    if (t.size() != 2) throw expected_error(path, line, "\"key value\"");
    uint64_t v = 0;
    if (!parse_u64(t[1], &v))
      throw line_error(path, line.number,
                       std::string(t[0]) + ": " + quote(t[1]) + " is not a number");
    if (!seen.insert(t[0]).second)
      throw line_error(path, line.number, std::string(t[0]) + " appears twice");
    out.emplace_back(std::string(t[0]), v);
  }
  return out;
}

std::optional<uint64_t> find_value(const KeyValues& kv, std::string_view key) {
  for (const auto& [k, v] : kv)
    if (k == key) return v;
  return std::nullopt;
}

namespace {

std::string_view one_line(std::string_view text, const std::string& path) {
  const std::vector<TextLine> lines = complete_lines(text, path);
  if (lines.size() != 1)
    throw InspectError(path, "expected one line, got " + std::to_string(lines.size()));
  std::vector<std::string_view> t = split_ws(lines[0].text);
  if (t.size() != 1) throw expected_error(path, lines[0], "one value");
  return t[0];
}

}  // namespace

CgroupLimit parse_limit(std::string_view text, const std::string& path) {
  const std::string_view v = one_line(text, path);
  CgroupLimit limit;
  if (v == "max") {
    limit.unlimited = true;
    return limit;
  }
  if (!parse_u64(v, &limit.bytes))
    throw line_error(path, 1, "expected a byte count or \"max\", got " + quote(v));
  limit.unlimited = limit.bytes >= kV1Unlimited;
  return limit;
}

uint64_t parse_single_value(std::string_view text, const std::string& path) {
  const std::string_view v = one_line(text, path);
  uint64_t out = 0;
  if (!parse_u64(v, &out)) throw line_error(path, 1, quote(v) + " is not a number");
  return out;
}

CgroupLocation locate_memory_cgroup(const std::vector<CgroupLine>& cgroups,
                                    const std::vector<MountInfo>& mounts,
                                    const std::string& cgroup_file,
                                    const std::string& mountinfo_file) {
  bool any_v1 = false, any_v2 = false;
  for (const MountInfo& m : mounts) {
    any_v1 = any_v1 || m.fstype == "cgroup";
    any_v2 = any_v2 || m.fstype == "cgroup2";
  }
  const CgroupLine* v1 = nullptr;
  const CgroupLine* v2 = nullptr;
  for (const CgroupLine& cg : cgroups) {
    if (has(cg.controllers, "memory")) v1 = &cg;
    if (cg.id == 0 && cg.controllers.empty()) v2 = &cg;
  }

  CgroupLocation where;
  where.hierarchy = any_v1 && any_v2 ? "hybrid" : any_v1 ? "v1" : "v2";
  const MountInfo* mount = nullptr;
  if (v1 != nullptr) {
    where.version = CgroupVersion::kV1;
    where.cgroup_path = v1->path;
    for (const MountInfo& m : mounts)
      if (m.fstype == "cgroup" && has(m.super_options, "memory") &&
          (mount == nullptr || where.cgroup_path.compare(0, m.root.size(), m.root) == 0))
        mount = &m;
    if (mount == nullptr)
      throw InspectError(mountinfo_file,
                         "no cgroup v1 mount with the memory controller (listed in " +
                             cgroup_file + ")");
  } else if (v2 != nullptr) {
    where.version = CgroupVersion::kV2;
    where.cgroup_path = v2->path;
    for (const MountInfo& m : mounts)
      if (m.fstype == "cgroup2" &&
          (mount == nullptr || where.cgroup_path.compare(0, m.root.size(), m.root) == 0))
        mount = &m;
    if (mount == nullptr)
      throw InspectError(mountinfo_file, "no cgroup2 mount for the unified hierarchy of " +
                                             cgroup_file + " (is /sys/fs/cgroup mounted?)");
  } else {
    throw InspectError(cgroup_file, "no memory controller line and no v2 (0::) line");
  }

  // The directory: mount point + the path below the mount's root.
  std::string below = where.cgroup_path;
  if (mount->root != "/") {
    if (below.compare(0, mount->root.size(), mount->root) != 0 ||
        (below.size() > mount->root.size() && below[mount->root.size()] != '/'))
      throw InspectError(cgroup_file, "cgroup " + where.cgroup_path +
                                          " is outside the mount's root " + mount->root +
                                          " (another cgroup namespace?)");
    below = below.substr(mount->root.size());
  }
  if (below.find("/../") != std::string::npos ||
      (below.size() >= 3 && below.compare(below.size() - 3, 3, "/..") == 0))
    throw InspectError(cgroup_file, "cgroup " + where.cgroup_path +
                                        " is outside this cgroup namespace");
  where.mount_point = mount->mount_point;
  where.dir = mount->mount_point;
  if (below != "/") where.dir += below;
  while (where.dir.size() > 1 && where.dir.back() == '/') where.dir.pop_back();
  return where;
}

const CgroupFile* CgroupMemory::find(std::string_view name) const {
  for (const CgroupFile& f : files)
    if (f.name == name) return &f;
  return nullptr;
}

CgroupMemory read_cgroup_memory(const ProcFs& fs, const std::string& pid) {
  CgroupMemory out;
  out.pid = pid;
  out.where = locate(fs, pid);
  const SysPath sys{fs};
  out.display_dir = sys.shown(out.where.dir);
  const bool v2 = out.where.version == CgroupVersion::kV2;

  if (v2) {
    // On a hybrid machine the memory controller may be on neither hierarchy.
    const std::string controllers = out.where.mount_point + "/cgroup.controllers";
    if (sys.exists(controllers)) {
      const std::string text = sys.read(controllers);
      const std::vector<std::string_view> list =
          split_ws(std::string_view(text).substr(0, text.find('\n')));
      if (std::find(list.begin(), list.end(), "memory") == list.end())
        throw InspectError(sys.shown(controllers),
                           "the memory controller is not enabled on this cgroup2 hierarchy, "
                           "nor mounted as cgroup v1: no memory limits apply");
    }
  }

  const auto specs = v2 ? std::vector<FileSpec>(std::begin(kV2Files), std::end(kV2Files))
                        : std::vector<FileSpec>(std::begin(kV1Files), std::end(kV1Files));
  for (const FileSpec& spec : specs) {
    const std::string abs = out.where.dir + "/" + spec.name;
    if (!sys.exists(abs)) continue;
    const std::string text = sys.read(abs);
    CgroupFile f;
    f.name = spec.name;
    f.role = spec.role;
    f.limit = spec.limit;
    if (spec.limit) {
      const CgroupLimit l = parse_limit(text, sys.shown(abs));
      f.unlimited = l.unlimited;
      f.bytes = l.bytes;
    } else {
      f.bytes = parse_single_value(text, sys.shown(abs));
    }
    out.files.push_back(std::move(f));
  }
  const std::string stat = out.where.dir + "/memory.stat";
  if (sys.exists(stat)) out.stat = parse_key_values(sys.read(stat), sys.shown(stat));
  const std::string events = out.where.dir + "/memory.events";
  if (v2 && sys.exists(events))
    out.events = parse_key_values(sys.read(events), sys.shown(events));

  if (const CgroupFile* f = out.find(v2 ? "memory.max" : "memory.limit_in_bytes"))
    out.limit = CgroupLimit{f->unlimited, f->bytes};
  if (const CgroupFile* f = out.find(v2 ? "memory.current" : "memory.usage_in_bytes"))
    out.usage = f->bytes;
  if (out.usage) {
    if (const auto inactive = find_value(out.stat, v2 ? "inactive_file" : "total_inactive_file"))
      out.working_set = *out.usage > *inactive ? *out.usage - *inactive : 0;
  }

  if (v2) {
    for (const std::string& dir : v2_ancestors(out.where)) {
      const std::string abs = dir + "/memory.max";
      if (!sys.exists(abs)) continue;
      const CgroupLimit l = parse_limit(sys.read(abs), sys.shown(abs));
      if (!out.effective_limit || (!l.unlimited && (out.effective_limit->unlimited ||
                                                    l.bytes < out.effective_limit->bytes))) {
        out.effective_limit = l;
        out.effective_limit_from = sys.shown(abs);
      }
    }
  } else if (const auto h = find_value(out.stat, "hierarchical_memory_limit")) {
    out.effective_limit = CgroupLimit{*h >= kV1Unlimited, *h};
    out.effective_limit_from = sys.shown(stat) + " hierarchical_memory_limit";
  }

  // The name and number are decoration only: a process may hide or lose them.
  try {
    const std::string comm = fs.read(pid + "/comm");
    out.comm = comm.substr(0, comm.find('\n'));
  } catch (const InspectError&) {
  }
  try {
    out.pid_number = read_status(fs, pid).pid;
  } catch (const InspectError&) {
  }
  return out;
}

std::vector<std::string> cgroup_memory_sys_files(const ProcFs& fs, const std::string& pid) {
  std::vector<std::string> files;
  CgroupLocation where;
  try {
    where = locate(fs, pid);
  } catch (const InspectError&) {
    return files;
  }
  std::string rel;
  if (!SysPath::rel(where.dir, &rel) || !SysPath::rel(where.mount_point, &rel)) return files;
  auto add = [&](const std::string& abs) {
    std::string r;
    if (SysPath::rel(abs, &r)) files.push_back(r);
  };
  if (where.version == CgroupVersion::kV2) {
    add(where.mount_point + "/cgroup.controllers");
    for (const FileSpec& spec : kV2Files) add(where.dir + "/" + spec.name);
    add(where.dir + "/memory.events");
    for (const std::string& dir : v2_ancestors(where)) add(dir + "/memory.max");
  } else {
    for (const FileSpec& spec : kV1Files) add(where.dir + "/" + spec.name);
  }
  add(where.dir + "/memory.stat");
  std::sort(files.begin(), files.end());
  files.erase(std::unique(files.begin(), files.end()), files.end());
  return files;
}

namespace {

struct Description {
  const char* key;
  const char* text;
};

// Documentation/admin-guide/cgroup-v2.rst "memory.stat" and cgroup-v1/memory.rst §5.2.
constexpr Description kStatDescriptions[] = {
    // v2
    {"anon", "anonymous memory (heap, stacks, private writes) and tmpfs swap-backed pages"},
    {"file", "page cache, including tmpfs and shared memory"},
    {"kernel", "kernel memory charged to the cgroup (slab, stacks, page tables, ...)"},
    {"kernel_stack", "kernel stacks of the cgroup's tasks"},
    {"pagetables", "page tables of the cgroup's processes"},
    {"sock", "network socket buffers"},
    {"shmem", "shared memory and tmpfs (swap-backed, part of file)"},
    {"file_mapped", "page cache mapped into processes with mmap"},
    {"file_dirty", "page cache modified, not yet written back"},
    {"file_writeback", "page cache being written back"},
    {"slab_reclaimable", "kernel slab memory that can be reclaimed (dentries, inodes)"},
    {"slab_unreclaimable", "kernel slab memory that cannot be reclaimed"},
    {"slab", "kernel slab memory in total"},
    {"active_anon", "anonymous memory on the active LRU list"},
    {"inactive_anon", "anonymous memory on the inactive LRU list (swap candidates)"},
    {"active_file", "page cache on the active LRU list"},
    {"inactive_file", "page cache on the inactive LRU list: reclaimed first"},
    {"unevictable", "memory that cannot be reclaimed (mlocked)"},
    {"anon_thp", "anonymous transparent huge pages"},
    // v1
    {"cache", "page cache, including tmpfs and shared memory"},
    {"rss", "anonymous memory and swap cache (not the process RSS)"},
    {"rss_huge", "anonymous transparent huge pages"},
    {"mapped_file", "page cache mapped into processes with mmap"},
    {"dirty", "page cache modified, not yet written back"},
    {"writeback", "page cache being written back"},
    {"swap", "swap used by the cgroup"},
    {"hierarchical_memory_limit", "the tightest limit of this cgroup and its ancestors"},
    {"hierarchical_memsw_limit", "the tightest memory+swap limit of this cgroup and its ancestors"},
};

}  // namespace

const char* memory_stat_description(std::string_view key) {
  for (const Description& d : kStatDescriptions)
    if (key == d.key) return d.text;
  return nullptr;
}

}  // namespace memkit::inspect
