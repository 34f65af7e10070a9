// memkit — fuzzing the /proc/buddyinfo and /proc/pagetypeinfo parsers (fuzz/fuzz_buddyinfo.cpp)
//
// Any input either parses or throws InspectError; nothing else may happen (no crash, no other
// exception, no undefined behaviour under the sanitizers). A parsed buddyinfo also goes through
// the kernel's fragmentation formulas, as `memkit buddyinfo` does.
//
// seeds: buddyinfo pagetypeinfo
#include <cstddef>
#include <cstdint>
#include <string>

#include "inspect/buddyinfo.h"
#include "inspect/pagetypeinfo.h"
#include "memkit/fragmentation.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const memkit::inspect::BuddyInfo info = memkit::inspect::parse_buddyinfo(text, "buddyinfo");
    for (const memkit::inspect::BuddyZone& z : info.zones) {
      const auto max_order = static_cast<unsigned>(z.nr_free.size() - 1);
      for (unsigned j = 0; j <= max_order; ++j) {
        (void)memkit::unusable_free_index(z.nr_free.data(), max_order, j);
        (void)memkit::fragmentation_index(z.nr_free.data(), max_order, j);
      }
    }
  } catch (const memkit::inspect::InspectError&) {
  }
  try {
    (void)memkit::inspect::parse_pagetypeinfo(text, "pagetypeinfo");
  } catch (const memkit::inspect::InspectError&) {
  }
  return 0;
}
