// A program with a known sequence of allocation calls, recorded by tests/trace/run.sh with
// `memkit run --trace` and checked event by event: two marker blocks (777001 and 777002 bytes)
// frame the sequence; a second thread allocates while the first waits, and the first frees
// that thread's block (a cross-thread free). Built with -fno-builtin: every call is made.
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>

#include <atomic>
#include <new>

namespace {

std::atomic<int> g_go{0}, g_done{0};
void* g_from_thread = nullptr;

void* worker(void*) {
  while (g_go.load() == 0) {
  }
  void* p = malloc(4242);
  void* q = malloc(4343);
  free(q);
  g_from_thread = p;
  g_done.store(1);
  return nullptr;
}

void use(void* p) { static_cast<volatile char*>(p)[0] = 1; }

}  // namespace

int main() {
  pthread_t t;
  if (pthread_create(&t, nullptr, worker, nullptr) != 0) return 1;
  void* begin = malloc(777001);
  free(begin);
  void* a = malloc(100);
  void* c = calloc(3, 40);
  void* r = realloc(nullptr, 10);
  r = realloc(r, 1000);
  r = realloc(r, 100000);
  void* pm = nullptr;
  if (posix_memalign(&pm, 64, 200) != 0) return 1;
  void* aa = aligned_alloc(4096, 8192);
  void* ma = memalign(128, 50);
  void* va = valloc(10);
  void* pv = pvalloc(5000);
  void* n1 = ::operator new(24);
  use(n1);
  ::operator delete(n1, 24);
  void* n2 = ::operator new[](48, std::nothrow);
  use(n2);
  ::operator delete[](n2);
  void* n3 = ::operator new(64, std::align_val_t(256));
  use(n3);
  ::operator delete(n3, std::align_val_t(256));
  for (void* p : {a, c, r, pm, aa, ma, va, pv}) use(p);
  free(a);
  free(c);
  free(r);
  free(pm);
  free(aa);
  free(ma);
  free(va);
  free(pv);
  free(nullptr);
  g_go.store(1);
  while (g_done.load() == 0) {
  }
  free(g_from_thread);
  void* end = malloc(777002);
  free(end);
  pthread_join(t, nullptr);
  return 0;
}
