// memkit-replay (tools/trace/replay.cpp): replays an allocation trace on whatever malloc the
// process has (`memkit replay` runs it with LD_PRELOAD set to each allocator in turn).
//
//   memkit-replay TRACE
//
// Reads and checks the whole trace first (a corrupt one: one line naming the byte offset, exit
// status 1), then starts one thread per recorded thread, all released together, each making its
// thread's calls in the recorded order: the same function (malloc, calloc, realloc,
// reallocarray as realloc, the aligned ones (valloc and pvalloc as memalign(4096, ...)), every
// operator new/delete form) with the same
// sizes and alignments. Each new block is touched as a program would (a byte in each of its
// pages). A free of a block allocated by another thread waits until that allocation has been
// replayed. Threads start in the recorded waves: a thread begins once the threads that had
// ended before it began in the recording have ended (TraceData::start_after), so that a
// program starting short-lived threads one wave after another is not replayed with all of them
// alive at once. A replay never frees a block it did not allocate: frees of blocks the trace never
// saw allocated (foreign), and calls that failed when recorded, are skipped.
//
// Prints "time: SECONDS" (the replay alone, without reading the trace) and, last,
// "checksum: HEX" (of the calls made, the same whatever the allocator), which `memkit bench`'s
// runner reads.
#include <malloc.h>
#include <sched.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

#include "trace_reader.h"

using namespace memkit::trace;

