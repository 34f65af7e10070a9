// memkit — MEMKIT_OPTIONS parsing (src/options/options.cpp)
//
// No malloc, no getenv, no stdio: the environment is walked by hand and warnings go out with
// write(2), because this runs inside the allocator's first call. A warning is never cut: it is
// built in pieces that go to a sink, which writes them all (to a descriptor) or keeps only
// whole warnings (in a caller's buffer).
#include "options/options.h"

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>

#include "memkit/buddy.hpp"

extern char** environ;

namespace memkit {
namespace {

#define MK_RANGE(lo, hi) OptionCheck::kRange, lo, hi, nullptr
#define MK_POW2(lo, hi) OptionCheck::kPow2, lo, hi, nullptr
#define MK_FD(lo) OptionCheck::kFd, lo, LONG_MAX, nullptr
#define MK_CHOICES(words) OptionCheck::kChoices, 0, 0, words
#define MK_ANY OptionCheck::kAny, 0, 0, nullptr

constexpr OptionInfo kTable[] = {
#define MK_OPTION(type, name, def, values, doc) {#name, #type, #def, doc, values},
#include "options/options.def"
#undef MK_OPTION
};

#undef MK_RANGE
#undef MK_POW2
#undef MK_FD
#undef MK_CHOICES
#undef MK_ANY

constexpr size_t kCount = sizeof kTable / sizeof kTable[0];

// Each key's index in kTable.
enum Key : unsigned {
#define MK_OPTION(type, name, def, values, doc) kKey_##name,
#include "options/options.def"
#undef MK_OPTION
};

constexpr bool key_max_is(const char* key, long max) {
  for (const OptionInfo& o : kTable) {
    const char* a = o.name;
    const char* b = key;
    while (*a != '\0' && *a == *b) ++a, ++b;
    if (*a == '\0' && *b == '\0') return o.max == max;
  }
  return false;
}
static_assert(key_max_is("purge_order", kMaxPageOrder), "purge_order's max is the largest order");

constexpr Options kDefaults{};

Options g_options;
pthread_once_t g_once = PTHREAD_ONCE_INIT;

// ---- warnings ----

// Sends each warning's pieces to a WarningSink; pieces are whole strings, so the sink sees the
// warning exactly as built.
struct Warn {
  WarningSink sink;
  void put(const char* s, size_t n) const {
    if (sink.put != nullptr && n > 0) sink.put(sink.ctx, s, n);
  }
  void put(const char* s) const { put(s, strlen(s)); }
  // Text from MEMKIT_OPTIONS, as given, except that control bytes become '?' so that a warning
  // stays one line.
  void echo(const char* s, size_t n) const {
    char chunk[256];
    while (n > 0) {
      const size_t k = n < sizeof chunk ? n : sizeof chunk;
      for (size_t i = 0; i < k; ++i) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        chunk[i] = c < 0x20 || c == 0x7f ? '?' : s[i];
      }
      put(chunk, k);
      s += k;
      n -= k;
    }
  }
};

// Decimal text of v (a long, as a number).
size_t format_long(long v, char* buf /* >= 21 bytes */) {
  char tmp[24];
  size_t n = 0;
  unsigned long u = v < 0 ? 0ul - static_cast<unsigned long>(v) : static_cast<unsigned long>(v);
  do {
    tmp[n++] = static_cast<char>('0' + u % 10);
    u /= 10;
  } while (u != 0);
  size_t k = 0;
  if (v < 0) buf[k++] = '-';
  while (n > 0) buf[k++] = tmp[--n];
  buf[k] = '\0';
  return k;
}

// Appends s to buf (len bytes, NUL-terminated) at *used, as much as fits.
void cat(char* buf, size_t len, size_t* used, const char* s) {
  while (*s != '\0' && *used + 1 < len) buf[(*used)++] = *s++;
  buf[*used] = '\0';
}

void cat_long(char* buf, size_t len, size_t* used, long v) {
  char num[24];
  format_long(v, num);
  cat(buf, len, used, num);
}

// ---- values ----

bool eq(const char* v, size_t n, const char* word) { return strlen(word) == n && memcmp(v, word, n) == 0; }

bool parse_long(const char* v, size_t n, long* out) {
  if (n == 0) return false;
  bool neg = false;
  size_t i = 0;
  if (v[0] == '-' || v[0] == '+') {
    neg = v[0] == '-';
    i = 1;
    if (n == 1) return false;
  }
  unsigned long long acc = 0;
  for (; i < n; ++i) {
    if (v[i] < '0' || v[i] > '9') return false;
    acc = acc * 10 + static_cast<unsigned>(v[i] - '0');
    if (acc > static_cast<unsigned long long>(INT64_MAX)) return false;
  }
  *out = neg ? -static_cast<long>(acc) : static_cast<long>(acc);
  return true;
}

bool parse_bool(const char* v, size_t n, bool* out) {
  if (eq(v, n, "1") || eq(v, n, "true") || eq(v, n, "yes") || eq(v, n, "on")) {
    *out = true;
    return true;
  }
  if (eq(v, n, "0") || eq(v, n, "false") || eq(v, n, "no") || eq(v, n, "off")) {
    *out = false;
    return true;
  }
  return false;
}

// One of the '|'-separated words of choices?
bool is_choice(const char* choices, const char* v, size_t n) {
  const char* w = choices;
  while (true) {
    const char* bar = strchr(w, '|');
    const size_t wn = bar ? static_cast<size_t>(bar - w) : strlen(w);
    if (wn == n && memcmp(w, v, n) == 0) return true;
    if (bar == nullptr) return false;
    w = bar + 1;
  }
}

bool take(const OptionInfo& info, const char* v, size_t n, long* out) {
  long x = 0;
  if (!parse_long(v, n, &x) || x < info.min || x > option_max(info)) return false;
  if (info.check == OptionCheck::kPow2 && (x <= 0 || (x & (x - 1)) != 0)) return false;
  *out = x;
  return true;
}

bool take(const OptionInfo&, const char* v, size_t n, bool* out) { return parse_bool(v, n, out); }

bool take(const OptionInfo& info, const char* v, size_t n, str* out) {
  if (n > str::kMax) return false;
  if (info.check == OptionCheck::kChoices && !is_choice(info.choices, v, n)) return false;
  for (size_t i = 0; i < n; ++i) out->text[i] = v[i];
  out->text[n] = '\0';
  return true;
}

// The key's index in kTable, or kCount.
size_t find_key(const char* key, size_t keylen) {
  for (size_t i = 0; i < kCount; ++i)
    if (eq(key, keylen, kTable[i].name)) return i;
  return kCount;
}

// Sets key i from v; on a value it does not take, sets its default and returns false.
bool set_value(Options* o, size_t i, const char* v, size_t n) {
  switch (i) {
#define MK_OPTION(type, name, def, values, doc)       \
  case kKey_##name:                                   \
    if (take(kTable[i], v, n, &o->name)) return true; \
    o->name = kDefaults.name;                         \
    return false;
#include "options/options.def"
#undef MK_OPTION
  }
  return false;
}

// "memkit: warning: MEMKIT_OPTIONS: bad value in 'KEY=VALUE': KEY takes VALUES; the default
// DEFAULT is used\n"
void warn_bad_value(const Warn& w, const OptionInfo& info, const char* item, size_t len) {
  w.put("memkit: warning: MEMKIT_OPTIONS: bad value in '");
  w.echo(item, len);
  w.put("': ");
  w.put(info.name);
  w.put(" takes ");
  char values[160];
  option_values_text(info, values, sizeof values);
  w.put(values);
  w.put("; the default ");
  w.put(info.default_text[0] != '\0' ? info.default_text : "(empty)");
  w.put(" is used\n");
}

// ---- sinks ----

// Writes every piece to a descriptor, a warning at a time when it fits in the line buffer (one
// write(2) per warning), else in several writes: nothing is left out.
struct FdSink {
  int fd;
  char line[1024];
  size_t used = 0;

