// memkit — stack capture and symbolization for the checked mode (src/check/stack_trace.h)
//
// Capture: the walker of unwind.h, which reads the .eh_frame unwind tables and so works on code
// built without frame pointers (every Debian package), with libunwind's unw_backtrace where it
// gives up (signal frames, unusual CFI) or with stack_unwinder=libunwind. It is called on every checked
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

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include <cstddef>
#include <cstdint>

#include "check/stack_depot.h"
#include "check/unwind.h"

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

/// Chooses the walker: unwind.h's (true, the default) or libunwind's for every stack.
void set_fast_unwind(bool on);

// The same, inlined into the checker's entry points (allocate, deallocate): the walk starts at
// its caller, and each of the checker's own frames costs as much as one of the program's, so
// the fewer frames between the program and the walk, the cheaper every malloc and free.
namespace detail {
extern uintptr_t g_own_lo;
extern uintptr_t g_own_hi;
extern bool g_fast_unwind;
extern __attribute__((tls_model("initial-exec"))) thread_local bool t_capturing;
/// The checker's frames at most above the walk's caller when it is an entry point.
inline constexpr unsigned kOwnFrameSlack = 3;

/// Return addresses from the caller up, at most want: the fast walker, else libunwind.
/// *reused: the fast walker found the same stack as its last walk of this kind, from the first frame.
__attribute__((always_inline)) inline int walk(uintptr_t* raw, int want, unsigned memo, bool* reused) {
  const int n = g_fast_unwind ? fast_backtrace(raw, want, memo, reused) : -1;
  return n >= 0 ? n : unw_backtrace(reinterpret_cast<void**>(raw), want);
}
}  // namespace detail

/// Which of the thread's last walks a walk may reuse (unwind.h): malloc's, free's, the others'.
inline constexpr unsigned kAllocWalk = 0;
inline constexpr unsigned kFreeWalk = 1;
inline constexpr unsigned kOtherWalk = 2;
static_assert(kOtherWalk < kWalkMemos);

/// Return addresses of the calling thread, own frames dropped, at most max, into frames.
/// *reused (if given): the walk was the same as the thread's last walk of this kind.
__attribute__((always_inline)) inline unsigned capture_stack_inline(uintptr_t* frames, unsigned max,
                                                                    unsigned memo = kOtherWalk,
                                                                    bool* reused = nullptr) {
  bool same = false;
  if (reused != nullptr) *reused = false;
  if (detail::t_capturing || max == 0) return 0;
  detail::t_capturing = true;
  uintptr_t raw[kMaxFrames + detail::kOwnFrameSlack];
  const int want = static_cast<int>((max > kMaxFrames ? kMaxFrames : max) + detail::kOwnFrameSlack);
  const int n = detail::walk(raw, want, memo, &same);
  detail::t_capturing = false;
  if (reused != nullptr) *reused = same;
  int first = 0;
  while (first < n && raw[first] >= detail::g_own_lo && raw[first] < detail::g_own_hi)
    ++first;
  unsigned depth = 0;
  for (int i = first; i < n && depth < max; ++i) frames[depth++] = raw[i];
  return depth;
}

/// The last stack a thread stored, and its id: a loop that allocates (or frees) from one place
/// gets its id with a compare, without the depot's hash and the walk of its chain.
struct StackMemo {
  static constexpr unsigned kFrames = 16;  // deeper stacks go to the depot every time
  uint32_t id;
  uint32_t depth;
  bool from_last_walk;  // the stack of this thread's last walk of the memo's kind
  uintptr_t frames[kFrames];
};

__attribute__((always_inline)) inline uint32_t put_stack(StackMemo& m, const uintptr_t* frames, unsigned depth) {
  m.from_last_walk = false;
  if (depth == 0) return 0;
  if (depth == m.depth && m.id != 0) {
    unsigned i = 0;
    while (i < depth && frames[i] == m.frames[i]) ++i;
    if (i == depth) {
      m.from_last_walk = true;
      return m.id;
    }
  }
  const uint32_t id = stack_depot().put(frames, depth);
  if (depth <= StackMemo::kFrames) {
    m.id = id;
    m.depth = depth;
    for (unsigned i = 0; i < depth; ++i) m.frames[i] = frames[i];
    m.from_last_walk = true;
  }
  return id;
}

/// This thread's memos: one for allocation stacks, one for free stacks.
namespace detail {
extern __attribute__((tls_model("initial-exec"))) thread_local StackMemo t_alloc_memo;
extern __attribute__((tls_model("initial-exec"))) thread_local StackMemo t_free_memo;
}  // namespace detail

