// heap-use-after-free: a write into a freed block.
#include <stdlib.h>
#include <string.h>
#include "opaque.h"
int main(void) {
  char* p = opaque(malloc(32));
  memset(p, 0, 32);
  free(p);
  p[8] = 'y';  // the bug
  return 0;
}
