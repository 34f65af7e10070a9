// memkit — the checked mode's allocator (src/check/check.cpp): see check.h.
#include "check/check.h"

#include <emmintrin.h>
#include <errno.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "check/block_table.h"
#include "check/check_report.h"
#include "check/leak.h"
#include "check/quarantine.h"
#include "check/stack_depot.h"
#include "check/stack_trace.h"
#include "check/suppressions.h"
#include "kmalloc/kmalloc.h"
#include "malloc/malloc.h"
#include "options/options.h"
#include "os/os.h"
#include "os/report.h"

namespace memkit::check {

namespace {

// ---- configuration, read once ----

struct Config {
  bool full = false;
  size_t redzone = 16;
  unsigned depth = 16;
  size_t quarantine_bytes = 4u << 20;
  size_t full_max_blocks = 30000;
  size_t page = 4096;
  size_t full_align = 8;
  uint32_t sample_rate = 0;  // fast mode: one allocation in N is a full-mode block
  size_t fill_max = SIZE_MAX;  // fast mode: bytes of a freed block filled with 0xfd and checked
};
Config g_cfg;
pthread_once_t g_init_once = PTHREAD_ONCE_INIT;
std::atomic<bool> g_ready{false};


// ---- records in the blocks' headers (check=fast) ----
//
// A fast-mode block of at most kmalloc's largest class, with C's default alignment, carries its
// record in front of it, in the same kmalloc object:
//
//   [ Block record: its first 48 bytes ][ left canary 0xfa x 16 ][ user bytes ][ right canary 0xfb ... ]
//   ^ base: starts a kmalloc object                              ^ user = base + kHeader (64)
//
// so that malloc and free touch the block's own cache lines, with no second allocation and no
// table. (The record's last fields, the table's hash link, user pointer, start and span, are not
// kept: they follow from the header's address and its span16; see block_user() and
// materialize().) free(p) trusts the header only after kmalloc says p - kHeader starts one of its
// objects (fast_index_of: the page descriptor, no read of p's memory) and the header's magic is
// user ^ kHeaderMagic; every other pointer goes to the table (blocks on their own pages,
// aligned and large blocks keep their records there) and, not found there, is an invalid free.
// A released block's magic is cleared before kfree, so a stale header is never taken for a live
// one. The leak scan and the exit sweep find the headers through a bitmap of the pages header
// blocks have started on (one bit per 4 KiB page of each 256 MiB arena, a chunk reserved on first
// use; set once, never cleared, so that malloc only reads it): on a marked page, every 16-byte
// slot that starts a kmalloc object and holds a header whose magic is its own is a block.
static_assert(sizeof(Block) >= kHeaderRecord && kHeaderRecord + 16 == kHeader, "the record and the left canary");
inline constexpr uint64_t kHeaderMagic = 0x6d6b636865636b21ull;
inline constexpr unsigned kChunkShift = fast_arena::kShift;                  // 256 MiB of heap
inline constexpr unsigned kPageShift = 12;
inline constexpr size_t kChunkWords = (size_t{1} << (kChunkShift - kPageShift)) / 64;  // 8 KiB
inline constexpr size_t kChunkSlots = fast_arena::kSlots;
std::atomic<uint64_t*>* g_chunks = nullptr;  // kChunkSlots of them (reserved, 4 MiB)

uint64_t* bitmap_chunk(uintptr_t a) {
  std::atomic<uint64_t*>& slot = g_chunks[a >> kChunkShift];
  uint64_t* c = slot.load(std::memory_order_acquire);
  if (__builtin_expect(c != nullptr, 1)) return c;
  void* mem = nullptr;
  if (os::system_os().reserve(kChunkWords * 8, g_cfg.page, &mem) != 0) return nullptr;
  uint64_t* expected = nullptr;
  if (!slot.compare_exchange_strong(expected, static_cast<uint64_t*>(mem), std::memory_order_acq_rel)) {
    os::system_os().release(mem, kChunkWords * 8);
    return expected;
  }
  return static_cast<uint64_t*>(mem);
}

/// Marks base's page as one a header block started on (a read when it is marked already).
inline void bitmap_mark(uint64_t* chunk, uintptr_t base) {
  const size_t i = (base & ((uintptr_t{1} << kChunkShift) - 1)) >> kPageShift;
  const uint64_t bit = uint64_t{1} << (i & 63);
  if ((__atomic_load_n(&chunk[i >> 6], __ATOMIC_RELAXED) & bit) == 0)
    __atomic_fetch_or(&chunk[i >> 6], bit, __ATOMIC_RELAXED);
}

/// Whether a starts a kmalloc object holding a header block's record (live or quarantined).
inline Block* header_at(uintptr_t a) {
  const unsigned index = fast_index_of(reinterpret_cast<const void*>(a));
  if (index - 1 >= size_class::kNumClasses) return nullptr;
  Block* b = reinterpret_cast<Block*>(a);
  return __atomic_load_n(&b->magic, __ATOMIC_ACQUIRE) == ((a + kHeader) ^ kHeaderMagic) ? b : nullptr;
}

/// The header record of p, if p is the user pointer of a header block (live or quarantined).
inline Block* header_of(uintptr_t p) {
  if (p < kHeader || (p & 15) != 0) return nullptr;
  return header_at(p - kHeader);  // kmalloc says whether p - kHeader may be read
}

// ---- the checker's own heap (InternalHeapScope, check.h) ----
//
// A block that fits kmalloc's classes, with at most 16-byte alignment, is one kmalloc object:
//
//   [ size ][ magic: user ^ kInternalMagic ][ user bytes ... ]
//   ^ base: starts a kmalloc object          ^ user = base + 16
//
// and is recognised as a header block is: kmalloc says user - 16 starts one of its objects (so it
// may be read), and the magic there is user's. (No checked block has a kmalloc object starting
// 16 bytes before it whose second word is that magic: a header block's user - 16 is inside its
// header, a table block's is its left canary, a full-mode block's is not in kmalloc's arenas.)
// The others (larger, or more aligned) carry a 64-byte link in front of them, on one list under
// a lock, and are recognised by being on it (there are few; the list is searched only for a
// pointer that is no checked block). The magic and the link go before the kfree.
__attribute__((tls_model("initial-exec"))) thread_local unsigned t_internal = 0;
inline constexpr uint64_t kInternalMagic = 0x6d6b696e7465726eull;

struct InternalLarge {
  InternalLarge* next;
  InternalLarge* prev;
  void* base;  // the kmalloc block
  uint64_t magic;
  unsigned char pad[32];
};
static_assert(sizeof(InternalLarge) == 64, "the link fills the 64 bytes before the block");
SpinLock g_internal_lock;
InternalLarge* g_internal_large = nullptr;

inline uint64_t* internal_small_header(uintptr_t p) {
  if (p < 16 || (p & 15) != 0) return nullptr;
  const unsigned index = fast_index_of(reinterpret_cast<const void*>(p - 16));
  if (index - 1 >= size_class::kNumClasses) return nullptr;
  uint64_t* h = reinterpret_cast<uint64_t*>(p - 16);
  return __atomic_load_n(&h[1], __ATOMIC_ACQUIRE) == (p ^ kInternalMagic) ? h : nullptr;
}

/// The link of a larger block at p, unlinked if unlink; nullptr if p is not one.
InternalLarge* internal_large(uintptr_t p, bool unlink) {
  if (p < sizeof(InternalLarge)) return nullptr;
  InternalLarge* const want = reinterpret_cast<InternalLarge*>(p - sizeof(InternalLarge));
  g_internal_lock.lock();
  InternalLarge* l = g_internal_large;
  while (l != nullptr && l != want) l = l->next;
  if (l != nullptr && unlink) {
    if (l->prev != nullptr) l->prev->next = l->next;
    else g_internal_large = l->next;
    if (l->next != nullptr) l->next->prev = l->prev;
    l->magic = 0;
  }
  g_internal_lock.unlock();
  return l;
}

void* internal_alloc(size_t size, size_t align, bool zero) {
  if (align <= 16 && size <= size_class::kMaxSize - 16) {
    uint64_t* h = static_cast<uint64_t*>(kmalloc(16 + size, zero ? MK_GFP_ZERO : 0));
    if (h == nullptr) return nullptr;
    const uintptr_t user = reinterpret_cast<uintptr_t>(h) + 16;
    h[0] = size;
    __atomic_store_n(&h[1], user ^ kInternalMagic, __ATOMIC_RELEASE);
    return reinterpret_cast<void*>(user);
  }
  const size_t a = align < sizeof(InternalLarge) ? sizeof(InternalLarge) : align;
  if (size > static_cast<size_t>(PTRDIFF_MAX) - a) {
    errno = ENOMEM;
    return nullptr;
  }
  void* base = align <= 16 ? kmalloc(a + size, zero ? MK_GFP_ZERO : 0) : memalign_impl(a, a + size);
  if (base == nullptr) return nullptr;
  const uintptr_t user = reinterpret_cast<uintptr_t>(base) + a;
  if (zero && align > 16) memset(reinterpret_cast<void*>(user), 0, size);
  InternalLarge* l = reinterpret_cast<InternalLarge*>(user - sizeof(InternalLarge));
  l->base = base;
  l->magic = user ^ kInternalMagic;
  l->prev = nullptr;
  g_internal_lock.lock();
  l->next = g_internal_large;
  if (l->next != nullptr) l->next->prev = l;
  g_internal_large = l;
  g_internal_lock.unlock();
  return reinterpret_cast<void*>(user);
}

/// The usable bytes of the internal block p, or SIZE_MAX if p is none.
size_t internal_usable(uintptr_t p) {
  if (uint64_t* h = internal_small_header(p)) return ksize(h, "malloc_usable_size") - 16;
  if (InternalLarge* l = internal_large(p, false))
    return ksize(l->base, "malloc_usable_size") - (p - reinterpret_cast<uintptr_t>(l->base));
  return SIZE_MAX;
}

/// Frees p if it is an internal block (then true). With small_only, only a one-object block
/// (the cheap check every table-path free makes first).
bool internal_free(uintptr_t p, bool small_only) {
  if (uint64_t* h = internal_small_header(p)) {
    __atomic_store_n(&h[1], 0, __ATOMIC_RELAXED);
    kfree(h, "free");
    return true;
  }
  if (small_only) return false;
  if (InternalLarge* l = internal_large(p, true)) {
    kfree(l->base, "free");
    return true;
  }
  return false;
}

/// realloc of the internal block p (an internal block again, whether or not a scope lives: it is
/// the library's that made it); nullptr if p is none, with *handled false.
void* internal_realloc(uintptr_t p, size_t size, bool* handled) {
  const size_t old = internal_usable(p);
  *handled = old != SIZE_MAX;
  if (!*handled) return nullptr;
  void* fresh = internal_alloc(size, 0, false);
  if (fresh == nullptr) return nullptr;  // p stays, as realloc leaves it on failure
  memcpy(fresh, reinterpret_cast<void*>(p), old < size ? old : size);
  internal_free(p, false);
  return fresh;
}

void init_once() {
  const Options& o = options();
  g_cfg.page = os::page_size();
  if (o.check == "full") {
    g_cfg.full = true;
  } else if (!(o.check == "fast")) {
    report_warning("MEMKIT_OPTIONS: check must be fast or full; using fast");
  }
  long rz = o.redzone;
  if (rz < 16) rz = 16;
  if (rz > 4096) rz = 4096;
  g_cfg.redzone = static_cast<size_t>(rz + 15) & ~size_t{15};
  long d = o.stack_depth;
  if (d < 1) d = 1;
  if (d > static_cast<long>(kMaxFrames)) d = kMaxFrames;
  g_cfg.depth = static_cast<unsigned>(d);
  if (o.stack_unwinder == "libunwind") {
    set_fast_unwind(false);
  } else if (!(o.stack_unwinder == "fast")) {
    report_warning("MEMKIT_OPTIONS: stack_unwinder must be fast or libunwind; using fast");
  }
  g_cfg.quarantine_bytes = o.quarantine_bytes < 0 ? 0 : static_cast<size_t>(o.quarantine_bytes);
  g_cfg.fill_max = o.free_fill_max < 0 ? SIZE_MAX : static_cast<size_t>(o.free_fill_max);
  long fa = o.full_align;
  if (fa < 1 || fa > 16 || (fa & (fa - 1)) != 0) {
    report_warning("MEMKIT_OPTIONS: full_align must be 1, 2, 4, 8 or 16; using 8");
    fa = 8;
  }
  g_cfg.full_align = static_cast<size_t>(fa);
  g_cfg.sample_rate = o.guard_sample_rate <= 0 ? 0
                      : o.guard_sample_rate > UINT32_MAX ? UINT32_MAX
                                                         : static_cast<uint32_t>(o.guard_sample_rate);
  g_cfg.full_max_blocks = o.full_max_blocks < 0 ? 0 : static_cast<size_t>(o.full_max_blocks);

  table::init(g_cfg.page);
  quarantine_configure(g_cfg.quarantine_bytes, g_cfg.full_max_blocks, g_cfg.fill_max);
  void* chunks = nullptr;
  if (os::system_os().reserve(kChunkSlots * sizeof(uint64_t*), g_cfg.page, &chunks) != 0) {
    report_fatal("out-of-memory", "malloc", nullptr, "checked mode: no memory for its header bitmap");
  }
  g_chunks = static_cast<std::atomic<uint64_t*>*>(chunks);
  stack_depot();
  g_ready.store(true, std::memory_order_release);
}

inline void ensure_init() {
  if (__builtin_expect(!g_ready.load(std::memory_order_acquire), 0)) pthread_once(&g_init_once, init_once);
}

__attribute__((tls_model("initial-exec"))) thread_local uint32_t t_tid = 0;
__attribute__((tls_model("initial-exec"))) thread_local uint32_t t_sample_countdown = 0;

void reset_tid_in_child() { t_tid = 0; }


// fork() in a threaded program: no shard or quarantine lock may be held by a thread that does
// not exist in the child.
void fork_prepare() { lock_all(); }
void fork_parent() { unlock_all(); }
std::atomic<uint32_t> g_epoch{0};

void fork_child() {
  fork_parent();
  reset_tid_in_child();
  g_epoch.fetch_add(1, std::memory_order_relaxed);
}

// ---- byte checks ----

/// The first byte of [p, p+n) that is not `byte`, or nullptr. SSE2 (every x86-64 has it):
/// freed blocks are read back whole at every eviction and the canaries at every free, so this
/// is on the hot path; 64 bytes a step while all match, then 16 to find the first mismatch.
const unsigned char* first_bad(const unsigned char* p, size_t n, unsigned char byte) {
  const unsigned char* const end = p + n;
  if (n >= 16) {
    const __m128i want = _mm_set1_epi8(static_cast<char>(byte));
    const unsigned char* q = p;
    for (; end - q >= 64; q += 64) {
      const __m128i a = _mm_cmpeq_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q)), want);
      const __m128i b = _mm_cmpeq_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q + 16)), want);
      const __m128i c = _mm_cmpeq_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q + 32)), want);
      const __m128i d = _mm_cmpeq_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q + 48)), want);
      if (_mm_movemask_epi8(_mm_and_si128(_mm_and_si128(a, b), _mm_and_si128(c, d))) != 0xffff) break;
    }
    for (; end - q >= 16; q += 16) {
      const unsigned eq = static_cast<unsigned>(
          _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q)), want)));
      if (eq != 0xffff) return q + __builtin_ctz(~eq);
    }
    if (q < end) {  // the last 16 bytes, overlapping what matched already
      const unsigned char* t = end - 16;
      const unsigned eq = static_cast<unsigned>(
          _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(t)), want)));
      if (eq != 0xffff) return t + __builtin_ctz(~eq);
    }
    return nullptr;
  }
  for (; p < end; ++p)
    if (*p != byte) return p;
  return nullptr;
}

