// memkit tests — a fake OS that injects failures (tests/fake_os.h)
//
// FakeOs::api() is an os::OsApi that forwards every primitive to os::system_os() but can be told
// to fail: the Nth reserve from now, or every reserve after N more successes, or every
// decommit. It counts the calls and the bytes it has reserved and not yet released, so a test
// can assert that nothing leaked (after a PageHeap or an ArenaMap over it is destroyed,
// live_bytes() is back to where it was).
//
// An OsApi is a table of plain function pointers, so the fake's state is one global struct.
// Its fields are atomics, so a single test may drive a heap over it from several threads; but
// two tests using FakeOs must not run in parallel inside one process (gtest runs the tests of
// one binary sequentially, so this holds unless a test starts threads that outlive it).
// Construct a FakeOsScope at the start of a test: it resets the counters and the failure
// plan, and resets the plan again at the end (the counters are left for inspection).
//
// FakeOs::place_next_reserve_at(addr) makes the next reserve map at exactly addr (with
// MAP_FIXED_NOREPLACE; ENOMEM if that range is taken or addr is not aligned as asked), so a
// test can put a region where it wants, e.g. in a part of the address space the arena map has
// no leaf for. This is the one place the fake calls mmap itself rather than system_os().
//
// Regions are tracked by address: a release or a move (mremap) may take part of a reserved
// region (the page heap splits cached direct mappings), and live_regions() counts the reserved
// regions some byte of which is still mapped, so that a partial release neither leaks nor
// counts twice. FakeOs::fail_moves(true) makes every move fail with ENOMEM.
//
// A hook (FakeOs::set_reserve_hook) is called at the start of every reserve, before the
// failure plan is applied, with the requested size and alignment; tests use it to run code at
// an exact point inside an operation (e.g. while the page heap makes an arena-map leaf).
#pragma once

#include <errno.h>
#include <sys/mman.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "os/os.h"

namespace memkit::test {

class FakeOs {
 public:
  using ReserveHook = void (*)(size_t size, size_t align, void* ctx);

  struct State {
    // Counters (since the last reset()).
    std::atomic<long> reserve_calls{0};
    std::atomic<long> reserve_failures{0};  // reserves failed by the plan
    std::atomic<long> release_calls{0};
    std::atomic<long> commit_calls{0};
    std::atomic<long> decommit_calls{0};
    std::atomic<long> protect_calls{0};
    std::atomic<long> hugepage_hint_calls{0};
    std::atomic<long> move_calls{0};
    std::atomic<long> moved_bytes{0};
    std::atomic<long> decommitted_bytes{0};
    // Bytes reserved and not released, and the number of such regions. Not reset by reset()
    // (regions may outlive a test's scope); compare against a baseline.
    std::atomic<long long> live_bytes{0};
    std::atomic<long> live_regions{0};

    // The failure plan.
    std::atomic<long> fail_reserve_at{0};      // fail the reserve with this call number (1-based)
    std::atomic<long> fail_reserves_from{0};   // fail every reserve with call number >= this
    std::atomic<size_t> fail_reserves_above{0};  // fail every reserve of more bytes (0: none)
    std::atomic<bool> fail_decommit{false};    // every decommit returns EIO
    std::atomic<bool> fail_move{false};        // every move returns ENOMEM
    std::atomic<int> reserve_errno{ENOMEM};

    std::atomic<uintptr_t> place_at{0};        // next reserve at exactly this address

    std::atomic<ReserveHook> hook{nullptr};
    std::atomic<void*> hook_ctx{nullptr};

    // Reserved regions and the bytes of each still mapped (under regions_lock). A region
    // that does not fit in the table is counted but not tracked (its release ends it).
    struct Region {
      uintptr_t start;
      size_t size;
      size_t mapped;
      uint64_t seq;  // reserve order
    };
    static constexpr size_t kMaxRegions = 4096;
    std::atomic_flag regions_lock = ATOMIC_FLAG_INIT;
    Region regions[kMaxRegions] = {};
    size_t nregions = 0;
    uint64_t next_seq = 0;
  };

  static State& state() {
    static State s;
    return s;
  }

