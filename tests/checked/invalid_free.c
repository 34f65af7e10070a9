// invalid-free: a pointer into the middle of a block.
#include <stdlib.h>
#include "opaque.h"
int main(void) {
  char* p = opaque(malloc(40));
  free(opaque(p + 8));  // the bug
  free(p);
  return 0;
}
