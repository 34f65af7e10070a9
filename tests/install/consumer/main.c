/* Installed-package smoke test from C: built against an installed memkit only. */
#include <memkit/dma.h>
#include <memkit/memkit.h>
#include <memkit/version.h>

int main(void)
{
    void *p = mk_alloc_pages(MK_GFP_ZERO, 2);
    if (!p)
        return 1;
    ((char *)p)[0] = 1;
    mk_free_pages(p, 2);

    /* A DMA buffer (memkit/dma.h): zeroed, locked, its info answers. */
    mk_dma_addr_t dma;
    char *buf = mk_dma_alloc_coherent(8192, &dma, MK_DMA_NO_HUGETLB | MK_DMA_NO_THP);
    struct mk_dma_info info;
    if (!buf || buf[8191] != 0 || mk_dma_get_info(buf, &info) != 0 ||
        !(info.flags & MK_DMA_INFO_LOCKED))
        return 1;
    mk_dma_free_coherent(8192, buf, dma);
    return 0;
}
