// heap-use-after-free in a thread: a worker writes to a block main freed.
#include <pthread.h>
#include <cstdlib>
#include <cstring>
#include "opaque.h"
static char* shared;
static void* worker(void*) {
  shared[4] = 'y';  // the bug (main freed it)
  return nullptr;
}
int main() {
  shared = static_cast<char*>(opaque(std::malloc(64)));
  std::memset(shared, 0, 64);
  std::free(shared);
  pthread_t t;
  pthread_create(&t, nullptr, worker, nullptr);
  pthread_join(t, nullptr);
  return 0;
}
