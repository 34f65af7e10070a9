// memkit — DMA-style buffers, internal interface (src/dma/dma.h)
//
// The public API is include/memkit/dma.h. Coherent buffers come straight from the kernel
// (src/os: hugetlbfs, THP, or normal pages; mlock; pagemap) and are recorded in a registry
// that lives in pages of its own, so that a free can be checked and mk_dma_info can answer
// for any byte of a buffer. dma_pool.cpp carves blocks out of such buffers.
#pragma once

#include <cstddef>
#include <cstdint>

#include "memkit/dma.h"

namespace memkit::dma {

/// A coherent buffer (see mk_dma_alloc_coherent), recorded; 0 or an errno value.
int alloc_coherent(size_t size, int flags, mk_dma_info* out);

/// Unrecords and unmaps the buffer at vaddr. A vaddr that starts no live buffer, or a size
/// or handle other than the buffer's, is a fatal report naming `function`.
void free_coherent(size_t size, void* vaddr, mk_dma_addr_t handle, const char* function);

/// The physical address of the byte at p through /proc/self/pagemap; MK_DMA_ADDR_UNKNOWN
/// when the page is not present or its PFN is hidden.
mk_dma_addr_t virt_to_phys(const void* p);

}  // namespace memkit::dma
