// No report: at exit another thread still runs and holds the only pointer to a block in a
// register (r12), nowhere in memory. The leak scan must read the other threads' registers (it
// parks them in a signal handler, so that the kernel saves them on their stacks).
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include "opaque.h"

static atomic_int spinning;

static __attribute__((noinline)) void* make_block(void) {
  void* p = opaque(malloc(48));
  memset(p, 1, 48);
  return p;
}

static void* hold_in_register(void* arg) {
  (void)arg;
  __asm__ volatile("call make_block; mov %%rax, %%r12" : : : "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9",
                   "r10", "r11", "r12", "memory");
  scrub_stack();  // the dead frames of malloc and make_block held copies of the pointer
  __asm__ volatile("xor %%eax, %%eax; xor %%ecx, %%ecx; xor %%edx, %%edx; xor %%esi, %%esi; xor %%edi, %%edi"
                   : : : "rax", "rcx", "rdx", "rsi", "rdi");
  atomic_store(&spinning, 1);
  for (;;) __asm__ volatile("pause" : : : "memory");  // r12 is callee-saved: it stays there
  return 0;
}

int main(void) {
  pthread_t t;
  pthread_create(&t, 0, hold_in_register, 0);
  while (!atomic_load(&spinning)) {
  }
  return 0;  // exit with the thread still running
}
