#!/usr/bin/env bash
# Instructions per malloc+free pair, for memkit and each peer allocator, counted by valgrind
# --tool=callgrind (stable on a noisy machine): malloc_pair runs N and 2N pairs of one size
# under each allocator (LD_PRELOAD; none for glibc) and the script prints (I(2N) - I(N)) / N, so
# start-up costs cancel out. The count includes the loop (about 8 instructions).
#
# usage: bench/pair_instructions.sh [BUILD_DIR]     (default build/release)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
build=${1:-build/release}
bin=$build/bin/malloc_pair
[[ -x $bin ]] || { echo "pair_instructions.sh: $bin not built (cmake --build --preset release)" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "pair_instructions.sh: valgrind is not installed" >&2; exit 1; }

find_lib() {
    local name
    for name in "$@"; do
        for dir in /usr/lib/x86_64-linux-gnu /usr/lib/aarch64-linux-gnu /usr/lib64 /usr/lib /usr/local/lib; do
            [[ -r $dir/$name ]] && { echo "$dir/$name"; return; }
        done
    done
}

declare -A lib=(
    [memkit]=$(realpath "$build/lib/libmemkit.so")
    [glibc]=""
    [jemalloc]=$(find_lib libjemalloc.so.2)
    [tcmalloc]=$(find_lib libtcmalloc_minimal.so.4 libtcmalloc.so.4)
    [mimalloc]=$(find_lib libmimalloc.so.2 libmimalloc.so.2.0)
)
allocators=()
for a in memkit glibc jemalloc tcmalloc mimalloc; do
    if [[ $a == glibc || -n ${lib[$a]} ]]; then allocators+=("$a"); else echo "($a not installed: skipped)" >&2; fi
done

n=100000
count() {  # count ALLOCATOR N SIZE -> total instructions of malloc_pair
    local dir
    dir=$(mktemp -d)
    if [[ -n ${lib[$1]} ]]; then
        valgrind --tool=callgrind --trace-children=yes --callgrind-out-file="$dir/cg.%p" \
            env LD_PRELOAD="${lib[$1]}" "$bin" "$2" "$3" >/dev/null 2>&1
    else
        valgrind --tool=callgrind --callgrind-out-file="$dir/cg.%p" "$bin" "$2" "$3" >/dev/null 2>&1
    fi
    # With env in front, the largest profile is malloc_pair's.
    callgrind_annotate "$(ls -S "$dir"/cg.* | head -1)" 2>/dev/null |
        awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}'
    rm -rf "$dir"
}

printf '%-8s' size
printf ' %9s' "${allocators[@]}"
printf '\n'
for size in 16 64 256 1024 4096 8192; do
    printf '%-8s' "$size"
    for a in "${allocators[@]}"; do
        a1=$(count "$a" $n "$size")
        a2=$(count "$a" $((2 * n)) "$size")
        printf ' %9s' $(((a2 - a1) / n))
    done
    printf '\n'
done
