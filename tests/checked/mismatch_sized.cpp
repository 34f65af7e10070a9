// alloc-dealloc-mismatch: sized delete given the wrong size (a base deleted as if derived...).
#include <new>
#include "opaque.h"
int main() {
  void* p = opaque(::operator new(24));
  ::operator delete(p, 32);  // the bug: the block has 24 bytes
  return 0;
}