/// Whether every byte of [p, p+n) is `byte`: first_bad's answer without its call for the
/// common short runs (a 16-byte left canary, a right canary of the slack and the redzone, the
/// fill of a small block), with at most four overlapping 16-byte compares.
__attribute__((always_inline)) inline bool all_bytes(const unsigned char* p, size_t n, unsigned char byte) {
  if (n - 16 <= 48) {  // 16..64
    const __m128i want = _mm_set1_epi8(static_cast<char>(byte));
    __m128i eq = _mm_and_si128(_mm_cmpeq_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)), want),
                               _mm_cmpeq_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + n - 16)), want));
    if (n > 32) {
      eq = _mm_and_si128(eq, _mm_cmpeq_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16)), want));
      if (n > 48) eq = _mm_and_si128(eq, _mm_cmpeq_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 32)), want));
    }
    return _mm_movemask_epi8(eq) == 0xffff;
  }
  return first_bad(p, n, byte) == nullptr;
}

uintptr_t left_canary_start(const Block& b) {
  return b.full ? (b.user_ & ~(g_cfg.page - 1)) : b.magic != 0 ? block_user(b) - 16 : b.base_;
}

uintptr_t block_data_end(const Block& b) {  // the end of what the canaries cover
  return b.full ? b.base_ + b.span_ - g_cfg.page : block_base(b) + block_span(b);
}

