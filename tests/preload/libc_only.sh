#!/usr/bin/env bash
# memkit — the malloc libraries link libc only (tests/preload/libc_only.sh C_OPERATOR_NEW LIB...)
#
# For each shared library LIB (libmemkit.so, libmemkit-checked.so; the build's or an install's):
#   1. no NEEDED entry for libstdc++, libgcc_s or libm (readelf -d);
#   2. no undefined symbol with a GLIBCXX, CXXABI or GCC version, and every reference to the C++
#      runtime is weak and one of the few that src/malloc/override/new_handler.cpp and
#      src/check/stack_trace.cpp take on purpose (nm -D --undefined-only);
#   3. a process under LD_PRELOAD=LIB loads no libstdc++ (the dynamic loader's own list);
#   4. C_OPERATOR_NEW (tests/preload/c_operator_new.c, a C program) under LD_PRELOAD=LIB: with no
#      libstdc++ to throw std::bad_alloc, a failing operator new prints memkit's one-line report
#      and aborts; the nothrow form returns NULL. (With libstdc++, the conformance program
#      catches bad_alloc: tests/preload/conformance.cpp.)
set -uo pipefail

if [[ $# -lt 2 ]]; then
    echo "usage: $0 C_OPERATOR_NEW LIB..." >&2
    exit 2
fi
probe=$1
shift
failures=0
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# The C++ runtime symbols a library may refer to, weakly.
allowed_weak='^(_ZSt15get_new_handlerv|_ZSt17__throw_bad_allocv|__gxx_personality_v0|__cxa_begin_catch|__cxa_end_catch|__cxa_demangle)$'

for lib in "$@"; do
    name=$(basename "$lib")
    [[ -f $lib ]] || { fail "$lib: no such file"; continue; }

    needed=$(readelf -d "$lib" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
    echo "$name NEEDED: $(tr '\n' ' ' <<<"$needed")"
    if grep -E '^(libstdc\+\+|libgcc_s|libm)\.so' <<<"$needed"; then
        fail "$name needs the C++ runtime (or libm)"
    fi

    undefined=$(nm -D --undefined-only "$lib")
    if grep -E '@(GLIBCXX|CXXABI|GCC)_' <<<"$undefined"; then
        fail "$name has versioned references to libstdc++/libgcc_s (above)"
    fi
    # C++ runtime references: mangled names outside memkit's own namespace, __cxa_*, __gxx_*,
    # _Unwind_* (but not the libc's __cxa_atexit and __cxa_finalize).
    runtime=$(awk '{ print $1, $2 }' <<<"$undefined" |
        grep -E ' (_Z|__cxa_|__gxx_|_Unwind_)' | grep -v -e ' _ZTHN6memkit' -e '@GLIBC_')
    while read -r kind sym; do
        [[ -z ${sym:-} ]] && continue
        if [[ $kind != w ]]; then
            fail "$name: strong reference to the C++ runtime: $sym"
        elif ! grep -Eq "$allowed_weak" <<<"$sym"; then
            fail "$name: weak reference to $sym, not one of the documented ones (src/README.md)"
        fi
    done <<<"$runtime"
    echo "$name C++ runtime references: $(tr '\n' ' ' <<<"$runtime")"

    loaded=$(LD_PRELOAD=$lib LD_TRACE_LOADED_OBJECTS=1 /bin/true 2>&1)
    grep -q "$name" <<<"$loaded" || fail "$name: not loaded by LD_PRELOAD: $loaded"
    if grep -E 'libstdc\+\+|libgcc_s' <<<"$loaded"; then
        fail "a process under LD_PRELOAD=$name loads the C++ runtime"
    fi

    out=$(LD_PRELOAD=$lib "$probe" 2>&1)
    rc=$?
    report="memkit: ERROR: out-of-memory operator new (nil) 1152921504606846976 bytes: cannot raise std::bad_alloc, libstdc++ is not in the process"
    if [[ $rc -ne 134 ]] || ! grep -qxF "nothrow: NULL" <<<"$out" || ! grep -qxF "$report" <<<"$out"; then
        fail "$name: operator new without libstdc++: exit $rc (want 134, SIGABRT), output:"
        echo "$out" >&2
    else
        echo "$name operator new without libstdc++: reports and aborts: ok"
    fi
done

if [[ $failures -ne 0 ]]; then
    echo "libc_only: $failures failure(s)" >&2
    exit 1
fi
echo "libc_only: ok"
