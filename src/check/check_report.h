// memkit — the checked mode's reports (src/check/check_report.h)
//
// One report per bug, to the report_fd option's descriptor (stderr by default):
//
//   memkit: ERROR: heap-buffer-overflow on address 0x7f3a2c5ff00a (10 bytes after the 10-byte block 0x7f3a2c5ff000)
//     WRITE of size unknown at pc 0x55d1c6b0a1b9 (found by free: canary overwritten)
//     the block: 10 bytes at 0x7f3a2c5ff000, allocated by malloc in thread 1234
//     bad call (free) in thread 1234:
//       #0 0x55d1c6b0a1b9 in main overflow.c:9 (overflow+0x11b9)
//     allocated at:
//       #0 ...
//     freed at: (use after free, double free)
//       #0 ...
//   memkit: SUMMARY: heap-buffer-overflow in main overflow.c:9
//
// Leaks at exit: "memkit: LEAK: N bytes in M blocks (direct|indirect)" and the allocation
// stack, and one summary line for them all. Formatted into a static buffer under a lock and
// written with write(2); symbolizing allocates, so callers hold no checker lock. After an
// ERROR the process aborts unless check_continue is set, in which case each distinct report
// (kind, bad call, allocation stack) is printed once.
#pragma once

#include <cstddef>
#include <cstdint>

#include "check/check.h"

namespace memkit::check {

enum class ErrorKind : uint8_t {
  kUseAfterFree,
  kOverflow,
  kUnderflow,
  kDoubleFree,
  kInvalidFree,
  kMismatch,
};
const char* error_kind_name(ErrorKind k);

enum class Access : uint8_t { kNone, kRead, kWrite };

struct ErrorReport {
  ErrorKind kind;
  uintptr_t addr = 0;
  const char* call = "";     // the call that found it: "free", "operator delete[]", "exit", ...
  Access access = Access::kNone;
  size_t access_size = 0;    // 0: unknown
  uintptr_t pc = 0;          // the faulting instruction, or 0
  const char* how = "";      // "found by free: canary overwritten", "fault", ...
  char detail[256] = {};     // an extra line ("" for none)
  bool has_block = false;
  Block block = {};
  const uintptr_t* frames = nullptr;  // the bad call's stack, innermost first
  unsigned depth = 0;
  bool exact_first = false;  // frames[0] is a faulting pc, not a return address
  bool describe_addr = false;  // no block: say what addr is (a global, a thread's stack...)
};

/// Prints the report (unless suppressed or, with check_continue, already printed) and aborts
/// unless check_continue is set.
void report_error(const ErrorReport& r);

/// One group of leaked blocks with the same allocation stack.
void report_leak(bool direct, size_t bytes, size_t blocks, uint32_t alloc_stack);
/// Whether a leak with this allocation stack is suppressed.
bool leak_suppressed(uint32_t alloc_stack);
/// The summary at exit (only if anything was reported): errors, leaks.
void report_exit_summary(size_t leak_groups, size_t leak_bytes, size_t leak_blocks);
/// At start-up: with report_fd=2, reports go to a copy of stderr (programs close stderr).
void keep_report_fd();
/// Whether this thread is printing a report now (symbolizing allocates and frees: the checks
/// those calls would make on other blocks wait, rather than nest a second report in the first).
bool reporting_now();
/// Whether this is the process `memkit check` started (options' stats_pid), or no process is
/// named (stats_pid=0): the one whose exit status says leaks were found (leak_exitcode). The
/// others (its children) put "[pid N name] " after "memkit: " on their report lines.
bool is_main_process();
/// Errors reported so far.
size_t errors_reported();

}  // namespace memkit::check