/// Checks both canaries of a live block; fills r and returns true if one is broken.
bool canary_broken(const Block& b, ErrorReport* r) {
  const uintptr_t user = block_user(b);
  const unsigned char* left_start = reinterpret_cast<const unsigned char*>(left_canary_start(b));
  if (const unsigned char* bad = first_bad(left_start, user - reinterpret_cast<uintptr_t>(left_start), kLeftCanary)) {
    // The lowest broken byte of the left redzone; the report names the one nearest the block.
    const unsigned char* last = bad;
    for (const unsigned char* q = bad; q < reinterpret_cast<const unsigned char*>(user); ++q)
      if (*q != kLeftCanary) last = q;
    r->kind = ErrorKind::kUnderflow;
    r->addr = reinterpret_cast<uintptr_t>(last);
    return true;
  }
  const uintptr_t end = block_data_end(b);
  if (const unsigned char* bad = first_bad(reinterpret_cast<const unsigned char*>(user + b.size),
                                           end - (user + b.size), kRightCanary)) {
    r->kind = ErrorKind::kOverflow;
    r->addr = reinterpret_cast<uintptr_t>(bad);
    return true;
  }
  return false;
}

/// The check of canary_broken without the report: whether both canaries are whole.
inline bool canaries_intact(const Block& b) {
  const uintptr_t left = left_canary_start(b);
  const uintptr_t user = block_user(b);
  return all_bytes(reinterpret_cast<const unsigned char*>(left), user - left, kLeftCanary) &&
         all_bytes(reinterpret_cast<const unsigned char*>(user + b.size), block_data_end(b) - (user + b.size),
                   kRightCanary);
}

