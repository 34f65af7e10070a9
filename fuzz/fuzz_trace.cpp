// libFuzzer harness for the allocation trace reader (tools/trace/trace_reader.h): any input is
// either a checked trace, whose every event then decodes and whose time order runs to the end,
// or one FormatError naming an offset inside the input. Seeds: fuzz/corpus/trace/ (recorded
// traces of tests/trace/known.cpp).
// seeds: *.trace
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "trace_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace memkit::trace;
  try {
    const TraceData t = parse_trace(data, size);
    uint64_t events = 0;
    for (const ThreadTrace& th : t.threads) {
      Cursor c(th);
      Event e;
      while (c.next(&e)) ++events;
    }
    uint64_t ordered = 0;
    for_each_in_time_order(t, [&](size_t, const Event&) { ++ordered; });
    if (events != t.events || ordered != t.events) abort();
  } catch (const FormatError& e) {
    if (e.offset() > size) abort();
  }
  return 0;
}
