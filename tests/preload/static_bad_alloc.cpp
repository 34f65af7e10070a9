// memkit — std::bad_alloc from libmemkit_malloc.a with libstdc++ linked statically
// (tests/preload/static_bad_alloc.cpp)
//
// operator new reaches libstdc++'s std::__throw_bad_alloc through a weak reference, which by
// itself does not pull that member out of libstdc++.a; memkit::malloc's link interface asks
// for it by name in C++ links (CMakeLists.txt). Built with -static-libstdc++ and the static
// drop-in malloc; exits 0 only if the failing new-expression throws a bad_alloc it catches.
#include <stdio.h>

#include <new>

int main() {
  volatile size_t huge = size_t{1} << 60;
  try {
    char* volatile never = new char[huge];  // volatile: the new-expression may not be elided
    delete[] never;
  } catch (const std::bad_alloc&) {
    puts("bad_alloc caught (libstdc++ linked statically)");
    return 0;
  }
  puts("new char[1 << 60] returned");
  return 1;
}
