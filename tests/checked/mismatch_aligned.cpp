// alloc-dealloc-mismatch: aligned new released with the unaligned delete.
#include <new>
#include "opaque.h"
int main() {
  void* p = opaque(::operator new(64, std::align_val_t(64)));
  ::operator delete(p);  // the bug: wants operator delete(p, std::align_val_t(64))
  return 0;
}
