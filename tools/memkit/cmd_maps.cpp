// memkit CLI — `memkit maps PID` (tools/memkit/cmd_maps.cpp)
//
// Like `pmap -x PID`, from /proc/PID/smaps: every VMA with its size, RSS, PSS, dirty
// (Shared_Dirty + Private_Dirty, pmap's Dirty) and swap, classified TEXT / DATA / BSS / HEAP /
// STACK / MMAP / VDSO / VVAR / VSYSCALL (inspect/maps.h), then a summary per class, the total
// (every VMA, as pmap's "total kB" line), and /proc/PID/status's VmSize, VmData, VmStk, VmExe
// and VmLib next to the same figures recomputed from the VMAs, with how each is computed.
// --svg FILE draws the address space (maps_svg.h).
#include <fmt/core.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "address_space.h"
#include "command.h"
#include "maps_svg.h"
#include "pid_arg.h"
#include "view.h"

namespace memkit::cli {
namespace cmd_maps_impl {

using inspect::RegionKind;

struct Args {
  ViewArgs view;
  std::string pid = "self";
  std::string svg;
};

struct Figures {
  uint64_t regions = 0;
  uint64_t size = 0;
  uint64_t rss = 0;
  uint64_t pss = 0;
  uint64_t dirty = 0;
  uint64_t swap = 0;

