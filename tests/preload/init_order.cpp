// memkit — allocation before main, in dlopen'ed code and after main (tests/preload/init_order.cpp)
//
// Run by tests/preload/run.sh under LD_PRELOAD=libmemkit.so, statically linked with
// libmemkit_malloc.a, and under glibc; the output must be the same each time. Allocates and
// frees in a constructor before main (priority 101, before most of the C++ runtime's own), in a
// static object's constructor and destructor, through dlopen / dlsym / dlerror (the loader's
// own allocations), in the constructor and destructor of a dlopen'ed library and across its
// boundary both ways, in threads with thread_local destructors, in atexit handlers and after
// main returns. With memkit loaded it also checks that memkit is the malloc in use.
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <map>
#include <string>
#include <thread>
#include <vector>

namespace {

char* g_early[64];  // from the constructor before main; freed by an atexit handler

__attribute__((constructor(101))) void early() {
  for (int i = 0; i < 64; ++i) {
    g_early[i] = static_cast<char*>(malloc(static_cast<size_t>(i) * 97 + 1));
    memset(g_early[i], 'e', static_cast<size_t>(i) * 97);
    g_early[i][i * 97] = '\0';
  }
}

struct Static {
  std::map<int, std::string>* table;
  Static() : table(new std::map<int, std::string>) {
    for (int i = 0; i < 500; ++i) (*table)[i] = std::string(static_cast<size_t>(i % 50), 's');
  }
  ~Static() {
    // After main: allocate and free some more before letting go of the table.
    std::vector<std::string> last(200, std::string(100, 'z'));
    size_t n = 0;
    for (auto& [k, v] : *table) n += v.size() + static_cast<size_t>(k);
    delete table;
    printf("static destructor: table of %zu chars freed, %zu strings made after main\n", n,
           last.size());
    fflush(stdout);
  }
};
Static g_static;

void at_exit_free_early() {
  size_t bytes = 0;
  for (char* p : g_early) {
    bytes += strlen(p);
    free(p);
  }
  char* again = static_cast<char*>(calloc(1000, 10));
  printf("atexit: freed %zu bytes from before main, calloc after main %s\n", bytes,
         again != nullptr && again[9999] == 0 ? "ok" : "FAILED");
  free(again);
  fflush(stdout);
}

thread_local std::vector<std::string> t_strings;

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: preload_init_order LIBRARY.so\n");
    return 2;
  }
  atexit(at_exit_free_early);
  printf("main: %zu chars from the constructor before main\n", strlen(g_early[63]));

  // memkit in use? (LD_PRELOAD or a static link: its own C API is then there too.)
  if (getenv("EXPECT_MEMKIT") != nullptr && dlsym(RTLD_DEFAULT, "mk_malloc") == nullptr) {
    fprintf(stderr, "memkit is not loaded\n");
    return 1;
  }

  // The loader allocates: a failing dlopen (dlerror's message), then the real one.
  if (dlopen("/nonexistent/libnothing.so", RTLD_NOW) != nullptr) return 1;
  const char* err = dlerror();
  printf("dlopen of a missing library: %s\n", err != nullptr ? "error reported" : "no error?");
  void* lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    fprintf(stderr, "dlopen %s: %s\n", argv[1], dlerror());
    return 1;
  }
  auto make = reinterpret_cast<char* (*)(int)>(dlsym(lib, "lib_make"));
  auto take = reinterpret_cast<size_t (*)(char*)>(dlsym(lib, "lib_take"));
  if (make == nullptr || take == nullptr) return 1;

  // Blocks across the boundary, on this thread and on others (thread_local destructors in the
  // library and here run at each thread's exit).
  size_t total = 0;
  std::vector<std::thread> threads;
  std::vector<size_t> per_thread(4);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      size_t sum = 0;
      for (int i = 1; i <= 300; ++i) {
        char* s = make(i + t);
        sum += strlen(s);
        free(s);  // allocated in the library, freed here
        char* mine = static_cast<char*>(malloc(static_cast<size_t>(i) + 1));
        memset(mine, 'm', static_cast<size_t>(i));
        mine[i] = '\0';
        sum += take(mine);  // allocated here, freed in the library
        t_strings.emplace_back(static_cast<size_t>(i), 't');
      }
      per_thread[static_cast<size_t>(t)] = sum;
    });
  for (std::thread& th : threads) th.join();
  for (size_t s : per_thread) total += s;
  printf("threads: %zu bytes passed across the library boundary\n", total);

  char* kept = make(1000);  // outlives the library
  if (dlclose(lib) != 0) return 1;
  printf("after dlclose: block of %zu bytes from the library still usable\n", strlen(kept));
  free(kept);
  printf("main returns\n");
  fflush(stdout);
  return 0;
}
