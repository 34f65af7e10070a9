// heap-buffer-overflow past an over-aligned block (aligned_alloc(64, 100)).
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "opaque.h"
int main(void) {
  char* p = opaque(aligned_alloc(64, 128));
  if (((uintptr_t)p & 63) != 0) return 3;  // the alignment holds under the checker too
  memset(p, 0, 128);
  p[128] = 1;  // the bug
  free(p);
  return 0;
}