  static void write_all(int fd, const char* s, size_t n) {
    while (n > 0) {
      const ssize_t w = write(fd, s, n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return;
      s += w;
      n -= static_cast<size_t>(w);
    }
  }
  void flush() {
    write_all(fd, line, used);
    used = 0;
  }
  static void put(void* ctx, const char* s, size_t n) {
    FdSink* f = static_cast<FdSink*>(ctx);
    if (f->used + n > sizeof f->line) f->flush();
    if (n > sizeof f->line) {
      write_all(f->fd, s, n);
    } else {
      memcpy(f->line + f->used, s, n);
      f->used += n;
    }
    if (s[n - 1] == '\n') f->flush();
  }
};

// Keeps whole warnings in a caller's buffer: a warning that does not fit is taken back, and
// nothing after it goes in.
struct BufferSink {
  char* err;
  size_t len;
  size_t used = 0;
  size_t line_start = 0;
  bool full = false;

  static void put(void* ctx, const char* s, size_t n) {
    BufferSink* b = static_cast<BufferSink*>(ctx);
    if (b->full) return;
    if (b->used + n + 1 > b->len) {  // + 1: the NUL
      b->full = true;
      b->used = b->line_start;
      b->err[b->used] = '\0';
      return;
    }
    memcpy(b->err + b->used, s, n);
    b->used += n;
    b->err[b->used] = '\0';
    if (s[n - 1] == '\n') b->line_start = b->used;
  }
};

const char* find_env(const char* name) {
  if (environ == nullptr) return nullptr;
  const size_t n = strlen(name);
  for (char** e = environ; *e != nullptr; ++e)
    if (strncmp(*e, name, n) == 0 && (*e)[n] == '=') return *e + n + 1;
  return nullptr;
}

void load() {
  Options fresh;
  const char* text = find_env("MEMKIT_OPTIONS");
  if (text != nullptr) parse_options(text, &fresh, 2);
  g_options = fresh;
}

}  // namespace

const OptionInfo* option_table(size_t* count) {
  *count = kCount;
  return kTable;
}

long option_max(const OptionInfo& o) {
  if (o.check != OptionCheck::kFd) return o.max;
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > INT_MAX)
    return INT_MAX;
  return static_cast<long>(rl.rlim_cur) - 1;
}

