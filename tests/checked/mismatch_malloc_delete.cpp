// alloc-dealloc-mismatch: malloc, then delete.
#include <cstdlib>
#include "opaque.h"
int main() {
  int* p = static_cast<int*>(opaque(std::malloc(sizeof(int))));
  delete p;  // the bug
  return 0;
}
