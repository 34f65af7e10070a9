/* Installed-package test from a C project: the C API (pages, kmalloc, mk_malloc), linked with
 * cc against libmemkit.a alone. */
#include <memkit/memkit.h>
#include <memkit/version.h>

#include <stdio.h>
#include <string.h>

int main(void)
{
    void *pages = mk_alloc_pages(MK_GFP_ZERO, 2);
    if (!pages)
        return 1;
    ((char *)pages)[0] = 1;
    mk_free_pages(pages, 2);

    char *k = mk_kmalloc(100, 0);
    if (!k || mk_ksize(k) < 100)
        return 2;
    memset(k, 'k', 100);
    mk_kfree(k);

    char *m = mk_malloc(1000);
    if (!m || mk_malloc_usable_size(m) < 1000)
        return 3;
    mk_free(m);
    printf("memkit %s from C: ok\n", MEMKIT_VERSION);
    return 0;
}
