// heap-buffer-overflow after realloc shrank the block: the old size is used.
#include <stdlib.h>
#include <string.h>
#include "opaque.h"
int main(void) {
  char* p = opaque(malloc(64));
  p = opaque(realloc(p, 20));
  memset(p, 'x', 21);  // the bug: 20 bytes now
  free(p);
  return 0;
}
