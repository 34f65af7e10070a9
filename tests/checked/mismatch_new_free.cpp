// alloc-dealloc-mismatch: operator new, then free.
#include <cstdlib>
#include "opaque.h"
int main() {
  int* p = static_cast<int*>(opaque(new int(7)));
  std::free(p);  // the bug
  return 0;
}
