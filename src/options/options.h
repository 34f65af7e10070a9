// memkit — options (src/options/options.h)
//
// Every tunable is one line of options.def. They are read once, on first use, from the
// MEMKIT_OPTIONS environment variable ("key=value:key=value"), found by walking environ so that
// nothing here calls malloc or getenv's locale machinery. An unknown key or a bad value is
// reported on stderr (one line) and otherwise ignored: the default stays.
#pragma once

#include <cstddef>

namespace memkit {

/// A text option (type `str` in options.def): a file name or a word, at most 255 bytes, NUL
/// terminated, stored in place (no malloc). MEMKIT_OPTIONS separates keys with ':', so a value
/// cannot contain one.
struct str {
  static constexpr size_t kMax = 255;
  char text[kMax + 1] = {};
  constexpr str() = default;
  constexpr explicit str(const char* s) {
    for (size_t i = 0; i < kMax && s[i] != '\0'; ++i) text[i] = s[i];
  }
  const char* c_str() const { return text; }
  bool empty() const { return text[0] == '\0'; }
  bool operator==(const char* s) const {
    size_t i = 0;
    for (; text[i] != '\0' && s[i] != '\0'; ++i)
      if (text[i] != s[i]) return false;
    return text[i] == s[i];
  }
};

// How each type's default in options.def becomes the member's initial value: numbers and
// booleans as written, text as the token spelled out (MK_OPTION(str, check, fast, ...) is "fast";
// an empty default is "").
#define MK_OPTION_INIT_long(def) def
#define MK_OPTION_INIT_bool(def) def
#define MK_OPTION_INIT_str(def) str(#def)

struct Options {
#define MK_OPTION(type, name, def, doc) type name = MK_OPTION_INIT_##type(def);
#include "options/options.def"
#undef MK_OPTION
};

/// One entry of the table, for `memkit options` and tests.
struct OptionInfo {
  const char* name;
  const char* type;     // "long", "bool" or "str"
  const char* default_text;
  const char* help;
};

/// The table, in options.def order; *count receives its length.
const OptionInfo* option_table(size_t* count);

/// The process's options (MEMKIT_OPTIONS parsed on first call; thread-safe, never allocates).
const Options& options();

/// Parses `text` ("key=value:key=value", may be empty) over *out. Returns the number of
/// problems; for each, one line "memkit: warning: ..." is written into err (if non-null;
/// truncated to errlen). Keys not mentioned keep their value in *out.
int parse_options(const char* text, Options* out, char* err, size_t errlen);

/// For tests: re-reads MEMKIT_OPTIONS from the environment now.
void reload_options_for_testing();

}  // namespace memkit
