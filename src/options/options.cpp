// memkit — MEMKIT_OPTIONS parsing (src/options/options.cpp)
//
// No malloc, no getenv, no stdio: the environment is walked by hand and warnings go out with
// write(2), because this runs inside the allocator's first call.
#include "options/options.h"

#include <pthread.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>

extern char** environ;

namespace memkit {
namespace {

const OptionInfo kTable[] = {
#define MK_OPTION(type, name, def, doc) {#name, #type, #def, doc},
#include "options/options.def"
#undef MK_OPTION
};

Options g_options;
pthread_once_t g_once = PTHREAD_ONCE_INIT;

// Appends s to err (bounded), keeping it NUL-terminated.
void append(char* err, size_t errlen, size_t* used, const char* s, size_t n) {
  if (err == nullptr || errlen == 0) return;
  while (n-- > 0 && *used + 1 < errlen) err[(*used)++] = *s++;
  err[*used] = '\0';
}

void append_str(char* err, size_t errlen, size_t* used, const char* s) {
  append(err, errlen, used, s, strlen(s));
}

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

bool eq(const char* v, size_t n, const char* word) { return strlen(word) == n && memcmp(v, word, n) == 0; }

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

bool parse_str(const char* v, size_t n, str* out) {
  if (n > str::kMax) return false;
  for (size_t i = 0; i < n; ++i) out->text[i] = v[i];
  out->text[n] = '\0';
  return true;
}

bool set_value(Options* o, const char* key, size_t keylen, const char* v, size_t vlen, bool* known) {
  *known = false;
#define MK_OPTION(type, name, def, doc)                     \
  if (eq(key, keylen, #name)) {                             \
    *known = true;                                          \
    return parse_##type(v, vlen, &o->name);                 \
  }
#include "options/options.def"
#undef MK_OPTION
  return false;
}

const char* find_env(const char* name) {
  if (environ == nullptr) return nullptr;
  const size_t n = strlen(name);
  for (char** e = environ; *e != nullptr; ++e)
    if (strncmp(*e, name, n) == 0 && (*e)[n] == '=') return *e + n + 1;
  return nullptr;
}

void load() {
  Options fresh;
  char err[1024];
  err[0] = '\0';
  const char* text = find_env("MEMKIT_OPTIONS");
  if (text != nullptr && parse_options(text, &fresh, err, sizeof err) > 0) {
    ssize_t r = write(2, err, strlen(err));
    (void)r;
  }
  g_options = fresh;
}

}  // namespace

const OptionInfo* option_table(size_t* count) {
  *count = sizeof kTable / sizeof kTable[0];
  return kTable;
}

int parse_options(const char* text, Options* out, char* err, size_t errlen) {
  size_t used = 0;
  if (err != nullptr && errlen > 0) err[0] = '\0';
  int problems = 0;
  const char* p = text;
  while (p != nullptr && *p != '\0') {
    const char* end = strchr(p, ':');
    const size_t len = end ? static_cast<size_t>(end - p) : strlen(p);
    if (len > 0) {
      const char* eqp = static_cast<const char*>(memchr(p, '=', len));
      bool known = false;
      bool ok = false;
      if (eqp != nullptr) {
        const size_t keylen = static_cast<size_t>(eqp - p);
        ok = set_value(out, p, keylen, eqp + 1, len - keylen - 1, &known);
      }
      if (!ok) {
        ++problems;
        append_str(err, errlen, &used, "memkit: warning: MEMKIT_OPTIONS: ");
        if (eqp == nullptr)
          append_str(err, errlen, &used, "expected key=value, got '");
        else if (!known)
          append_str(err, errlen, &used, "unknown option '");
        else
          append_str(err, errlen, &used, "bad value in '");
        append(err, errlen, &used, p, len);
        append_str(err, errlen, &used, "' (ignored; `memkit options` lists the keys)\n");
      }
    }
    p = end ? end + 1 : nullptr;
  }
  return problems;
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
