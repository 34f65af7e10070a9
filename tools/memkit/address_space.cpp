// memkit CLI — one process's address space (tools/memkit/address_space.cpp): see
// address_space.h.
#include "address_space.h"

#include "view.h"

namespace memkit::cli {
namespace {

constexpr int kAttempts = 3;

// The status counters maps compares, for spotting a change between two reads.
std::vector<uint64_t> counters_of(const inspect::ProcStatus& s) {
  std::vector<uint64_t> out;
  for (const char* key : {"VmSize", "VmData", "VmStk", "VmExe", "VmLib"}) {
    const inspect::StatusMemField* f = s.find(key);
    out.push_back(f != nullptr ? f->kb : UINT64_MAX);
  }
  return out;
}

}  // namespace

std::string marks_text(const inspect::MemoryMarks& m) {
  std::string out;
  const auto add = [&out](const std::string& s) { out += (out.empty() ? "[" : ", ") + s; };
  if (m.locked) add("locked");
  if (m.hugetlb) add("hugetlb");
  if (m.thp_bytes != 0) add("THP " + format_size(m.thp_bytes, false));
  return out.empty() ? out : out + "]";
}

std::string display_command(std::string c, const std::string& name) {
  while (!c.empty() && c.back() == '\0') c.pop_back();
  for (char& ch : c) {
    if (ch == '\0') {
      ch = ' ';
    } else if (static_cast<unsigned char>(ch) < 0x20) {
      ch = '?';
    }
  }
  return c.empty() ? "[" + name + "]" : c;
}

AddressSpace load_address_space(const inspect::ProcFs& fs, const std::string& p,
                                bool with_smaps, uint64_t page_size) {
  AddressSpace as;
  for (int attempt = 1;; ++attempt) {
    const inspect::ProcStatus before = inspect::read_status(fs, p);
    inspect::require_user_memory(before);
    const std::string file = with_smaps ? p + "/smaps" : p + "/maps";
    const std::string text = fs.read(file);
    as.status = inspect::read_status(fs, p);
    inspect::require_user_memory(as.status);  // it may have exited meanwhile
    if (text.empty())
      throw inspect::InspectError(fs.proc_path(file), "empty: the process has no mappings");
    if (with_smaps) {
      as.vmas = inspect::parse_smaps(text, fs.proc_path(file));
    } else {
      as.vmas.clear();
      for (inspect::Vma& v : inspect::parse_maps(text, fs.proc_path(file)))
        as.vmas.push_back(inspect::SmapsVma{std::move(v), {}});
    }
    as.stable = counters_of(before) == counters_of(as.status);
    if (as.stable || !fs.live() || attempt == kAttempts) break;
  }
  as.pid = as.status.pid;
  as.layout = inspect::parse_stat_layout(fs.read(p + "/stat"), fs.proc_path(p + "/stat"));
  as.command = display_command(fs.read(p + "/cmdline"), as.status.name);

  std::vector<inspect::Vma> plain;
  plain.reserve(as.vmas.size());
  for (const inspect::SmapsVma& v : as.vmas) plain.push_back(v.vma);
  as.regions = inspect::classify_regions(plain, as.layout);
  if (with_smaps)
    as.computed = inspect::compute_vm_counters(as.vmas, as.regions, as.layout, page_size);
  return as;
}

}  // namespace memkit::cli
