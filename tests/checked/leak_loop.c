// LEAK in a loop: 100 blocks from one line, reported as one group.
#include <stdlib.h>
#include "opaque.h"
static __attribute__((noinline)) void lose_many(void) {
  for (int i = 0; i < 100; ++i) {
    char* p = opaque(malloc(16));
    p[0] = (char)i;
  }
}
int main(void) {
  lose_many();
  scrub_stack();
  return 0;
}