void recanary(const Block& b) {
  unsigned char* left_start = reinterpret_cast<unsigned char*>(left_canary_start(b));
  const uintptr_t user = block_user(b);
  memset(left_start, kLeftCanary, user - reinterpret_cast<uintptr_t>(left_start));
  memset(reinterpret_cast<void*>(user + b.size), kRightCanary, block_data_end(b) - (user + b.size));
}

// ---- the two layouts ----

std::atomic<size_t> g_full_blocks{0};  // mapped (live or quarantined)

bool fast_layout(size_t size, size_t align, bool zero, Block* b) {
  const size_t a = align < 16 ? 16 : align;
  if (size > static_cast<size_t>(PTRDIFF_MAX) - a - g_cfg.redzone) {
    errno = ENOMEM;
    return false;
  }
  const size_t total = a + size + g_cfg.redzone;
  void* base = a <= 16 ? kmalloc(total, zero ? MK_GFP_ZERO : 0) : memalign_impl(a, total);
  if (base == nullptr) return false;
  b->magic = 0;
  b->base_ = reinterpret_cast<uintptr_t>(base);
  b->span_ = ksize(base, "malloc");
  b->user_ = b->base_ + a;
  b->size = size;
  b->full = 0;
  if (zero && a > 16) memset(reinterpret_cast<void*>(b->user_), 0, size);
  recanary(*b);
  return true;
}

// The weakest alignment C allows for an object of `size` bytes: the largest power of two that
// divides it, at most 16 (any type of that size has an alignment dividing its size), raised to
// full_align (8 by default). Programs put a header struct and its bytes in one block of any
// size (python3's bytes and str objects: 33 + n bytes), and fail when that block is
// odd-aligned; full_align=1 keeps the weakest, where every block ends at its guard page.
size_t natural_align(size_t size) {
  if (size == 0) return 16;
  const size_t low = size & (~size + 1);
  const size_t a = low < 16 ? low : 16;
  return a < g_cfg.full_align ? g_cfg.full_align : a;
}

bool full_layout(size_t size, size_t align, Block* b, size_t min_align) {
  const size_t page = g_cfg.page;
  size_t natural = natural_align(size);
  if (natural < min_align) natural = min_align;
  const size_t a = align > natural ? align : natural;
  const size_t unit = a > page ? a : page;
  if (size > static_cast<size_t>(PTRDIFF_MAX) - 2 * unit) return false;
  const size_t data = ((size == 0 ? 1 : size) + unit - 1) / unit * unit;
  void* base = nullptr;
  if (os::system_os().reserve(data + page, unit, &base) != 0) return false;
  if (os::system_os().protect(static_cast<char*>(base) + data, page) != 0) {
    os::system_os().release(base, data + page);
    return false;
  }
  b->magic = 0;
  b->base_ = reinterpret_cast<uintptr_t>(base);
  b->span_ = data + page;
  b->user_ = (b->base_ + data - size) & ~(a - 1);
  b->size = size;
  b->full = 1;
  recanary(*b);  // fresh pages are zero: calloc needs nothing more
  return true;
}

void release_memory(const Block& b) {
  if (b.full) {
    os::system_os().release(reinterpret_cast<void*>(b.base_), b.span_);
    g_full_blocks.fetch_sub(1, std::memory_order_relaxed);
  } else {
    kfree(reinterpret_cast<void*>(b.base_), "free");
  }
}

// ---- the quarantine's evictions (quarantine.h) ----

void evict(Block* b);

void evict_all(Block* out) {
  while (out != nullptr) {
    Block* next = out->qnext;
    evict(out);
    out = next;
  }
}

void quarantine(Block* b) {
  Queue& q = my_queue();
  q.lock.lock();
  Block* out = enqueue_locked(q, b);
  q.lock.unlock();
  evict_all(out);
}

/// A fast-mode freed block whose fill changed was written after free: reports and returns true.
bool fill_broken(const Block& b, const char* when) {
  if (b.full || reporting_now()) return false;
  const unsigned char* bad = first_bad(reinterpret_cast<const unsigned char*>(block_user(b)), fill_bytes(b), kFreedFill);
  if (bad == nullptr) return false;
  ErrorReport r;
  r.kind = ErrorKind::kUseAfterFree;
  r.addr = reinterpret_cast<uintptr_t>(bad);
  r.call = when;
  r.access = Access::kWrite;
  r.how = "found when the freed block left the quarantine: its 0xfd fill was overwritten";
  r.has_block = true;
  r.block = materialize(b);
  report_error(r);
  return true;
}

