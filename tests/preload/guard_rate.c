// memkit — how many allocations the guard mode samples (tests/preload/guard_rate.c N)
//
// Allocates and frees N blocks of 33 bytes and prints how many were guarded: a guarded block's
// usable size is its exact size (33), a heap block's its class's (48).
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char** argv) {
  const long n = argc > 1 ? atol(argv[1]) : 100000;
  long guarded = 0;
  for (long i = 0; i < n; ++i) {
    char* p = malloc(33);
    if (p == NULL) return 2;
    p[0] = (char)i;
    if (malloc_usable_size(p) == 33) ++guarded;
    free(p);
  }
  printf("%ld\n", guarded);
  return 0;
}
