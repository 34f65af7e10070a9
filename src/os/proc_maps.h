// memkit — /proc/self/maps without malloc (src/os/proc_maps.h)
//
// The checked mode's leak scan needs the process's writable mappings (the data and bss of every
// loaded object, thread stacks, TLS) while it is the process's malloc: so the file is read with
// read(2) into a caller-given buffer and parsed in place, one line at a time, no stdio, no STL.
#pragma once

#include <cstddef>
#include <cstdint>

namespace memkit::os {

struct MapsEntry {
  uintptr_t start = 0;
  uintptr_t end = 0;
  bool readable = false;
  bool writable = false;
  bool executable = false;
  bool shared = false;
  const char* path = nullptr;  // points into the line; "" for anonymous mappings
  size_t path_len = 0;
};

/// Parses one line of /proc/PID/maps ("start-end perms offset dev inode   path", without the
/// newline). False if the line is not in that shape.
bool parse_maps_line(const char* line, size_t len, MapsEntry* out);

/// Calls fn(ctx, entry) for every mapping of /proc/self/maps, reading through buf (at least one
/// line long: 4 KiB is plenty). A line longer than buf is skipped. Returns 0 or an errno value.
int for_each_mapping(char* buf, size_t buflen, void (*fn)(void* ctx, const MapsEntry& e),
                     void* ctx);

}  // namespace memkit::os
