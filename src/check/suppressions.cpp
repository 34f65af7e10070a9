// memkit — suppressions (src/check/suppressions.cpp): see suppressions.h.
#include "check/suppressions.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>

namespace memkit::check {
namespace {

const char* const kKinds[] = {"leak",         "heap-use-after-free", "heap-buffer-overflow",
                              "heap-buffer-underflow", "double-free", "invalid-free",
                              "alloc-dealloc-mismatch", "*"};

bool known_kind(const char* s, size_t n) {
  for (const char* k : kKinds)
    if (strlen(k) == n && memcmp(k, s, n) == 0) return true;
  return false;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

// Glob with '*' at the start of text only (anchored).
bool glob_here(const char* p, const char* t) {
  for (;;) {
    if (*p == '\0') return true;  // the pattern is matched "anywhere": trailing text is fine
    if (*p == '*') {
      while (*p == '*') ++p;
      if (*p == '\0') return true;
      for (; *t != '\0'; ++t)
        if (glob_here(p, t)) return true;
      return false;
    }
    if (*t == '\0' || *p != *t) return false;
    ++p;
    ++t;
  }
}

Suppressions g_process;

}  // namespace

bool Suppressions::pattern_matches(const char* pattern, const char* text) {
  if (pattern[0] == '\0') return false;
  for (const char* t = text;; ++t) {
    if (glob_here(pattern, t)) return true;
    if (*t == '\0') return false;
  }
}

int Suppressions::parse(const char* text, size_t len) {
  int bad = 0;
  size_t pos = 0;
  while (pos < len) {
    size_t end = pos;
    while (end < len && text[end] != '\n') ++end;
    size_t a = pos;
    size_t b = end;
    pos = end + 1;
    while (a < b && is_space(text[a])) ++a;
    while (b > a && is_space(text[b - 1])) --b;
    if (a == b || text[a] == '#') continue;
    const char* colon = static_cast<const char*>(memchr(text + a, ':', b - a));
    // "kind:pattern" when what precedes the colon is a kind (C++ names contain "::").
    size_t kind_len = 1;
    const char* kind = "*";
    size_t pat = a;
    if (colon != nullptr && known_kind(text + a, static_cast<size_t>(colon - (text + a)))) {
      kind = text + a;
      kind_len = static_cast<size_t>(colon - (text + a));
      pat = static_cast<size_t>(colon - text) + 1;
    } else if (colon != nullptr && colon[1] != ':' && (colon == text + a || colon[-1] != ':')) {
      ++bad;  // "word:..." with an unknown kind
      continue;
    }
    while (pat < b && is_space(text[pat])) ++pat;
    if (pat == b || b - pat >= kMaxText || count_ == kMaxRules) {
      ++bad;
      continue;
    }
    Rule& r = rules_[count_++];
    memcpy(r.kind, kind, kind_len);
    r.kind[kind_len] = '\0';
    memcpy(r.pattern, text + pat, b - pat);
    r.pattern[b - pat] = '\0';
  }
  return bad;
}

int Suppressions::load(const char* path) {
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  static char buf[64 * 1024];  // start-up, once
  size_t have = 0;
  for (;;) {
    const ssize_t n = read(fd, buf + have, sizeof buf - have);
    if (n <= 0) break;
    have += static_cast<size_t>(n);
    if (have == sizeof buf) break;
  }
  close(fd);
  return parse(buf, have);
}

bool Suppressions::matches(const char* kind, const char* name) const {
  if (name == nullptr || name[0] == '\0') return false;
  for (size_t i = 0; i < count_; ++i) {
    const Rule& r = rules_[i];
    if (strcmp(r.kind, "*") != 0 && strcmp(r.kind, kind) != 0) continue;
    if (pattern_matches(r.pattern, name)) return true;
  }
  return false;
}

Suppressions& process_suppressions() { return g_process; }

}  // namespace memkit::check
