// memkit — the checked mode (src/check/check.h)
//
// libmemkit-checked.so is a malloc that looks for the classic heap bugs in unmodified programs
// (see docs/checked-mode.md). It sits on kmalloc and the page heap (never on the
// process's malloc: it is the process's malloc) and keeps, for every block, a record (Block):
// at check=fast, for a block of C's default alignment that fits kmalloc's classes (nearly all),
// in the block's own header, found from the pointer with kmalloc's page descriptors; for the
// others (check=full, guard_sample_rate blocks, aligned and large blocks) out of line in a hash
// table keyed by the block's address:
//
//   check=fast, header block (one kmalloc object)
//   [ Block record, 48 bytes ][ left canary 0xfa x 16 ][ user bytes ][ right canary 0xfb: redzone + slack to the usable end ]
//   ^ base                                             ^ user = base + 64
//
//   Block record in the table (a kmalloc object)   check=fast, aligned or large: a kmalloc block
//   { user, size, kind (malloc/new/new[]/           [ left canary 0xfa x align ][ user bytes ][ right canary 0xfb ... ]
//     aligned), state (live/quarantined),           ^ base                      ^ user
//     alloc/free stack ids, tids, ... }
//                                                   check=full: its own mapping
//                                                   [ canary 0xfa ... ][ user bytes ][ PROT_NONE guard page ]
//                                                   ^ base (page)       ^ user = end - size, aligned down to the
//                                                                         weakest alignment C allows for size
//
//   free(p)  -> record of p (its header if kmalloc says p - 64 starts an object and the header's
//               magic is p's, else the table)? no: invalid-free. quarantined: double-free. kind or sized-delete
//               size differs: alloc-dealloc-mismatch. canaries broken: heap-buffer-overflow or
//               -underflow. Else the block is filled with 0xfd (fast) or made inaccessible
//               (full) and queued in the quarantine; when it leaves (quarantine_bytes), the
//               fill is checked (a write after free) and the memory goes back.
//   exit     -> every live block's canaries and every quarantined block's fill checked, then
//               the leak scan (leak.h).
//   SIGSEGV  -> (full) the faulting address looked up among the blocks and their guard pages:
//               heap-use-after-free or heap-buffer-overflow, with the stacks (fault.cpp).
//
// Reports and their format: check_report.h. Options: the check keys of options.def.
#pragma once

#include <pthread.h>
#include <signal.h>
#include <sched.h>

#include <atomic>

#include <cstddef>
#include <cstdint>

