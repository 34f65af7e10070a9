// memkit example: ordinary STL containers on memkit (memkit/allocator.hpp).
//
// Allocator<T, Resource> puts a std:: container on any memkit resource (here an arena for a
// map built once and thrown away whole); KmallocAllocator<T> is a stateless drop-in for
// std::allocator<T> that calls mk_kmalloc / mk_kfree.
#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <memkit/allocator.hpp>
#include <memkit/memkit.h>

int main() {
  // A std::vector on kmalloc: no state, same size as with std::allocator.
  std::vector<int, memkit::KmallocAllocator<int>> primes;
  for (int n = 2; primes.size() < 1000; ++n) {
    bool prime = true;
    for (int p : primes) {
      if (p * p > n) break;
      if (n % p == 0) {
        prime = false;
        break;
      }
    }
    if (prime) primes.push_back(n);
  }
  std::printf("1000th prime: %d (kmalloc block of %zu bytes)\n", primes.back(),
              mk_ksize(primes.data()));

  // A std::map on an arena: one release() frees every node.
  memkit::MonotonicArena arena;
  using Entry = std::pair<const int, std::string>;
  std::map<int, std::string, std::less<>, memkit::Allocator<Entry, memkit::MonotonicArena>>
      names(&arena);
  for (int i = 0; i < 1000; ++i) names.emplace(i, "entry-" + std::to_string(i));
  std::printf("%zu entries, names[500] = %s, arena: %zu blocks\n", names.size(),
              names.at(500).c_str(), arena.blocks());
  const bool ok = primes.back() == 7919 && names.at(500) == "entry-500";
  names.clear();
  arena.release();
  return ok ? 0 : 1;
}
