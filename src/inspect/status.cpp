// memkit — the memory lines of /proc/PID/status (src/inspect/status.cpp): see status.h.
#include "inspect/status.h"

#include <unordered_set>

#include "inspect/scan.h"

namespace memkit::inspect {
namespace {

struct Description {
  const char* key;
  const char* text;
};

// fs/proc/task_mmu.c task_mem(), Documentation/filesystems/proc.rst table 1-2, reference §4.4.
constexpr Description kDescriptions[] = {
    {"VmPeak", "peak virtual memory size (largest VmSize so far)"},
    {"VmSize", "virtual memory size: all mappings, touched or not"},
    {"VmLck", "locked memory (mlock)"},
    {"VmPin", "pinned memory (cannot be moved, e.g. for RDMA)"},
    {"VmHWM", "peak resident set size (\"high water mark\" of VmRSS)"},
    {"VmRSS", "resident set size: RssAnon + RssFile + RssShmem"},
    {"RssAnon", "resident anonymous memory (heap, stacks, private writes)"},
    {"RssFile", "resident file mappings (program text, libraries, mmapped files)"},
    {"RssShmem", "resident shared memory (SysV shm, tmpfs mappings, shared anonymous)"},
    {"VmData", "private writable non-stack mappings (heap, .data/.bss, anonymous mmap)"},
    {"VmStk", "stack mappings (the main thread's stack)"},
    {"VmExe", "the executable's text (code) segment"},
    {"VmLib", "shared library code mappings (executable, not writable, minus VmExe)"},
    {"VmPTE", "page-table entries (memory of this process's page tables)"},
    {"VmPMD", "second-level page tables (old kernels)"},
    {"VmSwap", "anonymous private memory swapped out (shmem swap not included)"},
    {"HugetlbPages", "hugetlbfs pages mapped (not counted in VmRSS)"},
};

}  // namespace

const StatusMemField* ProcStatus::find(std::string_view key) const {
  for (const StatusMemField& f : memory)
    if (f.key == key) return &f;
  return nullptr;
}

bool is_status_memory_key(std::string_view key) {
  return (key.size() > 2 && key.substr(0, 2) == "Vm") ||
         (key.size() > 3 && key.substr(0, 3) == "Rss") || key == "HugetlbPages";
}

const char* status_description(std::string_view key) {
  for (const Description& d : kDescriptions)
    if (key == d.key) return d.text;
  return nullptr;
}

ProcStatus parse_status(std::string_view text, const std::string& path) {
  ProcStatus out;
  out.path = path;
  const std::vector<TextLine> lines = complete_lines(text, path);

  std::unordered_set<std::string_view> seen;
  for (const TextLine& line : lines) {
    const size_t colon = line.text.find(':');
    if (colon == std::string_view::npos || colon == 0)
      throw expected_error(path, line, "\"Key:\\tvalue\"");
    const std::string_view key = line.text.substr(0, colon);
    const std::string_view value = line.text.substr(colon + 1);
    const std::vector<std::string_view> tokens = split_ws(value);
    if (key == "Name") {
      out.name = std::string(skip_ws(value));  // may contain spaces ('\n', '\\' escaped)
    } else if (key == "State") {
      out.state = std::string(skip_ws(value));
    } else if (key == "Pid") {
      uint64_t v = 0;
      if (tokens.size() != 1 || !parse_u64(tokens[0], &v) || v > INT64_MAX)
        throw line_error(path, line.number, "Pid: " + quote(value) + " is not a number");
      out.pid = static_cast<int64_t>(v);
    } else if (key == "Kthread") {
      if (tokens.size() != 1 || (tokens[0] != "0" && tokens[0] != "1"))
        throw line_error(path, line.number, "Kthread: expected 0 or 1, got " + quote(value));
      out.kthread = tokens[0] == "1";
    } else if (is_status_memory_key(key)) {
      StatusMemField f;
      f.key = std::string(key);
      if (tokens.size() != 2 || tokens[1] != "kB")
        throw expected_error(path, line, "\"Key:\\tN kB\"");
      f.kb = parse_kb(tokens[0], path, line.number, key);
      if (!seen.insert(key).second)
        throw line_error(path, line.number, std::string(key) + " appears twice");
      out.memory.push_back(std::move(f));
    }
  }
  if (out.name.empty() && out.pid < 0) throw InspectError(path, "no Name or Pid line");
  // A process with an mm has at least these (RssAnon/RssFile/RssShmem came in 4.5): a partial
  // set means a cut or edited file.
  if (!out.memory.empty()) {
    for (const char* key : {"VmSize", "VmRSS"})
      if (out.find(key) == nullptr) throw InspectError(path, std::string("no ") + key + " line");
  }
  return out;
}

ProcStatus read_status(const ProcFs& fs, const std::string& pid) {
  const std::string rel = pid + "/status";
  return parse_status(fs.read(rel), fs.proc_path(rel));
}

void require_user_memory(const ProcStatus& status) {
  if (status.has_user_memory()) return;
  const std::string who = "PID " + (status.pid >= 0 ? std::to_string(status.pid) : "?");
  if (status.zombie())
    throw InspectError(status.path,
                       who + " is a zombie (exited, not yet reaped): it has no user memory");
  throw InspectError(status.path, who + " is a kernel thread: it has no user memory");
}

}  // namespace memkit::inspect
