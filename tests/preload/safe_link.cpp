// memkit — a write after free cannot steer malloc (tests/preload/safe_link.cpp), run by
// tests/preload/run.sh under LD_PRELOAD=libmemkit.so: frees every other one of 32768 blocks (so
// most go back onto their slabs' free lists: 16384 frees of 64 bytes are more than a thread's
// magazines and the depot keep), overwrites every word of each freed block but its free key
// (the first) with an address of the attacker's choosing (the classic free-list poisoning):
// the live block next to it, a valid object of the same slab, so only the links' encoding
// (safe-linking) can tell, and allocates again. The decoded link is then no object of the slab: the expected outcome is
// `memkit: ERROR: slab-corruption ...` and abort. Exit 0 with "steered" means an allocation
// returned a block that is still in use; exit 3 means nothing noticed at all.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

namespace {

int by_address(const void* a, const void* b) {
  const uintptr_t x = *static_cast<const uintptr_t*>(a);
  const uintptr_t y = *static_cast<const uintptr_t*>(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

}  // namespace

int main() {
  constexpr int kBlocks = 32768;
  static void* blocks[kBlocks];
  static uintptr_t live[kBlocks / 2];  // the blocks kept, sorted
  for (void*& b : blocks) b = malloc(64);
  for (int i = 0; i < kBlocks; i += 2) free(blocks[i]);
  for (int i = 0; i < kBlocks; i += 2) {
    uintptr_t* words = static_cast<uintptr_t*>(blocks[i]);
    // Word 0 is the free key (src/slab/slab_cache.h): an attacker who read it keeps it, so
    // that only the link's encoding stands in the way (an overwritten key is caught first).
    for (int w = 1; w < 8; ++w) words[w] = reinterpret_cast<uintptr_t>(blocks[i + 1]);
  }
  for (int j = 1; j < kBlocks; j += 2) live[j / 2] = reinterpret_cast<uintptr_t>(blocks[j]);
  qsort(live, kBlocks / 2, sizeof live[0], by_address);
  for (int i = 0; i < kBlocks; ++i) {
    const uintptr_t p = reinterpret_cast<uintptr_t>(malloc(64));
    if (bsearch(&p, live, kBlocks / 2, sizeof live[0], by_address) != nullptr) {
      printf("steered: malloc returned %#lx, a block still in use\n", static_cast<unsigned long>(p));
      return 0;
    }
  }
  printf("not detected\n");
  return 3;
}
