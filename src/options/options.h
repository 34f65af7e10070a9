// memkit — options (src/options/options.h)
//
// Every tunable is one line of options.def. They are read once, on first use, from the
// MEMKIT_OPTIONS environment variable ("key=value:key=value"), found by walking environ so that
// nothing here calls malloc or getenv's locale machinery. An unknown key is reported on stderr
// (one line) and ignored; a value the key does not take (not a number, out of its range, not
// one of its words) is reported (one line naming the key, the value and what the key takes) and
// the key gets its default.
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
#define MK_OPTION(type, name, def, values, doc) type name = MK_OPTION_INIT_##type(def);
#include "options/options.def"
#undef MK_OPTION
};

/// What a key takes (the `values` column of options.def).
enum class OptionCheck : unsigned char {
  kAny,      // any value of its type
  kRange,    // min..max
  kPow2,     // a power of two in min..max
  kFd,       // a file descriptor: min..RLIMIT_NOFILE-1 (see option_max())
  kChoices,  // one of the '|'-separated words in `choices`
};

/// One entry of the table, for `memkit options` and tests.
struct OptionInfo {
  const char* name;
  const char* type;     // "long", "bool" or "str"
  const char* default_text;
  const char* help;
  OptionCheck check;
  long min;             // kRange, kPow2, kFd
  long max;             // kRange, kPow2 (kFd: option_max())
  const char* choices;  // kChoices: "fast|full"
};

/// The table, in options.def order; *count receives its length.
const OptionInfo* option_table(size_t* count);

/// The largest value a long key takes: its max, or for a descriptor the soft RLIMIT_NOFILE of
/// this process minus one.
long option_max(const OptionInfo& o);

/// What the key takes, as `memkit options` and the warnings show it ("-1..86400000", "1..16, a
/// power of two", "fast|full", ...), NUL-terminated in buf (at most len bytes; 128 suffice).
void option_values_text(const OptionInfo& o, char* buf, size_t len);

/// The process's options (MEMKIT_OPTIONS parsed on first call; thread-safe, never allocates).
const Options& options();

/// Where parse_options sends its warnings: put(ctx, s, n) is called with the pieces of each
/// warning in order; a warning is one line "memkit: warning: ...\n", never cut, however long.
struct WarningSink {
  void (*put)(void* ctx, const char* s, size_t n);
  void* ctx;
};

/// Parses `text` ("key=value:key=value", may be empty) over *out. Returns the number of
/// problems; each is one warning to sink (if its put is non-null). Keys not mentioned keep
/// their value in *out; a key given a value it does not take gets its default.
int parse_options(const char* text, Options* out, WarningSink sink);

/// The same, with the warnings written to file descriptor fd, each with its own write(2)
/// call(s), whole.
int parse_options(const char* text, Options* out, int fd);

/// The same, with the warnings in err (if non-null), NUL-terminated: only whole warnings, in
/// order, as many as fit in errlen bytes; the first that does not fit and all after it are left
/// out (and still counted).
int parse_options(const char* text, Options* out, char* err, size_t errlen);

/// For tests: re-reads MEMKIT_OPTIONS from the environment now.
void reload_options_for_testing();

}  // namespace memkit
