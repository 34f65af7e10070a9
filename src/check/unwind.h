// memkit — the checked mode's stack walker (src/check/unwind.h)
//
// Every checked malloc and free records its stack, so the walk is on the hot path. libunwind's
// unw_backtrace builds a register context and a cursor on every call and looks each frame up in
// its per-thread cache (57 ns for 8 frames in a warm loop, and 40-55 % of check=fast's time in
// the benchmarks); this walker costs a hash lookup and a few loads a frame, and a compare or two
// a frame where the walk meets the thread's previous one (20 ns for the same 8 frames walked
// again from one place; see fast_backtrace in unwind.cpp).
//
// x86-64 code built without frame pointers is walked with its .eh_frame call-frame information
// (CFI), as libunwind does, but the CFI is interpreted once per return address and the result,
// the rule for that address, cached:
//
//   rule(pc) = { CFA = rsp + off | rbp + off | *(rsp or rbp + off),
//                return address at CFA + ra_off,
//                rbp unchanged | saved at CFA + off | saved at *(rbp + off),
//                or: end of the stack (the return address column is undefined: _start, clone) }
//
//   step: cfa = rule's base register + off (dereferenced if so); ret = *(cfa + ra_off);
//         rbp = the saved one if saved; rsp = cfa; pc = ret
//
// The FDE of an address is found with glibc's _dl_find_object (no lock, no malloc) and a binary
// search of its object's .eh_frame_hdr table. A rule this walker does not model (a signal frame, a CFA expression other than
// "register + offset, dereferenced or not", a return address held in a register) makes the walk
// return -1 and the caller falls back to libunwind; such addresses are cached too. An address with
// no FDE (JIT code) ends the walk. The cache is a fixed table of (pc, rule) pairs written
// lock-free; dlclose clears it (the override interposes dlclose), since a library loaded later
// may reuse the addresses.
//
// Safety: the walk reads only stack memory named by the CFI; a CFA that does not lie above the
// previous one, or lies more than kMaxFrameBytes (16 MiB) above it, ends the walk (bad CFI, a
// corrupted stack).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace memkit::check {

/// Return addresses of the calling thread, innermost first: out[0] is the return address into
/// fast_backtrace's caller. At most max. -1 if a frame needs what this walker does not model
/// (the caller should use libunwind instead). memo (0..kWalkMemos-1) picks which of the
/// thread's last walks this one may reuse: one for malloc's walks, one for free's, one for the
/// rest, so that a loop that allocates and frees reuses each walk whole. *reused (if given):
/// set when the walk is the same as that last one from its first frame (out is then the same).
inline constexpr unsigned kWalkMemos = 3;
/// no_copy_if_reused: a caller that keeps the last walk's result itself needs no out when the
/// walk is reused (out is then left as it was).
/// start_frame: null, or the frame of a function further up that keeps a frame pointer (what
/// __builtin_frame_address(0) gave it: its saved rbp, then its return address) and has not
/// returned; the walk then starts at that function's caller, out[0] being its return address,
/// and skips the frames in between (the checker's own, under an exported malloc).
int fast_backtrace(uintptr_t* out, int max, unsigned memo = 0, bool* reused = nullptr,
                   bool no_copy_if_reused = false, const void* start_frame = nullptr);

/// A thread's last walk of a memo kind as the words a repeat of it re-reads, with the values
/// they held: its return addresses' slots and the saved rbps its steps used. A walk from the
/// same first frame (sp, pc, and rbp where the walk used it) and the same max that finds every
/// word unchanged is that walk again, frame for frame (the induction of fast_backtrace's memo).
/// fast_backtrace builds it once the last walk has been repeated whole (a walk that changes from
/// one call to the next never pays for it), and check_repeat() reads it inline, before any call:
/// a malloc or free from where the last one was then costs the words' loads and compares.
struct WalkCheck {
  static constexpr unsigned kMaxWords = 2 * 64 + 1;
  bool valid;
  bool needs_bp;      // the walk used the first frame's rbp
  int max;
  uint32_t generation;  // the rule cache's (see unwind_generation)
  uintptr_t sp;
  uintptr_t pc;
  uintptr_t bp;
  unsigned n;         // frames
  unsigned words;
  const uintptr_t* at[kMaxWords];
  uintptr_t want[kMaxWords];
};
extern __attribute__((tls_model("initial-exec"))) thread_local WalkCheck t_walk_check[kWalkMemos];
/// +1 at every unwind_cache_clear(): the walks remembered before hold rules that may be gone.
extern std::atomic<uint32_t> g_unwind_generation;
inline uint32_t unwind_generation() { return g_unwind_generation.load(std::memory_order_relaxed); }

/// Whether a walk of `memo` (at most max frames) from start_frame (as fast_backtrace's) would
/// repeat the thread's last walk of that memo whole: then it has n frames, the last walk's.
__attribute__((always_inline)) inline bool check_repeat(unsigned memo, int max, const void* start_frame,
                                                        unsigned* n) {
  const WalkCheck& c = t_walk_check[memo];
  const uintptr_t* fp = static_cast<const uintptr_t*>(start_frame);
  if (!c.valid || c.max != max || c.sp != reinterpret_cast<uintptr_t>(fp + 2) || c.pc != fp[1] ||
      (c.needs_bp && c.bp != fp[0]) || c.generation != unwind_generation())
    return false;
  for (unsigned i = 0; i < c.words; ++i)
    if (*c.at[i] != c.want[i]) return false;
  *n = c.n;
  return true;
}

/// A walk from a given register state, without libunwind and without the memos: pc, the stack
/// pointer and rbp of the frame to start at (a signal's interrupted frame: exact_first, its pc
/// is the faulting instruction itself; or a function's caller: pc its return address). Frames
/// innermost first into out, at most max; the walk simply stops where the cached rules give up
/// (a signal frame, unusual CFI), so it needs only libc: the drop-in library's guard mode uses it.
int backtrace_from(uintptr_t pc, uintptr_t sp, uintptr_t bp, bool exact_first, uintptr_t* out, int max);

/// Forgets every cached rule (after a dlclose).
void unwind_cache_clear();

/// The decoded rule for the instruction at pc (a return address minus one), for tests and
/// `memkit` diagnostics. kind: 0 unsupported, 1 a step, 2 the end of the stack.
struct UnwindRule {
  int kind = 0;
  int cfa_base = 0;      // 7: rsp, 6: rbp
  bool cfa_deref = false;
  long cfa_off = 0;
  long ra_off = 0;
  int rbp_how = 0;       // 0 unchanged, 1 saved at CFA + rbp_off, 2 saved at *(rbp + rbp_off)
  long rbp_off = 0;
};
/// Interprets the CFI for pc (no cache). False if pc has no FDE.
bool unwind_rule_for(uintptr_t pc, UnwindRule* out);

struct UnwindStats {
  uint64_t misses;     // rules interpreted from the CFI (cache misses)
  uint64_t fallbacks;  // walks given up (libunwind used)
};
UnwindStats unwind_stats();

}  // namespace memkit::check