  void add(const inspect::SmapsVma& v) {
    ++regions;
    size += v.vma.size();
    rss += v.fields.bytes("Rss");
    pss += v.fields.bytes("Pss");
    dirty += v.fields.bytes("Shared_Dirty") + v.fields.bytes("Private_Dirty");
    swap += v.fields.bytes("Swap");
  }
};

struct Check {
  const char* key;
  uint64_t computed;
  const char* how;
};

std::array<Check, 5> checks(const AddressSpace& as) {
  const inspect::VmCounters& c = as.computed;
  return {{{"VmSize", c.size, "every VMA but [vsyscall]"},
           {"VmData", c.data, "writable, private, not stack (VM_WRITE & ~VM_SHARED & ~VM_STACK)"},
           {"VmStk", c.stk, "stack VMAs (VmFlags gd)"},
           {"VmExe", c.exe,
            "PAGE_ALIGN(end_code) - start_code from /proc/PID/stat, at most exec"},
           {"VmLib", c.lib,
            "exec - VmExe; exec = executable, not writable, not stack, but [vsyscall]"}}};
}

uint64_t status_value(const AddressSpace& as, const char* key) {
  const inspect::StatusMemField* f = as.status.find(key);
  return f != nullptr ? f->bytes() : 0;
}

std::string kind_text(const inspect::Region& r) {
  std::string k = inspect::region_name(r.kind);
  if (r.detail[0] != '\0') k += fmt::format(" {}", r.detail);
  return k;
}

std::string mapping_text(const inspect::Vma& v) { return v.name.empty() ? "[anon]" : v.name; }

void print_text(const AddressSpace& as, bool bytes) {
  const size_t w = bytes ? 11 : 10;
  fmt::print("{}:   {}\n", as.pid, as.command);
  fmt::print("{}\n", header_style(fmt::format("{:<16} {:>{}} {:>{}} {:>{}} {:>{}} {:>{}} {:<4} {:<16} {}",
                                               "ADDRESS", "SIZE", w, "RSS", w, "PSS", w, "DIRTY",
                                               w, "SWAP", w, "PERM", "KIND", "MAPPING")));
  std::array<Figures, inspect::kRegionKinds> by_kind{};
  Figures total;
  for (size_t i = 0; i < as.vmas.size(); ++i) {
    const inspect::SmapsVma& v = as.vmas[i];
    Figures one;
    one.add(v);
    by_kind[static_cast<size_t>(as.regions[i].kind)].add(v);
    total.add(v);
    const std::string marks = marks_text(inspect::memory_marks(v.fields));
    fmt::print("{:016x} {:>{}} {:>{}} {:>{}} {:>{}} {:>{}} {:<4} {:<16} {}{}\n", v.vma.start,
               format_size(one.size, bytes), w, format_size(one.rss, bytes), w,
               format_size(one.pss, bytes), w, format_size(one.dirty, bytes), w,
               format_size(one.swap, bytes), w, v.vma.perms(), kind_text(as.regions[i]),
               mapping_text(v.vma), marks.empty() ? "" : " " + marks);
  }
  fmt::print("\n{}\n", header_style(fmt::format("{:<16} {:>{}} {:>{}} {:>{}} {:>{}} {:>{}} {}",
                                                 "KIND", "SIZE", w, "RSS", w, "PSS", w, "DIRTY",
                                                 w, "SWAP", w, "REGIONS")));
  const auto row = [&](const std::string& name, const Figures& f) {
    fmt::print("{:<16} {:>{}} {:>{}} {:>{}} {:>{}} {:>{}} {}\n", name,
               format_size(f.size, bytes), w, format_size(f.rss, bytes), w,
               format_size(f.pss, bytes), w, format_size(f.dirty, bytes), w,
               format_size(f.swap, bytes), w, f.regions);
  };
  for (int k = 0; k < inspect::kRegionKinds; ++k)
    if (by_kind[static_cast<size_t>(k)].regions > 0)
      row(inspect::region_name(static_cast<RegionKind>(k)), by_kind[static_cast<size_t>(k)]);
  row("total", total);
  fmt::print("(total: every VMA, as pmap -x's \"total kB\" line: SIZE = Kbytes, RSS, DIRTY)\n");

  fmt::print("\n/proc/{}/status next to the VMAs:\n", as.pid);
  fmt::print("{}\n", header_style(fmt::format("{:<7} {:>{}} {:>{}}      {}", "", "status", w,
                                               "VMAs", w, "computed as")));
  bool all = true;
  for (const Check& c : checks(as)) {
    const uint64_t s = status_value(as, c.key);
    all = all && s == c.computed;
    fmt::print("{:<7} {:>{}} {:>{}} {} {}\n", c.key, format_size(s, bytes), w,
               format_size(c.computed, bytes), w,
               s == c.computed ? std::string("ok  ") : warn_style("DIFF"), c.how);
  }
  if (!all) {
    fmt::print("{}\n", warn_style(as.stable
                                      ? "some counters differ from the VMAs (see the rules above)"
                                      : "some counters differ: the process changed its mappings "
                                        "while being read"));
  }
}

nlohmann::ordered_json figures_json(const Figures& f) {
  return {{"regions", f.regions}, {"size", f.size}, {"rss", f.rss},
          {"pss", f.pss},         {"dirty", f.dirty}, {"swap", f.swap}};
}

void print_json(const AddressSpace& as) {
  nlohmann::ordered_json regions = nlohmann::ordered_json::array();
  std::array<Figures, inspect::kRegionKinds> by_kind{};
  Figures total;
  for (size_t i = 0; i < as.vmas.size(); ++i) {
    const inspect::SmapsVma& v = as.vmas[i];
    Figures one;
    one.add(v);
    by_kind[static_cast<size_t>(as.regions[i].kind)].add(v);
    total.add(v);
    nlohmann::ordered_json r;
    r["start"] = v.vma.start;
    r["end"] = v.vma.end;
    r["perms"] = v.vma.perms();
    r["offset"] = v.vma.offset;
    r["dev"] = fmt::format("{:02x}:{:02x}", v.vma.dev_major, v.vma.dev_minor);
    r["inode"] = v.vma.inode;
    r["name"] = v.vma.name;
    r["kind"] = inspect::region_name(as.regions[i].kind);
    r["detail"] = as.regions[i].detail;
    r["size"] = one.size;
    r["rss"] = one.rss;
    r["pss"] = one.pss;
    r["dirty"] = one.dirty;
    r["swap"] = one.swap;
    const inspect::MemoryMarks marks = inspect::memory_marks(v.fields);
    r["locked"] = marks.locked;
    r["hugetlb"] = marks.hugetlb;
    r["thp"] = marks.thp_bytes;
    nlohmann::ordered_json smaps = nlohmann::ordered_json::object();
    for (const auto& [key, kb] : v.fields.kb) smaps[key] = kb * 1024;
    r["smaps"] = std::move(smaps);
    r["vm_flags"] = v.fields.vm_flags;
    regions.push_back(std::move(r));
  }
  nlohmann::ordered_json summary = nlohmann::ordered_json::object();
  for (int k = 0; k < inspect::kRegionKinds; ++k)
    if (by_kind[static_cast<size_t>(k)].regions > 0)
      summary[inspect::region_name(static_cast<RegionKind>(k))] =
          figures_json(by_kind[static_cast<size_t>(k)]);
  nlohmann::ordered_json status = nlohmann::ordered_json::object();
  for (const Check& c : checks(as)) {
    const uint64_t s = status_value(as, c.key);
    status[c.key] = {
        {"status", s}, {"computed", c.computed}, {"match", s == c.computed}, {"how", c.how}};
  }
  nlohmann::ordered_json j;
  j["pid"] = as.pid;
  j["command"] = as.command;
  j["regions"] = std::move(regions);
  j["summary"] = std::move(summary);
  j["total"] = figures_json(total);
  j["status_check"] = std::move(status);
  j["stable"] = as.stable;
  fmt::print("{}\n", j.dump(2));
}

void write_svg(const std::string& path, const AddressSpace& as) {
  MapsSvgInput in;
  in.pid = as.pid;
  in.command = as.command;
  for (size_t i = 0; i < as.vmas.size(); ++i) {
    const inspect::SmapsVma& v = as.vmas[i];
    in.bands.push_back(MapsSvgBand{v.vma.start, v.vma.end, as.regions[i], v.vma.perms(),
                                   v.vma.name, v.fields.bytes("Rss")});
  }
  std::ofstream out(path);
  if (!out) throw usage_error(fmt::format("cannot write {}: {}", path, std::strerror(errno)));
  out << render_maps_svg(in);
  out.close();
  if (!out) throw usage_error(fmt::format("cannot write {}", path));
}

void run(const Args& a) {
  const std::string pid = checked_pid(a.pid);
  const inspect::ProcFs fs = open_procfs(a.view);
  const auto page_size = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const AddressSpace as = load_address_space(fs, pid, /*with_smaps=*/true, page_size);
  if (!a.svg.empty()) write_svg(a.svg, as);
  if (a.view.json) {
    print_json(as);
  } else {
    print_text(as, a.view.bytes);
  }
}

void setup(CLI::App& sub) {
  auto args = std::make_shared<Args>();
  sub.add_option("PID", args->pid, "process ID, or \"self\" (default, as for status)");
  add_view_options(sub, args->view);
  sub.add_option("--svg", args->svg, "also draw the address space into FILE (SVG)")
      ->option_text("FILE");
  sub.footer(
      "Classes: [heap] HEAP, [stack] STACK, [vdso] VDSO, [vvar*] VVAR, [vsyscall] VSYSCALL;\n"
      "VMAs of the executable (the file at start_code): DATA if they overlap [start_data,\n"
      "end_data) (RELRO included), else TEXT when executable or read-only, DATA when writable;\n"
      "the anonymous VMA right after the executable, below start_brk: BSS; the rest MMAP\n"
      "(anon, anon-shared, lib-text, lib-data, file, file-shared). DIRTY = Shared_Dirty +\n"
      "Private_Dirty (pmap -x's Dirty). After the mapping, marks: [locked] (smaps Locked: > 0\n"
      "or VmFlags lo: mlock, e.g. a DMA buffer), [hugetlb] (VmFlags ht: hugetlbfs pages, which\n"
      "the kernel never marks locked) and [THP SIZE] (AnonHugePages: transparent huge pages).\n"
      "Needs ptrace access to PID (root for other users).\n"
      "--json: {\"pid\", \"command\", \"regions\": [{\"start\", \"end\", \"perms\", \"offset\", \"dev\",\n"
      "\"inode\", \"name\", \"kind\", \"detail\", \"size\", \"rss\", \"pss\", \"dirty\", \"swap\", \"locked\",\n"
      "\"hugetlb\", \"thp\" (AnonHugePages bytes), \"smaps\":\n"
      "{every kB field}, \"vm_flags\"}], \"summary\": {KIND: {\"regions\", \"size\", \"rss\", \"pss\",\n"
      "\"dirty\", \"swap\"}}, \"total\": {...}, \"status_check\": {\"VmSize\"...: {\"status\",\n"
      "\"computed\", \"match\", \"how\"}}, \"stable\"}, sizes in bytes.");
  sub.callback([args] { run(*args); });
}

const Registration kMaps{"maps", "a process's address space like pmap -x, classified (TEXT, DATA, "
                                 "BSS, HEAP, STACK, MMAP...)",
                         setup};

}  // namespace
}  // namespace memkit::cli
