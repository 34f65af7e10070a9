// memkit — fuzzing the /proc/PID/status parser (fuzz/fuzz_status.cpp)
//
// Any input either parses or throws InspectError; a parsed file is also checked for user
// memory and its fields described, as `memkit status` does.
//
// seeds: status status.*
#include <cstddef>
#include <cstdint>
#include <string>

#include "inspect/status.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace memkit::inspect;
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const ProcStatus st = parse_status(text, "status");
    for (const StatusMemField& f : st.memory) {
      (void)f.bytes();
      (void)status_description(f.key);
    }
    require_user_memory(st);
  } catch (const InspectError&) {
  }
  return 0;
}
