// invalid-free: a pointer that malloc never handed out (a local array).
#include <stdlib.h>
#include "opaque.h"
int main(void) {
  char local[32];
  local[0] = 0;
  free(opaque(local));  // the bug
  return local[0];
}
