// memkit — fuzzing the maps, smaps, smaps_rollup and stat parsers (fuzz/fuzz_maps.cpp)
//
// The same input is tried as each file; any input either parses or throws InspectError. A
// parsed smaps is also classified and its status counters recomputed, as `memkit maps` does.
//
// seeds: maps smaps smaps_rollup stat
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "inspect/maps.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace memkit::inspect;
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    (void)parse_maps(text, "maps");
  } catch (const InspectError&) {
  }
  try {
    const std::vector<SmapsVma> smaps = parse_smaps(text, "smaps");
    std::vector<Vma> vmas;
    for (const SmapsVma& v : smaps) vmas.push_back(v.vma);
    // Boundaries taken from the first VMAs, so that the executable and .bss rules run too.
    ProcessLayout layout;
    if (!vmas.empty()) {
      layout.start_code = vmas[0].start;
      layout.end_code = vmas[0].end;
      layout.start_data = vmas.back().start;
      layout.end_data = vmas.back().end;
    }
    const std::vector<Region> regions = classify_regions(vmas, layout);
    (void)compute_vm_counters(smaps, regions, layout, 4096);
  } catch (const InspectError&) {
  }
  try {
    (void)parse_smaps_rollup(text, "smaps_rollup");
  } catch (const InspectError&) {
  }
  try {
    (void)parse_stat_layout(text, "stat");
  } catch (const InspectError&) {
  }
  return 0;
}
