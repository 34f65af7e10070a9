// memkit — allocation failure as glibc has it (tests/preload/limits.cpp; run by limits.sh)
//
//   limits huge   impossible requests (64 TiB, 1 TiB, SIZE_MAX/2) through malloc, calloc, realloc,
//                 aligned_alloc, posix_memalign and operator new (new_handler, then bad_alloc,
//                 and the nothrow form): prints what each returned, to compare with glibc's run;
//                 then a large request the kernel grants (untouched), freed and trimmed, must
//                 leave the resident set where it was (the bookkeeping goes back with the block)
//   limits fill SIZE
//                 allocates SIZE-byte blocks until malloc fails; prints the MiB obtained
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <new>

namespace {

long rss_kib() {
  FILE* f = fopen("/proc/self/status", "r");
  if (f == nullptr) return -1;
  char line[256];
  long v = -1;
  while (fgets(line, sizeof line, f) != nullptr)
    if (strncmp(line, "VmRSS:", 6) == 0) sscanf(line + 6, "%ld", &v);
  fclose(f);
  return v;
}

void show(const char* what, size_t size, const void* p, int err) {
  printf("%-16s %20zu: %s", what, size, p != nullptr ? "pointer" : "NULL");
  if (p == nullptr) printf(" errno=%s", err == ENOMEM ? "ENOMEM" : strerror(err));
  printf("\n");
}

int g_handler_calls = 0;
void handler() {
  ++g_handler_calls;
  std::set_new_handler(nullptr);  // the next failure throws
}

int huge() {
  const size_t sizes[] = {size_t{1} << 46, size_t{1} << 40, SIZE_MAX / 2};
  for (const size_t n : sizes) {
    errno = 0;
    void* p = malloc(n);
    show("malloc", n, p, errno);
    free(p);
    errno = 0;
    p = calloc(1, n);
    show("calloc", n, p, errno);
    free(p);
    errno = 0;
    p = calloc(n / 4096, 4096);
    show("calloc(n/4096)", n, p, errno);
    free(p);
    void* q = malloc(64);
    errno = 0;
    p = realloc(q, n);
    show("realloc", n, p, errno);
    free(p != nullptr ? p : q);
    errno = 0;
    p = aligned_alloc(4096, n);
    show("aligned_alloc", n, p, errno);
    free(p);
    p = nullptr;
    const int rc = posix_memalign(&p, 1 << 21, n);
    show("posix_memalign", n, p, rc);
    free(p);
    p = ::operator new(n, std::nothrow);
    show("new(nothrow)", n, p, p == nullptr ? ENOMEM : 0);
    ::operator delete(p);
    g_handler_calls = 0;
    std::set_new_handler(handler);
    try {
      p = ::operator new(n);
      show("new", n, p, 0);
      ::operator delete(p);
    } catch (const std::bad_alloc&) {
      printf("%-16s %20zu: bad_alloc after %d new_handler call(s)\n", "new", n, g_handler_calls);
    }
    std::set_new_handler(nullptr);
  }
  // Granted (8 GiB, never touched), then freed and trimmed: nothing of it may stay resident.
  malloc_trim(0);
  const long before = rss_kib();
  const size_t big = size_t{8} << 30;
  void* p = malloc(big);
  if (p == nullptr) {
    printf("8 GiB: NULL (the kernel refused it)\n");
  } else {
    free(p);
    malloc_trim(0);
    const long after = rss_kib();
    // glibc's own figures move by a few pages; bookkeeping proportional to the block's size
    // would show here (memkit kept ~131 MiB after a 64 TiB one).
    printf("8 GiB freed and trimmed: resident set %s\n",
           after - before <= 1024 ? "back where it was" : "grew");
    if (after - before > 1024) fprintf(stderr, "resident set grew by %ld KiB\n", after - before);
  }
  return 0;
}

int fill(size_t size) {
  if (size < sizeof(void*)) size = sizeof(void*);
  size_t total = 0;
  void* head = nullptr;
  for (;;) {
    void** p = static_cast<void**>(malloc(size));
    if (p == nullptr) break;
    *p = head;  // touched: the pages are really committed
    head = p;
    total += size;
  }
  printf("%zu\n", total >> 20);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && strcmp(argv[1], "huge") == 0) return huge();
  if (argc >= 3 && strcmp(argv[1], "fill") == 0) return fill(strtoull(argv[2], nullptr, 10));
  fprintf(stderr, "usage: limits huge | limits fill SIZE\n");
  return 2;
}
