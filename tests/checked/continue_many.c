// check_continue: the same double free ten times (one report) and one overflow (another).
#include <stdlib.h>
#include <string.h>
#include "opaque.h"
int main(void) {
  for (int i = 0; i < 10; ++i) {
    void* p = opaque(malloc(16));
    free(p);
    free(p);  // bug 1, reported once
  }
  char* q = opaque(malloc(8));
  memset(q, 0, 9);  // bug 2
  free(q);
  return 0;
}
