// heap-buffer-overflow in threads: four threads allocate and free, one overflows.
#include <pthread.h>
#include <cstdlib>
#include <cstring>
#include "opaque.h"
static void* worker(void* arg) {
  const long id = reinterpret_cast<long>(arg);
  for (int i = 0; i < 1000; ++i) {
    char* p = static_cast<char*>(opaque(std::malloc(48)));
    std::memset(p, 'a', 48);
    if (id == 2 && i == 500) p[48] = 'z';  // the bug
    std::free(p);
  }
  return nullptr;
}
int main() {
  pthread_t t[4];
  for (long i = 0; i < 4; ++i) pthread_create(&t[i], nullptr, worker, reinterpret_cast<void*>(i));
  for (pthread_t& x : t) pthread_join(x, nullptr);
  return 0;
}
