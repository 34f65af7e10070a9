// invalid-free: a pointer to the start of a page whose page before is not mapped. At check=fast
// a block's record sits in the 96 bytes before it, so free must make sure a pointer is one of
// its blocks before it reads there: here that read would fault.
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include "opaque.h"
int main(void) {
  const long page = sysconf(_SC_PAGESIZE);
  char* two = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (two == MAP_FAILED) return 2;
  munmap(two, page);               // nothing mapped right before `two + page`
  free(opaque(two + page));        // the bug
  return 0;
}
