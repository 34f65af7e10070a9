// check_continue at check=full: two writes after free into two blocks, each a distinct bug.
// Printing the first report symbolises its stacks; the symboliser's thousands of allocations
// must not go through the checked heap (they flushed the quarantine: b's pages went back and
// were reused, and the fault handler then made a reused range writable), so that exactly these
// two errors are reported: no false underflow of a symboliser block, no missed second write.
#include <stdlib.h>
#include "opaque.h"
int main(void) {
  char* a = opaque(malloc(24));
  char* b = opaque(malloc(40));
  free(a);
  free(b);
  a[3] = 1;  // bug 1
  char* c = opaque(malloc(100));
  b[5] = 2;  // bug 2
  free(c);
  return 0;
}
