// Clean: 10,000 blocks reachable from a global at exit, with the runtimes' own blocks (the
// stdout buffer, libstdc++'s exception emergency pool), a block that only a thread's stack
// points to, and one that only main's frame points to (exit is called from inside main). At
// check=full each block is a mapping of its own: the roots after them in /proc/self/maps (the
// shared libraries' data, the stacks) must still be scanned.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "opaque.h"

static void* g_blocks[10000];
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cond = PTHREAD_COND_INITIALIZER;
static int g_ready = 0;

static void* hold(void*) {
  void* volatile mine = opaque(malloc(48));  // only this thread's stack points to it
  pthread_mutex_lock(&g_lock);
  g_ready = 1;
  pthread_cond_signal(&g_cond);
  pthread_mutex_unlock(&g_lock);
  for (;;) pause();  // still running at exit
  return mine;
}

int main() {
  for (size_t i = 0; i < sizeof g_blocks / sizeof g_blocks[0]; ++i) g_blocks[i] = malloc(16 + i % 64);
  pthread_t t;
  pthread_create(&t, nullptr, hold, nullptr);
  pthread_mutex_lock(&g_lock);
  while (!g_ready) pthread_cond_wait(&g_cond, &g_lock);
  pthread_mutex_unlock(&g_lock);
  void* volatile local = opaque(malloc(32));  // only main's frame points to it
  printf("%zu blocks\n", sizeof g_blocks / sizeof g_blocks[0]);  // the stdout buffer
  exit(local != nullptr ? 0 : 1);
}