void option_values_text(const OptionInfo& o, char* buf, size_t len) {
  if (buf == nullptr || len == 0) return;
  size_t used = 0;
  buf[0] = '\0';
  switch (o.check) {
    case OptionCheck::kRange:
    case OptionCheck::kPow2:
    case OptionCheck::kFd:
      cat_long(buf, len, &used, o.min);
      cat(buf, len, &used, "..");
      if (o.check == OptionCheck::kFd) {
        cat_long(buf, len, &used, option_max(o));
        cat(buf, len, &used, " (RLIMIT_NOFILE-1)");
      } else {
        cat_long(buf, len, &used, o.max);
      }
      if (o.check == OptionCheck::kPow2) cat(buf, len, &used, ", a power of two");
      return;
    case OptionCheck::kChoices:
      cat(buf, len, &used, o.choices);
      return;
    case OptionCheck::kAny:
      if (strcmp(o.type, "bool") == 0)
        cat(buf, len, &used, "1/0, true/false, yes/no, on/off");
      else if (strcmp(o.type, "str") == 0)
        cat(buf, len, &used, "text of at most 255 bytes");
      else
        cat(buf, len, &used, "a whole number");
      return;
  }
}

int parse_options(const char* text, Options* out, WarningSink sink) {
  const Warn w{sink};
  int problems = 0;
  const char* p = text;
  while (p != nullptr && *p != '\0') {
    const char* end = strchr(p, ':');
    const size_t len = end ? static_cast<size_t>(end - p) : strlen(p);
    if (len > 0) {
      const char* eqp = static_cast<const char*>(memchr(p, '=', len));
      const size_t keylen = eqp ? static_cast<size_t>(eqp - p) : len;
      const size_t key = eqp ? find_key(p, keylen) : kCount;
      if (eqp == nullptr || key == kCount) {
        ++problems;
        w.put("memkit: warning: MEMKIT_OPTIONS: ");
        w.put(eqp == nullptr ? "expected key=value, got '" : "unknown option '");
        w.echo(p, len);
        w.put("' (ignored; `memkit options` lists the keys)\n");
      } else if (!set_value(out, key, eqp + 1, len - keylen - 1)) {
        ++problems;
        warn_bad_value(w, kTable[key], p, len);
      }
    }
    p = end ? end + 1 : nullptr;
  }
  return problems;
}

int parse_options(const char* text, Options* out, int fd) {
  FdSink f{fd, {}, 0};
  return parse_options(text, out, WarningSink{FdSink::put, &f});
}

int parse_options(const char* text, Options* out, char* err, size_t errlen) {
  if (err == nullptr || errlen == 0) return parse_options(text, out, WarningSink{nullptr, nullptr});
  err[0] = '\0';
  BufferSink b{err, errlen};
  return parse_options(text, out, WarningSink{BufferSink::put, &b});
}

const Options& options() {
  pthread_once(&g_once, load);
  return g_options;
}

void reload_options_for_testing() {
  pthread_once(&g_once, load);
  load();
}

}  // namespace memkit