namespace {

std::atomic<uintptr_t>* g_blocks = nullptr;  // id -> block (0: not yet, 1: NULL)
std::atomic<bool> g_go{false};
std::atomic<uint64_t> g_failed{0};

// Thread starts in waves (TraceData::start_after): thread i waits until the first
// start_after[i] threads of by_last have finished. Each thread sleeps on a flag of its own
// (futex), released in start_after order, so that a finish wakes only the threads it lets in.
std::mutex g_wave_lock;
std::vector<uint8_t> g_finished;
std::unique_ptr<std::atomic<uint8_t>[]> g_released;
std::vector<size_t> g_by_start;  // thread positions by start_after
size_t g_watermark = 0, g_next_release = 0;

void release_up_to(const TraceData& t) {  // with g_wave_lock held, or before the threads run
  while (g_next_release < g_by_start.size() && t.start_after[g_by_start[g_next_release]] <= g_watermark) {
    std::atomic<uint8_t>& flag = g_released[g_by_start[g_next_release++]];
    flag.store(1, std::memory_order_release);
    flag.notify_one();
  }
}

void wait_for_wave(const TraceData& t, size_t i) {
  if (t.start_after.empty()) return;
  g_released[i].wait(0, std::memory_order_acquire);
}

void finished(const TraceData& t, size_t i) {
  if (t.start_after.empty()) return;
  std::lock_guard<std::mutex> lock(g_wave_lock);
  g_finished[i] = 1;
  while (g_watermark < t.by_last.size() && g_finished[t.by_last[g_watermark]]) ++g_watermark;
  release_up_to(t);
}

void touch(void* p, uint64_t n) {
  if (p == nullptr || n == 0) return;
  auto* c = static_cast<volatile char*>(p);
  for (uint64_t i = 0; i < n; i += 4096) c[i] = 1;
  c[n - 1] = 1;
}

void* block(uint64_t id) {
  uintptr_t v;
  while ((v = g_blocks[id].load(std::memory_order_acquire)) == 0) sched_yield();
  return v == 1 ? nullptr : reinterpret_cast<void*>(v);
}

void publish(uint64_t id, void* p, uint64_t touch_bytes) {
  if (p == nullptr) g_failed.fetch_add(1, std::memory_order_relaxed);
  touch(p, touch_bytes);
  g_blocks[id].store(p == nullptr ? 1 : reinterpret_cast<uintptr_t>(p), std::memory_order_release);
}

void* call_new(const Event& e) {
  const bool array = e.flags & kFlagArray, aligned = e.flags & kFlagAligned;
  if (e.flags & kFlagNothrow) {
    if (aligned)
      return array ? ::operator new[](e.size, std::align_val_t(e.align), std::nothrow)
                   : ::operator new(e.size, std::align_val_t(e.align), std::nothrow);
    return array ? ::operator new[](e.size, std::nothrow) : ::operator new(e.size, std::nothrow);
  }
  try {
    if (aligned)
      return array ? ::operator new[](e.size, std::align_val_t(e.align))
                   : ::operator new(e.size, std::align_val_t(e.align));
    return array ? ::operator new[](e.size) : ::operator new(e.size);
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}

void call_delete(const Event& e, void* p) {
  const bool array = e.flags & kFlagArray, aligned = e.flags & kFlagAligned;
  const std::align_val_t al = static_cast<std::align_val_t>(e.align);
  if (e.kind == kDeleteNothrow) {
    if (aligned) array ? ::operator delete[](p, al, std::nothrow) : ::operator delete(p, al, std::nothrow);
    else array ? ::operator delete[](p, std::nothrow) : ::operator delete(p, std::nothrow);
    return;
  }
  if (e.flags & kFlagSized) {
    if (aligned) array ? ::operator delete[](p, e.size, al) : ::operator delete(p, e.size, al);
    else array ? ::operator delete[](p, e.size) : ::operator delete(p, e.size);
    return;
  }
  if (aligned) array ? ::operator delete[](p, al) : ::operator delete(p, al);
  else array ? ::operator delete[](p) : ::operator delete(p);
}

// Replays one thread; returns its share of the checksum.
uint64_t replay_thread(const TraceData& all, size_t index) {
  while (!g_go.load(std::memory_order_acquire)) sched_yield();
  wait_for_wave(all, index);
  const ThreadTrace& t = all.threads[index];
  Cursor c(t);
  Event e;
  uint64_t sum = 0;
  while (c.next(&e)) {
    sum = sum * 31 + e.kind + requested_bytes(e);
    const uint64_t freed = freed_id(e);
    switch (e.kind) {
      case kThread:
        break;
      case kMalloc:
        if (e.id) publish(e.id, std::malloc(e.size), e.size);
        break;
      case kCalloc:
        if (e.id) publish(e.id, std::calloc(e.nmemb, e.size), requested_bytes(e));
        break;
      case kRealloc:
        if (freed != 0 && e.id != 0) {
          void* old = block(freed);
          void* p = old == nullptr ? nullptr : std::realloc(old, e.size);
          if (p == nullptr && old != nullptr) std::free(old);
          if (old == nullptr) p = std::malloc(e.size);
          publish(e.id, p, e.size);
        } else if (freed != 0) {
          std::free(block(freed));  // realloc(p, 0) that freed p
        } else if (e.id != 0) {
          publish(e.id, std::malloc(e.size), e.size);  // realloc(NULL or foreign, n)
        }
        break;
      case kFree:
        if (freed != 0) std::free(block(freed));
        else if (e.ref_kind == kRefNull) std::free(nullptr);
        break;
      case kMemalign:
        if (e.id) publish(e.id, memalign(e.align, e.size), e.size);
        break;
      case kPosixMemalign:
        if (e.id) {
          void* p = nullptr;
          if (posix_memalign(&p, e.align, e.size) != 0) p = nullptr;
          publish(e.id, p, e.size);
        }
        break;
      case kAlignedAlloc:
        if (e.id) publish(e.id, aligned_alloc(e.align, e.size), e.size);
        break;
      // valloc and pvalloc as the memalign they are: not every allocator defines them (jemalloc
      // has no pvalloc, so glibc's would hand out a block that jemalloc's free cannot take).
      case kValloc:
        if (e.id) publish(e.id, memalign(4096, e.size), e.size);
        break;
      case kPvalloc:
        if (e.id) publish(e.id, memalign(4096, requested_bytes(e)), requested_bytes(e));
        break;
      case kNew:
        if (e.id) publish(e.id, call_new(e), e.size);
        break;
      case kDelete:
      case kDeleteNothrow:
        if (freed != 0) {
          void* p = block(freed);
          if (p != nullptr) call_delete(e, p);
        }
        break;
    }
  }
  finished(all, index);
  return sum;
}

double now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: memkit-replay TRACE\n");
    return 2;
  }
  TraceData t;
  try {
    t = read_trace(argv[1]);
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "memkit-replay: %s: %s\n", argv[1], ex.what());
    return 1;
  }
  std::vector<std::atomic<uintptr_t>> blocks(t.max_id + 1);
  g_blocks = blocks.data();
  g_finished.assign(t.threads.size(), 0);
  g_released = std::make_unique<std::atomic<uint8_t>[]>(t.threads.size());
  if (!t.start_after.empty()) {
    g_by_start.resize(t.threads.size());
    for (size_t i = 0; i < g_by_start.size(); ++i) g_by_start[i] = i;
    std::stable_sort(g_by_start.begin(), g_by_start.end(),
                     [&](size_t a, size_t b) { return t.start_after[a] < t.start_after[b]; });
    release_up_to(t);
  }
  std::vector<uint64_t> sums(t.threads.size());
  std::vector<std::thread> threads;
  for (size_t i = 1; i < t.threads.size(); ++i)
    threads.emplace_back([&, i] { sums[i] = replay_thread(t, i); });
  const double t0 = now();
  g_go.store(true, std::memory_order_release);
  if (!t.threads.empty()) sums[0] = replay_thread(t, 0);
  for (std::thread& th : threads) th.join();
  const double t1 = now();
  uint64_t checksum = t.events;
  for (uint64_t s : sums) checksum = checksum * 1000003 + s;
  std::printf("events: %llu\nthreads: %zu\nfailed allocations: %llu\ntime: %.6f\nchecksum: %016llx\n",
              static_cast<unsigned long long>(t.events), t.threads.size(),
              static_cast<unsigned long long>(g_failed.load()), t1 - t0,
              static_cast<unsigned long long>(checksum));
  return 0;
}
