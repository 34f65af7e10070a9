// heap-use-after-free: a write into a block freed 2 MiB of frees ago. The quarantine
// (quarantine_bytes, 4 MiB by default, for all threads together) still holds it, so the write
// lands in the freed block's fill and is found, instead of in a block handed out again.
#include <stdlib.h>
#include <string.h>
#include "opaque.h"
int main(void) {
  char* p = opaque(malloc(32));
  memset(p, 0, 32);
  free(p);
  for (int i = 0; i < 2048; ++i) {  // 2 MiB of other blocks, freed
    char* q = opaque(malloc(1024));
    q[0] = (char)i;
    free(q);
  }
  p[8] = 'y';  // the bug
  return 0;
}
