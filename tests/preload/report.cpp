// memkit — a program with a known heap for the heap report (tests/preload/report.cpp), run by
// tests/preload/run.sh as `memkit run --json FILE -- preload_report`: 10000 blocks of 100 bytes
// (class 112), 4000 of them freed; one 1 MiB block kept; one 160 MiB block written and freed
// (a direct mapping larger than the cache of freed ones, direct_cache_mb = 128: unmapped at
// once); one 16 MiB block written and freed (cached, for reuse until the decay time). run.sh
// checks the report's figures against these.
#include <stdlib.h>
#include <string.h>

int main() {
  static void* blocks[10000];
  for (void*& b : blocks) {
    b = malloc(100);
    memset(b, 1, 100);
  }
  for (int i = 0; i < 4000; ++i) free(blocks[i * 2]);
  void* big = malloc(size_t{160} << 20);
  memset(big, 2, size_t{160} << 20);
  free(big);
  void* cached = malloc(size_t{16} << 20);
  memset(cached, 4, size_t{16} << 20);
  free(cached);
  void* kept = malloc(size_t{1} << 20);
  memset(kept, 3, size_t{1} << 20);
  return 0;  // 6000 small blocks and `kept` are live at exit, by design
}
