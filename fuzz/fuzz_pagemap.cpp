// memkit — fuzzing the pagemap decoder and the address parser of `memkit v2p`
// (fuzz/fuzz_pagemap.cpp)
//
// The input is a run of pagemap entries (a length that is not a multiple of 8 must be an
// InspectError) and, as text, an ADDR argument (hex 0x... or decimal).
//
// Seeds: fuzz/corpus/pagemap/ (entries observed on the research machine, and an address).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "inspect/pagemap.h"
#include "inspect/scan.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace memkit::inspect;
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    uint64_t vaddr = 0;
    for (const PagemapEntry& e : parse_pagemap(bytes, "pagemap")) {
      (void)e.physical_address(vaddr, 4096);
      (void)e.swap_type();
      (void)e.swap_offset();
      (void)e.pfn_hidden();
      vaddr += 4096;
    }
  } catch (const InspectError&) {
  }
  uint64_t addr = 0;
  (void)parse_u64_auto(std::string_view(bytes), &addr);
  return 0;
}