void evict(Block* b) {
  if (fill_broken(*b, "quarantine eviction (a later free)")) {
    // check_continue: the block is reported once; it goes back all the same.
  }
  if (b->magic != 0) {
    Queue& q = my_queue();
    q.lock.lock();
    release_header(b);
    q.lock.unlock();
    return;
  }
  table::remove(b);
  release_memory(*b);
  kfree(b, "free");
}

// ---- the bad-call stack, captured where the bug is found ----

struct CallStack {
  uintptr_t frames[kMaxFrames];
  unsigned depth = 0;
};

/// The bad call's stack where a bug is found outside free (usable_size).
__attribute__((always_inline)) inline void capture(CallStack* s) {
  s->depth = capture_stack_inline(s->frames, g_cfg.depth, kOtherWalk);
}

/// free's stack into s, and its depot id.
__attribute__((always_inline)) inline uint32_t capture_free(CallStack* s, const void* entry_frame) {
  return capture_stack_with_id(detail::t_free_memo, s->frames, &s->depth, g_cfg.depth, kFreeWalk, entry_frame);
}

void fill_call(ErrorReport* r, const CallStack& s, const char* call) {
  r->frames = s.frames;
  r->depth = s.depth;
  r->call = call;
}

bool kinds_match(AllocKind allocated, AllocKind freed) { return allocated == freed; }

struct Containing {
  uintptr_t addr;
  Block* out;
  bool found;
};

/// The block whose memory (its kmalloc block, or its mapping) contains addr, copied into out.
bool find_containing(uintptr_t addr, Block* out) {
  Containing c{addr, out, false};
  lock_all();
  for_each_block(
      [](Block* b, void* ctx) {
        Containing* q = static_cast<Containing*>(ctx);
        if (q->addr < block_base(*b) || q->addr >= block_base(*b) + block_span(*b)) return true;
        *q->out = materialize(*b);
        q->found = true;
        return false;
      },
      &c);
  unlock_all();
  return c.found;
}

// The checks every free makes of a live block's record, in this order: how it is freed
// against how it was allocated (and a sized delete's size), then its canaries. True, with the
// report filled in, if one fails.
bool free_mismatch_or_overflow(const Block& b, uintptr_t p, AllocKind kind, bool sized,
                               size_t size, const char* caller, ErrorReport* r) {
  const AllocKind allocated = static_cast<AllocKind>(b.kind);
  if (!kinds_match(allocated, kind) || (sized && size != b.size)) {
    r->kind = ErrorKind::kMismatch;
    r->addr = p;
    if (!kinds_match(allocated, kind)) {
      r->how = "the block is freed with a call that does not match its allocation";
      snprintf(r->detail, sizeof r->detail, "allocated by %s, freed by %s (expected %s)",
               alloc_kind_name(allocated), caller, dealloc_kind_name(allocated));
    } else {
      r->how = "sized delete with the wrong size";
      snprintf(r->detail, sizeof r->detail, "%s was given size %zu; the block has %zu byte%s",
               caller, size, b.size, b.size == 1 ? "" : "s");
    }
    return true;
  }
  if (canary_broken(b, r)) {
    r->how = r->kind == ErrorKind::kOverflow
                 ? "found by free: the canary after the block was overwritten"
                 : "found by free: the canary before the block was overwritten";
    r->access = Access::kWrite;
    return true;
  }
  return false;
}


// Every free's checks of the record it found, live or freed: a double free, else
// free_mismatch_or_overflow's. True, with the report filled in, if one fails.
bool bad_free(const Block& b, uintptr_t p, AllocKind kind, bool sized, size_t size, const char* caller,
              ErrorReport* r) {
  if (b.state != kLive) {  // freed before, or by another thread just now (the program's race)
    r->kind = ErrorKind::kDoubleFree;
    r->addr = p;
    r->how = "the block was already freed";
    return true;
  }
  return free_mismatch_or_overflow(b, p, kind, sized, size, caller, r);
}

// The end of every free that found a bug in b (whose lock `held` the caller holds): the report,
// with a copy of the record made before the lock goes; then, with check_continue, a double free
// is ignored, and a mismatched or overflowing block is freed as it was allocated (its canaries
// restored, so that exit does not report it again).
__attribute__((noinline)) void finish_bad_free(ErrorReport& r, const Block& b, SpinLock& held, const CallStack& s,
                                               void* ptr, const char* caller, const void* entry_frame) {
  r.has_block = true;
  r.block = materialize(b);
  held.unlock();
  fill_call(&r, s, caller);
  report_error(r);
  if (r.kind == ErrorKind::kDoubleFree) return;
  recanary(r.block);
  deallocate(ptr, static_cast<AllocKind>(r.block.kind), false, 0, caller, entry_frame);
}

// An invalid free: p is not a block. Names the block p points into, if any.
void report_invalid(uintptr_t p, const char* call, const CallStack& s) {
  ErrorReport r;
  r.kind = ErrorKind::kInvalidFree;
  r.addr = p;
  fill_call(&r, s, call);
  Block b;
  if (find_containing(p, &b)) {
    r.has_block = true;
    r.block = b;
    r.how = b.state == kQuarantined ? "the pointer is not the start of a block (the block it points into was freed)"
                                    : "the pointer is not the start of a block";
  } else {
    r.how = "the pointer was not allocated by malloc or operator new (or was freed long ago)";
    r.describe_addr = true;  // a local, a global: the report says whose
  }
  report_error(r);
}

}  // namespace

const unsigned char* first_byte_not(const unsigned char* p, size_t n, unsigned char byte) {
  return first_bad(p, n, byte);
}

