// memkit's drop-in malloc linked in from a subproject build (memkit::malloc, whole archive):
// malloc and operator new are memkit's; mk_malloc_usable_size aborts on a pointer memkit did
// not hand out.
#include <memkit/memkit.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

int main()
{
    void *m = std::malloc(100);
    if (!m || mk_malloc_usable_size(m) < 100)
        return 1;
    std::free(m);
    auto *v = new std::vector<std::string>(64, std::string(100, 'x'));
    if (mk_malloc_usable_size(v) < sizeof *v || mk_malloc_usable_size(v->data()) < 64 * sizeof(std::string))
        return 2;
    delete v;
    std::puts("memkit's malloc and operator new, linked in from a subproject build: ok");
    return 0;
}
