#!/usr/bin/env bash
# AddressSanitizer on the same workloads, for the checked mode's overhead table (docs/checked-mode.md): each
# bench/workloads/*.cpp built twice with the release flags, plain and with -fsanitize=address,
# then per workload the median of 5 wall times of: the plain program under glibc, under
# libmemkit.so, under libmemkit-checked.so (check=fast), and the ASan build (its own allocator,
# default options, then with a 4 MiB quarantine as memkit's and no leak check).
#
#   bash bench/asan_reference.sh [BUILD_DIR]      # BUILD_DIR: build/release (the default)
#
# About 1.5 minutes on 2 cores. gxx, python and lisp are left out: they are not one source file.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
lib=$build/lib
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
flags=(-std=c++20 -O2 -g -pthread -fno-builtin-malloc -fno-builtin-calloc -fno-builtin-realloc
       -fno-builtin-free)
workloads=()
for src in bench/workloads/*.cpp; do
  w=$(basename "$src" .cpp)
  workloads+=("$w")
  g++ "${flags[@]}" "$src" -o "$out/plain-$w" &
  g++ "${flags[@]}" -fsanitize=address "$src" -o "$out/asan-$w" &
  wait
done
# Median of 5 wall times of a command, in milliseconds.
median_ms() {
  for _ in 1 2 3 4 5; do
    local s e
    s=$(date +%s%N)
    "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }
    e=$(date +%s%N)
    echo $(((e - s) / 1000000))
  done | sort -n | sed -n 3p
}
args=(--threads 2 --scale 0.1)
rows=()
for w in "${workloads[@]}"; do
  g=$(median_ms "$out/plain-$w" "${args[@]}")
  m=$(median_ms env LD_PRELOAD="$lib/libmemkit.so" "$out/plain-$w" "${args[@]}")
  c=$(median_ms env MEMKIT_OPTIONS=leak_exitcode=0 LD_PRELOAD="$lib/libmemkit-checked.so" \
      "$out/plain-$w" "${args[@]}")
  a=$(median_ms "$out/asan-$w" "${args[@]}")
  q=$(median_ms env ASAN_OPTIONS=quarantine_size_mb=4:detect_leaks=0 "$out/asan-$w" "${args[@]}")
  rows+=("$w $g $m $c $a $q")
done
# Wall milliseconds, then ratios: check=fast over libmemkit.so, ASan (default, then 4 MiB
# quarantine) over the plain program under glibc, and check=fast over ASan with 4 MiB.
printf '%s\n' "${rows[@]}" | awk '
  { n++; r1 = $4 / $3; r2 = $5 / $2; r3 = $6 / $2; r4 = $4 / $6
    l1 += log(r1); l2 += log(r2); l3 += log(r3); l4 += log(r4)
    printf "%-15s %6d %6d %7d %6d %8d %10.2f %9.2f %12.2f %13.2f\n", $1, $2, $3, $4, $5, $6, r1, r2, r3, r4 }
  BEGIN { printf "%-15s %6s %6s %7s %6s %8s %10s %9s %12s %13s\n", "workload (ms)", "glibc", "memkit",
          "checked", "asan", "asan_q4m", "checked/mk", "asan/gl", "asan_q4m/gl", "checked/q4m" }
  END { printf "%-15s %6s %6s %7s %6s %8s %10.2f %9.2f %12.2f %13.2f\n", "geomean", "", "", "", "", "",
        exp(l1 / n), exp(l2 / n), exp(l3 / n), exp(l4 / n) }'
