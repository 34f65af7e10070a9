// memkit — fuzzing the /proc/meminfo parser and free's arithmetic (fuzz/fuzz_meminfo.cpp)
//
// Any input either parses or throws InspectError; nothing else may happen (no crash, no other
// exception, no undefined behaviour under the sanitizers). A parsed file also goes through
// both `free` formulas and the description table, as `memkit free` and `memkit meminfo` do.
//
// seeds: meminfo meminfo.*
#include <cstddef>
#include <cstdint>
#include <string>

#include "inspect/meminfo.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace memkit::inspect;
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const Meminfo info = parse_meminfo(text, "meminfo");
    for (const MeminfoField& f : info.fields) {
      (void)f.bytes();
      (void)meminfo_description(f.key);
    }
    for (const FreeFormula formula : {FreeFormula::kAvailable, FreeFormula::kClassic}) {
      try {
        (void)compute_free(info, formula);
      } catch (const InspectError&) {
      }
    }
  } catch (const InspectError&) {
  }
  return 0;
}
