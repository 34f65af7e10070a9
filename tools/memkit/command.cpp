// memkit CLI — the subcommand registry (tools/memkit/command.cpp): see command.h.
#include "command.h"

#include <algorithm>
#include <string_view>

namespace memkit::cli {
namespace {

// A function-local static, so registrations from any translation unit find it constructed.
std::vector<Command>& registry() {
  static std::vector<Command> commands;
  return commands;
}

}  // namespace

Registration::Registration(const char* name, const char* summary, void (*setup)(CLI::App& sub)) {
  registry().push_back(Command{name, summary, setup});
}

std::string printable(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  auto hex = [&out](unsigned char c) {
    out += "\\x";
    out += kHex[c >> 4];
    out += kHex[c & 15];
  };
  const auto byte = [&text](size_t i) { return static_cast<unsigned char>(text[i]); };
  const auto continuation = [&](size_t i) { return i < text.size() && (byte(i) & 0xc0) == 0x80; };
  for (size_t i = 0; i < text.size();) {
    const unsigned char c = byte(i);
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c < 0x20 || c == 0x7f) {
      hex(c);
    } else if (c < 0x80) {
      out += static_cast<char>(c);
    } else {
      // A well-formed UTF-8 sequence (no overlong form, no surrogate) is kept unless it encodes
      // a C1 control; any other byte is escaped on its own.
      size_t n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
      for (size_t k = 1; k < n; ++k)
        if (!continuation(i + k)) n = 0;
      if (n == 3 && ((c == 0xe0 && byte(i + 1) < 0xa0) || (c == 0xed && byte(i + 1) >= 0xa0))) n = 0;
      if (n == 4 && ((c == 0xf0 && byte(i + 1) < 0x90) || (c == 0xf4 && byte(i + 1) >= 0x90))) n = 0;
      if (n == 2 && c == 0xc2 && byte(i + 1) < 0xa0) n = 0;  // U+0080..U+009F: C1 controls
      if (n == 0) {
        hex(c);
      } else {
        out.append(text.substr(i, n));
        i += n;
        continue;
      }
    }
    ++i;
  }
  return out;
}

std::vector<Command> registered_commands() {
  std::vector<Command> commands = registry();
  std::sort(commands.begin(), commands.end(), [](const Command& a, const Command& b) {
    return std::string_view(a.name) < std::string_view(b.name);
  });
  return commands;
}

}  // namespace memkit::cli
