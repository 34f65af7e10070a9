// example_dma_buffer — a DMA buffer and a dma_pool, as a user-space driver would set them up
// (memkit/dma.hpp over memkit/dma.h: the kernel's dma_alloc_coherent and dma_pool).
//
// Allocates a 4 MiB ring (huge pages when the kernel gives them, locked, zeroed), prints what
// backs it and the physical address of each of its huge pages (or pages), then carves
// 32-byte descriptors that never cross a 4 KiB boundary out of a pool. Checks the handles
// against pagemap (root only: others get MK_DMA_ADDR_UNKNOWN) and exits 0.
//
//   example_dma_buffer          print and exit
//   example_dma_buffer --wait   then wait for Enter, so that `memkit maps PID` and
//                               `memkit v2p PID ADDR` can look at the buffer from outside
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "memkit/dma.hpp"

namespace {

const char* backing(const mk_dma_info& i) {
  if (i.flags & MK_DMA_INFO_HUGETLB) return "explicit huge pages (hugetlbfs)";
  if (i.flags & MK_DMA_INFO_THP) return "transparent huge pages";
  return "normal pages";
}

void print_addr(const char* label, mk_dma_addr_t a) {
  if (a == MK_DMA_ADDR_UNKNOWN)
    std::printf("%s MK_DMA_ADDR_UNKNOWN (PFNs hidden: run as root)\n", label);
  else
    std::printf("%s %#" PRIx64 "\n", label, a);
}

}  // namespace

int main(int argc, char** argv) {
  const bool wait = argc > 1 && std::strcmp(argv[1], "--wait") == 0;
  const size_t kRing = 4u << 20;
  memkit::DmaBuffer ring = memkit::DmaBuffer::allocate(kRing);
  if (!ring) {
    std::perror("mk_dma_alloc_coherent");
    return 1;
  }
  const mk_dma_info info = ring.info();
  std::printf("ring: %zu bytes at %p, %s of %zu KiB, %zu bytes locked\n", ring.size(),
              ring.data(), backing(info), info.page_size / 1024, info.mapped);
  print_addr("ring dma handle:", ring.dma_addr());
  std::printf("physically contiguous: %s\n",
              info.flags & MK_DMA_INFO_CONTIGUOUS ? "the whole ring"
              : info.flags & MK_DMA_INFO_NONCONTIG
                  ? "only within each page (MK_DMA_INFO_NONCONTIG)"
                  : "within each huge page");
  int bad = 0;
  const size_t shown = info.mapped / info.page_size < 4 ? info.mapped / info.page_size : 4;
  for (size_t i = 0; i < shown; ++i) {
    const char* v = static_cast<const char*>(ring.data()) + i * info.page_size;
    const mk_dma_addr_t phys = mk_dma_virt_to_phys(v);
    std::printf("  page %zu: virtual %p -> ", i, static_cast<const void*>(v));
    print_addr("physical", phys);
    if (i == 0 && phys != ring.dma_addr()) ++bad;
  }
  for (size_t i = 0; i < ring.size(); ++i) bad += static_cast<const char*>(ring.data())[i] != 0;

  memkit::DmaPool descs("rx-desc", 32, 16, 4096);
  if (!descs) {
    std::perror("mk_dma_pool_create");
    return 1;
  }
  memkit::DmaPool::Block d[3];
  for (int i = 0; i < 3; ++i) {
    d[i] = descs.zalloc();
    if (d[i].vaddr == nullptr) return 1;
    std::printf("descriptor %d: virtual %p, ", i, d[i].vaddr);
    print_addr("dma", d[i].dma);
    if (reinterpret_cast<uintptr_t>(d[i].vaddr) % 16 != 0) ++bad;
    if (d[i].dma != mk_dma_virt_to_phys(d[i].vaddr)) ++bad;
  }
  const mk_dma_pool_stats st = descs.stats();
  std::printf("pool rx-desc: %zu-byte blocks, %zu per %zu KiB buffer, %zu in use\n", st.size,
              st.blocks_per_chunk, st.chunk_bytes / 1024, st.in_use);
  for (const memkit::DmaPool::Block& b : d) descs.free(b);

  if (wait) {
    std::printf("PID %d: look with `memkit maps %d`, `memkit v2p %d %p`; Enter ends\n",
                static_cast<int>(getpid()), static_cast<int>(getpid()),
                static_cast<int>(getpid()), ring.data());
    std::fflush(stdout);
    char line[8];
    if (std::fgets(line, sizeof line, stdin) == nullptr) {
    }
  }
  if (bad != 0) {
    std::printf("FAILED: %d checks\n", bad);
    return 1;
  }
  std::printf("ok\n");
  return 0;
}