  static const os::OsApi& api() {
    static const os::OsApi table = {"fake",   &reserve, &release,       &commit, &decommit,
                                    &protect, &hugepage_hint, &move,   &map};
    return table;
  }

  /// Clears the counters (not live_bytes/live_regions) and the failure plan.
  static void reset() {
    State& s = state();
    s.reserve_calls = 0;
    s.reserve_failures = 0;
    s.release_calls = 0;
    s.commit_calls = 0;
    s.decommit_calls = 0;
    s.protect_calls = 0;
    s.hugepage_hint_calls = 0;
    s.decommitted_bytes = 0;
    s.move_calls = 0;
    s.moved_bytes = 0;
    stop_failing();
  }

  /// Fails the nth reserve from now (n >= 1): the next one when n == 1.
  static void fail_nth_reserve(long n) {
    state().fail_reserve_at = state().reserve_calls.load() + n;
  }
  /// Lets n more reserves through, then fails every one (n == 0: fail all from now).
  /// Every reserve of more than `bytes` fails (as under an address-space limit); 0: none.
  static void fail_reserves_above(size_t bytes) { state().fail_reserves_above = bytes; }
  static void fail_reserves_after(long n) {
    state().fail_reserves_from = state().reserve_calls.load() + n + 1;
  }
  /// The next reserve maps at exactly addr (see above).
  static void place_next_reserve_at(uintptr_t addr) { state().place_at = addr; }
  static void fail_decommits(bool on) { state().fail_decommit = on; }
  static void fail_moves(bool on) { state().fail_move = on; }
  static void set_reserve_hook(ReserveHook hook, void* ctx) {
    state().hook_ctx = ctx;
    state().hook = hook;
  }
  static void stop_failing() {
    State& s = state();
    s.fail_reserve_at = 0;
    s.fail_reserves_from = 0;
    s.fail_reserves_above = 0;
    s.fail_decommit = false;
    s.fail_move = false;
    s.reserve_errno = ENOMEM;
    s.place_at = 0;
    s.hook = nullptr;
    s.hook_ctx = nullptr;
  }

  static long long live_bytes() { return state().live_bytes.load(); }
  static long live_regions() { return state().live_regions.load(); }
  static long reserve_calls() { return state().reserve_calls.load(); }
  static long release_calls() { return state().release_calls.load(); }
  static long decommit_calls() { return state().decommit_calls.load(); }
  static long move_calls() { return state().move_calls.load(); }

