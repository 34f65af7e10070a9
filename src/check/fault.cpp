// memkit — check=full's fault handler (src/check/fault.cpp)
//
// At check=full every block ends flush against a PROT_NONE guard page and a freed block's pages
// are PROT_NONE too, so the first out-of-bounds read or write past the end, and any access
// after free, faults at the instruction that makes it. The SIGSEGV (and SIGBUS) handler looks
// the faulting address (si_addr) up among the blocks: inside a freed block's pages is
// heap-use-after-free; in the guard page after a block is heap-buffer-overflow; else the fault
// is not memkit's business and the default action runs (the handler is removed and the access
// faults again). The report carries the faulting pc, whether it was a read or a write (the x86
// page-fault error code's write bit), the stack from the faulting frame and the block's stacks.
// The handler runs on the faulting thread's own stack (a heap access, not a stack overflow).
#include <signal.h>
#include <string.h>
#include <ucontext.h>

#include "check/check.h"
#include "check/check_report.h"
#include "check/stack_depot.h"
#include "check/stack_trace.h"
#include "options/options.h"
#include "os/os.h"

namespace memkit::check {
namespace {

struct sigaction g_old_segv;
struct sigaction g_old_bus;

void restore_and_return(int sig) {
  sigaction(sig, sig == SIGSEGV ? &g_old_segv : &g_old_bus, nullptr);
}

void on_fault(int sig, siginfo_t* si, void* ctx) {
  const uintptr_t addr = reinterpret_cast<uintptr_t>(si->si_addr);
  uintptr_t pc = 0;
  Access access = Access::kNone;
#if defined(__x86_64__)
  const ucontext_t* uc = static_cast<const ucontext_t*>(ctx);
  pc = static_cast<uintptr_t>(uc->uc_mcontext.gregs[REG_RIP]);
  access = (uc->uc_mcontext.gregs[REG_ERR] & 2) ? Access::kWrite : Access::kRead;
#elif defined(__aarch64__)
  const ucontext_t* uc = static_cast<const ucontext_t*>(ctx);
  pc = static_cast<uintptr_t>(uc->uc_mcontext.pc);
#else
  (void)ctx;
#endif
  Block b;
  if (!find_containing_unlocked(addr, &b) || !b.full) {
    restore_and_return(sig);
    return;
  }
  const size_t page = os::page_size();
  const uintptr_t guard = b.base_ + b.span_ - page;
  ErrorReport r;
  r.addr = addr;
  r.pc = pc;
  r.access = access;
  r.call = "the faulting access";
  r.has_block = true;
  r.block = b;
  if (addr >= guard) {
    r.kind = ErrorKind::kOverflow;
    r.how = "fault in the guard page after the block";
  } else if (b.state == kQuarantined) {
    r.kind = ErrorKind::kUseAfterFree;
    r.how = "fault on the freed block's inaccessible pages";
  } else {
    restore_and_return(sig);  // a live block's own pages cannot fault: not ours to explain
    return;
  }
  // The stack from the faulting frame: unwind through the signal frame, start at pc.
  uintptr_t raw[kMaxFrames];
  const unsigned n = capture_stack(raw, kMaxFrames);
  uintptr_t frames[kMaxFrames];
  unsigned depth = 0;
  unsigned start = n;
  for (unsigned i = 0; i < n; ++i)
    if (raw[i] == pc) {
      start = i;
      break;
    }
  if (start == n) {
    frames[depth++] = pc;
    start = 0;
    // Drop the handler's own frames and the kernel's signal trampoline: everything up to the
    // first frame after __restore_rt is unknown here, so keep the raw stack after pc.
  }
  const unsigned max = stack_depth();
  for (unsigned i = start; i < n && depth < max; ++i) frames[depth++] = raw[i];
  r.frames = frames;
  r.depth = depth;
  r.exact_first = true;
  report_error(r);  // aborts unless check_continue
  // check_continue: make the block accessible so that the access succeeds, and go on.
  if (addr >= guard) os::system_os().commit(reinterpret_cast<void*>(guard), page);
  else unprotect(b);
}

}  // namespace

void install_fault_handler() {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_fault;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, &g_old_segv);
  sigaction(SIGBUS, &sa, &g_old_bus);
}

}  // namespace memkit::check
