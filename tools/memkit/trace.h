// memkit CLI — the buddy trace format (tools/memkit/trace.h)
//
// A recorded workload for `memkit buddy simulate --trace FILE`, one operation a line:
//
//   a ID ORDER    allocate a block of 2^ORDER pages and call it ID
//   f ID          free the block called ID
//
// Fields are separated by whitespace; ID is any token without whitespace or '#'; '#' starts a
// comment (whole line or trailing); blank lines are ignored. The whole trace is checked before
// anything runs: an unknown op, missing or extra fields, an ORDER that is not a non-negative
// integer or is above max_order, an `a` of an ID that is live, an `f` of an ID no `a` named, a
// second `f` of an ID, or a line longer than kMaxTraceLine bytes is an error naming the line.
// An ID may be reused once it is freed. A line is never read beyond kMaxTraceLine + 1 bytes, so
// an input without newlines (`--trace /dev/zero`) fails at once instead of filling memory.
//
// Whether an allocation succeeds is not known here: the simulator counts a failed `a` and skips
// the `f` of that ID.
#pragma once

#include <cstddef>
#include <istream>
#include <string>
#include <variant>
#include <vector>

namespace memkit::cli {

/// The longest trace line, in bytes without the newline.
inline constexpr size_t kMaxTraceLine = 4096;

struct TraceOp {
  enum class Kind { kAlloc, kFree };
  Kind kind;
  size_t id;       // dense: 0 .. Trace::ids - 1, one per distinct ID token
  unsigned order;  // kAlloc only
  size_t line;     // 1-based line in the input
};

struct Trace {
  std::vector<TraceOp> ops;
  size_t ids = 0;
};

struct TraceError {
  size_t line;
  std::string message;  // e.g. "f of unknown id 'x'"
};

std::variant<Trace, TraceError> parse_trace(std::istream& in, unsigned max_order);
std::variant<Trace, TraceError> parse_trace(const std::string& text, unsigned max_order);

}  // namespace memkit::cli
