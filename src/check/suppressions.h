// memkit — suppressions for the checked mode (src/check/suppressions.h)
//
// A file of known reports to keep quiet, one rule a line:
//
//   # comment
//   leak:libfontconfig          a leak whose allocation stack names libfontconfig
//   heap-use-after-free:Cache::drop
//   *:third_party/              any report
//   my_function                 (no kind: any report)
//
// KIND is leak or one of the error kinds (heap-use-after-free, heap-buffer-overflow,
// heap-buffer-underflow, double-free, invalid-free, alloc-dealloc-mismatch) or *. PATTERN is
// matched anywhere in a frame's function name, source file name or module (object file) name,
// '*' matching any run of characters. For errors, the stacks of the bad call and of the block's
// allocation are tried; for leaks, the allocation stack. Parsed in place: no malloc.
#pragma once

#include <cstddef>

namespace memkit::check {

class Suppressions {
 public:
  static constexpr size_t kMaxRules = 256;
  static constexpr size_t kMaxText = 200;

  /// Parses text (len bytes). Returns the number of lines that could not be used (too long,
  /// too many rules, unknown kind); the others are kept.
  int parse(const char* text, size_t len);
  /// Reads and parses a file. -1 if it cannot be read, else parse()'s result.
  int load(const char* path);
  size_t size() const { return count_; }

  /// Whether a rule for `kind` (or *) matches `name` (a function, file or module name).
  bool matches(const char* kind, const char* name) const;

  /// '*'-glob matched anywhere in text (as if the pattern began and ended with '*').
  static bool pattern_matches(const char* pattern, const char* text);

 private:
  struct Rule {
    char kind[32];
    char pattern[kMaxText];
  };
  Rule rules_[kMaxRules];
  size_t count_ = 0;
};

/// The process's suppressions (the `suppressions` option).
Suppressions& process_suppressions();

}  // namespace memkit::check
