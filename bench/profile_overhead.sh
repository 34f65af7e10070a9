#!/usr/bin/env bash
# The heap profiler's overhead (issue 14 §4): every `memkit bench` workload (bin/mkb-*) on
# libmemkit.so in three configurations, run interleaved (off, live, profile, off, live, ...)
# so that a drift of the machine hits all three alike:
#   off      MEMKIT_OPTIONS=profile_sample=0:stats_shm=0   (plain LD_PRELOAD)
#   live     stats_shm=1 (the live segment, refreshed every 250 ms), no profiler
#   profile  profile_sample=524288 (memkit profile's default) with the live segment
# and prints, per workload, the median wall time of each and the ratios live/off and
# profile/off, then their geometric means. Targets (issue 14): profile/off geomean <= 1.02 and
# no workload above 1.05; live/off <= 1.01. Timings need a quiet machine: run it alone.
#
# usage: bench/profile_overhead.sh [--runs N] [--scale S] [--threads T] [--workloads a,b] [BUILD_DIR]
#        (defaults: 7 runs, scale 1, 2 threads, every workload, build/release)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
runs=7 scale=1 threads=2 only="" build=build/release
while (($#)); do
    case $1 in
        --runs) runs=$2; shift 2 ;;
        --scale) scale=$2; shift 2 ;;
        --threads) threads=$2; shift 2 ;;
        --workloads) only=$2; shift 2 ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) build=$1; shift ;;
    esac
done
lib=$(realpath "$build/lib/libmemkit.so")
[[ -r $lib ]] || { echo "profile_overhead.sh: $lib not built" >&2; exit 1; }
workloads=()
for w in "$build"/bin/mkb-*; do
    [[ -x $w ]] || continue
    name=${w##*/mkb-}
    [[ -z $only || ,$only, == *,$name,* ]] && workloads+=("$name")
done
((${#workloads[@]})) || { echo "profile_overhead.sh: no workloads (bin/mkb-*) in $build" >&2; exit 1; }
declare -A opts=(
    [off]="profile_sample=0:stats_shm=0"
    [live]="profile_sample=0:stats_shm=1"
    [profile]="profile_sample=524288:stats_shm=1"
)
configs=(off live profile)
results=$(mktemp)
trap 'rm -f "$results"' EXIT
for name in "${workloads[@]}"; do
    bin=$build/bin/mkb-$name
    for ((r = 0; r < runs; ++r)); do
        for c in "${configs[@]}"; do
            start=$EPOCHREALTIME
            MEMKIT_OPTIONS=${opts[$c]} LD_PRELOAD=$lib "$bin" --threads "$threads" --scale "$scale" >/dev/null
            end=$EPOCHREALTIME
            echo "$name $c $start $end" >>"$results"
        done
    done
    echo "  $name: $runs runs of each" >&2
done
python3 - "$results" <<'PY'
import math, statistics, sys
times = {}
for line in open(sys.argv[1]):
    name, config, start, end = line.split()
    times.setdefault(name, {}).setdefault(config, []).append(float(end) - float(start))
print(f"{'workload':<18} {'off s':>8} {'live s':>8} {'prof s':>8} {'live/off':>9} {'prof/off':>9}")
live_r, prof_r = [], []
for name in sorted(times):
    t = {c: statistics.median(v) for c, v in times[name].items()}
    lr, pr = t["live"] / t["off"], t["profile"] / t["off"]
    live_r.append(lr)
    prof_r.append(pr)
    print(f"{name:<18} {t['off']:8.3f} {t['live']:8.3f} {t['profile']:8.3f} {lr:9.3f} {pr:9.3f}")
geo = lambda v: math.exp(sum(map(math.log, v)) / len(v))
print(f"{'geomean':<18} {'':>8} {'':>8} {'':>8} {geo(live_r):9.3f} {geo(prof_r):9.3f}")
print(f"worst profile/off: {max(prof_r):.3f}")
PY
