#!/usr/bin/env bash
# Install-components test: installs BUILD_DIR's `lib` and `cli` components each into a prefix
# of its own (cmake --install BUILD --component NAME) and checks what lands where:
#   lib: the headers, libmemkit.a, libmemkit_malloc.a, libmemkit.so, libmemkit-checked.so and
#        libmemkit-trace.so
#        (in <libdir>/memkit), the CMake package and memkit.pc; no program, workload or page
#   cli: bin/memkit, its workloads (memkit-lisp, mkb-*), demo.lisp, the bash completion and
#        the man pages; no header or library
# and that the two together are the whole install (no file in neither, none in both).
#
# usage: tests/install/components.sh BUILD_DIR
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 BUILD_DIR" >&2
    exit 2
fi
build_dir=$(cd "$1" && pwd)
work="$build_dir/components_test"

cache_value() {
    sed -n "s/^$1:[A-Z]*=//p" "$build_dir/CMakeCache.txt" | head -n1
}
libdir=$(cache_value CMAKE_INSTALL_LIBDIR)
libexecdir=$(cache_value CMAKE_INSTALL_LIBEXECDIR)
libdir=${libdir:-lib}
libexecdir=${libexecdir:-libexec}

rm -rf "$work"
mkdir -p "$work"

failures=0
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# files PREFIX: the files (and symlinks) under PREFIX, relative, sorted.
files() {
    (cd "$1" && find . \( -type f -o -type l \) | sed 's|^\./||' | LC_ALL=C sort)
}

for component in lib cli; do
    echo "== cmake --install --component $component"
    cmake --install "$build_dir" --prefix "$work/$component" --component "$component" >/dev/null
    files "$work/$component" >"$work/$component.files"
    sed 's/^/  /' "$work/$component.files"
done
echo "== cmake --install (everything)"
cmake --install "$build_dir" --prefix "$work/all" >/dev/null
files "$work/all" >"$work/all.files"

# has COMPONENT PATH...: each PATH is installed by COMPONENT.
has() {
    local component=$1
    shift
    for path in "$@"; do
        grep -qxF "$path" "$work/$component.files" || fail "component $component lacks $path"
    done
}
# lacks COMPONENT REGEX: no file of COMPONENT matches REGEX.
lacks() {
    local bad
    bad=$(grep -E "$2" "$work/$1.files" || true)
    [[ -z $bad ]] || fail "component $1 installs $(echo "$bad" | tr '\n' ' ')"
}

has lib include/memkit/memkit.h include/memkit/version.h \
    "$libdir/libmemkit.a" "$libdir/libmemkit_malloc.a" "$libdir/memkit/libmemkit.so" \
    "$libdir/cmake/memkit/memkitConfig.cmake" "$libdir/cmake/memkit/memkitConfigVersion.cmake" \
    "$libdir/cmake/memkit/memkitTargets.cmake" "$libdir/pkgconfig/memkit.pc"
if grep -q "^MEMKIT_BUILD_CHECKED:BOOL=ON" "$build_dir/CMakeCache.txt"; then
    has lib "$libdir/memkit/libmemkit-checked.so"
fi
lacks lib "^(bin|$libexecdir|share)/"

if grep -q "^MEMKIT_BUILD_CLI:BOOL=ON" "$build_dir/CMakeCache.txt"; then
    has lib "$libdir/memkit/libmemkit-trace.so"
    has cli bin/memkit "$libexecdir/memkit/memkit-lisp" "$libexecdir/memkit/memkit-replay" share/memkit/demo.lisp \
        share/bash-completion/completions/memkit share/man/man1/memkit.1
    grep -qE "^$libexecdir/memkit/mkb-" "$work/cli.files" || fail "component cli lacks the mkb-* workloads"
    lacks cli "^(include/|$libdir/)"
fi

# lib + cli = everything, and no file in both.
LC_ALL=C sort "$work/lib.files" "$work/cli.files" >"$work/both.files"
if ! diff -u "$work/all.files" "$work/both.files"; then
    fail "the components lib and cli do not add up to the whole install (-: in no component, +: in both)"
fi

# The lib component alone is a usable package: the find_package(memkit) consumer builds and runs.
generator=()
if command -v ninja >/dev/null 2>&1; then
    generator=(-G Ninja)
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cxx=$(cache_value CMAKE_CXX_COMPILER)
cc=$(cache_value CMAKE_C_COMPILER)
if cmake -S "$here/consumer" -B "$work/consumer-build" "${generator[@]}" \
        -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$work/lib" \
        -DCMAKE_C_COMPILER="${cc:-cc}" -DCMAKE_CXX_COMPILER="${cxx:-c++}" >"$work/consumer.log" 2>&1 &&
    cmake --build "$work/consumer-build" >>"$work/consumer.log" 2>&1 &&
    "$work/consumer-build/consumer"; then
    echo "find_package(memkit) consumer on the lib component alone: ok"
else
    cat "$work/consumer.log" >&2
    fail "find_package(memkit) consumer on the lib component alone"
fi

if [[ $failures -ne 0 ]]; then
    echo "components test: $failures failure(s)" >&2
    exit 1
fi
echo "components test passed"
