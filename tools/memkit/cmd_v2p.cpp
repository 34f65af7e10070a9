// memkit CLI — `memkit v2p PID ADDR...` (tools/memkit/cmd_v2p.cpp)
//
// Translates virtual addresses of a process through /proc/PID/pagemap (inspect/pagemap.h):
// for each address the VMA holding it (from /proc/PID/maps, classified) and the page's state —
// present (PFN and physical address, when the kernel shows them), swapped (swap type and
// offset) or not present — with its flags: exclusively mapped, file page or shared anonymous,
// soft-dirty, uffd-wp, guard region. Without CAP_SYS_ADMIN the kernel zeroes the PFN: that is
// said in words. An address outside every VMA is reported as such, not as an error.
//
// --dma SIZE allocates a DMA buffer in memkit's own process (mk_dma_alloc_coherent,
// memkit/dma.h), says what it got (backing, lock, contiguity, DMA handle) and translates the
// buffer's first pages and last byte, so the handle can be checked against pagemap.
#include <fmt/core.h>
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "address_space.h"
#include "memkit/dma.hpp"
#include "command.h"
#include "inspect/pagemap.h"
#include "inspect/scan.h"
#include "pid_arg.h"
#include "view.h"

namespace memkit::cli {
namespace cmd_v2p_impl {

constexpr const char* kHidden = "PFN hidden by the kernel (needs CAP_SYS_ADMIN)";

struct Args {
  ViewArgs view;
  std::string pid;
  std::vector<std::string> addrs;
  std::string dma;  // SIZE
  bool hugetlb = false;
  bool no_hugetlb = false;
  bool no_thp = false;
  bool contiguous = false;
};

// "4096", "64K", "2M", "1G" (powers of 1024; an optional "iB" or "B").
uint64_t parse_size(const std::string& text) {
  size_t used = 0;
  uint64_t v = 0;
  try {
    v = std::stoull(text, &used, 0);
  } catch (const std::exception&) {
    used = 0;
  }
  std::string unit = text.substr(used);
  if (unit.size() > 1 && (unit.ends_with("iB") || unit.ends_with("B")))
    unit = unit.substr(0, unit.ends_with("iB") ? unit.size() - 2 : unit.size() - 1);
  int shift = -1;
  if (unit.empty()) shift = 0;
  if (unit == "K" || unit == "k") shift = 10;
  if (unit == "M") shift = 20;
  if (unit == "G") shift = 30;
  if (used == 0 || shift < 0 || v == 0 || v > (UINT64_MAX >> shift))
    throw usage_error(fmt::format("--dma: \"{}\" is not a size (e.g. 4096, 64K, 2M, 1G)", text));
  return v << shift;
}

std::string dma_flags_text(unsigned f) {
  std::vector<std::string> v;
  if (f & MK_DMA_INFO_HUGETLB) v.emplace_back("hugetlb");
  if (f & MK_DMA_INFO_THP) v.emplace_back("thp");
  if (f & MK_DMA_INFO_LOCKED) v.emplace_back("locked");
  if (f & MK_DMA_INFO_PHYS_KNOWN) v.emplace_back("phys-known");
  if (f & MK_DMA_INFO_CONTIGUOUS) v.emplace_back("contiguous");
  if (f & MK_DMA_INFO_NONCONTIG) v.emplace_back("noncontig");
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : " ") + s;
  return out;
}

std::string dma_backing_text(const mk_dma_info& i) {
  const std::string size = format_size(i.page_size, false);
  if (i.flags & MK_DMA_INFO_HUGETLB) return "explicit huge pages (hugetlbfs), " + size;
  if (i.flags & MK_DMA_INFO_THP) return "transparent huge pages, " + size;
  return "normal pages, " + size;
}

std::string dma_contiguity_text(const mk_dma_info& i) {
  if (i.flags & MK_DMA_INFO_CONTIGUOUS) return "the whole buffer is one physical range";
  if (i.flags & MK_DMA_INFO_NONCONTIG) return "NOT physically contiguous beyond a page";
  return fmt::format("physically contiguous in aligned runs of {}, not as a whole",
                     format_size(i.contig_size, false));
}

struct Translation {
  uint64_t addr = 0;
  std::optional<size_t> vma;  // index in the address space
  inspect::PagemapEntry entry;
};

std::vector<std::string> flag_names(const inspect::PagemapEntry& e) {
  std::vector<std::string> f;
  if (e.exclusive()) f.emplace_back("exclusive");
  if (e.file_or_shared()) f.emplace_back("file/shared");
  if (e.soft_dirty()) f.emplace_back("soft-dirty");
  if (e.uffd_wp()) f.emplace_back("uffd-wp");
  if (e.guard()) f.emplace_back("guard");
  return f;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::string state_text(const inspect::PagemapEntry& e, uint64_t addr, uint64_t page_size) {
  if (e.present()) {
    std::string s = "present";
    const std::vector<std::string> flags = flag_names(e);
    if (!flags.empty()) s += ", " + join(flags);
    if (e.pfn_hidden()) return s + "; " + kHidden;
    return s + fmt::format("; PFN {:#x}, physical address {:#x}", e.pfn(),
                           e.physical_address(addr, page_size));
  }
  if (e.swapped()) {
    std::string s = fmt::format("swapped out: swap type {}, offset {:#x}", e.swap_type(),
                                e.swap_offset());
    const std::vector<std::string> flags = flag_names(e);
    return flags.empty() ? s : s + " (" + join(flags) + ")";
  }
  if (e.guard()) return "not present: guard region (MADV_GUARD_INSTALL)";
  return "not present (never touched, or reclaimed)";
}

void run(const Args& a) {
  memkit::DmaBuffer dma;
  mk_dma_info info{};
  std::vector<uint64_t> addrs;
  if (!a.dma.empty()) {
    if (!a.pid.empty() || !a.addrs.empty())
      throw usage_error("--dma translates memkit's own buffer: no PID or ADDR with it");
    const uint64_t size = parse_size(a.dma);
    const int flags = (a.hugetlb ? MK_DMA_HUGETLB : 0) | (a.no_hugetlb ? MK_DMA_NO_HUGETLB : 0) |
                      (a.no_thp ? MK_DMA_NO_THP : 0) | (a.contiguous ? MK_DMA_CONTIGUOUS : 0);
    dma = memkit::DmaBuffer::allocate(size, flags);
    if (!dma) {
      const int err = errno;
      std::string why = std::strerror(err);
      if (err == ENOMEM)
        why += fmt::format(" (out of memory or huge pages, or over RLIMIT_MEMLOCK: {})",
                           [] {
                             struct rlimit rl {};
                             getrlimit(RLIMIT_MEMLOCK, &rl);
                             return rl.rlim_cur == RLIM_INFINITY
                                        ? std::string("unlimited")
                                        : format_size(rl.rlim_cur, false);
                           }());
      throw Failure(kExitInternal, fmt::format("mk_dma_alloc_coherent({}): {}", size, why));
    }
    info = dma.info();
    const auto start = reinterpret_cast<uint64_t>(dma.data());
    for (uint64_t off = 0; off < info.mapped && addrs.size() < 4; off += info.page_size)
      addrs.push_back(start + off);
    if (addrs.back() != start + size - 1) addrs.push_back(start + size - 1);
  } else if (a.pid.empty() || a.addrs.empty()) {
    throw usage_error("PID and ADDR are required (or --dma SIZE)");
  }
  const std::string pid = a.dma.empty() ? checked_pid(a.pid) : "self";
  for (const std::string& s : a.addrs) {
    uint64_t v = 0;
    if (!inspect::parse_u64_auto(s, &v))
      throw usage_error(fmt::format("ADDR: \"{}\" is not an address (hex 0x... or decimal)", s));
    addrs.push_back(v);
  }
  const inspect::ProcFs fs = open_procfs(a.view);
  const auto page_size = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const AddressSpace as = load_address_space(fs, pid, /*with_smaps=*/static_cast<bool>(dma), page_size);
  if (!fs.live() && !fs.exists(pid + "/pagemap"))
    throw inspect::InspectError(fs.proc_path(pid + "/pagemap"),
                                "not in the snapshot (`memkit snapshot` cannot copy pagemap)");
  const inspect::PagemapReader pagemap(fs, pid);

  std::vector<Translation> out;
  for (const uint64_t addr : addrs) {
    Translation t;
    t.addr = addr;
    const auto it = std::upper_bound(
        as.vmas.begin(), as.vmas.end(), addr,
        [](uint64_t x, const inspect::SmapsVma& v) { return x < v.vma.end; });
    if (it != as.vmas.end() && it->vma.contains(addr)) {
      t.vma = static_cast<size_t>(it - as.vmas.begin());
      if (as.regions[*t.vma].kind != inspect::RegionKind::kVsyscall)  // no page table behind it
        t.entry = pagemap.entry(addr, page_size);
    }
    out.push_back(t);
  }

  if (a.view.json) {
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const Translation& t : out) {
      nlohmann::ordered_json j;
      j["address"] = t.addr;
      j["mapped"] = t.vma.has_value();
      if (t.vma) {
        const inspect::Vma& v = as.vmas[*t.vma].vma;
        j["vma"] = {{"start", v.start},
                    {"end", v.end},
                    {"perms", v.perms()},
                    {"name", v.name},
                    {"kind", inspect::region_name(as.regions[*t.vma].kind)}};
        const inspect::PagemapEntry& e = t.entry;
        j["raw"] = e.raw;
        j["present"] = e.present();
        j["swapped"] = e.swapped();
        j["exclusive"] = e.exclusive();
        j["file_or_shared"] = e.file_or_shared();
        j["soft_dirty"] = e.soft_dirty();
        j["uffd_wp"] = e.uffd_wp();
        j["guard"] = e.guard();
        j["pfn_hidden"] = e.pfn_hidden();
        j["pfn"] = e.present() && !e.pfn_hidden() ? nlohmann::ordered_json(e.pfn()) : nullptr;
        j["physical"] = e.present() && !e.pfn_hidden()
                            ? nlohmann::ordered_json(e.physical_address(t.addr, page_size))
                            : nullptr;
        if (e.swapped()) {
          j["swap_type"] = e.swap_type();
          j["swap_offset"] = e.swap_offset();
        }
      }
      list.push_back(std::move(j));
    }
    nlohmann::ordered_json doc;
    doc["pid"] = as.pid;
    doc["command"] = as.command;
    doc["page_size"] = page_size;
    if (dma) {
      doc["dma"] = {{"vaddr", reinterpret_cast<uint64_t>(info.vaddr)},
                    {"size", info.size},
                    {"mapped", info.mapped},
                    {"page_size", info.page_size},
                    {"contig_size", info.contig_size},
                    {"dma_addr", info.flags & MK_DMA_INFO_PHYS_KNOWN
                                     ? nlohmann::ordered_json(info.dma_addr)
                                     : nlohmann::ordered_json(nullptr)},
                    {"flags", dma_flags_text(info.flags)}};
    }
    doc["addresses"] = std::move(list);
    fmt::print("{}\n", doc.dump(2));
    return;
  }

  if (dma) {
    fmt::print("DMA buffer: mk_dma_alloc_coherent({}) = {}, in memkit's own process\n",
               info.size, info.vaddr);
    fmt::print("  backing:    {}; {} mapped, locked in RAM (mlock)\n", dma_backing_text(info),
               format_size(info.mapped, false));
    fmt::print("  contiguity: {}\n", dma_contiguity_text(info));
    if (info.flags & MK_DMA_INFO_PHYS_KNOWN)
      fmt::print("  dma handle: {:#x} (the physical address of the first byte)\n", info.dma_addr);
    else
      fmt::print("  dma handle: MK_DMA_ADDR_UNKNOWN ({})\n", kHidden);
    fmt::print("  flags:      {}\n\n", dma_flags_text(info.flags));
  }
  fmt::print("{}:   {}   ({}-byte pages, {})\n", as.pid, as.command, page_size, pagemap.path());
  for (const Translation& t : out) {
    if (!t.vma) {
      fmt::print("{:#018x}  not mapped: outside any mapping of PID {}\n", t.addr, as.pid);
      continue;
    }
    const inspect::Vma& v = as.vmas[*t.vma].vma;
    const inspect::Region& r = as.regions[*t.vma];
    std::string kind = inspect::region_name(r.kind);
    if (r.detail[0] != '\0') kind += fmt::format(" {}", r.detail);
    const std::string marks = marks_text(inspect::memory_marks(as.vmas[*t.vma].fields));
    fmt::print("{:#018x}  in {:x}-{:x} {} {} [{}]{}, page {:#x}\n", t.addr, v.start, v.end,
               v.perms(), v.name.empty() ? "[anon]" : v.name, kind,
               marks.empty() ? "" : " " + marks, t.addr & ~(page_size - 1));
    if (r.kind == inspect::RegionKind::kVsyscall) {
      fmt::print("  the vsyscall page: a kernel page outside the process's page tables\n");
    } else {
      fmt::print("  {}\n", state_text(t.entry, t.addr, page_size));
    }
  }
}

void setup(CLI::App& sub) {
  auto args = std::make_shared<Args>();
  sub.add_option("PID", args->pid, "the process");
  sub.add_option("ADDR", args->addrs, "virtual addresses: hex (0x...) or decimal");
  sub.add_option("--dma", args->dma,
                 "allocate a DMA buffer of SIZE here (mk_dma_alloc_coherent) and translate it")
      ->option_text("SIZE");
  sub.add_flag("--hugetlb", args->hugetlb, "with --dma: explicit huge pages only (MK_DMA_HUGETLB)");
  sub.add_flag("--no-hugetlb", args->no_hugetlb, "with --dma: skip explicit huge pages");
  sub.add_flag("--no-thp", args->no_thp, "with --dma: skip transparent huge pages");
  sub.add_flag("--contiguous", args->contiguous,
               "with --dma: the whole buffer physically contiguous or fail (MK_DMA_CONTIGUOUS)");
  add_view_options(sub, args->view, kViewJson | kViewProcRoot);  // it prints addresses, not sizes
  sub.footer(
      "Reads /proc/PID/pagemap (needs ptrace access to PID). The PFN and physical address\n"
      "need CAP_SYS_ADMIN: for others the kernel reads PFN 0, and memkit says \"PFN hidden\".\n"
      "--dma SIZE (4096, 64K, 2M, 1G): no PID or ADDR; memkit allocates the buffer itself\n"
      "(huge pages when it can, locked), prints its backing, contiguity and DMA handle, and\n"
      "translates its first pages and last byte; the VMA line shows [locked], [hugetlb],\n"
      "[THP SIZE]. Exit status 1 when the allocation fails (e.g. over RLIMIT_MEMLOCK).\n"
      "Flags: exclusive (mapped by this process only), file/shared (page cache or shared\n"
      "anonymous), soft-dirty (0 without CONFIG_MEM_SOFT_DIRTY), uffd-wp, guard.\n"
      "--json: {\"pid\", \"command\", \"page_size\", \"addresses\": [{\"address\", \"mapped\", \"vma\":\n"
      "{\"start\", \"end\", \"perms\", \"name\", \"kind\"}, \"raw\", \"present\", \"swapped\",\n"
      "\"exclusive\", \"file_or_shared\", \"soft_dirty\", \"uffd_wp\", \"guard\", \"pfn_hidden\",\n"
      "\"pfn\", \"physical\" (null when hidden or not present), \"swap_type\", \"swap_offset\"}]};\n"
      "with --dma also \"dma\": {\"vaddr\", \"size\", \"mapped\", \"page_size\", \"contig_size\",\n"
      "\"dma_addr\" (null when hidden), \"flags\"}.");
  sub.callback([args] { run(*args); });
}

const Registration kV2p{"v2p", "translate a process's virtual addresses through pagemap", setup};

}  // namespace
}  // namespace memkit::cli
