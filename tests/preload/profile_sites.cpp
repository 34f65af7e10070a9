// A program with known allocation sites, for the heap profiler's tests (tests/test_profile.sh).
//
//   profile_sites sites KEEP4K_MIB KEEP64_MIB TRANSIENT_MIB
//       keep_4k keeps KEEP4K_MIB MiB in 4 KiB blocks, keep_64 keeps KEEP64_MIB MiB in 64-byte
//       blocks, transient allocates and frees TRANSIENT_MIB MiB in 1 MiB blocks
//   profile_sites threads N K SIZE   N threads (thread_alloc) allocate K blocks of SIZE each,
//       free every other one and exit: N * ceil(K / 2) blocks stay live
//   profile_sites realloc            grow_block: malloc(16) grown by realloc to 96 KiB, shrunk
//       in place to 64 KiB and kept; shrink_block: a 1 MiB block (calloc) shrunk to 100 bytes and kept; aligned_block:
//       memalign(4096, 5000) kept; each checked (contents, zeroes, alignment); inlined_block:
//       malloc(3000) kept, from a function inlined into its caller
//   profile_sites hold               keep_4k keeps 1 MiB, transient frees 1 MiB (free pages
//       waiting for the decay time), prints "ready", waits for stdin's end
//   profile_sites fork               keep_4k keeps 1 MiB, then fork(): the child frees it, keeps
//       2 MiB of its own and exits; other threads allocate all the while
// Built with -fno-builtin so that no malloc/free pair is optimised away.
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <vector>

#define NOINLINE __attribute__((noinline))

namespace {

void check(bool ok, const char* what) {
  if (!ok) {
    fprintf(stderr, "profile_sites: %s\n", what);
    exit(3);
  }
}

std::vector<void*> g_kept;

NOINLINE void* keep_4k() { return malloc(4096); }
NOINLINE void* keep_64() { return malloc(64); }
NOINLINE void transient() {
  void* p = malloc(1 << 20);
  check(p != nullptr, "transient: malloc failed");
  memset(p, 1, 4096);
  free(p);
}

int sites(long k4, long k64, long tr) {
  for (long i = 0; i < k4 * 256; ++i) g_kept.push_back(keep_4k());
  for (long i = 0; i < k64 * 16384; ++i) g_kept.push_back(keep_64());
  for (long i = 0; i < tr; ++i) transient();
  for (void* p : g_kept) check(p != nullptr, "malloc failed");
  return 0;
}

struct ThreadArgs {
  long k, size;
};

NOINLINE void* thread_alloc(long size) { return malloc(static_cast<size_t>(size)); }

void* thread_main(void* arg) {
  const ThreadArgs* a = static_cast<const ThreadArgs*>(arg);
  std::vector<void*> mine;
  for (long i = 0; i < a->k; ++i) mine.push_back(thread_alloc(a->size));
  for (long i = 1; i < a->k; i += 2) free(mine[static_cast<size_t>(i)]);
  static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
  pthread_mutex_lock(&lock);
  for (long i = 0; i < a->k; i += 2) g_kept.push_back(mine[static_cast<size_t>(i)]);
  pthread_mutex_unlock(&lock);
  return nullptr;
}

int threads(long n, long k, long size) {
  std::vector<pthread_t> t(static_cast<size_t>(n));
  ThreadArgs a{k, size};
  for (pthread_t& th : t) check(pthread_create(&th, nullptr, thread_main, &a) == 0, "pthread_create");
  for (pthread_t& th : t) pthread_join(th, nullptr);
  return 0;
}

NOINLINE void* grow_block() {
  char* p = static_cast<char*>(malloc(16));
  memset(p, 'g', 16);
  for (size_t n = 32; n <= 65536; n *= 2) {
    p = static_cast<char*>(realloc(p, n));
    check(p != nullptr && p[0] == 'g' && p[15] == 'g', "grow_block: realloc lost the contents");
    memset(p, 'g', n);
  }
  // Beyond the slab limit a realloc resizes in place where it can: up to 96 KiB and back down
  // to 64 KiB (the shrink gives its tail pages back in place), the live size still 64 KiB.
  p = static_cast<char*>(realloc(p, 98304));
  check(p != nullptr && p[0] == 'g' && p[65535] == 'g', "grow_block: realloc lost the contents");
  char* const at = p;
  p = static_cast<char*>(realloc(p, 65536));
  check(p == at && p[0] == 'g' && p[65535] == 'g', "grow_block: the shrink moved or lost the block");
  return p;
}

NOINLINE void* shrink_block() {
  char* p = static_cast<char*>(calloc(1 << 20, 1));
  for (size_t i = 0; i < (1 << 20); i += 4096) check(p[i] == 0, "shrink_block: calloc not zeroed");
  p[0] = 's';
  p = static_cast<char*>(realloc(p, 100));
  check(p != nullptr && p[0] == 's', "shrink_block: realloc lost the contents");
  return p;
}

NOINLINE void* aligned_block() {
  void* p = memalign(4096, 5000);
  check(p != nullptr && (reinterpret_cast<uintptr_t>(p) & 4095) == 0, "aligned_block: not aligned");
  return p;
}

// Inlined into reallocs(): its site is named after it, not after reallocs.
__attribute__((always_inline)) inline void* inlined_block() { return malloc(3000); }

int reallocs() {
  g_kept.push_back(inlined_block());
  g_kept.push_back(grow_block());
  g_kept.push_back(shrink_block());
  g_kept.push_back(aligned_block());
  return 0;
}

std::atomic<bool> g_stop{false};
void* churn(void*) {
  while (!g_stop.load()) free(malloc(100));
  return nullptr;
}

int forks() {
  for (int i = 0; i < 256; ++i) g_kept.push_back(keep_4k());
  pthread_t t[2];
  for (pthread_t& th : t) pthread_create(&th, nullptr, churn, nullptr);
  for (int round = 0; round < 20; ++round) {
    const pid_t pid = fork();
    check(pid >= 0, "fork failed");
    if (pid == 0) {
      for (void* p : g_kept) free(p);
      g_kept.clear();
      for (int i = 0; i < 512; ++i) g_kept.push_back(keep_4k());
      _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child failed");
  }
  g_stop = true;
  for (pthread_t& th : t) pthread_join(th, nullptr);
  return 0;
}

int hold() {
  for (int i = 0; i < 256; ++i) g_kept.push_back(keep_4k());
  transient();
  printf("ready\n");
  fflush(stdout);
  char buf[64];
  while (read(0, buf, sizeof buf) > 0) {
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  auto arg = [&](int i, long def) { return argc > i ? atol(argv[i]) : def; };
  const char* mode = argc > 1 ? argv[1] : "sites";
  if (strcmp(mode, "sites") == 0) return sites(arg(2, 64), arg(3, 16), arg(4, 1024));
  if (strcmp(mode, "threads") == 0) return threads(arg(2, 8), arg(3, 1000), arg(4, 200));
  if (strcmp(mode, "realloc") == 0) return reallocs();
  if (strcmp(mode, "fork") == 0) return forks();
  if (strcmp(mode, "hold") == 0) return hold();
  fprintf(stderr, "profile_sites: unknown mode %s\n", mode);
  return 2;
}
