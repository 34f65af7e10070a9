// memkit — check=full's fault handler (src/check/fault.cpp)
//
// At check=full every block ends flush against a PROT_NONE guard page and a freed block's pages
// are PROT_NONE too, so the first out-of-bounds read or write past the end, and any access
// after free, faults at the instruction that makes it. The SIGSEGV (and SIGBUS) handler looks
// the faulting address (si_addr) up among the blocks: inside a freed block's pages is
// heap-use-after-free; in the guard page after a block is heap-buffer-overflow; else the fault
// is not memkit's business: the handler that was there before (or that the program installed
// since, see below) runs, or the default action (the handler is removed and the access faults
// again). The report carries the faulting pc, whether it was a read or a write (the x86
// page-fault error code's write bit), the access's size (the faulting instruction's memory
// operand, disassembled with Capstone), the stack from the faulting frame and the block's stacks.
// The handler runs on the faulting thread's own stack (a heap access, not a stack overflow).
//
// A program that installs its own SIGSEGV or SIGBUS handler (a crash reporter, faulthandler)
// would take these faults away: the checked library interposes sigaction and signal, and while
// this handler is installed the program's handler becomes the next one, called for the faults
// that are not memkit's (and reported back to the program as installed).
#include <capstone/capstone.h>
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <ucontext.h>

#include "check/check.h"
#include "check/check_report.h"
#include "check/stack_depot.h"
#include "check/stack_trace.h"
#include "options/options.h"
#include "os/fault_context.h"
#include "os/os.h"

namespace memkit::check {
namespace {

// The handlers after ours: the ones before it, then whatever the program installs.
struct sigaction g_next_segv;
struct sigaction g_next_bus;
SpinLock g_next_lock;
std::atomic<bool> g_installed{false};

using SigactionFn = int (*)(int, const struct sigaction*, struct sigaction*);
std::atomic<SigactionFn> g_libc_sigaction{nullptr};

/// A fault that is not memkit's: the next handler runs, or the default action (the handler is
/// removed and the access faults again).
void not_ours(int sig, siginfo_t* si, void* ctx) {
  g_next_lock.lock();
  const struct sigaction next = sig == SIGSEGV ? g_next_segv : g_next_bus;
  g_next_lock.unlock();
  if (os::call_next_handler(next, sig, si, ctx)) return;
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  g_installed.store(false, std::memory_order_release);
  libc_sigaction(sig, &dfl, nullptr);
}

/// The size in bytes of the memory access the instruction at pc makes (its memory operand; for
/// a string instruction such as rep movsb, one element), or 0 if it cannot be told.
size_t access_size(uintptr_t pc) {
#if defined(__x86_64__)
  csh handle;
  if (cs_open(CS_ARCH_X86, CS_MODE_64, &handle) != CS_ERR_OK) return 0;
  cs_option(handle, CS_OPT_DETAIL, CS_OPT_ON);
  // The instruction's bytes are mapped (it was fetched), the bytes after it maybe not: first
  // only up to the end of its page; an instruction cut there crosses into the next page, which
  // is then mapped too.
  const size_t page = os::page_size();
  const size_t to_page_end = page - (pc & (page - 1));
  size_t size = 0;
  for (size_t len : {to_page_end < 15 ? to_page_end : size_t{15}, size_t{15}}) {
    cs_insn* insn = nullptr;
    if (cs_disasm(handle, reinterpret_cast<const uint8_t*>(pc), len, pc, 1, &insn) == 1) {
      const cs_x86& x86 = insn->detail->x86;
      for (uint8_t i = 0; i < x86.op_count; ++i) {
        if (x86.operands[i].type == X86_OP_MEM) {
          size = x86.operands[i].size;
          break;
        }
      }
      cs_free(insn, 1);
      break;
    }
    if (len == 15) break;
  }
  cs_close(&handle);
  return size;
#else
  (void)pc;
  return 0;
#endif
}

void on_fault(int sig, siginfo_t* si, void* ctx) {
  const uintptr_t addr = reinterpret_cast<uintptr_t>(si->si_addr);
  const os::FaultContext fc = os::fault_context(ctx);
  const uintptr_t pc = fc.pc;
  const Access access = fc.write < 0 ? Access::kNone : fc.write ? Access::kWrite : Access::kRead;
  Block b;
  if (!find_containing_unlocked(addr, &b) || !b.full) {
    not_ours(sig, si, ctx);
    return;
  }
  const size_t page = os::page_size();
  const uintptr_t guard = b.base_ + b.span_ - page;
  // Capstone (access_size), libunwind and the report allocate: from the checker's own heap, not
  // the checked one (whose quarantine the report's thousands of blocks flushed, b's pages with
  // it). Not around not_ours: the program's own handler gets the program's heap.
  InternalHeapScope own_heap;
  ErrorReport r;
  r.addr = addr;
  r.pc = pc;
  r.access = access;
  r.access_size = pc != 0 ? access_size(pc) : 0;
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
    not_ours(sig, si, ctx);  // a live block's own pages cannot fault: not ours to explain
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
  // check_continue: make the block accessible so that the access succeeds, and go on; only if
  // its mapping is still the block's (another thread's frees may have released it meanwhile:
  // then its pages may be another block's now, which must not become writable; the access
  // faults again, on memory that is no block's, and the default action ends the program).
  Block now;
  if (!find_containing_unlocked(addr, &now) || now.base_ != b.base_ || now.span_ != b.span_ || !now.full) return;
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
  g_next_lock.lock();
  libc_sigaction(SIGSEGV, &sa, &g_next_segv);
  libc_sigaction(SIGBUS, &sa, &g_next_bus);
  g_installed.store(true, std::memory_order_release);
  g_next_lock.unlock();
}

void resolve_libc_sigaction() {
  if (g_libc_sigaction.load(std::memory_order_acquire) == nullptr)
    g_libc_sigaction.store(reinterpret_cast<SigactionFn>(dlsym(RTLD_NEXT, "sigaction")), std::memory_order_release);
}

int libc_sigaction(int sig, const struct sigaction* act, struct sigaction* old) {
  resolve_libc_sigaction();  // dlsym may allocate: start() does it first, before any lock is held
  const SigactionFn real = g_libc_sigaction.load(std::memory_order_acquire);
  if (real == nullptr) {
    errno = ENOSYS;
    return -1;
  }
  return real(sig, act, old);
}

bool fault_handler_chain(int sig, const struct sigaction* act, struct sigaction* old) {
  if ((sig != SIGSEGV && sig != SIGBUS) || !g_installed.load(std::memory_order_acquire)) return false;
  g_next_lock.lock();
  struct sigaction& next = sig == SIGSEGV ? g_next_segv : g_next_bus;
  if (old != nullptr) *old = next;
  if (act != nullptr) next = *act;
  g_next_lock.unlock();
  return true;
}

}  // namespace memkit::check
