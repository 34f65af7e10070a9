// double-free.
#include <stdlib.h>
#include "opaque.h"
int main(void) {
  void* p = opaque(malloc(40));
  free(p);
  free(p);  // the bug
  return 0;
}
