// heap-buffer-underflow: a write one byte before a block.
#include <stdlib.h>
#include "opaque.h"
int main(void) {
  char* p = opaque(malloc(24));
  p[-1] = 'y';  // the bug
  free(p);
  return 0;
}
