// memkit — fuzzing the /proc/slabinfo parser and slabtop's figures (fuzz/fuzz_slabinfo.cpp)
//
// Any input either parses or throws InspectError; a parsed file also goes through slabtop's
// summary and per-cache figures.
//
// seeds: slabinfo
#include <cstddef>
#include <cstdint>
#include <string>

#include "inspect/slabinfo.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const memkit::inspect::SlabInfo info = memkit::inspect::parse_slabinfo(text, "slabinfo");
    const memkit::inspect::SlabSummary s = memkit::inspect::summarize_slabs(info);
    (void)memkit::inspect::percent(s.active_size, s.total_size);
    for (const memkit::inspect::SlabCacheInfo& c : info.caches) {
      (void)c.use_percent();
      (void)c.cache_size(4096);
    }
  } catch (const memkit::inspect::InspectError&) {
  }
  return 0;
}
