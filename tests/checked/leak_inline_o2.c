// LEAK (direct) from an inlined helper, built at -O2 (a *_o2 program): make_copy is inlined into
// lose, and the allocation stack names both, the helper's line and its call site.
#include <stdlib.h>
#include <string.h>
#include "opaque.h"
static inline __attribute__((always_inline)) char* make_copy(const char* s, size_t n) {
  char* p = opaque(malloc(n));  // line 7: the allocation
  memcpy(p, s, n);
  return p;
}
static __attribute__((noinline)) void lose(void) {
  char* p = make_copy("leaked!", 8);  // line 12: the helper's call site
  opaque(p);
}
int main(void) {
  lose();
  scrub_stack();
  return 0;
}
