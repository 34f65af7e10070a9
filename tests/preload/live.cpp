// A program for tests/test_live.sh: allocates what it is told, and waits.
//
// Reads commands from stdin, one a line, and answers each with one line on stdout once done:
//   a COUNT SIZE   malloc COUNT blocks of SIZE bytes (each touched), kept    -> "ok"
//   f              free every block kept                                     -> "ok"
//   p              its PID                                                   -> "PID"
// and exits at end of input.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main() {
  void** blocks = nullptr;
  size_t count = 0, capacity = 0;
  char line[256];
  setvbuf(stdout, nullptr, _IOLBF, 0);
  while (fgets(line, sizeof line, stdin) != nullptr) {
    unsigned long n = 0, size = 0;
    if (sscanf(line, "a %lu %lu", &n, &size) == 2) {
      for (unsigned long i = 0; i < n; ++i) {
        if (count == capacity) {
          capacity = capacity ? 2 * capacity : 1024;
          blocks = static_cast<void**>(realloc(blocks, capacity * sizeof *blocks));
          if (blocks == nullptr) return 2;
        }
        void* p = malloc(size);
        if (p == nullptr) return 2;
        memset(p, 1, size);
        blocks[count++] = p;
      }
      printf("ok\n");
    } else if (line[0] == 'f') {
      for (size_t i = 0; i < count; ++i) free(blocks[i]);
      count = 0;
      printf("ok\n");
    } else if (line[0] == 'p') {
      printf("%d\n", static_cast<int>(getpid()));
    } else {
      printf("?\n");
    }
  }
  return 0;
}
