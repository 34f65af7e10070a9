// memkit — stack capture and symbolization for the checked mode (src/check/stack_trace.h)
//
// Capture: libunwind's unw_backtrace, which reads the .eh_frame unwind tables and so works on
// code built without frame pointers (every Debian package). It is called on every checked
// malloc and free, so it must not recurse: a per-thread flag makes a capture that starts inside
// another one (libunwind allocating, a signal handler) return an empty stack. Frames inside
// libmemkit-checked.so itself (malloc, operator new, the checker) are dropped from the top, so
// frame #0 is the program's call.
//
// Symbolization, at report time only: libdw's dwfl over /proc/self/maps gives the symbol (from
// .symtab when the object has one, so static functions too) and the source file and line when
// debug info is there; dladdr is the fallback for the function and module names. It allocates
// (through the checked malloc itself), so reports are made with no checker lock held.
#pragma once

#include <cstddef>
#include <cstdint>

namespace memkit::check {

/// Frames whose pc lies in [lo, hi) are dropped from the top of captured stacks (the checked
/// library's own code). Set once at start-up.
void set_own_code_range(uintptr_t lo, uintptr_t hi);
/// The executable segments of the object containing `addr`, as [lo, hi). False if not found.
bool code_range_of(const void* addr, uintptr_t* lo, uintptr_t* hi);

/// Return addresses of the calling thread, innermost first, own frames dropped; at most max.
/// 0 when called re-entrantly on this thread.
unsigned capture_stack(uintptr_t* frames, unsigned max);

/// capture_stack into the depot: the id (0: no stack).
uint32_t capture_stack_id(unsigned max);

struct SymbolizedFrame {
  char function[512];  // demangled; "" if unknown
  char file[512];      // "" if unknown
  int line;            // 0 if unknown
  char module[256];    // the object's file name; "" if unknown
  uintptr_t module_offset;
};

/// Symbolizes pc. return_address: pc is a return address (frames #1..), so the call
/// instruction is looked up (pc - 1). May allocate. Never fails: unknown fields stay empty.
void symbolize(uintptr_t pc, bool return_address, SymbolizedFrame* out);

/// Re-reads the process's module list (after dlopen); called at the start of each report.
void refresh_symbolizer();

}  // namespace memkit::check
