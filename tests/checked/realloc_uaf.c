// heap-use-after-free through realloc: the old pointer used after realloc moved the block.
#include <stdlib.h>
#include <string.h>
#include "opaque.h"
int main(void) {
  char* p = opaque(malloc(16));
  memset(p, 0, 16);
  char* q = opaque(realloc(p, 100000));  // moves
  p[0] = 'y';  // the bug: p was freed by realloc
  free(q);
  return 0;
}
