// memkit — /proc/self/maps without malloc (src/os/proc_maps.cpp): see proc_maps.h.
#include "os/proc_maps.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstring>

namespace memkit::os {
namespace {

bool hex(const char** p, const char* end, uintptr_t* out) {
  uintptr_t v = 0;
  const char* s = *p;
  if (s >= end) return false;
  for (; s < end; ++s) {
    const char c = *s;
    unsigned d;
    if (c >= '0' && c <= '9') d = static_cast<unsigned>(c - '0');
    else if (c >= 'a' && c <= 'f') d = static_cast<unsigned>(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') d = static_cast<unsigned>(c - 'A' + 10);
    else break;
    v = v * 16 + d;
  }
  if (s == *p) return false;
  *p = s;
  *out = v;
  return true;
}

void skip_field(const char** p, const char* end) {
  while (*p < end && **p != ' ') ++*p;
  while (*p < end && **p == ' ') ++*p;
}

}  // namespace

bool parse_maps_line(const char* line, size_t len, MapsEntry* out) {
  const char* p = line;
  const char* end = line + len;
  MapsEntry e;
  if (!hex(&p, end, &e.start) || p >= end || *p != '-') return false;
  ++p;
  if (!hex(&p, end, &e.end) || p >= end || *p != ' ') return false;
  ++p;
  if (end - p < 4) return false;
  e.readable = p[0] == 'r';
  e.writable = p[1] == 'w';
  e.executable = p[2] == 'x';
  e.shared = p[3] == 's';
  skip_field(&p, end);  // perms
  skip_field(&p, end);  // offset
  skip_field(&p, end);  // dev
  // inode: the last field before the path; the path may be absent.
  while (p < end && *p != ' ') ++p;
  while (p < end && *p == ' ') ++p;
  e.path = p;
  e.path_len = static_cast<size_t>(end - p);
  if (e.end < e.start) return false;
  *out = e;
  return true;
}

int for_each_mapping(char* buf, size_t buflen, void (*fn)(void* ctx, const MapsEntry& e),
                     void* ctx) {
  const int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  size_t have = 0;
  bool skipping = false;  // inside a line longer than buf
  for (;;) {
    const ssize_t n = read(fd, buf + have, buflen - have);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      close(fd);
      return err;
    }
    have += static_cast<size_t>(n);
    size_t pos = 0;
    for (;;) {
      const void* nl = memchr(buf + pos, '\n', have - pos);
      if (nl == nullptr) break;
      const size_t line_end = static_cast<size_t>(static_cast<const char*>(nl) - buf);
      if (!skipping) {
        MapsEntry e;
        if (parse_maps_line(buf + pos, line_end - pos, &e)) fn(ctx, e);
      }
      skipping = false;
      pos = line_end + 1;
    }
    memmove(buf, buf + pos, have - pos);
    have -= pos;
    if (n == 0) {
      if (have > 0 && !skipping) {
        MapsEntry e;
        if (parse_maps_line(buf, have, &e)) fn(ctx, e);
      }
      break;
    }
    if (have == buflen) {  // a line longer than the buffer: drop it
      skipping = true;
      have = 0;
    }
  }
  close(fd);
  return 0;
}

}  // namespace memkit::os
