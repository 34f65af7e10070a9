// memkit — options (src/options/options.h)
//
// Every tunable is one line of options.def. They are read once, on first use, from the
// MEMKIT_OPTIONS environment variable ("key=value:key=value"), found by walking environ so that
// nothing here calls malloc or getenv's locale machinery. An unknown key or a bad value is
// reported on stderr (one line) and otherwise ignored: the default stays.
#pragma once

#include <cstddef>

namespace memkit {

struct Options {
#define MK_OPTION(type, name, def, doc) type name = def;
#include "options/options.def"
#undef MK_OPTION
};

/// One entry of the table, for `memkit options` and tests.
struct OptionInfo {
  const char* name;
  const char* type;     // "long" or "bool"
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
