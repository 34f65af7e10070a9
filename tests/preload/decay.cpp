// memkit — memory goes back to the OS (tests/preload/decay.cpp), run by tests/preload/run.sh
// under LD_PRELOAD=libmemkit.so:
//
//   preload_decay idle  allocates 1 GiB of small objects (16-256 bytes, written), frees them
//                       all and sleeps: within a few decay times (decay_ms, 1 s by default) the
//                       background purger must have given the memory back, with no further
//                       call into malloc; the purger thread ("memkit-purge") must exist.
//   preload_decay trim  the same with MEMKIT_OPTIONS=decay_ms=-1 (never by itself): after the
//                       frees and a sleep RSS stays high; malloc_trim(0) returns 1 and gives
//                       it back.
//   preload_decay large-idle, large-trim
//                       the same with 6 large blocks (5..10 MiB, direct mappings, 45 MiB in all,
//                       within the cache of freed ones): after their frees they stay cached
//                       (committed) until the decay time, then the background purger unmaps
//                       them; with decay_ms=-1 they stay until malloc_trim(0).
//
// Prints the peak and idle RSS; exits 1 with a message if memory did not go back.
#include <dirent.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

namespace {

constexpr size_t kTotal = size_t{1} << 30;
constexpr size_t kMiB = size_t{1} << 20;

size_t rss_bytes() {
  FILE* f = fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long size = 0, resident = 0;
  if (fscanf(f, "%lu %lu", &size, &resident) != 2) resident = 0;
  fclose(f);
  return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

double now_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

void sleep_ms(long ms) {
  timespec ts{ms / 1000, (ms % 1000) * 1000000};
  nanosleep(&ts, nullptr);
}

// Whether a thread of this process is named name (reads /proc, no malloc of ours after the
// frees apart from what opendir needs).
bool have_thread(const char* name) {
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return false;
  bool found = false;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    char path[300], comm[32] = {};
    snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
    if (FILE* f = fopen(path, "r")) {
      if (fgets(comm, sizeof comm, f) != nullptr && strncmp(comm, name, strlen(name)) == 0)
        found = true;
      fclose(f);
    }
  }
  closedir(dir);
  return found;
}

int fail(const char* what, size_t peak, size_t now) {
  fprintf(stderr, "preload_decay: FAIL: %s (peak RSS %zu MiB, now %zu MiB)\n", what, peak / kMiB,
          now / kMiB);
  return 1;
}

// Large blocks (direct mappings): written, freed; then idle or malloc_trim as for small ones.
int large(bool trim) {
  constexpr int kBlocks = 6;
  void* blocks[kBlocks];
  const size_t base = rss_bytes();
  size_t bytes = 0;
  for (int i = 0; i < kBlocks; ++i) {
    const size_t size = (5 + i) * kMiB + 4096 * static_cast<size_t>(i);
    blocks[i] = malloc(size);
    if (blocks[i] == nullptr) return fail("malloc returned NULL", rss_bytes(), rss_bytes());
    memset(blocks[i], i + 1, size);
    bytes += size;
  }
  const size_t peak = rss_bytes();
  for (void* b : blocks) free(b);
  const size_t after_free = rss_bytes();
  printf("preload_decay large-%s: %d blocks, %zu MiB; RSS: %zu MiB at start, peak %zu MiB, %zu MiB "
         "right after the frees\n",
         trim ? "trim" : "idle", kBlocks, bytes / kMiB, base / kMiB, peak / kMiB, after_free / kMiB);
  if (peak < base + bytes) return fail("the peak is below the bytes allocated", peak, peak);
  // Cached, not unmapped, at the free: reuse costs no page faults.
  if (after_free < base + bytes / 2) return fail("the freed blocks were not kept for reuse", peak, after_free);
  const size_t goal = base + bytes / 8;
  if (trim) {
    sleep_ms(500);
    const size_t idle = rss_bytes();
    if (idle < base + bytes / 2)
      return fail("with decay_ms=-1 the cached blocks went back without malloc_trim", peak, idle);
    const int r = malloc_trim(0);
    const size_t trimmed = rss_bytes();
    printf("preload_decay large-trim: %zu MiB after 500 ms idle, malloc_trim -> %d, then %zu MiB\n",
           idle / kMiB, r, trimmed / kMiB);
    if (r != 1) return fail("malloc_trim did not return 1", peak, trimmed);
    if (trimmed > goal) return fail("malloc_trim did not give the cached blocks back", peak, trimmed);
    return 0;
  }
  const double t0 = now_ms();
  size_t idle = rss_bytes();
  while (idle > goal && now_ms() - t0 < 10000) {
    sleep_ms(50);
    idle = rss_bytes();
  }
  printf("preload_decay large-idle: %zu MiB after %.0f ms idle\n", idle / kMiB, now_ms() - t0);
  if (idle > goal) return fail("cached blocks did not go back while the program slept", peak, idle);
  if (!have_thread("memkit-purge")) return fail("no memkit-purge thread", peak, idle);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && strcmp(argv[1], "large-idle") == 0) return large(false);
  if (argc == 2 && strcmp(argv[1], "large-trim") == 0) return large(true);
  const bool trim = argc > 1 && strcmp(argv[1], "trim") == 0;
  if (argc != 2 || (!trim && strcmp(argv[1], "idle") != 0)) {
    fprintf(stderr, "usage: preload_decay idle|trim|large-idle|large-trim\n");
    return 2;
  }
  // The pointers live outside the heap, and go before the measurements.
  const size_t max_blocks = kTotal / 16;
  const size_t table_bytes = max_blocks * sizeof(void*);
  void** blocks = static_cast<void**>(
      mmap(nullptr, table_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (blocks == MAP_FAILED) return fail("mmap of the pointer table", 0, 0);

  const size_t base = rss_bytes();
  size_t n = 0, bytes = 0;
  unsigned x = 2463534242u;
  while (bytes < kTotal) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    const size_t size = 16 + (x % 241);  // 16..256
    char* p = static_cast<char*>(malloc(size));
    if (p == nullptr) return fail("malloc returned NULL", rss_bytes(), rss_bytes());
    memset(p, static_cast<int>(n), size);
    blocks[n++] = p;
    bytes += size;
  }
  const size_t peak = rss_bytes();
  for (size_t i = 0; i < n; ++i) free(blocks[i]);
  munmap(blocks, table_bytes);
  const size_t after_free = rss_bytes();
  printf("preload_decay %s: %zu objects, %zu MiB requested; RSS: %zu MiB at start, peak %zu MiB, "
         "%zu MiB right after the frees\n",
         argv[1], n, bytes / kMiB, base / kMiB, peak / kMiB, after_free / kMiB);
  if (peak < base + kTotal) return fail("the peak is below the bytes allocated", peak, peak);
  // Back to the OS means: at most 1/16 of the peak stays resident (code, the C library, memkit's
  // kept slabs and magazines).
  const size_t goal = peak / 16;

  if (trim) {
    sleep_ms(500);
    const size_t idle = rss_bytes();
    if (idle < peak / 2) return fail("with decay_ms=-1 memory went back without malloc_trim", peak, idle);
    const int r = malloc_trim(0);
    const size_t trimmed = rss_bytes();
    printf("preload_decay trim: %zu MiB after 500 ms idle, malloc_trim -> %d, then %zu MiB\n",
           idle / kMiB, r, trimmed / kMiB);
    if (r != 1) return fail("malloc_trim did not return 1", peak, trimmed);
    if (trimmed > goal) return fail("malloc_trim did not give the memory back", peak, trimmed);
    return 0;
  }

  // Idle: no call into malloc from here on, only reads of RSS, for up to 10 decay times.
  const double t0 = now_ms();
  size_t idle = rss_bytes();
  while (idle > goal && now_ms() - t0 < 10000) {
    sleep_ms(50);
    idle = rss_bytes();
  }
  printf("preload_decay idle: %zu MiB after %.0f ms idle\n", idle / kMiB, now_ms() - t0);
  if (idle > goal) return fail("memory did not go back while the program slept", peak, idle);
  if (!have_thread("memkit-purge")) return fail("no memkit-purge thread", peak, idle);
  return 0;
}
