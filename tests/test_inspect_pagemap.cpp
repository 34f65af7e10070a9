// memkit — tests of the pagemap decoder and reader (tests/test_inspect_pagemap.cpp)
//
// The bit layout on the entries observed on the research machine (reference §4.9), the reader
// on a snapshot file written here (a sparse file with entries at chosen offsets), and live on
// this process's own pages: a touched anonymous page is present and exclusive, an untouched one
// is not, and the PFN is shown to root only.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "inspect/pagemap.h"

namespace {

using memkit::inspect::InspectError;
using memkit::inspect::PagemapEntry;
using memkit::inspect::parse_pagemap;

std::string le64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[static_cast<size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}

TEST(Pagemap, DecodesTheObservedEntries) {
  const PagemapEntry anon{0x81000000001180dfULL};  // private anonymous page, root
  EXPECT_TRUE(anon.present());
  EXPECT_TRUE(anon.exclusive());
  EXPECT_FALSE(anon.swapped());
  EXPECT_FALSE(anon.file_or_shared());
  EXPECT_FALSE(anon.soft_dirty());
  EXPECT_EQ(anon.pfn(), 0x1180dfu);
  EXPECT_FALSE(anon.pfn_hidden());
  EXPECT_EQ(anon.physical_address(0x7f0000001234, 4096), 0x1180df234u);

  const PagemapEntry shared{0xa100000000109decULL};  // MAP_SHARED anonymous page
  EXPECT_TRUE(shared.present());
  EXPECT_TRUE(shared.file_or_shared());
  EXPECT_TRUE(shared.exclusive());
  EXPECT_EQ(shared.pfn(), 0x109decu);

  const PagemapEntry hidden{0x8100000000000000ULL};  // the same private page, read as nobody
  EXPECT_TRUE(hidden.present());
  EXPECT_TRUE(hidden.pfn_hidden());
  EXPECT_EQ(hidden.physical_address(0x1234, 4096), 0u);

  const PagemapEntry none{0};
  EXPECT_FALSE(none.present());
  EXPECT_FALSE(none.pfn_hidden());
  EXPECT_EQ(none.pfn(), 0u);
}

TEST(Pagemap, DecodesASwapEntry) {
  const uint64_t raw = (uint64_t{1} << 62) | (uint64_t{1} << 56) | (uint64_t{0x12345} << 5) | 3;
  const PagemapEntry e{raw};
  EXPECT_FALSE(e.present());
  EXPECT_TRUE(e.swapped());
  EXPECT_EQ(e.swap_type(), 3u);
  EXPECT_EQ(e.swap_offset(), 0x12345u);
  EXPECT_EQ(e.pfn(), 0u);  // not a PFN when swapped
  const PagemapEntry guard{uint64_t{1} << 58};
  EXPECT_TRUE(guard.guard());
  EXPECT_TRUE(PagemapEntry{uint64_t{1} << 57}.uffd_wp());
  EXPECT_TRUE(PagemapEntry{uint64_t{1} << 55}.soft_dirty());
}

TEST(Pagemap, ParsesLittleEndianRuns) {
  const auto v = parse_pagemap(le64(0x81000000001180dfULL) + le64(0), "f");
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].raw, 0x81000000001180dfULL);
  EXPECT_EQ(v[1].raw, 0u);
  EXPECT_TRUE(parse_pagemap("", "f").empty());
  try {
    parse_pagemap(le64(1) + "abc", "/fake/pagemap");
    FAIL();
  } catch (const InspectError& e) {
    EXPECT_STREQ(e.what(),
                 "/fake/pagemap: 11 bytes is not a whole number of 8-byte entries (truncated?)");
  }
}

TEST(Pagemap, ReadsASnapshotFile) {
  const std::string root = ::testing::TempDir() + "memkit_pagemap_" + std::to_string(getpid());
  std::filesystem::create_directories(root + "/proc/4242");
  {
    std::ofstream out(root + "/proc/4242/pagemap", std::ios::binary);
    std::string bytes(8 * 0x402, '\0');
    bytes.replace(8 * 0x400, 8, le64(0x81000000001180dfULL));  // page 0x400 = address 0x400000
    bytes.replace(8 * 0x401, 8, le64(0x8100000000000000ULL));
    out << bytes;
  }
  const memkit::inspect::ProcFs fs(root);
  const memkit::inspect::PagemapReader reader(fs, "4242");
  EXPECT_EQ(reader.entry(0x400123, 4096).pfn(), 0x1180dfu);
  EXPECT_TRUE(reader.entry(0x401fff, 4096).pfn_hidden());
  EXPECT_FALSE(reader.entry(0x3ff000, 4096).present());
  try {
    reader.entry(0x500000, 4096);
    FAIL();
  } catch (const InspectError& e) {
    EXPECT_EQ(std::string(e.what()),
              root + "/proc/4242/pagemap: no entry at offset 10240 (past the end of the address "
                     "space)");
  }
  try {
    memkit::inspect::PagemapReader missing(fs, "4343");
    FAIL();
  } catch (const InspectError& e) {
    EXPECT_EQ(std::string(e.what()), root + "/proc/4343/pagemap: no such process (it exited?)");
  }
  std::filesystem::remove_all(root);
}

TEST(Pagemap, LiveOwnPages) {
  const auto page = static_cast<size_t>(getpagesize());
  void* const region = mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(region, MAP_FAILED);
  auto* const bytes = static_cast<unsigned char*>(region);
  std::memset(bytes, 1, page);  // touch the first page only
  const memkit::inspect::ProcFs fs;
  const memkit::inspect::PagemapReader reader(fs, std::to_string(getpid()));
  const auto addr = reinterpret_cast<uint64_t>(bytes);
  const PagemapEntry touched = reader.entry(addr, page);
  const PagemapEntry untouched = reader.entry(addr + page, page);
  EXPECT_TRUE(touched.present());
  EXPECT_TRUE(touched.exclusive());
  EXPECT_FALSE(touched.file_or_shared());
  EXPECT_FALSE(untouched.present());
  if (geteuid() == 0) {
    EXPECT_FALSE(touched.pfn_hidden()) << "root reads real PFNs";
    EXPECT_EQ(touched.physical_address(addr + 5, page) % page, 5u);
  } else {
    EXPECT_TRUE(touched.pfn_hidden()) << "the kernel hides PFNs from non-root (since 4.2)";
  }
  munmap(region, 2 * page);
}

}  // namespace
