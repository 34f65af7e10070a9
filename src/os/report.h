// memkit — fatal reports (src/os/report.h)
//
// When memkit sees bad input it cannot return an error for (a free of a pointer it never
// handed out, a double free through a void API), it prints one line to stderr and aborts, as
// glibc's "free(): double free detected" does:
//
//   memkit: ERROR: <kind> <function> <pointer> <detail>
//
// The line is formatted into a stack buffer and written with write(2): no malloc, no stdio
// locks. A per-thread guard turns a report raised while reporting into a bare abort.
#pragma once

#include <cstddef>

namespace memkit {

/// Formats "memkit: ERROR: <kind> <function> <ptr> <detail>\n", writes it to fd 2, aborts.
[[noreturn]] void report_fatal(const char* kind, const char* function, const void* ptr,
                               const char* detail);

/// Writes "memkit: warning: <text>\n" to fd 2.
void report_warning(const char* text);

}  // namespace memkit
