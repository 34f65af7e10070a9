// memkit CLI — the buddy trace parser (tools/memkit/trace.cpp): see trace.h.
#include "trace.h"

#include <fmt/core.h>

#include <charconv>
#include <sstream>
#include <string_view>
#include <unordered_map>

namespace memkit::cli {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

// The whitespace-separated fields of a line, up to a '#'.
std::vector<std::string_view> fields_of(std::string_view line) {
  line = line.substr(0, line.find('#'));
  std::vector<std::string_view> fields;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && is_space(line[i])) ++i;
    const size_t start = i;
    while (i < line.size() && !is_space(line[i])) ++i;
    if (i > start) fields.push_back(line.substr(start, i - start));
  }
  return fields;
}

// What the trace has said about one ID so far.
struct IdState {
  size_t id;
  bool live;
  size_t last_line;  // of its latest `a` or `f`
};

class Parser {
 public:
  explicit Parser(unsigned max_order) : max_order_(max_order) {}

  // Adds the op on `line`, or returns the error message ("" when fine).
  std::string add(std::string_view text, size_t line) {
    const std::vector<std::string_view> f = fields_of(text);
    if (f.empty()) return {};
    if (f[0] == "a") {
      if (f.size() != 3) return fmt::format("expected 'a ID ORDER', got {} fields", f.size());
      unsigned order = 0;
      if (std::string err = parse_order(f[2], &order); !err.empty()) return err;
      auto [it, fresh] = ids_.try_emplace(std::string(f[1]), IdState{ids_.size(), false, 0});
      if (it->second.live) {
        return fmt::format("a of live id '{}' (allocated on line {})", f[1], it->second.last_line);
      }
      it->second.live = true;
      it->second.last_line = line;
      trace_.ops.push_back(TraceOp{TraceOp::Kind::kAlloc, it->second.id, order, line});
      return {};
    }
    if (f[0] == "f") {
      if (f.size() != 2) return fmt::format("expected 'f ID', got {} fields", f.size());
      const auto it = ids_.find(std::string(f[1]));
      if (it == ids_.end()) return fmt::format("f of unknown id '{}'", f[1]);
      if (!it->second.live) {
        return fmt::format("second f of id '{}' (freed on line {})", f[1], it->second.last_line);
      }
      it->second.live = false;
      it->second.last_line = line;
      trace_.ops.push_back(TraceOp{TraceOp::Kind::kFree, it->second.id, 0, line});
      return {};
    }
    return fmt::format("unknown op '{}' (expected 'a ID ORDER' or 'f ID')", f[0]);
  }

  Trace finish() {
    trace_.ids = ids_.size();
    return std::move(trace_);
  }

 private:
  std::string parse_order(std::string_view s, unsigned* order) const {
    unsigned long long value = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    const bool digits_only = !s.empty() && s[0] >= '0' && s[0] <= '9' && end == s.data() + s.size();
    if (!digits_only) return fmt::format("order '{}' is not a non-negative integer", s);
    if (ec == std::errc::result_out_of_range || value > max_order_) {
      return fmt::format("order {} is above max-order {}", s, max_order_);
    }
    *order = static_cast<unsigned>(value);
    return {};
  }

  unsigned max_order_;
  std::unordered_map<std::string, IdState> ids_;
  Trace trace_;
};

}  // namespace

std::variant<Trace, TraceError> parse_trace(std::istream& in, unsigned max_order) {
  Parser parser(max_order);
  // Room for one byte more than a line may hold, and getline's terminating NUL: a longer line
  // stops getline with the buffer full (failbit), or fits with a length above the limit.
  std::vector<char> buf(kMaxTraceLine + 2);
  for (size_t line = 1;; ++line) {
    in.getline(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (in.bad()) break;  // a read error: the caller reports it
    const auto extracted = static_cast<size_t>(in.gcount());  // with the '\n' if one was read
    if (extracted == 0 && in.fail()) break;  // end of input (or a read error: the caller checks)
    const bool cut = in.fail() && !in.eof();  // the buffer filled before a newline
    const size_t length = in.eof() || cut ? extracted : extracted - 1;
    if (cut || length > kMaxTraceLine) {
      return TraceError{line, fmt::format("line longer than {} bytes (the limit of a trace line)",
                                          kMaxTraceLine)};
    }
    if (std::string message = parser.add(std::string_view(buf.data(), length), line);
        !message.empty()) {
      return TraceError{line, std::move(message)};
    }
    if (in.eof()) break;
  }
  return parser.finish();
}

std::variant<Trace, TraceError> parse_trace(const std::string& text, unsigned max_order) {
  std::istringstream in(text);
  return parse_trace(in, max_order);
}

}  // namespace memkit::cli
