#!/usr/bin/env bash
# The guard mode's time cost (src/malloc/guard.h): every `memkit bench` workload under
# libmemkit.so with guard_sample=0 (off, the default) and with each N asked for, runs
# interleaved (each round runs every workload once per setting, the settings' order rotated
# from round to round), medians of the wall times, and the ratio of each N's median to off's,
# per workload and as a geometric mean. A timing job: run it on a quiet machine.
#
#   bash bench/guard_overhead.sh [--runs R] [--scale S] [--threads T] [--samples "N1 N2 ..."]
#                                [--workloads a,b,...] [--build DIR]
#
# Defaults: 5 runs, scale 1, 2 threads, N = 100000 10000 1000 100, every workload, build/release.
# --baseline LIB adds LIB (e.g. libmemkit.so built without the guard mode) as one more setting,
# so that the cost of the fast path's countdown with the mode off shows too.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
runs=5
scale=1
threads=2
samples="100000 10000 1000 100"
only=""
build=build/release
baseline=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --scale) scale=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --samples) samples=$2; shift 2 ;;
    --workloads) only=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --baseline) baseline=$(realpath "$2"); shift 2 ;;
    *) echo "guard_overhead.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
cli=$build/bin/memkit
lib=$(realpath "$build/lib/libmemkit.so")
[[ -x $cli && -r $lib ]] || { echo "guard_overhead.sh: build memkit_cli and memkit_preload in $build first" >&2; exit 1; }

# name path (from memkit bench --list); lisp takes --repeat instead of --scale.
declare -A path
names=()
while read -r name p; do
  [[ -n $only && ",$only," != *",$name,"* ]] && continue
  path[$name]=$p
  names+=("$name")
done < <("$cli" bench --list)
[[ ${#names[@]} -gt 0 ]] || { echo "guard_overhead.sh: no workload" >&2; exit 1; }

settings=(0 $samples)
[[ -n $baseline ]] && settings+=(base)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

run_once() {  # run_once WORKLOAD SETTING -> appends the wall ms to $out/WORKLOAD.SETTING
  local w=$1 s=$2 args
  if [[ $w == lisp ]]; then
    args=(--threads "$threads" --repeat "$(awk -v s="$scale" 'BEGIN { r = int(s * 2 + 0.5); print r < 1 ? 1 : r }')")
  else
    args=(--threads "$threads" --scale "$scale")
  fi
  local preload=$lib opts="guard_sample=$s"
  [[ $s == base ]] && { preload=$baseline; opts=""; }
  local t0 t1
  t0=$(date +%s%N)
  MEMKIT_OPTIONS=$opts LD_PRELOAD=$preload "${path[$w]}" "${args[@]}" >/dev/null 2>&1 ||
    { echo "guard_overhead.sh: $w failed at guard_sample=$s" >&2; exit 1; }
  t1=$(date +%s%N)
  echo $(((t1 - t0) / 1000)) >>"$out/$w.$s"
}

n=${#settings[@]}
for ((r = 0; r < runs; r++)); do
  for w in "${names[@]}"; do
    for ((i = 0; i < n; i++)); do
      run_once "$w" "${settings[$(((i + r) % n))]}"
    done
  done
  echo "round $((r + 1))/$runs done" >&2
done

median() { sort -n "$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

printf '%-16s %12s' "workload" "off (ms)"
for s in "${settings[@]:1}"; do printf ' %12s' "$([[ $s == base ]] && echo "baseline" || echo "N=$s")"; done
printf '\n'
declare -A logsum
for w in "${names[@]}"; do
  off=$(median "$out/$w.0")
  printf '%-16s %12.1f' "$w" "$(awk -v v="$off" 'BEGIN { print v / 1000 }')"
  for s in "${settings[@]:1}"; do
    m=$(median "$out/$w.$s")
    ratio=$(awk -v a="$m" -v b="$off" 'BEGIN { printf "%.3f", a / b }')
    logsum[$s]=$(awk -v l="${logsum[$s]:-0}" -v r="$ratio" 'BEGIN { print l + log(r) }')
    printf ' %11sx' "$ratio"
  done
  printf '\n'
done
printf '%-16s %12s' "geomean (ratio)" ""
for s in "${settings[@]:1}"; do
  printf ' %11sx' "$(awk -v l="${logsum[$s]}" -v k="${#names[@]}" 'BEGIN { printf "%.3f", exp(l / k) }')"
done
printf '\n'
echo "(medians of $runs interleaved runs, scale $scale, $threads threads; ratio = median at N / median with guard_sample=0)"