bool all_bytes_equal(const unsigned char* p, size_t n, unsigned char byte) { return all_bytes(p, n, byte); }

// ---- the entry points ----

const char* alloc_kind_name(AllocKind k) {
  switch (k) {
    case kMalloc: return "malloc";
    case kNew: return "operator new";
    case kNewArray: return "operator new[]";
    case kNewAligned: return "operator new(align_val_t)";
    case kNewArrayAligned: return "operator new[](align_val_t)";
  }
  return "?";
}

const char* dealloc_kind_name(AllocKind k) {
  switch (k) {
    case kMalloc: return "free";
    case kNew: return "operator delete";
    case kNewArray: return "operator delete[]";
    case kNewAligned: return "operator delete(align_val_t)";
    case kNewArrayAligned: return "operator delete[](align_val_t)";
  }
  return "?";
}

InternalHeapScope::InternalHeapScope() { ++t_internal; }
InternalHeapScope::~InternalHeapScope() { --t_internal; }

bool is_internal_block(const void* p) { return internal_usable(reinterpret_cast<uintptr_t>(p)) != SIZE_MAX; }

uint16_t fork_epoch() { return static_cast<uint16_t>(g_epoch.load(std::memory_order_relaxed)); }

bool full_mode() {
  ensure_init();
  return g_cfg.full;
}

uint32_t current_tid() {
  if (t_tid == 0) t_tid = static_cast<uint32_t>(syscall(SYS_gettid));
  return t_tid;
}

unsigned stack_depth() {
  ensure_init();
  return g_cfg.depth;
}

// Lock order: a queue before a shard (an eviction under its queue's lock removes a table record).
void lock_all() {
  ensure_init();
  lock_queues();
  table::lock_shards();
}

void unlock_all() {
  table::unlock_shards();
  unlock_queues();
}

bool for_each_block(bool (*fn)(Block* b, void* ctx), void* ctx) {
  if (!table::for_each(fn, ctx)) return false;
  if (g_chunks == nullptr) return true;
  for (size_t c = 0; c < kChunkSlots; ++c) {
    const uint64_t* chunk = g_chunks[c].load(std::memory_order_acquire);
    if (chunk == nullptr) continue;
    for (size_t w = 0; w < kChunkWords; ++w) {
      for (uint64_t bits = __atomic_load_n(&chunk[w], __ATOMIC_ACQUIRE); bits != 0; bits &= bits - 1) {
        const uintptr_t page = (uintptr_t{c} << kChunkShift) +
                               ((w * 64 + static_cast<unsigned>(__builtin_ctzll(bits))) << kPageShift);
        // The page's first object start from its slab's geometry, then one class size a step.
        if (!fast_arena::contains(page)) continue;  // the arena went back to the OS
        const PageDesc* d = fast_page_desc(page);
        if (d->slab_id == 0 || d->slab_id - 1u >= size_class::kNumClasses) continue;
        const uint32_t size = static_cast<uint32_t>(size_class::class_size(d->slab_id - 1u));
        const uint32_t off = static_cast<uint32_t>(page) - d->slab_first;
        uintptr_t a = page;
        if (off >= d->slab_span) {  // the page starts before the slab's first object
          const uint32_t to_first = d->slab_first - static_cast<uint32_t>(page);
          if (to_first >= (uint32_t{1} << kPageShift)) continue;
          a += to_first;
        } else if (off % size != 0) {
          a += size - off % size;
        }
        for (; a < page + (uintptr_t{1} << kPageShift); a += size)
          if (Block* b = header_at(a))
            if (!fn(b, ctx)) return false;
      }
    }
  }
  return true;
}

void for_each_bitmap_range(void (*fn)(uintptr_t lo, uintptr_t hi, void* ctx), void* ctx) {
  if (g_chunks == nullptr) return;
  const uintptr_t lo = reinterpret_cast<uintptr_t>(g_chunks);
  fn(lo, lo + kChunkSlots * sizeof(uint64_t*), ctx);
  for (size_t c = 0; c < kChunkSlots; ++c) {
    const uint64_t* chunk = g_chunks[c].load(std::memory_order_acquire);
    if (chunk != nullptr)
      fn(reinterpret_cast<uintptr_t>(chunk), reinterpret_cast<uintptr_t>(chunk) + kChunkWords * 8, ctx);
  }
}

void unprotect(const Block& b) {
  if (b.full) os::system_os().commit(reinterpret_cast<void*>(b.base_), b.span_);
}

