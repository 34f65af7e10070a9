// memkit — a write after free cannot steer malloc (tests/preload/safe_link.cpp), run by
// tests/preload/run.sh under LD_PRELOAD=libmemkit.so: frees every other one of 4096 blocks (so
// most go back onto their slabs' free lists), overwrites every word of each freed block with an
// address of the attacker's choosing (the classic free-list poisoning): the live block next to
// it, a valid object of the same slab, so only the links' encoding (safe-linking) can tell, and
// allocates again. The decoded link is then no object of the slab: the expected outcome is
// `memkit: ERROR: slab-corruption ...` and abort. Exit 0 with "steered" means an allocation
// returned a block that is still in use; exit 3 means nothing noticed at all.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int main() {
  constexpr int kBlocks = 4096;
  static void* blocks[kBlocks];
  for (void*& b : blocks) b = malloc(64);
  for (int i = 0; i < kBlocks; i += 2) free(blocks[i]);
  for (int i = 0; i < kBlocks; i += 2) {
    uintptr_t* words = static_cast<uintptr_t*>(blocks[i]);
    for (int w = 0; w < 8; ++w) words[w] = reinterpret_cast<uintptr_t>(blocks[i + 1]);
  }
  for (int i = 0; i < kBlocks; ++i) {
    void* p = malloc(64);
    for (int j = 1; j < kBlocks; j += 2)
      if (p == blocks[j]) {
        printf("steered: malloc returned block %d, which is still in use\n", j);
        return 0;
      }
  }
  printf("not detected\n");
  return 3;
}
