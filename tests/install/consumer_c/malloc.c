/* Installed-package test from a C project: libmemkit_malloc.a linked in whole (the drop-in
 * malloc, operator new included, in a program without libstdc++). malloc, calloc, realloc and
 * the libc's own allocations (strdup) must be memkit's: mk_malloc_usable_size aborts on a
 * pointer memkit did not hand out. */
#include <memkit/memkit.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
    char *m = malloc(100);
    if (!m || mk_malloc_usable_size(m) < 100)
        return 1;
    memset(m, 'm', 100);
    m = realloc(m, 5000);
    if (!m || mk_malloc_usable_size(m) < 5000 || m[99] != 'm')
        return 2;
    free(m);
    int *z = calloc(1000, sizeof *z);
    if (!z || z[999] != 0 || mk_malloc_usable_size(z) < 1000 * sizeof *z)
        return 3;
    free(z);
    char *s = strdup("the libc allocates through memkit too");
    if (!s || mk_malloc_usable_size(s) < strlen(s) + 1)
        return 4;
    free(s);
    puts("memkit's malloc, statically linked into C: ok");
    return 0;
}
