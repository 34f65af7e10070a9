// alloc-dealloc-mismatch: new[] released with delete.
#include "opaque.h"
int main() {
  int* items = static_cast<int*>(opaque(new int[4]));
  items[0] = 1;
  delete items;  // the bug: new[] wants delete[]
  return 0;
}
