// invalid-free: a pointer into a global array (the report names the global, from the ELF symbol table).
#include <stdlib.h>
#include "opaque.h"
char g_table[64];
int main(void) {
  g_table[0] = 1;
  free(opaque(g_table + 8));  // the bug
  return g_table[0] - 1;
}
