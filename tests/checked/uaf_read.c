// heap-use-after-free: a read from a freed block (full mode only).
#include <stdlib.h>
#include <string.h>
#include "opaque.h"
int main(void) {
  char* p = opaque(malloc(32));
  memset(p, 1, 32);
  free(p);
  volatile char c = p[8];  // the bug
  (void)c;
  return 0;
}
