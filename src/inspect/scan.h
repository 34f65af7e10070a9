// memkit — scanning the kernel's text files line by line (src/inspect/scan.h)
//
// The small pieces every /proc parser needs, so that each parser reads as the file's format
// and every malformed input ends in the same kind of one-line InspectError:
//
//   /proc/buddyinfo: line 2: expected "Node N, zone NAME COUNT...", got "Node 0, zone DMA32 x"
//
// Lines are numbered from 1; what is quoted back is cut to 80 characters and has its control
// bytes escaped, so a binary or hostile file still gives one readable line.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "inspect/procfs.h"

namespace memkit::inspect {

/// One line of a file, without its '\n', and its 1-based number.
struct TextLine {
  size_t number = 0;
  std::string_view text;
};

/// Splits `text` into lines. `complete` is false when the text does not end with '\n' (the
/// kernel ends every line, so the file was cut short); an empty text has no lines.
std::vector<TextLine> split_lines(std::string_view text, bool* complete = nullptr);

/// The lines of a whole file, as split_lines, or the InspectError for a file the kernel cannot
/// have written: cut short (no final '\n') or empty. `empty` is the error for an empty file;
/// nullptr allows one (no lines).
std::vector<TextLine> complete_lines(std::string_view text, const std::string& path,
                                     const char* empty = "empty file");

/// `token` as a count of kB (a whole number that still fits in bytes once multiplied by
/// 1024), or the InspectError for line `line` of `path` naming `key`.
uint64_t parse_kb(std::string_view token, const std::string& path, size_t line,
                  std::string_view key);

/// `text` without its leading spaces and tabs.
std::string_view skip_ws(std::string_view text);

/// Whitespace-separated tokens (spaces and tabs).
std::vector<std::string_view> split_ws(std::string_view line);

/// The whole token as an unsigned number in `base` (10 or 16; no sign, no prefix, no
/// overflow). False otherwise.
bool parse_u64(std::string_view token, uint64_t* out, int base = 10);

/// "0x1f" (hex) or "31" (decimal), as a user types an address or a count.
bool parse_u64_auto(std::string_view token, uint64_t* out);

/// `text` quoted for an error message: at most 80 characters, control bytes as \xNN.
std::string quote(std::string_view text);

/// The InspectError for line `number` of `path`: "<path>: line N: <what>".
InspectError line_error(const std::string& path, size_t number, const std::string& what);

/// "expected <format>, got <quoted line>" for line `line` of `path`.
InspectError expected_error(const std::string& path, const TextLine& line, const char* format);

}  // namespace memkit::inspect
