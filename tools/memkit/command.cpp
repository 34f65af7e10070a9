// memkit CLI — the subcommand registry (tools/memkit/command.cpp): see command.h.
#include "command.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstring>
#include <string_view>

namespace memkit::cli {
namespace {

// A function-local static, so registrations from any translation unit find it constructed.
std::vector<Command>& registry() {
  static std::vector<Command> commands;
  return commands;
}

// The subcommands that run a program (add_program_argument).
std::vector<const CLI::App*>& program_commands() {
  static std::vector<const CLI::App*> commands;
  return commands;
}

// Optimal string alignment distance (Levenshtein with transpositions: "fere" is 1 from "free").
size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

}  // namespace

CLI::Option* add_program_argument(CLI::App& sub, std::vector<std::string>& command,
                                  const std::string& help) {
  program_commands().push_back(&sub);
  return sub.add_option("command", command, help);
}

std::vector<char*> prepare_program_args(const CLI::App& app, int argc, char** argv) {
  std::vector<char*> args(argv, argv + argc);
  static char separator[] = "--";
  // The subcommand is the first word: memkit's own options (--help, --version) take no value.
  size_t i = 1;
  while (i < args.size() && args[i][0] == '-' && std::strcmp(args[i], "--") != 0) ++i;
  if (i >= args.size()) return args;
  const CLI::App* sub = nullptr;
  for (const CLI::App* p : program_commands())
    if (p->get_parent() == &app && p->check_name(args[i])) sub = p;
  if (sub == nullptr) return args;
  for (size_t j = i + 1; j < args.size(); ++j) {
    const std::string_view a = args[j];
    if (a == "--") return args;
    if (a.size() > 1 && a[0] == '-') {
      // One of the subcommand's options, with its value in the next word unless "--opt=value";
      // an unknown one is left for CLI11 to report.
      const size_t eq = a.find('=');
      const CLI::Option* opt = sub->get_option_no_throw(std::string(a.substr(0, eq)));
      if (opt != nullptr && opt->get_expected_min() > 0 && eq == std::string_view::npos) ++j;
      continue;
    }
    args.insert(args.begin() + static_cast<std::ptrdiff_t>(j), separator);
    return args;
  }
  return args;
}

std::vector<std::string> nearest_commands(std::string_view typed) {
  std::vector<std::pair<size_t, std::string>> near;
  for (const Command& c : registry()) {
    const std::string_view name = c.name;
    const size_t d = edit_distance(typed, name);
    const bool prefix = typed.size() >= 2 && name.substr(0, typed.size()) == typed;
    // Up to 1 edit in a short word, 2 from five letters on; a prefix counts as near.
    if (prefix || d <= (typed.size() >= 5 ? 2u : 1u)) near.emplace_back(prefix ? 0 : d, name);
  }
  std::sort(near.begin(), near.end());
  std::vector<std::string> names;
  for (size_t i = 0; i < near.size() && i < 3; ++i) names.push_back(near[i].second);
  return names;
}

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
