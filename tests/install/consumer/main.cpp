// Installed-package smoke test: built against an installed memkit only.
#include <memkit/memkit.h>
#include <memkit/version.h>

int main()
{
    static_assert(MEMKIT_VERSION_MAJOR >= 0, "memkit/version.h is installed");
    void *p = mk_alloc_pages(MK_GFP_ZERO, 2);
    if (!p)
        return 1;
    static_cast<char *>(p)[0] = 1;
    mk_free_pages(p, 2);
    return 0;
}
