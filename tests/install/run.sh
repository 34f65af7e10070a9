#!/usr/bin/env bash
# Install test: installs BUILD_DIR into a scratch prefix, then builds and runs
# the consumer in tests/install/consumer against it, once via
# find_package(memkit) and once via pkg-config (memkit.pc); then the C consumers
# (tests/install/consumer_c: a C-only CMake project, and cc with pkg-config's flags),
# which must link with the C driver and need no libstdc++; then the installed
# libmemkit.so and libmemkit-checked.so, which must link libc only
# (tests/preload/libc_only.sh).
#
# usage: tests/install/run.sh BUILD_DIR
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 BUILD_DIR" >&2
    exit 2
fi

build_dir=$(cd "$1" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work="$build_dir/install_test"
prefix="$work/prefix"

# Use the compilers the memkit build used.
cache_value() {
    sed -n "s/^$1:[A-Z]*=//p" "$build_dir/CMakeCache.txt" | head -n1
}
cxx=$(cache_value CMAKE_CXX_COMPILER)
cc=$(cache_value CMAKE_C_COMPILER)
cxx=${cxx:-c++}
cc=${cc:-cc}

generator=()
if command -v ninja >/dev/null 2>&1; then
    generator=(-G Ninja)
fi

rm -rf "$work"
mkdir -p "$work"

echo "== install $build_dir -> $prefix"
cmake --install "$build_dir" --prefix "$prefix"

echo "== find_package(memkit) consumer"
cmake -S "$here/consumer" -B "$work/consumer-build" "${generator[@]}" \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_C_COMPILER="$cc" \
    -DCMAKE_CXX_COMPILER="$cxx"
cmake --build "$work/consumer-build"
"$work/consumer-build/consumer"
echo "consumer (C++, find_package): ok"
"$work/consumer-build/consumer_c"
echo "consumer (C, find_package): ok"

# no_cxx_runtime FILE: FILE's NEEDED entries name no libstdc++ (nor libgcc_s).
no_cxx_runtime() {
    if readelf -d "$1" | grep -E 'NEEDED.*(libstdc\+\+|libgcc_s)'; then
        echo "$1 needs the C++ runtime" >&2
        exit 1
    fi
}

echo "== find_package(memkit) from a C project"
cmake -S "$here/consumer_c" -B "$work/consumer-c-build" "${generator[@]}" \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_C_COMPILER="$cc"
cmake --build "$work/consumer-c-build"
for exe in consumer_c_api consumer_c_malloc; do
    "$work/consumer-c-build/$exe"
    no_cxx_runtime "$work/consumer-c-build/$exe"
    echo "$exe (C project, find_package, no libstdc++): ok"
done

echo "== pkg-config consumer"
pc_file=$(find "$prefix" -name memkit.pc -print -quit)
if [[ -z "$pc_file" ]]; then
    echo "memkit.pc not installed under $prefix" >&2
    exit 1
fi
pc_dir=$(dirname "$pc_file")
pc_flags=$(PKG_CONFIG_PATH="$pc_dir" pkg-config --cflags --libs memkit)
echo "pkg-config --cflags --libs memkit: $pc_flags"
# shellcheck disable=SC2086  # word splitting of the flags is intended
"$cxx" -std=c++20 "$here/consumer/main.cpp" $pc_flags -o "$work/consumer-pc"
"$work/consumer-pc"
echo "consumer (C++, pkg-config): ok"
# The C API from C with cc, as a C user would: cc app.c $(pkg-config --cflags --libs memkit).
# shellcheck disable=SC2086
"$cc" -std=c11 "$here/consumer_c/main.c" $pc_flags -o "$work/consumer-c-pc"
"$work/consumer-c-pc"
no_cxx_runtime "$work/consumer-c-pc"
echo "consumer (C, cc with pkg-config, no libstdc++): ok"

echo "== the drop-in malloc from the install"
preload=$(find "$prefix" -path "*/memkit/libmemkit.so" -print -quit)
if [[ -z "$preload" ]]; then
    echo "libmemkit.so not installed under $prefix/<libdir>/memkit" >&2
    exit 1
fi
if [[ -x "$prefix/bin/memkit" ]]; then
    out=$("$prefix/bin/memkit" run -- /bin/echo installed)
    [[ $out == installed ]] || { echo "installed memkit run printed '$out'" >&2; exit 1; }
    echo "memkit run (installed, finds $preload): ok"
    # No PROGRAM: the installed bundled workload, with the heap report on stderr.
    "$prefix/bin/memkit" run >"$work/workload.out" 2>"$work/workload.err" ||
        { echo "installed memkit run (bundled workload) failed:" >&2; cat "$work/workload.err" >&2; exit 1; }
    grep -q "^checksum: " "$work/workload.out" &&
        grep -q "^memkit: heap report for PID [0-9]* (memkit-lisp)" "$work/workload.err" ||
        { echo "installed memkit run: no workload output or heap report" >&2; exit 1; }
    echo "memkit run (installed, bundled workload): ok"
fi
LD_PRELOAD=$preload /bin/true
echo "LD_PRELOAD=$preload: ok"
if [[ -x "$prefix/bin/memkit" ]]; then
    # A DMA buffer from the installed CLI (memkit/dma.h): allocated, locked, translated.
    "$prefix/bin/memkit" v2p --dma 64K >"$work/dma.out" 2>&1 &&
        grep -q "^DMA buffer: mk_dma_alloc_coherent(65536) = 0x" "$work/dma.out" &&
        grep -q "\[locked" "$work/dma.out" ||
        { echo "installed memkit v2p --dma failed:" >&2; cat "$work/dma.out" >&2; exit 1; }
    echo "memkit v2p --dma (installed): ok"
fi

if [[ -x "$prefix/bin/memkit" ]]; then
    # An allocation trace from the installed CLI: libmemkit-trace.so records, memkit-replay
    # (libexec/memkit) replays.
    "$prefix/bin/memkit" run --trace "$work/echo.trace" -- /bin/echo traced >/dev/null &&
        "$prefix/bin/memkit" trace stats "$work/echo.trace" | grep -q "^trace .* events in 1 threads" &&
        "$prefix/bin/memkit" replay "$work/echo.trace" --allocators memkit,glibc --runs 1 \
            --no-progress --out "$work/replay" >"$work/replay.out" 2>&1 ||
        { echo "installed memkit run --trace / trace stats / replay failed:" >&2; cat "$work/replay.out" >&2; exit 1; }
    echo "memkit run --trace, trace stats, replay (installed): ok"
fi

echo "== the checked malloc from the install"
checked=$(find "$prefix" -path "*/memkit/libmemkit-checked.so" -print -quit)
if [[ -z "$checked" ]]; then
    echo "libmemkit-checked.so not installed under $prefix/<libdir>/memkit" >&2
    exit 1
fi
if [[ -x "$prefix/bin/memkit" ]]; then
    # A clean program: status 0, no report; the library was found and loaded (memkit check
    # says so when it was not).
    "$prefix/bin/memkit" check -- /bin/echo installed >"$work/check.out" 2>"$work/check.err" ||
        { echo "installed memkit check failed:" >&2; cat "$work/check.err" >&2; exit 1; }
    [[ $(cat "$work/check.out") == installed && ! -s "$work/check.err" ]] ||
        { echo "installed memkit check: unexpected output" >&2; cat "$work/check.err" >&2; exit 1; }
    echo "memkit check (installed, finds $checked): ok"
fi

echo "== the installed libraries link libc only"
"$cc" -std=c11 "$here/../preload/c_operator_new.c" -o "$work/c_operator_new" -ldl
bash "$here/../preload/libc_only.sh" "$work/c_operator_new" "$preload" "$checked"

echo "install test passed"
