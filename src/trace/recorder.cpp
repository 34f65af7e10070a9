// memkit — the allocation recorder, libmemkit-trace.so (src/trace/recorder.cpp)
//
// Preloaded IN FRONT of an allocator (`memkit run --trace FILE`: LD_PRELOAD=
// "libmemkit-trace.so:libmemkit.so"; alone, in front of the C library's malloc), it defines
// malloc, free, calloc, realloc, reallocarray, the aligned allocations and every operator
// new/delete, records each call and forwards it to the next definition (dlsym(RTLD_NEXT)). So a
// trace can be taken on any allocator and libmemkit.so's own fast path pays nothing for it.
//
// Recording never allocates through the heap it records: each thread appends its events to a
// buffer of its own from mmap, written to the trace file (MEMKIT_TRACE_FILE) in one write() per
// 64 KiB chunk, at thread exit, and at process exit (then the end marker). The block ids come
// from a striped open-addressing table (pointer -> id) in mmap'd memory; a thread takes ids in
// runs of 1024 from one counter, so that its consecutive allocations get consecutive ids (the
// format codes "last id + 1" in one bit). Calls made from inside a forwarded call (libstdc++'s
// operator new calling malloc, dlsym calling calloc) are not recorded again: a thread-local
// depth says so. dlsym may allocate before the next malloc is known: those calls are served
// from a small static buffer, whose blocks are never freed.
//
// Only the process whose PID is MEMKIT_TRACE_PID records (when that is set): the programs it
// starts inherit LD_PRELOAD but run untraced, and so does a forked child (pthread_atfork), which
// would otherwise write its copy of the parent's buffers. Without MEMKIT_TRACE_PID, the first
// process that takes the file's lock (flock) records and the others run untraced. The format: trace_format.h.
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <new>

#include "trace/trace_format.h"

#define MK_EXPORT extern "C" __attribute__((visibility("default")))
#define MK_TLS __thread __attribute__((tls_model("initial-exec")))
#define MK_LIKELY(x) __builtin_expect(!!(x), 1)
#define MK_UNLIKELY(x) __builtin_expect(!!(x), 0)

