// memkit — fatal reports (src/os/report.cpp)
#include "os/report.h"

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

namespace memkit {
namespace {

thread_local bool t_reporting = false;

void write_all(const char* s, size_t n) {
  while (n > 0) {
    const ssize_t w = write(2, s, n);
    if (w <= 0) return;
    s += w;
    n -= static_cast<size_t>(w);
  }
}

}  // namespace

void report_fatal(const char* kind, const char* function, const void* ptr, const char* detail) {
  if (t_reporting) abort();
  t_reporting = true;
  char line[512];
  const int n = snprintf(line, sizeof line, "memkit: ERROR: %s %s %p %s\n", kind, function, ptr,
                         detail ? detail : "");
  if (n > 0) write_all(line, static_cast<size_t>(n) < sizeof line ? static_cast<size_t>(n) : sizeof line - 1);
  abort();
}

void report_warning(const char* text) {
  write_all("memkit: warning: ", 17);
  write_all(text, strlen(text));
  write_all("\n", 1);
}

}  // namespace memkit
