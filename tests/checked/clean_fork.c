// Clean: a threaded program forks; parent and child both allocate and free and exit normally.
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
static void* churn(void* arg) {
  (void)arg;
  for (int i = 0; i < 20000; ++i) free(malloc((size_t)(i % 300) + 1));
  return NULL;
}
int main(void) {
  pthread_t t;
  pthread_create(&t, NULL, churn, NULL);
  for (int k = 0; k < 5; ++k) {
    pid_t pid = fork();
    if (pid == 0) {
      char* p = malloc(100);
      memset(p, 0, 100);
      free(p);
      exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return 1;
  }
  pthread_join(t, NULL);
  return 0;
}
