// double-free through an inlined destructor, built at -O2 (a *_o2 program): ~Holder is inlined
// into main, so both deletes run at main's pcs; the stacks show the inlined frame on a line of its own.
#include "opaque.h"
struct Holder {
  int* p;
  explicit Holder(int* q) : p(q) {}
  __attribute__((always_inline)) ~Holder() { delete static_cast<int*>(opaque(p)); }  // line 7: both deletes
};
int main() {
  int* p = static_cast<int*>(opaque(new int(42)));
  { Holder a(p); }  // line 11: the first delete
  { Holder b(p); }  // line 12: the bug
  return 0;
}
