// heap-buffer-overflow: a write one byte past a 10-byte block.
#include <stdlib.h>
#include <string.h>
#include "opaque.h"
int main(void) {
  char* p = opaque(malloc(10));
  memset(p, 'x', 10);
  p[10] = 'y';  // the bug
  free(p);
  return 0;
}
