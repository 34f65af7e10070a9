/* memkit — a double free under LD_PRELOAD=libmemkit.so (tests/preload/double_free.c), run by
 * tests/preload/run.sh: each mode frees a small block twice in one of the ways the issue lists
 * and must end in one line, `memkit: ERROR: double-free free 0x... cache kmalloc-N ...: the
 * object is already free (...)`, and abort (status 134). Exit 3 means nothing noticed and the
 * block was handed out twice.
 *
 *   double_free now       free(p); free(p)
 *   double_free between   free(p), 500 other frees, free(p)
 *   double_free thread    free(p) in another thread (which stays), free(p) here
 *   double_free realloc   free(p); realloc(p, 40)
 *   double_free none      the same blocks, each freed once: exit 0 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void* volatile g_block;
static volatile int g_freed;

static void* free_and_stay(void* arg) {
  (void)arg;
  free(g_block);
  g_freed = 1;
  for (;;) pause();
  return NULL;
}

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "now";
  char* p = malloc(48);
  if (p == NULL) return 1;
  memset(p, 'x', 48);
  if (strcmp(mode, "now") == 0) {
    free(p);
    free(p);
  } else if (strcmp(mode, "between") == 0) {
    void* others[500];
    for (int i = 0; i < 500; ++i) others[i] = malloc(48);
    free(p);
    for (int i = 0; i < 500; ++i) free(others[i]);
    free(p);
  } else if (strcmp(mode, "thread") == 0) {
    pthread_t t;
    g_block = p;
    if (pthread_create(&t, NULL, free_and_stay, NULL) != 0) return 1;
    while (!g_freed) usleep(1000);
    free(p);
  } else if (strcmp(mode, "realloc") == 0) {
    free(p);
    p = realloc(p, 40);
  } else if (strcmp(mode, "none") == 0) {
    free(p);
    return 0;
  } else {
    fprintf(stderr, "usage: double_free now|between|thread|realloc|none\n");
    return 2;
  }
  /* Not caught: two mallocs now hand out the same block. */
  char* a = malloc(48);
  char* b = malloc(48);
  printf("not detected (%p %p)\n", (void*)a, (void*)b);
  return 3;
}
