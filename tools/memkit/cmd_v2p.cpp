// memkit CLI — `memkit v2p PID ADDR...` (tools/memkit/cmd_v2p.cpp)
//
// Translates virtual addresses of a process through /proc/PID/pagemap (inspect/pagemap.h):
// for each address the VMA holding it (from /proc/PID/maps, classified) and the page's state —
// present (PFN and physical address, when the kernel shows them), swapped (swap type and
// offset) or not present — with its flags: exclusively mapped, file page or shared anonymous,
// soft-dirty, uffd-wp, guard region. Without CAP_SYS_ADMIN the kernel zeroes the PFN: that is
// said in words. An address outside every VMA is reported as such, not as an error.
#include <fmt/core.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "address_space.h"
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
};

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
  const std::string pid = checked_pid(a.pid);
  std::vector<uint64_t> addrs;
  for (const std::string& s : a.addrs) {
    uint64_t v = 0;
    if (!inspect::parse_u64_auto(s, &v))
      throw usage_error(fmt::format("ADDR: \"{}\" is not an address (hex 0x... or decimal)", s));
    addrs.push_back(v);
  }
  const inspect::ProcFs fs = open_procfs(a.view);
  const auto page_size = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const AddressSpace as = load_address_space(fs, pid, /*with_smaps=*/false, page_size);
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
    doc["addresses"] = std::move(list);
    fmt::print("{}\n", doc.dump(2));
    return;
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
    fmt::print("{:#018x}  in {:x}-{:x} {} {} [{}], page {:#x}\n", t.addr, v.start, v.end,
               v.perms(), v.name.empty() ? "[anon]" : v.name, kind,
               t.addr & ~(page_size - 1));
    if (r.kind == inspect::RegionKind::kVsyscall) {
      fmt::print("  the vsyscall page: a kernel page outside the process's page tables\n");
    } else {
      fmt::print("  {}\n", state_text(t.entry, t.addr, page_size));
    }
  }
}

void setup(CLI::App& sub) {
  auto args = std::make_shared<Args>();
  sub.add_option("PID", args->pid, "the process")->required();
  sub.add_option("ADDR", args->addrs, "virtual addresses: hex (0x...) or decimal")->required();
  add_view_options(sub, args->view);
  sub.footer(
      "Reads /proc/PID/pagemap (needs ptrace access to PID). The PFN and physical address\n"
      "need CAP_SYS_ADMIN: for others the kernel reads PFN 0, and memkit says \"PFN hidden\".\n"
      "Flags: exclusive (mapped by this process only), file/shared (page cache or shared\n"
      "anonymous), soft-dirty (0 without CONFIG_MEM_SOFT_DIRTY), uffd-wp, guard.\n"
      "--json: {\"pid\", \"command\", \"page_size\", \"addresses\": [{\"address\", \"mapped\", \"vma\":\n"
      "{\"start\", \"end\", \"perms\", \"name\", \"kind\"}, \"raw\", \"present\", \"swapped\",\n"
      "\"exclusive\", \"file_or_shared\", \"soft_dirty\", \"uffd_wp\", \"guard\", \"pfn_hidden\",\n"
      "\"pfn\", \"physical\" (null when hidden or not present), \"swap_type\", \"swap_offset\"}]}.");
  sub.callback([args] { run(*args); });
}

const Registration kV2p{"v2p", "translate a process's virtual addresses through pagemap", setup};

}  // namespace
}  // namespace memkit::cli
