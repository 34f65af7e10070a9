// heap-buffer-overflow: memcpy reads one byte past a 100-byte block (full mode only: a read).
// The fault is inside the C library's vectorised memcpy; the report names the access's size
// from the faulting instruction and the program's line from the stack.
#include <stdlib.h>
#include <string.h>
#include "opaque.h"
int main(void) {
  char* src = opaque(malloc(100));
  char* dst = opaque(malloc(200));
  memset(src, 'x', 100);
  memcpy(dst, src, 101);  // the bug
  free(dst);
  free(src);
  return 0;
}
