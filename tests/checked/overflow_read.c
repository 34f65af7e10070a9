// heap-buffer-overflow: a read one byte past a 10-byte block (full mode only: reads do not
// disturb canaries).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "opaque.h"
int main(void) {
  char* p = opaque(malloc(10));
  memset(p, 'x', 10);
  volatile char c = p[10];  // the bug
  (void)c;
  free(p);
  return 0;
}