namespace memkit::check {

/// How a block was allocated; a free must use the matching form.
enum AllocKind : uint8_t {
  kMalloc = 0,       // malloc, calloc, realloc, memalign & co, strdup...: free / realloc
  kNew = 1,          // operator new(size): operator delete(p [, size])
  kNewArray = 2,     // operator new[](size): operator delete[](p [, size])
  kNewAligned = 3,   // operator new(size, align_val_t): operator delete(p [, size], align_val_t)
  kNewArrayAligned = 4,
};
const char* alloc_kind_name(AllocKind k);    // "malloc", "operator new", ...
const char* dealloc_kind_name(AllocKind k);  // "free", "operator delete", ...

enum BlockState : uint8_t { kLive = 1, kQuarantined = 2 };

/// A block's record. A header block (check=fast, see check.cpp) keeps only the first 48 bytes,
/// in front of its left canary: its user pointer, start and span follow from the header's own
/// address and span16. Records in the table (and copies made with materialize()) have all of it.
/// Read user, base and span through block_user(), block_base() and block_span().
struct Block {
  Block* qnext;   // quarantine queue
  size_t size;
  uint32_t alloc_stack;
  uint32_t free_stack;
  uint32_t alloc_tid;
  uint32_t free_tid;
  uint8_t state;
  uint8_t kind;
  uint8_t full;   // on its own pages (check=full)
  uint8_t mark;   // leak scan
  uint16_t epoch; // fork generation it was allocated in (a forked child does not report the
                  // parent's blocks as its leaks: their owners may be threads it does not have)
  uint16_t span16;  // a header block: its kmalloc object's size / 16
  uint64_t magic; // nonzero: this record is the block's own header (check=fast, see check.cpp:
                  // user ^ kHeaderMagic); 0: a record in the table, or a copy
  // ---- the table's records only: a header block's canary and user bytes are here ----
  Block* next_;     // hash chain
  uintptr_t user_;
  uintptr_t base_;  // the kmalloc block (fast) or the mapping (full)
  size_t span_;     // the kmalloc block's usable size (fast) or the mapping's length incl. guard
};

// The fill bytes (named, as foonathan/memory's debug_magic does).
inline constexpr unsigned char kLeftCanary = 0xfa;
inline constexpr unsigned char kRightCanary = 0xfb;
inline constexpr unsigned char kFreedFill = 0xfd;

/// A header block's header: the record's first part, then a 16-byte left canary.
inline constexpr size_t kHeader = 64;
inline constexpr size_t kHeaderRecord = 48;
static_assert(offsetof(Block, next_) == kHeaderRecord, "a header block keeps the first 48 bytes");

inline uintptr_t block_user(const Block& b) {
  return b.magic != 0 ? reinterpret_cast<uintptr_t>(&b) + kHeader : b.user_;
}
inline uintptr_t block_base(const Block& b) {
  return b.magic != 0 ? reinterpret_cast<uintptr_t>(&b) : b.base_;
}
inline size_t block_span(const Block& b) { return b.magic != 0 ? size_t{b.span16} * 16 : b.span_; }

/// A full copy of b, for reports and scans that outlive the lock: a header block's copy gets the
/// user pointer and, as the start of its canaried memory, its left canary (magic cleared: the
/// copy is not at the block's address).
inline Block materialize(const Block& b) {
  Block c = b;
  if (b.magic != 0) {
    c.magic = 0;
    c.next_ = nullptr;
    c.user_ = block_user(b);
    c.base_ = c.user_ - 16;
    c.span_ = block_base(b) + block_span(b) - c.base_;
  }
  return c;
}

/// The current fork generation (0 in the first process, +1 in each forked child).
uint16_t fork_epoch();

/// The checked malloc entry points (the override calls these). entry_frame: null, or the
/// calling exported function's __builtin_frame_address(0), which must not have returned by the
/// time these do (no tail call to them): the stacks are then walked from the program's frame
/// instead of through the checker's own (fast_backtrace's start_frame).
void* allocate(size_t size, size_t align, AllocKind kind, bool zero, const void* entry_frame = nullptr);
void deallocate(void* p, AllocKind kind, bool sized, size_t size, const char* caller,
                const void* entry_frame = nullptr);
void* reallocate(void* p, size_t size, const char* caller, const void* entry_frame = nullptr);
size_t usable_size(const void* p, const char* caller);

/// The checker's own heap. The checker calls libraries that allocate through malloc (libdw when
/// it symbolises a report's stacks, some 3,200 blocks for the first one; Capstone in the fault
/// handler; libstdc++'s demangler): while a thread is inside such a call (an InternalHeapScope
/// lives), its malloc, calloc, realloc, memalign & co and operator new get plain kmalloc blocks,
/// with no record, canary, quarantine or guard page, so that printing a report neither flushes
/// the quarantine (the freed block being reported, and the next one the program writes, would go
/// back and be reused) nor makes the checked heap's blocks at all. Such a block is known by its
/// address at any later time (libdw frees its caches long after the report), so free, realloc
/// and malloc_usable_size take it back whether or not a scope lives then; it is not a leak-scan
/// node (its memory is in kmalloc's arenas, which are not roots either: it holds libdw's data,
/// not the program's pointers).
class InternalHeapScope {
 public:
  InternalHeapScope();
  ~InternalHeapScope();
  InternalHeapScope(const InternalHeapScope&) = delete;
  InternalHeapScope& operator=(const InternalHeapScope&) = delete;
};
/// Whether p is a live block of the checker's own heap (tests).
bool is_internal_block(const void* p);

/// Start-up (library constructor): options, own code range, fault handler at check=full.
void start();
/// Exit (library destructor): the canary sweep and the leak scan; may _exit(leak_exitcode).
void finish();

/// The SIGSEGV/SIGBUS handler that turns a fault on a full-mode block into a report (fault.cpp).
void install_fault_handler();
/// For the exported sigaction and signal: while that handler is installed, a SIGSEGV or SIGBUS
/// action the program sets becomes the handler called after it (for faults that are not
/// memkit's), *old gets the previous one, and true is returned; else false (install it).
bool fault_handler_chain(int sig, const struct sigaction* act, struct sigaction* old);
/// libc's sigaction, not the exported one (the checker's own handlers: fault.cpp, leak.cpp).
int libc_sigaction(int sig, const struct sigaction* act, struct sigaction* old);
/// Looks libc's sigaction up (dlsym may allocate): at start-up, before any checker lock is held.
void resolve_libc_sigaction();

/// Whether the checker runs at check=full.
bool full_mode();

// ---- for the leak scan, the fault handler and the reports ----

inline constexpr unsigned kShardBits = 6;
inline constexpr unsigned kShards = 1u << kShardBits;
inline constexpr unsigned kBucketBits = 16;  // per shard
inline constexpr size_t kBuckets = size_t{1} << kBucketBits;

/// A test-and-test-and-set lock: the sections it guards are a few dozen instructions (a hash
/// chain, a queue push), where a futex mutex's unlock and its sleeping waiters cost more than
/// the work. Yields after a short spin.
class SpinLock {
 public:
  void lock() {
    for (unsigned spins = 0; held_.exchange(true, std::memory_order_acquire); ) {
      while (held_.load(std::memory_order_relaxed)) {
        if (++spins < 128) __builtin_ia32_pause();
        else sched_yield();
      }
    }
  }
  void unlock() { held_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> held_{false};
};

struct Shard {
  SpinLock lock;
  Block** buckets;
  size_t records;  // in its buckets (the scans skip an empty shard's 512 KiB of buckets)
} __attribute__((aligned(64)));

/// The table's shards (valid after the first allocation).
Shard* shards();
/// The table's bucket memory, [lo, hi) (not a leak-scan root).
void table_range(uintptr_t* lo, uintptr_t* hi);
/// Locks / unlocks every shard and every per-thread queue (the leak scan holds them all: no block
/// is freed or released meanwhile, and no table record made; a header block may still be made,
/// its magic written last, so that a scan sees it whole or not at all).
void lock_all();
void unlock_all();
/// Calls fn on every block record, in the table and in block headers, until it returns false
/// (then returns false). The caller holds lock_all().
bool for_each_block(bool (*fn)(Block* b, void* ctx), void* ctx);
/// Calls fn on each range of the header bitmap (metadata: not a leak-scan root). Under lock_all().
void for_each_bitmap_range(void (*fn)(uintptr_t lo, uintptr_t hi, void* ctx), void* ctx);
/// The block whose mapping or kmalloc block contains addr, scanning every shard without locks
/// (the fault handler; the process is about to die). Copies the record; false if none.
bool find_containing_unlocked(uintptr_t addr, Block* out);
/// Makes a full-mode block's memory accessible again (check_continue after a fault).
void unprotect(const Block& b);
/// The first byte of [p, p+n) that is not `byte`, or nullptr (the canary and fill check).
const unsigned char* first_byte_not(const unsigned char* p, size_t n, unsigned char byte);
/// Whether every byte of [p, p+n) is `byte` (the inline check of canaries and small fills).
bool all_bytes_equal(const unsigned char* p, size_t n, unsigned char byte);
/// The calling thread's id (cached).
uint32_t current_tid();
/// The stack depth option, clamped to 1..kMaxFrames.
unsigned stack_depth();

}  // namespace memkit::check
