// memkit — scanning the kernel's text files line by line (src/inspect/scan.cpp): see scan.h.
#include "inspect/scan.h"

namespace memkit::inspect {

std::vector<TextLine> split_lines(std::string_view text, bool* complete) {
  std::vector<TextLine> lines;
  size_t number = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t nl = text.find('\n', pos);
    const size_t end = nl == std::string_view::npos ? text.size() : nl;
    lines.push_back(TextLine{++number, text.substr(pos, end - pos)});
    pos = end + 1;
  }
  if (complete != nullptr) *complete = text.empty() || text.back() == '\n';
  return lines;
}

std::vector<std::string_view> split_ws(std::string_view line) {
  std::vector<std::string_view> tokens;
  size_t pos = 0;
  for (;;) {
    while (pos < line.size() && (line[pos] == ' ' || line[pos] == '\t')) ++pos;
    if (pos >= line.size()) break;
    const size_t start = pos;
    while (pos < line.size() && line[pos] != ' ' && line[pos] != '\t') ++pos;
    tokens.push_back(line.substr(start, pos - start));
  }
  return tokens;
}

bool parse_u64(std::string_view token, uint64_t* out, int base) {
  if (token.empty() || token.size() > 20) return false;
  uint64_t value = 0;
  for (const char c : token) {
    unsigned digit = 0;
    if (c >= '0' && c <= '9') {
      digit = static_cast<unsigned>(c - '0');
    } else if (base == 16 && c >= 'a' && c <= 'f') {
      digit = static_cast<unsigned>(c - 'a' + 10);
    } else if (base == 16 && c >= 'A' && c <= 'F') {
      digit = static_cast<unsigned>(c - 'A' + 10);
    } else {
      return false;
    }
    const auto b = static_cast<uint64_t>(base);
    if (value > (UINT64_MAX - digit) / b) return false;  // overflow
    value = value * b + digit;
  }
  *out = value;
  return true;
}

bool parse_u64_auto(std::string_view token, uint64_t* out) {
  if (token.size() > 2 && token[0] == '0' && (token[1] == 'x' || token[1] == 'X'))
    return parse_u64(token.substr(2), out, 16);
  return parse_u64(token, out, 10);
}

std::string quote(std::string_view text) {
  constexpr size_t kMax = 80;
  static const char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (size_t i = 0; i < text.size() && i < kMax; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  out += text.size() > kMax ? "\"..." : "\"";
  return out;
}

InspectError line_error(const std::string& path, size_t number, const std::string& what) {
  return InspectError(path, "line " + std::to_string(number) + ": " + what);
}

InspectError expected_error(const std::string& path, const TextLine& line, const char* format) {
  return line_error(path, line.number,
                    std::string("expected ") + format + ", got " + quote(line.text));
}

std::vector<TextLine> complete_lines(std::string_view text, const std::string& path,
                                     const char* empty) {
  bool complete = true;
  std::vector<TextLine> lines = split_lines(text, &complete);
  if (lines.empty()) {
    if (empty != nullptr) throw InspectError(path, empty);
    return lines;
  }
  if (!complete)
    throw line_error(path, lines.back().number,
                     "truncated: the last line " + quote(lines.back().text) + " has no newline");
  return lines;
}

uint64_t parse_kb(std::string_view token, const std::string& path, size_t line,
                  std::string_view key) {
  uint64_t kb = 0;
  if (!parse_u64(token, &kb))
    throw line_error(path, line, std::string(key) + ": " + quote(token) + " is not a number");
  if (kb > UINT64_MAX / 1024) throw line_error(path, line, std::string(key) + ": value too large");
  return kb;
}

std::string_view skip_ws(std::string_view text) {
  size_t start = 0;
  while (start < text.size() && (text[start] == '\t' || text[start] == ' ')) ++start;
  return text.substr(start);
}

}  // namespace memkit::inspect
