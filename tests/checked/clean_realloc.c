// Clean: realloc growing and shrinking, calloc, reallocarray, strdup, realloc(NULL) and
// realloc(p, 0).
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
int main(void) {
  char* p = NULL;
  for (size_t n = 1; n < 200000; n = n * 3 / 2 + 1) {
    p = realloc(p, n);
    if (!p) return 1;
    memset(p, 'a', n);
  }
  p = realloc(p, 200000);
  if (!p) return 4;
  memset(p, 'a', 200000);  // the grown part is indeterminate until written
  for (size_t n = 200000; n > 1; n /= 3) {
    p = realloc(p, n);
    if (!p || p[n - 1] != 'a') return 2;
  }
  free(p);
  int* z = calloc(100, sizeof(int));
  for (int i = 0; i < 100; ++i)
    if (z[i] != 0) return 3;
  z = reallocarray(z, 200, sizeof(int));
  free(z);
  char* d = strdup("hello");
  free(d);
  void* q = realloc(NULL, 10);
  q = realloc(q, 0);  // frees (glibc)
  (void)q;
  return 0;
}
