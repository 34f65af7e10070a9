// LEAK (direct): the only pointer to a block is lost.
#include <stdlib.h>
#include <string.h>
#include "opaque.h"
static __attribute__((noinline)) void lose(void) {
  char* p = opaque(malloc(100));
  memset(p, 1, 100);
  p = 0;
}
int main(void) {
  lose();
  scrub_stack();
  return 0;
}