namespace {

/// A header block (see kHeader), or nullptr with no memory kept (the table path then tries).
__attribute__((always_inline)) inline void* allocate_with_header(size_t size, AllocKind kind, bool zero,
                                                                  const void* entry_frame) {
  const uint32_t stack = capture_stack_id_inline(g_cfg.depth, entry_frame);
  void* mem = kmalloc(kHeader + size + g_cfg.redzone, zero ? MK_GFP_ZERO : 0);
  if (mem == nullptr) return nullptr;
  const uintptr_t base = reinterpret_cast<uintptr_t>(mem);
  uint64_t* chunk = bitmap_chunk(base);
  const unsigned index = fast_index_of(mem);
  if (chunk == nullptr || index - 1 >= size_class::kNumClasses) {
    kfree(mem, "malloc");
    return nullptr;
  }
  Block* b = static_cast<Block*>(mem);
  const uintptr_t user = base + kHeader;
  const size_t span = size_class::class_size(index - 1);
  b->qnext = nullptr;
  b->size = size;
  b->span16 = static_cast<uint16_t>(span / 16);
  b->alloc_stack = stack;
  b->free_stack = 0;
  b->alloc_tid = current_tid();
  b->free_tid = 0;
  b->state = kLive;
  b->kind = kind;
  b->full = 0;
  b->mark = 0;
  b->epoch = static_cast<uint16_t>(g_epoch.load(std::memory_order_relaxed));
  memset(reinterpret_cast<void*>(user - 16), kLeftCanary, 16);
  memset(reinterpret_cast<void*>(user + size), kRightCanary, base + span - (user + size));
  bitmap_mark(chunk, base);
  // The magic last: a scan that sees it sees the whole record.
  __atomic_store_n(&b->magic, user ^ kHeaderMagic, __ATOMIC_RELEASE);
  return reinterpret_cast<void*>(user);
}

/// free of a header block b (p its user pointer).
__attribute__((always_inline)) inline void deallocate_header(Block* b, uintptr_t p, AllocKind kind, bool sized,
                                                             size_t size, const char* caller,
                                                             const void* entry_frame) {
  CallStack s;
  const uint32_t free_stack = capture_free(&s, entry_frame);
  Queue& q = my_queue();
  q.lock.lock();
  for (;;) {
    // The common case first, with no report built (an ErrorReport is ~400 bytes to clear).
    uint8_t live = kLive;
    if (b->state == kLive && b->kind == kind && (!sized || size == b->size) && canaries_intact(*b) &&
        __atomic_compare_exchange_n(&b->state, &live, static_cast<uint8_t>(kQuarantined), false,
                                    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
      b->free_stack = free_stack;
      b->free_tid = current_tid();
      memset(reinterpret_cast<void*>(p), kFreedFill, fill_bytes(*b));
      Block* out = enqueue_locked(q, b);
      q.lock.unlock();
      evict_all(out);
      return;
    }
    ErrorReport r;
    if (!bad_free(*b, p, kind, sized, size, caller, &r))
      continue;  // nothing wrong this time: the program changed the block under the first checks
    finish_bad_free(r, *b, q.lock, s, reinterpret_cast<void*>(p), caller, entry_frame);
    return;
  }
}

/// The record of p (nullptr if none) with the lock that guards it held: the calling thread's
/// queue lock for a header block, else p's shard lock. The caller unlocks *held.
Block* lookup_locked(uintptr_t p, SpinLock** held) {
  if (Block* hb = header_of(p)) {
    SpinLock& l = my_queue().lock;
    l.lock();
    *held = &l;
    return hb->magic == (p ^ kHeaderMagic) ? hb : nullptr;  // released meanwhile: a racing free
  }
  Shard& sh = table::shard_for(p);
  sh.lock.lock();
  *held = &sh.lock;
  return table::find_locked(p);
}

}  // namespace

void* allocate(size_t size, size_t align, AllocKind kind, bool zero, const void* entry_frame) {
  ensure_init();
  if (__builtin_expect(t_internal != 0, 0)) return internal_alloc(size, align, zero);
  // check=full: every block on its own pages; check=fast with guard_sample_rate: one in N
  // (16-byte aligned, as the program expects from glibc).
  bool own_pages = g_cfg.full;
  if (!own_pages && g_cfg.sample_rate != 0) {
    if (t_sample_countdown == 0 || t_sample_countdown > g_cfg.sample_rate)
      t_sample_countdown = g_cfg.sample_rate;
    own_pages = --t_sample_countdown == 0;
  }
  if (!own_pages && align <= 16 && size <= size_class::kMaxSize - kHeader - g_cfg.redzone) {
    if (void* p = allocate_with_header(size, kind, zero, entry_frame)) return p;
  }
  Block* b = static_cast<Block*>(kmalloc(sizeof(Block), 0));
  if (b == nullptr) return nullptr;
  bool ok = false;
  if (own_pages && g_full_blocks.fetch_add(1, std::memory_order_relaxed) < g_cfg.full_max_blocks) {
    ok = full_layout(size, align, b, g_cfg.full ? 1 : 16);
    if (!ok) g_full_blocks.fetch_sub(1, std::memory_order_relaxed);
  } else if (own_pages) {
    g_full_blocks.fetch_sub(1, std::memory_order_relaxed);
  }
  if (!ok && !fast_layout(size, align, zero, b)) {
    kfree(b, "malloc");
    errno = ENOMEM;
    return nullptr;
  }
  b->state = kLive;
  b->kind = kind;
  b->mark = 0;
  b->free_stack = 0;
  b->free_tid = 0;
  b->alloc_tid = current_tid();
  b->epoch = static_cast<uint16_t>(g_epoch.load(std::memory_order_relaxed));
  b->magic = 0;
  b->alloc_stack = capture_stack_id_inline(g_cfg.depth, entry_frame);
  table::insert(b);
  return reinterpret_cast<void*>(b->user_);
}

void deallocate(void* ptr, AllocKind kind, bool sized, size_t size, const char* caller, const void* entry_frame) {
  if (ptr == nullptr) return;
  ensure_init();
  const uintptr_t p = reinterpret_cast<uintptr_t>(ptr);
  if (Block* hb = header_of(p)) {
    deallocate_header(hb, p, kind, sized, size, caller, entry_frame);
    return;
  }
  if (internal_free(p, /*small_only=*/true)) return;
  CallStack s;
  const uint32_t free_stack = capture_free(&s, entry_frame);
  Shard& sh = table::shard_for(p);
  sh.lock.lock();
  Block* b = table::find_locked(p);
  if (b == nullptr) {
    sh.lock.unlock();
    if (internal_free(p, /*small_only=*/false)) return;
    report_invalid(p, caller, s);
    return;
  }
  ErrorReport r;
  if (!bad_free(*b, p, kind, sized, size, caller, &r)) {
    b->state = kQuarantined;
    b->free_stack = free_stack;
    b->free_tid = current_tid();
    sh.lock.unlock();
    if (b->full) {
      os::system_os().protect(reinterpret_cast<void*>(b->base_), b->span_ - g_cfg.page);
    } else {
      memset(reinterpret_cast<void*>(b->user_), kFreedFill, fill_bytes(*b));
    }
    quarantine(b);
    return;
  }
  finish_bad_free(r, *b, sh.lock, s, ptr, caller, entry_frame);
}

void* reallocate(void* ptr, size_t size, const char* caller, const void* entry_frame) {
  if (ptr == nullptr) return allocate(size, 0, kMalloc, false, entry_frame);
  if (size == 0) {
    deallocate(ptr, kMalloc, false, 0, caller, entry_frame);
    return nullptr;
  }
  ensure_init();
  const uintptr_t p = reinterpret_cast<uintptr_t>(ptr);
  SpinLock* held = nullptr;
  Block* b = lookup_locked(p, &held);
  if (b == nullptr) {
    held->unlock();
    bool internal = false;
    void* fresh = internal_realloc(p, size, &internal);
    if (internal) return fresh;
    held = nullptr;
    b = lookup_locked(p, &held);  // not an internal block: as before (freed meanwhile: reported)
  }
  if (b != nullptr && b->state == kLive && b->kind == kMalloc && !b->full) {
    ErrorReport r;
    // In place when the new size and the redzone fit the kmalloc block.
    const size_t room = block_base(*b) + block_span(*b) - p;  // user bytes + right canary
    if (!canary_broken(*b, &r) && size <= room && room - size >= g_cfg.redzone) {
      const size_t old = b->size;
      b->size = size;
      held->unlock();
      if (size < old) memset(reinterpret_cast<void*>(p + size), kRightCanary, old - size);
      else recanary(*b);
      return ptr;
    }
  }
  // check=full: the same size stays (any other moves, so the end stays flush with the guard).
  if (b != nullptr && b->state == kLive && b->kind == kMalloc && b->full && size == b->size) {
    held->unlock();
    return ptr;
  }
  const size_t old_size = b != nullptr && b->state == kLive ? b->size : 0;
  held->unlock();
  if (b == nullptr || b->state != kLive) {
    // Not a live block: deallocate reports it (invalid or double free) as realloc's.
    deallocate(ptr, kMalloc, false, 0, caller, entry_frame);
    return nullptr;
  }
  void* fresh = allocate(size, 0, kMalloc, false, entry_frame);
  if (fresh == nullptr) return nullptr;
  memcpy(fresh, ptr, old_size < size ? old_size : size);
  deallocate(ptr, kMalloc, false, 0, caller, entry_frame);
  return fresh;
}

size_t usable_size(const void* ptr, const char* caller) {
  if (ptr == nullptr) return 0;
  ensure_init();
  const uintptr_t p = reinterpret_cast<uintptr_t>(ptr);
  SpinLock* held = nullptr;
  Block* b = lookup_locked(p, &held);
  const size_t n = b != nullptr && b->state == kLive ? b->size : 0;
  const bool bad = b == nullptr || b->state != kLive;
  held->unlock();
  if (b == nullptr) {
    const size_t internal = internal_usable(p);
    if (internal != SIZE_MAX) return internal;
  }
  if (bad) {
    CallStack s;
    capture(&s);
    report_invalid(p, caller, s);
  }
  return n;
}

void start() {
  ensure_init();
  uintptr_t lo = 0;
  uintptr_t hi = 0;
  if (code_range_of(reinterpret_cast<const void*>(&start), &lo, &hi)) set_own_code_range(lo, hi);
  pthread_atfork(fork_prepare, fork_parent, fork_child);
  resolve_libc_sigaction();
  keep_report_fd();
  const Options& o = options();
  if (!o.suppressions.empty() && process_suppressions().load(o.suppressions.c_str()) != 0) {
    char msg[400];
    snprintf(msg, sizeof msg, "checked mode: suppressions file %s could not be read, or has lines that are not KIND:PATTERN",
             o.suppressions.c_str());
    report_warning(msg);
  }
  if (g_cfg.full || g_cfg.sample_rate != 0) install_fault_handler();
}

void finish() {
  ensure_init();
  // The canary sweep: live blocks whose canaries broke and freed blocks written after free.
  // Copies are taken under the locks and reported without them (reports allocate).
  for (;;) {
    ErrorReport r;
    lock_all();
    const bool found = !for_each_block(
        [](Block* b, void* ctx) {
          ErrorReport& e = *static_cast<ErrorReport*>(ctx);
          if (b->mark == 2) return true;  // reported already
          if (b->state == kLive && canary_broken(*b, &e)) {
            e.how = e.kind == ErrorKind::kOverflow ? "found at exit: the canary after the block was overwritten"
                                                   : "found at exit: the canary before the block was overwritten";
          } else if (const unsigned char* bad =
                         b->state == kQuarantined && !b->full
                             ? first_bad(reinterpret_cast<const unsigned char*>(block_user(*b)), fill_bytes(*b), kFreedFill)
                             : nullptr) {
            e.kind = ErrorKind::kUseAfterFree;
            e.addr = reinterpret_cast<uintptr_t>(bad);
            e.how = "found at exit: the freed block's 0xfd fill was overwritten";
          } else {
            return true;
          }
          e.access = Access::kWrite;
          e.has_block = true;
          e.block = materialize(*b);
          b->mark = 2;
          return false;
        },
        &r);
    unlock_all();
    if (!found) break;
    r.call = "exit";
    report_error(r);  // returns only with check_continue
  }
  LeakTotals leaks;
  if (options().detect_leaks) leak_check_at_exit(&leaks);
  report_exit_summary(leaks.groups, leaks.bytes, leaks.blocks);
  // Leaks, or errors reported under check_continue: the exit status says so.
  const long code = options().leak_exitcode;
  // Only in the process `memkit check` started: a child (cc1 under gcc) keeps its own status,
  // or its parent would take the leak_exitcode for a failure (gcc: no output file written).
  if ((leaks.groups > 0 || errors_reported() > 0) && code != 0 && is_main_process()) {
    fflush(nullptr);
    _exit(static_cast<int>(code));
  }
}

}  // namespace memkit::check
