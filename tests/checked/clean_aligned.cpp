// Clean: every aligned allocation form, written to the last byte and freed the matching way.
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <new>
struct alignas(64) Line {
  char bytes[64];
};
int main() {
  for (size_t align = 16; align <= 8192; align *= 2) {
    void* p = aligned_alloc(align, align * 3);
    if (reinterpret_cast<uintptr_t>(p) % align) return 1;
    memset(p, 1, align * 3);
    free(p);
    void* q = nullptr;
    if (posix_memalign(&q, align, 100) != 0 || reinterpret_cast<uintptr_t>(q) % align) return 2;
    memset(q, 2, 100);
    free(q);
    void* m = memalign(align, 7);
    memset(m, 3, 7);
    free(m);
  }
  Line* one = new Line;
  memset(one, 0, sizeof *one);
  delete one;
  Line* many = new Line[5];
  memset(many, 0, sizeof(Line) * 5);
  delete[] many;
  void* v = valloc(100);
  memset(v, 0, 100);
  free(v);
  return 0;
}
