/* memkit — N malloc/free pairs of one size (bench/malloc_pair.c), for instruction counts under
 * callgrind with any allocator in LD_PRELOAD (bench/pair_instructions.sh).
 *
 *   malloc_pair N SIZE
 *
 * The block is written once and its address kept in a volatile, so the compiler can neither
 * drop the pair nor the write. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: malloc_pair N SIZE\n");
    return 2;
  }
  const long n = atol(argv[1]);
  const size_t size = (size_t)atol(argv[2]);
  void* volatile sink = NULL;
  for (long i = 0; i < n; ++i) {
    char* p = malloc(size);
    if (p == NULL) return 1;
    p[0] = (char)i;
    sink = p;
    free(p);
  }
  (void)sink;
  return 0;
}
