// memkit — fork() while threads allocate (tests/preload/fork.cpp), run by tests/preload/run.sh
// under LD_PRELOAD=libmemkit.so: two threads churn malloc/free/new/delete of many sizes while
// the main thread forks 1000 times; every child allocates and frees (taking the locks a churning
// thread may have held at the fork) and exits 0. A deadlock shows as the test's timeout; a
// child that fails or crashes as a non-zero status. Prints "fork: 1000 children ok".
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

int main(int argc, char** argv) {
  const int forks = argc > 1 ? atoi(argv[1]) : 1000;
  std::atomic<bool> stop{false};
  std::vector<std::thread> churn;
  for (int t = 0; t < 2; ++t)
    churn.emplace_back([&stop, t] {
      unsigned x = 12345u + static_cast<unsigned>(t);
      std::vector<void*> held(64, nullptr);
      while (!stop.load(std::memory_order_relaxed)) {
        x = x * 1103515245u + 12345u;
        const size_t slot = (x >> 8) % held.size();
        free(held[slot]);
        const size_t size = (x >> 12) % 4 == 0 ? (x >> 4) % 200000 : (x >> 4) % 512;
        held[slot] = malloc(size);
        if (held[slot] != nullptr) memset(held[slot], 1, size < 64 ? size : 64);
        std::string s(static_cast<size_t>((x >> 3) % 100), 'y');
      }
      for (void* p : held) free(p);
    });
  int ok = 0;
  for (int i = 0; i < forks; ++i) {
    const pid_t pid = fork();
    if (pid < 0) {
      perror("fork");
      break;
    }
    if (pid == 0) {
      // The child: one thread, every lock must be free.
      std::vector<void*> blocks;
      for (size_t n = 1; n < 300000; n = n * 3 + 1) blocks.push_back(malloc(n));
      std::string* s = new std::string(1000, 'z');
      for (void* p : blocks) free(p);
      delete s;
      _exit(0);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
      ++ok;
    } else {
      fprintf(stderr, "fork: child %d failed (status 0x%x)\n", i, status);
    }
  }
  stop = true;
  for (std::thread& t : churn) t.join();
  printf("fork: %d children ok\n", ok);
  return ok == forks ? 0 : 1;
}