/// The stack of a walk of kind `kind` (kAllocWalk or kFreeWalk, whose last stacks m keeps) and
/// its depot id; the frames into `frames` (if not null) and their count into *depth. A walk that
/// repeats the kind's last one is only re-checked (unwind.h), and its frames and id come from m.
/// entry_frame: null, or the exported function's frame (fast_backtrace's start_frame): the walk
/// then starts in the program, without stepping through the checker's own frames.
__attribute__((always_inline)) inline uint32_t capture_stack_with_id(StackMemo& m, uintptr_t* frames,
                                                                     unsigned* depth, unsigned max,
                                                                     unsigned kind,
                                                                     const void* entry_frame = nullptr) {
  if (max > kMaxFrames) max = kMaxFrames;
  if (detail::t_capturing || max == 0) {
    if (depth != nullptr) *depth = 0;
    return put_stack(m, nullptr, 0);
  }
  const bool memo_ok = m.from_last_walk;
  // A malloc or free from where the last one of its kind was: the last walk's words re-checked
  // inline, and its stack and id taken from m, without a call.
  unsigned repeat_n = 0;
  if (entry_frame != nullptr && memo_ok && detail::g_fast_unwind &&
      check_repeat(kind, static_cast<int>(max), entry_frame, &repeat_n) && repeat_n == m.depth) {
    if (frames != nullptr)
      for (unsigned i = 0; i < m.depth; ++i) frames[i] = m.frames[i];
    if (depth != nullptr) *depth = m.depth;
    return m.id;
  }
  detail::t_capturing = true;
  uintptr_t raw[kMaxFrames + detail::kOwnFrameSlack];
  const int want = static_cast<int>(max + detail::kOwnFrameSlack);
  bool reused = false;
  int n = !detail::g_fast_unwind ? -1
          : entry_frame != nullptr ? fast_backtrace(raw, static_cast<int>(max), kind, &reused, memo_ok, entry_frame)
                                   : fast_backtrace(raw, want, kind, &reused, memo_ok);
  if (n < 0) {
    reused = false;
    n = unw_backtrace(reinterpret_cast<void**>(raw), want);  // from here: the own frames dropped below
  }
  detail::t_capturing = false;
  if (reused && memo_ok) {
    if (frames != nullptr)
      for (unsigned i = 0; i < m.depth; ++i) frames[i] = m.frames[i];
    if (depth != nullptr) *depth = m.depth;
    return m.id;
  }
  uintptr_t local[kMaxFrames];
  uintptr_t* out = frames != nullptr ? frames : local;
  int first = 0;
  while (first < n && raw[first] >= detail::g_own_lo && raw[first] < detail::g_own_hi) ++first;
  unsigned d = 0;
  for (int i = first; i < n && d < max; ++i) out[d++] = raw[i];
  if (depth != nullptr) *depth = d;
  return put_stack(m, out, d);
}

__attribute__((always_inline)) inline uint32_t capture_stack_id_inline(unsigned max,
                                                                       const void* entry_frame = nullptr) {
  return capture_stack_with_id(detail::t_alloc_memo, nullptr, nullptr, max, kAllocWalk, entry_frame);
}

struct SymbolizedFrame {
  char function[512];  // demangled; "" if unknown
  char file[512];      // "" if unknown
  int line;            // 0 if unknown
  char module[256];    // the object's file name; "" if unknown
  uintptr_t module_offset;
  bool inlined;        // symbolize_inline: this frame's code was inlined into the next one's
};

/// Symbolizes pc. return_address: pc is a return address (frames #1..), so the call
/// instruction is looked up (pc - 1). May allocate. Never fails: unknown fields stay empty.
void symbolize(uintptr_t pc, bool return_address, SymbolizedFrame* out);

/// pc's source frames, innermost first (what eu-addr2line -i, gdb, valgrind and ASan show): the
/// calls inlined at pc, from libdw's scopes (DW_TAG_inlined_subroutine: its name, and where it
/// was called from, DW_AT_call_file and DW_AT_call_line, which is the next frame's position),
/// then the function they were inlined into (symbolize()'s name). out[0]'s file and line are
/// pc's own; out[i].inlined is true for all but the last. At least 1 frame, at most max. May
/// allocate.
unsigned symbolize_inline(uintptr_t pc, bool return_address, SymbolizedFrame* out, unsigned max);
/// The most frames symbolize_inline is asked for by the reports (deeper inlining is cut).
inline constexpr unsigned kMaxInlineFrames = 8;

/// What a non-heap address is, for a report's detail line, into buf (""): a global ("in the
/// global 'table' (8 bytes into its 64), in prog"), from the ELF symbol table through libdw; or
/// the calling thread's stack ("on the stack of thread T (this thread), in the frame of main");
/// or the main thread's stack. May allocate.
void describe_address(uintptr_t addr, char* buf, size_t len);

/// Whether pc is the x86-64 Linux signal return trampoline (glibc's __restore_rt: mov $15, %rax;
/// syscall), read without faulting (process_vm_readv: the code may be unmapped by now).
bool is_signal_trampoline(uintptr_t pc);
/// Whether frames[i] of a stack is a return address (symbolized at pc - 1, the call) rather
/// than an exact pc: frame #0 of a fault (exact_first), the signal trampoline itself (the
/// handler "returns" to its first byte) and the frame the signal interrupted, right above it
/// (its pc is where it was stopped, not after a call) are exact.
bool frame_is_return_address(const uintptr_t* frames, unsigned i, bool exact_first);

/// Re-reads the process's module list (after dlopen); called at the start of each report.
void refresh_symbolizer();

}  // namespace memkit::check
