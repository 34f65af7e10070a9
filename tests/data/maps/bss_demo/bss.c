#include <stdlib.h>
#include <string.h>
#include <unistd.h>
int initialized[1024] = {1, 2, 3};
char big_bss[1 << 20];
int main(void) {
  memset(big_bss, 1, sizeof big_bss / 2);
  char* p = malloc(200000);
  memset(p, 2, 200000);
  char* q = malloc(100);
  q[0] = 1;
  initialized[5] = 7;
  sleep(60);
  return p[7] + q[0];
}
