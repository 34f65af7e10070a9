/* Installed-package smoke test from C: built against an installed memkit only. */
#include <memkit/memkit.h>
#include <memkit/version.h>

int main(void)
{
    void *p = mk_alloc_pages(MK_GFP_ZERO, 2);
    if (!p)
        return 1;
    ((char *)p)[0] = 1;
    mk_free_pages(p, 2);
    return 0;
}
