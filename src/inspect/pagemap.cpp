// memkit — virtual to physical through /proc/PID/pagemap (src/inspect/pagemap.cpp): see
// pagemap.h.
#include "inspect/pagemap.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

namespace memkit::inspect {
namespace {

uint64_t load_le64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

}  // namespace

uint64_t PagemapEntry::physical_address(uint64_t vaddr, uint64_t page_size) const {
  if (pfn() == 0 || page_size == 0) return 0;
  return pfn() * page_size + (vaddr & (page_size - 1));
}

std::vector<PagemapEntry> parse_pagemap(std::string_view bytes, const std::string& path) {
  if (bytes.size() % 8 != 0)
    throw InspectError(path, std::to_string(bytes.size()) +
                                 " bytes is not a whole number of 8-byte entries (truncated?)");
  std::vector<PagemapEntry> out(bytes.size() / 8);
  for (size_t i = 0; i < out.size(); ++i) out[i].raw = load_le64(bytes.data() + 8 * i);
  return out;
}

PagemapReader::PagemapReader(const ProcFs& fs, const std::string& pid)
    : path_(fs.proc_path(pid + "/pagemap")) {
  fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw errno_error(path_, errno);
}

PagemapReader::~PagemapReader() {
  if (fd_ >= 0) ::close(fd_);
}

PagemapEntry PagemapReader::entry(uint64_t vaddr, uint64_t page_size) const {
  const uint64_t index = vaddr / page_size;
  if (index > static_cast<uint64_t>(INT64_MAX) / 8)
    throw InspectError(path_, "address out of range");
  const auto offset = static_cast<off_t>(index * 8);
  char buf[8];
  size_t got = 0;
  while (got < sizeof buf) {
    const ssize_t n = ::pread(fd_, buf + got, sizeof buf - got, offset + static_cast<off_t>(got));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw errno_error(path_, errno);
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  if (got == 0)
    throw InspectError(path_, "no entry at offset " + std::to_string(offset) +
                                  " (past the end of the address space)");
  return parse_pagemap(std::string_view(buf, got), path_)[0];
}

}  // namespace memkit::inspect