 private:
  // map (the accounted mapping) is a reserve for the failure plan and the counts.
  static int reserve(size_t size, size_t align, void** out) { return reserve_or_map(size, align, out, false); }
  static int map(size_t size, size_t align, void** out) { return reserve_or_map(size, align, out, true); }
  static int reserve_or_map(size_t size, size_t align, void** out, bool accounted) {
    State& s = state();
    const long n = s.reserve_calls.fetch_add(1) + 1;
    if (ReserveHook h = s.hook.load()) h(size, align, s.hook_ctx.load());
    const long at = s.fail_reserve_at.load();
    const long from = s.fail_reserves_from.load();
    const size_t above = s.fail_reserves_above.load();
    if ((at != 0 && n == at) || (from != 0 && n >= from) || (above != 0 && size > above)) {
      s.reserve_failures.fetch_add(1);
      return s.reserve_errno.load();
    }
    const uintptr_t place = s.place_at.exchange(0);
    const int err = place != 0 ? reserve_at(place, size, align, out)
                     : accounted ? os::system_os().map(size, align, out)
                                 : os::system_os().reserve(size, align, out);
    if (err == 0) {
      s.live_bytes.fetch_add(static_cast<long long>(size));
      s.live_regions.fetch_add(1);
      track(reinterpret_cast<uintptr_t>(*out), size);
    }
    return err;
  }
  // Region bookkeeping (see above).
  static void lock_regions() {
    while (state().regions_lock.test_and_set(std::memory_order_acquire)) {
    }
  }
  static void unlock_regions() { state().regions_lock.clear(std::memory_order_release); }
  static void track(uintptr_t start, size_t size) {
    State& s = state();
    lock_regions();
    if (s.nregions < State::kMaxRegions) s.regions[s.nregions++] = {start, size, size, s.next_seq++};
    unlock_regions();
  }
  // [p, p+size) is no longer mapped where it was: true if that ended a region. Called before
  // the unmap, so the kernel cannot yet have handed these addresses to another reserve; the
  // region is the newest that contains p (a region's unmapped parts may have been reserved
  // again since, as a region of their own, and no address ever goes back to an older region).
  static bool untrack(uintptr_t p, size_t size) {
    State& s = state();
    lock_regions();
    bool ended = true;  // an untracked region ends with its release
    State::Region* r = nullptr;
    for (size_t i = 0; i < s.nregions; ++i)
      if (p - s.regions[i].start < s.regions[i].size && (r == nullptr || s.regions[i].seq > r->seq))
        r = &s.regions[i];
    if (r != nullptr) {
      r->mapped = size < r->mapped ? r->mapped - size : 0;
      ended = r->mapped == 0;
      if (ended) *r = s.regions[--s.nregions];
    }
    unlock_regions();
    return ended;
  }
  static int reserve_at(uintptr_t addr, size_t size, size_t align, void** out) {
    if (align == 0 || (align & (align - 1)) != 0 || addr % align != 0) return EINVAL;
    void* want = reinterpret_cast<void*>(addr);
#ifdef MAP_FIXED_NOREPLACE
    void* p = mmap(want, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
#else
    void* p = mmap(want, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
#endif
    if (p == MAP_FAILED) return ENOMEM;
    if (p != want) {  // a kernel without MAP_FIXED_NOREPLACE treats addr as a hint
      munmap(p, size);
      return ENOMEM;
    }
    *out = p;
    return 0;
  }
  static int release(void* p, size_t size) {
    State& s = state();
    s.release_calls.fetch_add(1);
    const bool ended = untrack(reinterpret_cast<uintptr_t>(p), size);
    const int err = os::system_os().release(p, size);
    if (err == 0) {
      s.live_bytes.fetch_sub(static_cast<long long>(size));
      if (ended) s.live_regions.fetch_sub(1);
    } else if (ended) {
      track(reinterpret_cast<uintptr_t>(p), size);  // still mapped after all
    }
    return err;
  }
  // The destination was reserved (and counted) already: the source's bytes go.
  static int move(void* from, size_t size, void* to) {
    State& s = state();
    s.move_calls.fetch_add(1);
    if (s.fail_move.load()) return ENOMEM;
    const bool ended = untrack(reinterpret_cast<uintptr_t>(from), size);
    const int err = os::system_os().move(from, size, to);
    if (err == 0) {
      s.moved_bytes.fetch_add(static_cast<long>(size));
      s.live_bytes.fetch_sub(static_cast<long long>(size));
      if (ended) s.live_regions.fetch_sub(1);
    } else if (ended) {
      track(reinterpret_cast<uintptr_t>(from), size);
    }
    return err;
  }
  static int commit(void* p, size_t size) {
    state().commit_calls.fetch_add(1);
    return os::system_os().commit(p, size);
  }
  static int decommit(void* p, size_t size, bool lazy) {
    State& s = state();
    s.decommit_calls.fetch_add(1);
    if (s.fail_decommit.load()) return EIO;
    const int err = os::system_os().decommit(p, size, lazy);
    if (err == 0) s.decommitted_bytes.fetch_add(static_cast<long>(size));
    return err;
  }
  static int protect(void* p, size_t size) {
    state().protect_calls.fetch_add(1);
    return os::system_os().protect(p, size);
  }
  static int hugepage_hint(void* p, size_t size) {
    state().hugepage_hint_calls.fetch_add(1);
    return os::system_os().hugepage_hint(p, size);
  }
};

/// Resets FakeOs at construction; clears the failure plan and the hook at destruction.
class FakeOsScope {
 public:
  FakeOsScope() { FakeOs::reset(); }
  ~FakeOsScope() { FakeOs::stop_failing(); }
  FakeOsScope(const FakeOsScope&) = delete;
  FakeOsScope& operator=(const FakeOsScope&) = delete;
};

}  // namespace memkit::test
