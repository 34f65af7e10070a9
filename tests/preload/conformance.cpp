// memkit — conformance of the replaced malloc entry points (tests/preload/conformance.cpp)
//
// An ordinary program that calls malloc, free, ..., operator new/delete under their standard
// names. tests/preload/run.sh runs it twice: with LD_PRELOAD=libmemkit.so, and linked
// statically with libmemkit_malloc.a (MEMKIT_STATIC_LINK). It first proves that memkit serves
// the calls (mk_malloc_usable_size accepts a block from malloc; it aborts on any other
// pointer; under the checked library, MEMKIT_CHECKED, its memkit_checked_mode symbol is there),
// then checks every entry point and edge case of the malloc issue. Prints one line per
// failed check and "conformance: N checks, M failed"; exits 0 only if none failed.
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <atomic>
#include <new>
#include <string>
#include <thread>
#include <vector>

#ifdef MEMKIT_STATIC_LINK
#include "memkit/memkit.h"
#endif

namespace {

std::atomic<int> checks{0};
std::atomic<int> failed{0};

#define CHECK(cond)                                                     \
  do {                                                                  \
    ++checks;                                                           \
    if (!(cond)) {                                                      \
      ++failed;                                                         \
      fprintf(stderr, "FAILED %s:%d: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                   \
  } while (0)

bool aligned(const void* p, size_t a) { return (reinterpret_cast<uintptr_t>(p) & (a - 1)) == 0; }

// Volatile sizes keep the compiler from reasoning about (or folding away) the calls.
volatile size_t g_huge = SIZE_MAX - 4096;
volatile size_t g_ptrdiff_max = static_cast<size_t>(PTRDIFF_MAX) + 1;

size_t (*memkit_usable_size())(const void*) {
#ifdef MEMKIT_STATIC_LINK
  return mk_malloc_usable_size;
#else
  return reinterpret_cast<size_t (*)(const void*)>(dlsym(RTLD_DEFAULT, "mk_malloc_usable_size"));
#endif
}

void check_served_by_memkit() {
#ifdef MEMKIT_CHECKED
  // Under libmemkit-checked.so (tests/checked/run.sh): its blocks are not kmalloc's, so the
  // probe is the checked library's own symbol.
  CHECK(dlsym(RTLD_DEFAULT, "memkit_checked_mode") != nullptr);
  return;
#endif
  size_t (*usable)(const void*) = memkit_usable_size();
  CHECK(usable != nullptr);
  if (usable == nullptr) return;
  void* p = malloc(100);
  CHECK(usable(p) == malloc_usable_size(p));  // memkit would abort on a glibc block
  free(p);
  int* q = new int[10];
  CHECK(usable(q) >= 10 * sizeof(int));
  delete[] q;
}

void check_malloc_free() {
  void* a = malloc(0);
  void* b = malloc(0);
  CHECK(a != nullptr && b != nullptr && a != b);  // unique pointers
  free(a);
  free(b);
  free(nullptr);
  for (size_t n : {size_t{1}, size_t{7}, size_t{8}, size_t{24}, size_t{100}, size_t{1000},
                   size_t{5000}, size_t{40000}, size_t{1} << 20, size_t{10} << 20}) {
    char* p = static_cast<char*>(malloc(n));
    CHECK(p != nullptr);
    CHECK(aligned(p, 16));
    const size_t usable = malloc_usable_size(p);
    CHECK(usable >= n);
    memset(p, 0xab, usable);  // all of it writable
    free(p);
  }
  errno = 0;
  CHECK(malloc(g_huge) == nullptr && errno == ENOMEM);
  errno = 0;
  CHECK(malloc(g_ptrdiff_max) == nullptr && errno == ENOMEM);
}

void check_calloc() {
  unsigned char* p = static_cast<unsigned char*>(calloc(1000, 3));
  CHECK(p != nullptr);
  bool zero = true;
  for (size_t i = 0; i < 3000; ++i) zero = zero && p[i] == 0;
  CHECK(zero);
  memset(p, 0xff, 3000);
  free(p);
  p = static_cast<unsigned char*>(calloc(1000, 3));  // likely the same block: zeroed again
  zero = true;
  for (size_t i = 0; i < 3000; ++i) zero = zero && p[i] == 0;
  CHECK(zero);
  free(p);
  errno = 0;
  CHECK(calloc(g_huge, 16) == nullptr && errno == ENOMEM);  // n * size overflows
  void* z = calloc(0, 0);
  CHECK(z != nullptr);
  free(z);
}

void check_realloc() {
  char* p = static_cast<char*>(realloc(nullptr, 10));  // = malloc
  CHECK(p != nullptr);
  strcpy(p, "memkit");
  p = static_cast<char*>(realloc(p, 100000));
  CHECK(p != nullptr && strcmp(p, "memkit") == 0);
  p = static_cast<char*>(realloc(p, 20));
  CHECK(p != nullptr && strcmp(p, "memkit") == 0 && aligned(p, 16));
  // Growing within the usable size stays in place.
  const size_t usable = malloc_usable_size(p);
  CHECK(realloc(p, usable) == p);
  errno = 0;
  CHECK(realloc(p, g_huge) == nullptr && errno == ENOMEM);  // p untouched
  CHECK(strcmp(p, "memkit") == 0);
  CHECK(realloc(p, 0) == nullptr);  // frees (glibc)
  void* r = reallocarray(nullptr, 10, 10);
  CHECK(r != nullptr);
  errno = 0;
  CHECK(reallocarray(r, g_huge, 16) == nullptr && errno == ENOMEM);
  free(r);
}

void check_aligned() {
  for (size_t a = 1; a <= (size_t{64} << 20); a <<= 1) {
    void* p = aligned_alloc(a, 100);
    CHECK(p != nullptr && aligned(p, a) && aligned(p, 16));
    if (p != nullptr) memset(p, 1, malloc_usable_size(p));
    free(p);
    void* q = nullptr;
    const int rc = posix_memalign(&q, a < sizeof(void*) ? sizeof(void*) : a, 3 * a + 1);
    CHECK(rc == 0 && q != nullptr && aligned(q, a));
    if (q != nullptr) CHECK(malloc_usable_size(q) >= 3 * a + 1);
    free(q);
    void* m = memalign(a, 10);
    CHECK(m != nullptr && aligned(m, a));
    free(m);
  }
  errno = 0;
  CHECK(aligned_alloc(24, 100) == nullptr && errno == EINVAL);
  void* q = reinterpret_cast<void*>(1);
  CHECK(posix_memalign(&q, 24, 100) == EINVAL && q == reinterpret_cast<void*>(1));
  CHECK(posix_memalign(&q, 4, 100) == EINVAL);  // not a multiple of sizeof(void *)
  CHECK(posix_memalign(&q, 64, g_huge) == ENOMEM);
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  void* v = valloc(10);
  CHECK(v != nullptr && aligned(v, page));
  free(v);
  void* pv = pvalloc(10);
  CHECK(pv != nullptr && aligned(pv, page) && malloc_usable_size(pv) >= page);
  free(pv);
  void* m = memalign(24, 10);  // glibc rounds the alignment up to 32
  CHECK(m != nullptr && aligned(m, 32));
  free(m);
}

void check_misc() {
  CHECK(mallopt(M_MMAP_THRESHOLD, 1 << 20) == 1);
  std::vector<void*> blocks;
  for (int i = 0; i < 20000; ++i) blocks.push_back(malloc(200));
  for (void* p : blocks) free(p);
  blocks.clear();
  void* big = malloc(64 << 20);
  memset(big, 1, 64 << 20);
  free(big);
  const struct mallinfo2 mi = mallinfo2();
  CHECK(mi.arena > 0);
  CHECK(malloc_trim(0) == 1);  // empty slabs and dirty pages went back
}

struct alignas(256) Wide {
  char bytes[256];
};

int g_handler_calls = 0;
void handler() {
  ++g_handler_calls;
  std::set_new_handler(nullptr);  // the next failure throws
}

void check_new_delete() {
  int* one = new int(7);
  CHECK(*one == 7);
  delete one;
  int* many = new int[1000]();
  CHECK(many[999] == 0);
  delete[] many;
  Wide* w = new Wide;
  CHECK(aligned(w, 256));
  delete w;
  Wide* ws = new Wide[3];
  CHECK(aligned(ws, 256));
  delete[] ws;
  void* nt = ::operator new(g_huge, std::nothrow);
  CHECK(nt == nullptr);
  void* nta = ::operator new(g_huge, std::align_val_t{64}, std::nothrow);
  CHECK(nta == nullptr);
  void* sized = ::operator new(48);
  ::operator delete(sized, 48);
  void* al = ::operator new(100, std::align_val_t{4096});
  CHECK(aligned(al, 4096));
  ::operator delete(al, 100, std::align_val_t{4096});
  bool threw = false;
  std::set_new_handler(handler);
  try {
    void* never = ::operator new(g_huge);
    ::operator delete(never);
  } catch (const std::bad_alloc&) {
    threw = true;
  }
  CHECK(threw && g_handler_calls == 1);  // the handler ran once, then bad_alloc

  // std::bad_alloc comes from libstdc++ through memkit's weak reference (the libraries link
  // libc only): a new-expression the program catches, array and aligned forms.
  volatile size_t big = size_t{1} << 60;
  threw = false;
  try {
    char* volatile never = new char[big];  // volatile: the new-expression may not be elided
    delete[] never;
  } catch (const std::bad_alloc&) {
    threw = true;
  }
  CHECK(threw);
  threw = false;
  try {
    void* never = ::operator new[](big, std::align_val_t{64});
    ::operator delete[](never, std::align_val_t{64});
  } catch (const std::bad_alloc&) {
    threw = true;
  }
  CHECK(threw);
  // A handler that gives up by throwing: its exception reaches the caller of the throwing
  // forms through memkit's frames (built without exceptions), and means nullptr for the
  // nothrow forms.
  struct GaveUp {};
  std::set_new_handler([] { throw GaveUp{}; });
  threw = false;
  try {
    void* never = ::operator new(big);
    ::operator delete(never);
  } catch (const GaveUp&) {
    threw = true;
  }
  CHECK(threw);
  CHECK(::operator new(big, std::nothrow) == nullptr);
  CHECK(::operator new[](big, std::align_val_t{64}, std::nothrow) == nullptr);
  std::set_new_handler(nullptr);
}

void check_threads() {
  // Blocks allocated on one thread and freed on another, and a thread's blocks outliving it.
  std::vector<std::string*> handoff(4000);
  std::thread producer([&] {
    for (size_t i = 0; i < handoff.size(); ++i) handoff[i] = new std::string(i % 300, 'x');
  });
  producer.join();
  std::vector<std::thread> consumers;
  for (int t = 0; t < 4; ++t)
    consumers.emplace_back([&, t] {
      for (size_t i = static_cast<size_t>(t); i < handoff.size(); i += 4) {
        CHECK(handoff[i]->size() == i % 300);
        delete handoff[i];
      }
    });
  for (std::thread& t : consumers) t.join();
}

}  // namespace

int main() {
  check_served_by_memkit();
  check_malloc_free();
  check_calloc();
  check_realloc();
  check_aligned();
  check_misc();
  check_new_delete();
  check_threads();
  printf("conformance: %d checks, %d failed\n", checks.load(), failed.load());
  return failed == 0 ? 0 : 1;
}
