/* memkit — operator new in a process without libstdc++ (tests/preload/c_operator_new.c)
 *
 * A C program (no libstdc++ loaded) that reaches the drop-in operator new through its mangled
 * name. memkit's operator new refers to libstdc++ weakly only (std::__throw_bad_alloc,
 * std::get_new_handler), so here those references are null: a small request must succeed, the
 * nothrow form must return NULL on failure, and the throwing form, with nothing to throw with,
 * must print memkit's one-line report and abort. tests/preload/run.sh runs it under
 * LD_PRELOAD and checks the report and the SIGABRT. */
#include <dlfcn.h>
#include <stdio.h>

typedef void *(*new_fn)(unsigned long);
typedef void *(*new_nothrow_fn)(unsigned long, const void *);

int main(void)
{
    new_fn op_new = (new_fn)dlsym(RTLD_DEFAULT, "_Znwm");
    new_nothrow_fn op_new_nothrow = (new_nothrow_fn)dlsym(RTLD_DEFAULT, "_ZnwmRKSt9nothrow_t");
    void (*op_delete)(void *) = (void (*)(void *))dlsym(RTLD_DEFAULT, "_ZdlPv");
    if (!op_new || !op_new_nothrow || !op_delete) {
        puts("no operator new in the process (not under LD_PRELOAD?)");
        return 2;
    }
    if (dlsym(RTLD_DEFAULT, "_ZSt17__throw_bad_allocv")) {
        puts("libstdc++ is in the process");
        return 2;
    }
    void *small = op_new(64);
    if (!small)
        return 3;
    op_delete(small);
    char tag = 0; /* std::nothrow is an empty object: any address does */
    if (op_new_nothrow(1ULL << 60, &tag) != NULL)
        return 4;
    puts("nothrow: NULL");
    fflush(stdout);
    op_new(1ULL << 60); /* reports and aborts */
    puts("operator new returned");
    return 5;
}
