#!/usr/bin/env bash
# Instructions per operation, counted by valgrind --tool=callgrind (stable on a noisy machine).
# For each workload, runs count_ops with N and 2N operations and prints (I(2N) - I(N)) / N, so
# the set-up cost cancels out.
#
# usage: bench/instructions.sh [BUILD_DIR]     (default build/release)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin=${1:-build/release}/bin/count_ops
[[ -x $bin ]] || { echo "instructions.sh: $bin not built (cmake --build --preset release)" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "instructions.sh: valgrind is not installed" >&2; exit 1; }

n=20000
count() {  # count WORKLOAD N -> total instructions (Ir)
  local out
  out=$(mktemp)
  valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" "$1" "$2" >/dev/null 2>&1
  local ir
  ir=$(callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}')
  rm -f "$out"
  echo "$ir"
}

printf '%-20s %10s\n' workload 'instr/op'
# buddy-mixed@P: the same mixed workload on 16 MiB, 256 MiB, 4 GiB and 16 GiB ranges.
for w in buddy-pair-0 buddy-pair-3 buddy-pair-10 buddy-mixed \
         buddy-mixed@4096 buddy-mixed@65536 buddy-mixed@1048576 buddy-mixed@4194304 \
         heap-pair-0 heap-pair-3 heap-pair-10 slab-pair-16 slab-pair-256 slab-pair-4096; do
  a=$(count "$w" "$n")
  b=$(count "$w" $((2 * n)))
  awk -v w="$w" -v a="$a" -v b="$b" -v n="$n" 'BEGIN { printf "%-20s %10.1f\n", w, (b - a) / n }'
done