namespace memkit::trace {
namespace {

// ---- the next allocator ----

struct Next {
  void* (*malloc)(size_t);
  void (*free)(void*);
  void* (*calloc)(size_t, size_t);
  void* (*realloc)(void*, size_t);
  void* (*reallocarray)(void*, size_t, size_t);
  void* (*memalign)(size_t, size_t);
  int (*posix_memalign)(void**, size_t, size_t);
  void* (*aligned_alloc)(size_t, size_t);
  void* (*valloc)(size_t);
  void* (*pvalloc)(size_t);
  void* new_[2];                // _Znwm, _Znam
  void* new_nothrow[2];         // _ZnwmRKSt9nothrow_t, _ZnamRKSt9nothrow_t
  void* new_aligned[2];         // _ZnwmSt11align_val_t, ...
  void* new_aligned_nothrow[2];
  void* del[2];                 // _ZdlPv, _ZdaPv
  void* del_sized[2];           // _ZdlPvm, _ZdaPvm
  void* del_aligned[2];         // _ZdlPvSt11align_val_t, ...
  void* del_sized_aligned[2];   // _ZdlPvmSt11align_val_t, ...
  void* del_nothrow[2];         // _ZdlPvRKSt9nothrow_t, ...
  void* del_aligned_nothrow[2]; // _ZdlPvSt11align_val_tRKSt9nothrow_t, ...
};
Next g_next;

// 0: not started, 1: resolving, 2: ready.
int g_init_state = 0;
MK_TLS int t_in_init = 0;
MK_TLS int t_depth = 0;

// The static buffer that serves dlsym's allocations while the next malloc is unknown.
alignas(64) unsigned char g_boot[64 * 1024];
size_t g_boot_used = 0;

bool in_boot(const void* p) {
  return p >= static_cast<const void*>(g_boot) && p < static_cast<const void*>(g_boot + sizeof g_boot);
}

void* boot_alloc(size_t n, size_t align) {
  if (align < 16) align = 16;
  size_t at = (g_boot_used + 16 + align - 1) & ~(align - 1);
  if (at + n > sizeof g_boot || n > sizeof g_boot) return nullptr;
  reinterpret_cast<size_t*>(g_boot + at)[-1] = n;
  g_boot_used = at + n;
  return g_boot + at;
}

size_t boot_size(const void* p) { return reinterpret_cast<const size_t*>(p)[-1]; }

void say(const char* a, const char* b = "", const char* c = "") {
  const char* const parts[] = {a, b, c};
  for (const char* s : parts) {
    const size_t n = strlen(s);
    if (n > 0 && write(2, s, n) < 0) return;
  }
}

// ---- the trace file ----

constexpr size_t kBufBytes = 64 * 1024;
constexpr size_t kChunkPrefix = 1 + 2 * kMaxVarint;  // room for the chunk's header
constexpr uint64_t kIdRun = 1024;

struct Buffer {
  uint8_t lock;  // taken by the owner for each event, by the finisher at exit
  bool closed;   // the end marker is written: nothing more goes to the file
  Buffer* next;  // every buffer, for the flush at exit
  uint64_t index;
  uint64_t id_next, id_end;  // the thread's current run of ids
  uint64_t pending;          // events in data
  ThreadCoder coder;
  size_t used;
  uint8_t data[kChunkPrefix + kBufBytes];
};

int g_fd = -1;
int g_pid = 0;
bool g_recording = false;  // read relaxed on every call
uint64_t g_start_ns = 0;
uint8_t g_list_lock = 0;
uint8_t g_write_lock = 0;
Buffer* g_buffers = nullptr;
uint64_t g_threads = 0;
uint64_t g_ids = 0;      // ids handed out in runs: the largest id is at most this
uint64_t g_written = 0;  // events written to the file
pthread_key_t g_key;
MK_TLS Buffer* t_buf = nullptr;

void lock(uint8_t* l) {
  while (__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE) != 0) {
    while (__atomic_load_n(l, __ATOMIC_RELAXED) != 0) __builtin_ia32_pause();
  }
}
void unlock(uint8_t* l) { __atomic_store_n(l, 0, __ATOMIC_RELEASE); }

uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

void write_all(const uint8_t* p, size_t n) {
  lock(&g_write_lock);
  while (n > 0) {
    const ssize_t w = write(g_fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      say("memkit: trace: write failed; the trace is incomplete\n");
      break;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  unlock(&g_write_lock);
}

// Writes the buffer's events as one chunk. Called with the buffer's lock held.
void flush(Buffer* b) {
  if (b->closed) b->used = 0;
  if (b->used == 0) return;
  uint8_t head[kChunkPrefix];
  uint8_t* h = head;
  *h++ = kChunkTag;
  h = put_varint(h, b->index);
  h = put_varint(h, b->used);
  const size_t hn = static_cast<size_t>(h - head);
  uint8_t* start = b->data + kChunkPrefix - hn;
  memcpy(start, head, hn);
  __atomic_fetch_add(&g_written, b->pending, __ATOMIC_RELAXED);
  write_all(start, hn + b->used);
  b->used = 0;
  b->pending = 0;
}

extern "C" void thread_exit(void* p) {
  Buffer* b = static_cast<Buffer*>(p);
  lock(&b->lock);
  flush(b);
  unlock(&b->lock);
}

Buffer* new_buffer() {
  void* m = mmap(nullptr, sizeof(Buffer), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return nullptr;
  Buffer* b = static_cast<Buffer*>(m);
  b->index = __atomic_add_fetch(&g_threads, 1, __ATOMIC_RELAXED);
  lock(&g_list_lock);
  b->next = g_buffers;
  g_buffers = b;
  unlock(&g_list_lock);
  pthread_setspecific(g_key, b);
  // The thread's first event: its OS thread id.
  uint8_t* p = b->data + kChunkPrefix;
  *p++ = kThread;
  const uint64_t tick = (now_ns() - g_start_ns) >> kTimeShift;
  p = put_varint(p, tick);
  p = put_varint(p, static_cast<uint64_t>(syscall(SYS_gettid)));
  b->coder.last_tick = tick;
  b->used = static_cast<size_t>(p - (b->data + kChunkPrefix));
  b->pending = 1;
  return b;
}

// ---- the block table: pointer -> id, striped open addressing in mmap'd memory ----

struct Slot {
  uintptr_t key;  // 0: empty
  uint64_t id;
};

// Linear probing with backward-shift deletion: no tombstones, so a table whose blocks come and
// go keeps short probe runs and never needs rebuilding at the same size.
struct Stripe {
  uint8_t lock;
  Slot* slots;
  size_t mask;  // capacity - 1 (0: no table yet)
  size_t live;
  char pad[64 - 1 - 3 * sizeof(size_t)];
};

constexpr unsigned kStripeBits = 6;
Stripe g_stripes[1u << kStripeBits];

// Every bit of the hash depends on every bit of the pointer (murmur3's finalizer): blocks of
// one size class sit at a fixed stride, which a plain multiplication maps into a fraction of
// the slots (long probe runs).
uint64_t hash_of(uintptr_t p) {
  uint64_t h = p;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

Slot* map_slots(size_t n) {
  void* m = mmap(nullptr, n * sizeof(Slot), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return m == MAP_FAILED ? nullptr : static_cast<Slot*>(m);
}

// Doubles the stripe's table (lock held).
bool grow(Stripe* s) {
  const size_t cap = s->mask == 0 ? 256 : (s->mask + 1) * 2;
  Slot* fresh = map_slots(cap);
  if (fresh == nullptr) return false;
  for (size_t i = 0; i <= s->mask && s->slots != nullptr; ++i) {
    const Slot& o = s->slots[i];
    if (o.key == 0) continue;
    size_t j = hash_of(o.key) & (cap - 1);
    while (fresh[j].key != 0) j = (j + 1) & (cap - 1);
    fresh[j] = o;
  }
  if (s->slots != nullptr) munmap(s->slots, (s->mask + 1) * sizeof(Slot));
  s->slots = fresh;
  s->mask = cap - 1;
  return true;
}

void table_insert(void* ptr, uint64_t id) {
  const uintptr_t key = reinterpret_cast<uintptr_t>(ptr);
  const uint64_t h = hash_of(key);
  Stripe* s = &g_stripes[h >> (64 - kStripeBits)];
  lock(&s->lock);
  if ((s->live + 1) * 2 > s->mask + 1 || s->mask == 0) {  // at most half full
    if (!grow(s)) {
      unlock(&s->lock);
      return;  // its free will be recorded as foreign
    }
  }
  size_t i = h & s->mask;
  while (s->slots[i].key != 0 && s->slots[i].key != key) i = (i + 1) & s->mask;
  if (s->slots[i].key == 0) ++s->live;  // else a stale entry (a free we did not see): replaced
  s->slots[i].key = key;
  s->slots[i].id = id;
  unlock(&s->lock);
}

// The id of ptr, removed from the table; 0 if the trace never saw it allocated.
uint64_t table_remove(void* ptr) {
  const uintptr_t key = reinterpret_cast<uintptr_t>(ptr);
  const uint64_t h = hash_of(key);
  Stripe* s = &g_stripes[h >> (64 - kStripeBits)];
  lock(&s->lock);
  uint64_t id = 0;
  if (s->mask != 0) {
    size_t i = h & s->mask;
    while (s->slots[i].key != 0 && s->slots[i].key != key) i = (i + 1) & s->mask;
    if (s->slots[i].key == key) {
      id = s->slots[i].id;
      --s->live;
      // Backward shift: move up each later entry of the run that may live in the hole.
      for (size_t j = (i + 1) & s->mask; s->slots[j].key != 0; j = (j + 1) & s->mask) {
        const size_t home = hash_of(s->slots[j].key) & s->mask;
        // The entry at j may move to i unless its home lies cyclically in (i, j].
        const bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (stays) continue;
        s->slots[i] = s->slots[j];
        i = j;
      }
      s->slots[i].key = 0;
    }
  }
  unlock(&s->lock);
  return id;
}

// ---- set-up ----

void* resolve(const char* name) { return dlsym(RTLD_NEXT, name); }

void parse_pid(const char* s, long* out) {
  long v = 0;
  for (; *s >= '0' && *s <= '9'; ++s) v = v * 10 + (*s - '0');
  *out = *s == '\0' ? v : -1;
}

extern "C" void at_fork_child() { g_recording = false; }

void start_recording() {
  const char* file = getenv(kEnvFile);
  if (file == nullptr || *file == '\0') return;
  if (const char* pid = getenv(kEnvPid); pid != nullptr && *pid != '\0') {
    long want = 0;
    parse_pid(pid, &want);
    if (want != static_cast<long>(getpid())) return;
  }
  g_fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (g_fd < 0) {
    say("memkit: trace: cannot open ", file, ": not recording\n");
    return;
  }
  // One writer per file: without MEMKIT_TRACE_PID, a second process that loads the recorder
  // (a child of the first) finds the file locked and runs untraced instead of overwriting it.
  if (flock(g_fd, LOCK_EX | LOCK_NB) != 0) {
    close(g_fd);
    g_fd = -1;
    return;
  }
  if (ftruncate(g_fd, 0) != 0) {
    say("memkit: trace: cannot truncate ", file, ": not recording\n");
    close(g_fd);
    g_fd = -1;
    return;
  }
  g_pid = static_cast<int>(getpid());
  uint8_t head[kHeaderSize] = {};
  memcpy(head, kMagic, sizeof kMagic);
  head[8] = static_cast<uint8_t>(kVersion & 0xff);
  head[9] = static_cast<uint8_t>(kVersion >> 8);
  head[10] = kTimeShift;
  head[11] = kHeaderSize;
  for (int i = 0; i < 4; ++i) head[12 + i] = static_cast<uint8_t>(static_cast<uint32_t>(g_pid) >> (8 * i));
  write_all(head, sizeof head);
  g_start_ns = now_ns();
  pthread_key_create(&g_key, thread_exit);
  pthread_atfork(nullptr, nullptr, at_fork_child);
  __atomic_store_n(&g_recording, true, __ATOMIC_RELEASE);
}

void init() {
  int expected = 0;
  if (!__atomic_compare_exchange_n(&g_init_state, &expected, 1, false, __ATOMIC_ACQ_REL,
                                   __ATOMIC_ACQUIRE)) {
    if (t_in_init) return;  // dlsym allocating: served from the boot buffer
    while (__atomic_load_n(&g_init_state, __ATOMIC_ACQUIRE) != 2) __builtin_ia32_pause();
    return;
  }
  t_in_init = 1;
  Next n{};
  n.malloc = reinterpret_cast<void* (*)(size_t)>(resolve("malloc"));
  n.free = reinterpret_cast<void (*)(void*)>(resolve("free"));
  n.calloc = reinterpret_cast<void* (*)(size_t, size_t)>(resolve("calloc"));
  n.realloc = reinterpret_cast<void* (*)(void*, size_t)>(resolve("realloc"));
  n.reallocarray = reinterpret_cast<void* (*)(void*, size_t, size_t)>(resolve("reallocarray"));
  n.memalign = reinterpret_cast<void* (*)(size_t, size_t)>(resolve("memalign"));
  n.posix_memalign = reinterpret_cast<int (*)(void**, size_t, size_t)>(resolve("posix_memalign"));
  n.aligned_alloc = reinterpret_cast<void* (*)(size_t, size_t)>(resolve("aligned_alloc"));
  n.valloc = reinterpret_cast<void* (*)(size_t)>(resolve("valloc"));
  n.pvalloc = reinterpret_cast<void* (*)(size_t)>(resolve("pvalloc"));
  static const char* const kNew[8][2] = {
      {"_Znwm", "_Znam"},
      {"_ZnwmRKSt9nothrow_t", "_ZnamRKSt9nothrow_t"},
      {"_ZnwmSt11align_val_t", "_ZnamSt11align_val_t"},
      {"_ZnwmSt11align_val_tRKSt9nothrow_t", "_ZnamSt11align_val_tRKSt9nothrow_t"},
      {"_ZdlPv", "_ZdaPv"},
      {"_ZdlPvm", "_ZdaPvm"},
      {"_ZdlPvSt11align_val_t", "_ZdaPvSt11align_val_t"},
      {"_ZdlPvmSt11align_val_t", "_ZdaPvmSt11align_val_t"},
  };
  void** slots[8] = {n.new_, n.new_nothrow, n.new_aligned, n.new_aligned_nothrow,
                     n.del, n.del_sized, n.del_aligned, n.del_sized_aligned};
  for (int i = 0; i < 8; ++i)
    for (int a = 0; a < 2; ++a) slots[i][a] = resolve(kNew[i][a]);
  n.del_nothrow[0] = resolve("_ZdlPvRKSt9nothrow_t");
  n.del_nothrow[1] = resolve("_ZdaPvRKSt9nothrow_t");
  n.del_aligned_nothrow[0] = resolve("_ZdlPvSt11align_val_tRKSt9nothrow_t");
  n.del_aligned_nothrow[1] = resolve("_ZdaPvSt11align_val_tRKSt9nothrow_t");
  if (n.malloc == nullptr || n.free == nullptr || n.calloc == nullptr || n.realloc == nullptr) {
    say("memkit: trace: no malloc after libmemkit-trace.so in the process\n");
    abort();
  }
  g_next = n;
  t_in_init = 0;
  t_depth = 1;  // what start_recording allocates (pthread_atfork) is not recorded
  __atomic_store_n(&g_init_state, 2, __ATOMIC_RELEASE);
  start_recording();
  t_depth = 0;
}

inline bool ready() { return MK_LIKELY(__atomic_load_n(&g_init_state, __ATOMIC_ACQUIRE) == 2); }

// Makes sure the next allocator is known; false while dlsym runs in init (boot buffer).
inline bool ensure() {
  if (ready()) return true;
  init();
  return ready();
}

// ---- recording one call ----

// The calling thread's buffer, locked, if this call is to be recorded; else nullptr.
inline Buffer* enter() {
  if (!__atomic_load_n(&g_recording, __ATOMIC_RELAXED) || t_depth != 0) return nullptr;
  t_depth = 1;
  Buffer* b = t_buf;
  if (MK_UNLIKELY(b == nullptr)) {
    b = t_buf = new_buffer();
    if (b == nullptr) {
      t_depth = 0;
      return nullptr;
    }
  }
  return b;
}

inline void leave() { t_depth = 0; }

uint64_t new_id(Buffer* b, void* p) {
  if (p == nullptr) return 0;
  if (b->id_next == b->id_end) {
    b->id_next = __atomic_fetch_add(&g_ids, kIdRun, __ATOMIC_RELAXED) + 1;
    b->id_end = b->id_next + kIdRun;
  }
  const uint64_t id = b->id_next++;
  table_insert(p, id);
  return id;
}

// The reference of a block about to be freed (removed from the table).
uint64_t ref_of(void* p, uint64_t* id) {
  *id = 0;
  if (p == nullptr) return kRefNull;
  *id = table_remove(p);
  return *id == 0 ? kRefForeign : 2;
}

// An event under construction in the thread's buffer.
struct Emit {
  Buffer* b;
  uint8_t* tag;
  uint8_t* p;
};

Emit begin(Buffer* b, uint8_t tag) {
  lock(&b->lock);
  if (b->used + kMaxEvent > kBufBytes) flush(b);
  Emit e{b, b->data + kChunkPrefix + b->used, nullptr};
  *e.tag = tag;
  const uint64_t tick = (now_ns() - g_start_ns) >> kTimeShift;
  const uint64_t last = b->coder.last_tick;
  e.p = put_varint(e.tag + 1, tick > last ? tick - last : 0);
  b->coder.last_tick = tick > last ? tick : last;
  return e;
}

void put(Emit& e, uint64_t v) { e.p = put_varint(e.p, v); }
void put_ref(Emit& e, uint64_t kind, uint64_t id) { e.p = memkit::trace::put_ref(e.p, e.b->coder, kind, id); }

void put_new_id(Emit& e, uint64_t id) {
  ThreadCoder& c = e.b->coder;
  if (id != 0 && id == c.last_id + 1) {
    *e.tag |= kNextId;
  } else {
    put(e, new_id_code(c, id));
  }
  if (id != 0) c.last_id = id;
}

void end(Emit& e) {
  if (!e.b->closed) {
    e.b->used = static_cast<size_t>(e.p - (e.b->data + kChunkPrefix));
    ++e.b->pending;
  }
  unlock(&e.b->lock);
}

// Records an allocation of one of the simple kinds: [a], [b], id.
void record_alloc(Buffer* b, uint8_t tag, int nfields, uint64_t f0, uint64_t f1, void* p) {
  const uint64_t id = new_id(b, p);
  Emit e = begin(b, tag);
  if (nfields > 0) put(e, f0);
  if (nfields > 1) put(e, f1);
  put_new_id(e, id);
  end(e);
}

void record_free(Buffer* b, uint8_t tag, uint64_t kind, uint64_t id, int nfields, uint64_t f0,
                 uint64_t f1) {
  Emit e = begin(b, tag);
  put_ref(e, kind, id);
  if (nfields > 0) put(e, f0);
  if (nfields > 1) put(e, f1);
  end(e);
}

// realloc and reallocarray: the old block's reference, the new size, the new block.
void* traced_realloc(void* old, size_t n, bool array, size_t nmemb) {
  if (!ensure()) {
    void* p = boot_alloc(n, 16);
    if (p != nullptr && old != nullptr) memcpy(p, old, in_boot(old) ? boot_size(old) : 0);
    return p;
  }
  if (in_boot(old)) {  // moved out of the boot buffer: a new block as far as the trace knows
    const size_t total = array ? nmemb * n : n;
    void* p = malloc(total);
    if (p != nullptr) memcpy(p, old, boot_size(old) < total ? boot_size(old) : total);
    return p;
  }
  Buffer* b = enter();
  if (b == nullptr) return array ? g_next.reallocarray(old, nmemb, n) : g_next.realloc(old, n);
  uint64_t old_id = 0;
  const uint64_t kind = ref_of(old, &old_id);
  size_t total = n;
  if (array && __builtin_mul_overflow(nmemb, n, &total)) total = SIZE_MAX;
  void* p = array ? g_next.reallocarray(old, nmemb, n) : g_next.realloc(old, n);
  if (p == nullptr && total != 0 && old_id != 0) table_insert(old, old_id);  // failed: old lives
  const uint64_t id = new_id(b, p);
  Emit e = begin(b, kRealloc);
  put_ref(e, kind, old_id);
  put(e, total);
  put_new_id(e, id);
  end(e);
  leave();
  return p;
}

// libstdc++'s std::nothrow is not ours to reference (the library links libc only).
const std::nothrow_t kNothrowTag{};

using NewFn = void* (*)(size_t);
using NewNothrowFn = void* (*)(size_t, const std::nothrow_t&);
using NewAlignedFn = void* (*)(size_t, std::align_val_t);
using NewAlignedNothrowFn = void* (*)(size_t, std::align_val_t, const std::nothrow_t&);

void* no_cxx(const char* what) {
  say("memkit: trace: ", what, " called, but no operator new follows libmemkit-trace.so\n");
  abort();
}

// operator new: the nothrow form of the next allocator under the depth guard (so that
// libstdc++'s operator new calling malloc is one event); when it returns nullptr, the throwing
// form outside the guard, which runs the new_handler and throws as it should.
void* traced_new(size_t n, int array, bool nothrow, bool aligned, size_t align) {
  ensure();
  const uint8_t tag = static_cast<uint8_t>(kNew | (array ? kFlagArray : 0) |
                                           (nothrow ? kFlagNothrow : 0) | (aligned ? kFlagAligned : 0));
  auto call_nothrow = [&]() -> void* {
    if (aligned) {
      auto f = reinterpret_cast<NewAlignedNothrowFn>(g_next.new_aligned_nothrow[array]);
      if (f == nullptr) f = reinterpret_cast<NewAlignedNothrowFn>(resolve(array ? "_ZnamSt11align_val_tRKSt9nothrow_t" : "_ZnwmSt11align_val_tRKSt9nothrow_t"));
      return f != nullptr ? f(n, std::align_val_t(align), kNothrowTag) : no_cxx("operator new");
    }
    auto f = reinterpret_cast<NewNothrowFn>(g_next.new_nothrow[array]);
    if (f == nullptr) f = reinterpret_cast<NewNothrowFn>(resolve(array ? "_ZnamRKSt9nothrow_t" : "_ZnwmRKSt9nothrow_t"));
    return f != nullptr ? f(n, kNothrowTag) : no_cxx("operator new");
  };
  Buffer* b = enter();
  if (b == nullptr) {
    // Not recorded (nested in a forwarded call, or not recording): the same form, as is.
    // (libstdc++'s nothrow operator new calls the throwing one: forms must not be swapped here.)
    if (nothrow) return call_nothrow();
  } else {
    void* p = call_nothrow();
    if (p != nullptr || nothrow) {
      record_alloc(b, tag, aligned ? 2 : 1, aligned ? align : n, n, p);
      leave();
      return p;
    }
    leave();
  }
  // Out of memory: the throwing form (new_handler, std::bad_alloc), not recorded.
  if (aligned) {
    auto f = reinterpret_cast<NewAlignedFn>(g_next.new_aligned[array]);
    return f != nullptr ? f(n, std::align_val_t(align)) : no_cxx("operator new");
  }
  auto f = reinterpret_cast<NewFn>(g_next.new_[array]);
  return f != nullptr ? f(n) : no_cxx("operator new");
}

enum DeleteForm { kPlain, kSized, kAligned, kSizedAligned, kNothrow, kAlignedNothrow };

void traced_delete(void* p, int array, DeleteForm form, size_t size, size_t align) {
  ensure();
  if (in_boot(p)) return;
  void* fn = nullptr;
  switch (form) {
    case kPlain: fn = g_next.del[array]; break;
    case kSized: fn = g_next.del_sized[array]; break;
    case kAligned: fn = g_next.del_aligned[array]; break;
    case kSizedAligned: fn = g_next.del_sized_aligned[array]; break;
    case kNothrow: fn = g_next.del_nothrow[array]; break;
    case kAlignedNothrow: fn = g_next.del_aligned_nothrow[array]; break;
  }
  Buffer* b = enter();
  const int depth = b != nullptr ? 0 : t_depth;
  t_depth = 1;
  if (b != nullptr) {
    uint64_t id = 0;
    const uint64_t kind = ref_of(p, &id);
    const bool sized = form == kSized || form == kSizedAligned;
    const bool aligned = form == kAligned || form == kSizedAligned || form == kAlignedNothrow;
    const bool nothrow = form == kNothrow || form == kAlignedNothrow;
    const uint8_t tag = static_cast<uint8_t>((nothrow ? kDeleteNothrow : kDelete) |
                                             (array ? kFlagArray : 0) | (sized ? kFlagSized : 0) |
                                             (aligned ? kFlagAligned : 0));
    record_free(b, tag, kind, id, (sized ? 1 : 0) + (aligned ? 1 : 0), sized ? size : align, align);
  }
  if (fn == nullptr) {
    g_next.free(p);
  } else {
    switch (form) {
      case kPlain: reinterpret_cast<void (*)(void*)>(fn)(p); break;
      case kSized: reinterpret_cast<void (*)(void*, size_t)>(fn)(p, size); break;
      case kAligned: reinterpret_cast<void (*)(void*, std::align_val_t)>(fn)(p, std::align_val_t(align)); break;
      case kSizedAligned:
        reinterpret_cast<void (*)(void*, size_t, std::align_val_t)>(fn)(p, size, std::align_val_t(align));
        break;
      case kNothrow:
        reinterpret_cast<void (*)(void*, const std::nothrow_t&)>(fn)(p, kNothrowTag);
        break;
      case kAlignedNothrow:
        reinterpret_cast<void (*)(void*, std::align_val_t, const std::nothrow_t&)>(fn)(
            p, std::align_val_t(align), kNothrowTag);
        break;
    }
  }
  t_depth = depth;
}

// The end of recording: every thread's buffer flushed, then the end marker.
__attribute__((destructor)) void finish() {
  if (!__atomic_load_n(&g_recording, __ATOMIC_ACQUIRE) || static_cast<int>(getpid()) != g_pid) return;
  __atomic_store_n(&g_recording, false, __ATOMIC_RELEASE);
  lock(&g_list_lock);
  for (Buffer* b = g_buffers; b != nullptr; b = b->next) {
    lock(&b->lock);
    flush(b);
    b->closed = true;
    unlock(&b->lock);
  }
  unlock(&g_list_lock);
  uint8_t end[1 + 3 * kMaxVarint + sizeof kEndMagic];
  uint8_t* p = end;
  *p++ = kEndTag;
  p = put_varint(p, __atomic_load_n(&g_threads, __ATOMIC_RELAXED));
  p = put_varint(p, __atomic_load_n(&g_written, __ATOMIC_RELAXED));
  p = put_varint(p, __atomic_load_n(&g_ids, __ATOMIC_RELAXED));
  memcpy(p, kEndMagic, sizeof kEndMagic);
  p += sizeof kEndMagic;
  write_all(end, static_cast<size_t>(p - end));
  close(g_fd);
}

__attribute__((constructor)) void start() { ensure(); }

}  // namespace
}  // namespace memkit::trace

using namespace memkit::trace;

MK_EXPORT void* malloc(size_t n) {
  if (!ensure()) return boot_alloc(n, 16);
  Buffer* b = enter();
  if (b == nullptr) return g_next.malloc(n);
  void* p = g_next.malloc(n);
  record_alloc(b, kMalloc, 1, n, 0, p);
  leave();
  return p;
}

MK_EXPORT void free(void* p) {
  if (in_boot(p)) return;
  if (!ensure()) return;
  Buffer* b = enter();
  if (b == nullptr) return g_next.free(p);
  uint64_t id = 0;
  const uint64_t kind = ref_of(p, &id);
  record_free(b, kFree, kind, id, 0, 0, 0);
  g_next.free(p);
  leave();
}

MK_EXPORT void* calloc(size_t nmemb, size_t size) {
  if (!ensure()) {
    size_t total = 0;
    if (__builtin_mul_overflow(nmemb, size, &total)) return nullptr;
    return boot_alloc(total, 16);  // static memory: zero
  }
  Buffer* b = enter();
  if (b == nullptr) return g_next.calloc(nmemb, size);
  void* p = g_next.calloc(nmemb, size);
  record_alloc(b, kCalloc, 2, nmemb, size, p);
  leave();
  return p;
}

MK_EXPORT void* realloc(void* old, size_t n) { return traced_realloc(old, n, false, 1); }

MK_EXPORT void* reallocarray(void* old, size_t nmemb, size_t size) {
  if (g_next.reallocarray == nullptr && ready()) {
    size_t total = 0;
    if (__builtin_mul_overflow(nmemb, size, &total)) {
      errno = ENOMEM;
      return nullptr;
    }
    return traced_realloc(old, total, false, 1);
  }
  return traced_realloc(old, size, true, nmemb);
}

MK_EXPORT void* memalign(size_t align, size_t n) {
  if (!ensure()) return boot_alloc(n, align);
  Buffer* b = enter();
  if (b == nullptr) return g_next.memalign(align, n);
  void* p = g_next.memalign(align, n);
  record_alloc(b, kMemalign, 2, align, n, p);
  leave();
  return p;
}

MK_EXPORT int posix_memalign(void** out, size_t align, size_t n) {
  if (!ensure()) {
    *out = boot_alloc(n, align);
    return *out != nullptr ? 0 : ENOMEM;
  }
  Buffer* b = enter();
  if (b == nullptr) return g_next.posix_memalign(out, align, n);
  void* p = nullptr;
  const int rc = g_next.posix_memalign(&p, align, n);
  if (rc == 0) *out = p;
  record_alloc(b, kPosixMemalign, 2, align, n, rc == 0 ? p : nullptr);
  leave();
  return rc;
}

MK_EXPORT void* aligned_alloc(size_t align, size_t n) {
  if (!ensure()) return boot_alloc(n, align);
  Buffer* b = enter();
  if (b == nullptr) return g_next.aligned_alloc(align, n);
  void* p = g_next.aligned_alloc(align, n);
  record_alloc(b, kAlignedAlloc, 2, align, n, p);
  leave();
  return p;
}

MK_EXPORT void* valloc(size_t n) {
  if (!ensure()) return boot_alloc(n, 4096);
  Buffer* b = enter();
  if (b == nullptr) return g_next.valloc(n);
  void* p = g_next.valloc(n);
  record_alloc(b, kValloc, 1, n, 0, p);
  leave();
  return p;
}

MK_EXPORT void* pvalloc(size_t n) {
  if (!ensure()) return boot_alloc((n + 4095) & ~size_t{4095}, 4096);
  Buffer* b = enter();
  if (b == nullptr) return g_next.pvalloc(n);
  void* p = g_next.pvalloc(n);
  record_alloc(b, kPvalloc, 1, n, 0, p);
  leave();
  return p;
}

#define MK_NEW __attribute__((visibility("default")))
MK_NEW void* operator new(size_t n) { return traced_new(n, 0, false, false, 0); }
MK_NEW void* operator new[](size_t n) { return traced_new(n, 1, false, false, 0); }
MK_NEW void* operator new(size_t n, const std::nothrow_t&) noexcept { return traced_new(n, 0, true, false, 0); }
MK_NEW void* operator new[](size_t n, const std::nothrow_t&) noexcept { return traced_new(n, 1, true, false, 0); }
MK_NEW void* operator new(size_t n, std::align_val_t a) {
  return traced_new(n, 0, false, true, static_cast<size_t>(a));
}
MK_NEW void* operator new[](size_t n, std::align_val_t a) {
  return traced_new(n, 1, false, true, static_cast<size_t>(a));
}
MK_NEW void* operator new(size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return traced_new(n, 0, true, true, static_cast<size_t>(a));
}
MK_NEW void* operator new[](size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return traced_new(n, 1, true, true, static_cast<size_t>(a));
}
MK_NEW void operator delete(void* p) noexcept { traced_delete(p, 0, kPlain, 0, 0); }
MK_NEW void operator delete[](void* p) noexcept { traced_delete(p, 1, kPlain, 0, 0); }
MK_NEW void operator delete(void* p, size_t n) noexcept { traced_delete(p, 0, kSized, n, 0); }
MK_NEW void operator delete[](void* p, size_t n) noexcept { traced_delete(p, 1, kSized, n, 0); }
MK_NEW void operator delete(void* p, std::align_val_t a) noexcept {
  traced_delete(p, 0, kAligned, 0, static_cast<size_t>(a));
}
MK_NEW void operator delete[](void* p, std::align_val_t a) noexcept {
  traced_delete(p, 1, kAligned, 0, static_cast<size_t>(a));
}
MK_NEW void operator delete(void* p, size_t n, std::align_val_t a) noexcept {
  traced_delete(p, 0, kSizedAligned, n, static_cast<size_t>(a));
}
MK_NEW void operator delete[](void* p, size_t n, std::align_val_t a) noexcept {
  traced_delete(p, 1, kSizedAligned, n, static_cast<size_t>(a));
}
MK_NEW void operator delete(void* p, const std::nothrow_t&) noexcept { traced_delete(p, 0, kNothrow, 0, 0); }
MK_NEW void operator delete[](void* p, const std::nothrow_t&) noexcept { traced_delete(p, 1, kNothrow, 0, 0); }
MK_NEW void operator delete(void* p, std::align_val_t a, const std::nothrow_t&) noexcept {
  traced_delete(p, 0, kAlignedNothrow, 0, static_cast<size_t>(a));
}
MK_NEW void operator delete[](void* p, std::align_val_t a, const std::nothrow_t&) noexcept {
  traced_delete(p, 1, kAlignedNothrow, 0, static_cast<size_t>(a));
}
