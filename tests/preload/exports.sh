#!/usr/bin/env bash
# memkit — the dynamic symbols of libmemkit.so and libmemkit-checked.so (tests/preload/exports.sh)
#
# Usage: exports.sh LIB...   Every symbol a library defines in its dynamic table (nm -D
# --defined-only) must be public API: the malloc family, operator new/delete, memkit's C API
# (mk_*), and for libmemkit-checked.so its interposers and memkit_checked_mode
# (cmake/libmemkit.map, cmake/libmemkit-checked.map); memkit:: internals must not be there. The
# symbols programs and tests look up (malloc, operator new, mk_malloc, ...) must be.
set -u
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

api='^(malloc|free|calloc|realloc|reallocarray|cfree|aligned_alloc|posix_memalign|memalign|valloc|pvalloc|malloc_usable_size|malloc_trim|malloc_stats|mallopt|mallinfo2?|mk_[a-z0-9_]+|_Z(nw|na|dl|da)[A-Za-z0-9_]*)$'
for lib in "$@"; do
    name=${lib##*/}
    allowed=$api
    want=(malloc free calloc realloc posix_memalign aligned_alloc malloc_usable_size _Znwm _ZdlPv
          _ZnwmRKSt9nothrow_t _ZdlPvm _ZnamSt11align_val_t mk_malloc mk_malloc_usable_size mk_kmalloc)
    if [[ $name == libmemkit-checked.so ]]; then
        allowed="${api%)\$}|memkit_checked_mode|sigaction|signal|dlclose)\$"
        want+=(memkit_checked_mode sigaction signal dlclose)
    fi
    if ! symbols=$(nm -D --defined-only "$lib" | awk 'NF == 3 { print $3 }'); then
        fail "$name: nm -D failed"
        continue
    fi
    extra=$(grep -Ev "$allowed" <<<"$symbols")
    [[ -z $extra ]] || fail "$name exports $(wc -l <<<"$extra") symbols beyond the API: $(head -5 <<<"$extra" | tr '\n' ' ')…"
    for s in "${want[@]}"; do
        grep -qx "$s" <<<"$symbols" || fail "$name does not export $s"
    done
    echo "$name: $(wc -l <<<"$symbols") dynamic symbols"
done
((failures == 0)) && echo "ok: exports" || exit 1
