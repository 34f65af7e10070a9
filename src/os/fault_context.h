// memkit — what the kernel says about a memory fault (src/os/fault_context.h)
//
// A SIGSEGV/SIGBUS handler's third argument is the interrupted thread's register state
// (ucontext_t): the faulting instruction (pc), the stack and frame pointers a stack walk starts
// from, and, on x86-64, the page-fault error code, whose bit 1 says the access was a write.
// Shared by the checked mode's fault handler (check/fault.cpp) and the guard mode's
// (malloc/guard.cpp); libc only.
#pragma once

#include <signal.h>
#include <ucontext.h>

#include <cstdint>

namespace memkit::os {

struct FaultContext {
  uintptr_t pc = 0;   // the faulting instruction, 0 if unknown
  uintptr_t sp = 0;   // its stack pointer, 0 if unknown
  uintptr_t bp = 0;   // its frame pointer (rbp), 0 if unknown
  int write = -1;     // 1: a write, 0: a read, -1: unknown
};

inline FaultContext fault_context(const void* ctx) {
  FaultContext f;
  if (ctx == nullptr) return f;
#if defined(__x86_64__)
  const ucontext_t* uc = static_cast<const ucontext_t*>(ctx);
  f.pc = static_cast<uintptr_t>(uc->uc_mcontext.gregs[REG_RIP]);
  f.sp = static_cast<uintptr_t>(uc->uc_mcontext.gregs[REG_RSP]);
  f.bp = static_cast<uintptr_t>(uc->uc_mcontext.gregs[REG_RBP]);
  f.write = (uc->uc_mcontext.gregs[REG_ERR] & 2) != 0 ? 1 : 0;
#elif defined(__aarch64__)
  const ucontext_t* uc = static_cast<const ucontext_t*>(ctx);
  f.pc = static_cast<uintptr_t>(uc->uc_mcontext.pc);
  f.sp = static_cast<uintptr_t>(uc->uc_mcontext.sp);
  f.bp = static_cast<uintptr_t>(uc->uc_mcontext.regs[29]);
#endif
  return f;
}

/// Passes a fault that is not the caller's to the handler installed before it (`next`): true
/// if one ran; false if `next` is the default action or ignores the signal, and the caller must
/// put the default action back so that the access faults again.
inline bool call_next_handler(const struct sigaction& next, int sig, siginfo_t* si, void* ctx) {
  if ((next.sa_flags & SA_SIGINFO) != 0 && next.sa_sigaction != nullptr) {
    next.sa_sigaction(sig, si, ctx);
    return true;
  }
  if ((next.sa_flags & SA_SIGINFO) == 0 && next.sa_handler != SIG_DFL && next.sa_handler != SIG_IGN) {
    next.sa_handler(sig);
    return true;
  }
  return false;
}

}  // namespace memkit::os
