// heap-use-after-free (full mode only: a read), though the program installed its own SIGSEGV
// handler first: memkit's stays first and the program's is called for the faults that are not
// memkit's. With an argument, the program makes such a fault (a write to a read-only page) and
// its own handler must run (status 3). sigaction must report the program's handler back.
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "opaque.h"

static void handler(int sig) {
  (void)sig;
  static const char msg[] = "own handler ran\n";
  if (write(2, msg, sizeof msg - 1) < 0) _exit(5);
  _exit(3);
}

int main(int argc, char** argv) {
  (void)argv;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = handler;
  sigaction(SIGSEGV, &sa, 0);
  struct sigaction now;
  if (sigaction(SIGSEGV, 0, &now) != 0 || now.sa_handler != handler) return 4;
  if (argc > 1) {
    char* page = opaque(mmap(0, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    page[0] = 1;  // not a heap bug: the program's handler
    return 0;
  }
  char* p = opaque(malloc(32));
  memset(p, 1, 32);
  free(p);
  volatile char c = p[8];  // the bug
  (void)c;
  return 0;
}
