#!/usr/bin/env bash
# Process start-up under LD_PRELOAD: what every process pays for loading the allocator.
#
# Two measures, each under glibc (no LD_PRELOAD), mimalloc and memkit (libmemkit.so):
#   true:  RUNS runs of /bin/true, each a fork+exec from this script with LD_PRELOAD set for it;
#   shell: a POSIX shell (sh -c) that itself runs /bin/true RUNS times, the whole shell under
#          LD_PRELOAD, so the shell and every child it forks and execs load the allocator.
# The allocators are interleaved within each round (in a rotated order), ROUNDS rounds, and
# the script prints, for wall time and for the processes' CPU time (user + system, from the
# shell's `times`: steadier than wall time when other work shares the machine), the median of
# the rounds per process in milliseconds and the ratios to glibc and to mimalloc. Start-up time is mostly the dynamic loader's work (mapping and
# relocating the library and its dependencies: libstdc++ alone was 1,000+ relocations and 2 MiB
# of mappings) and the allocator's constructor, so it is sensitive to a loaded machine: run it
# on a quiet one, and compare ratios within one run.
#
# usage: bench/startup.sh [--runs N] [--rounds R] [--build DIR] [NAME=LIBRARY ...]
#   NAME=LIBRARY adds an allocator (e.g. memkit-old=/path/to/an/older/libmemkit.so, or
#   jemalloc=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2); several libraries: NAME="LIB1 LIB2".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

runs=200
rounds=7
build=build/release
extra=()
while [[ $# -gt 0 ]]; do
    case $1 in
        --runs) runs=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        --build) build=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *=*) extra+=("$1"); shift ;;
        *) echo "startup.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

find_lib() {
    local name dir
    for name in "$@"; do
        for dir in /usr/lib/x86_64-linux-gnu /usr/lib/aarch64-linux-gnu /usr/lib64 /usr/lib /usr/local/lib; do
            [[ -r $dir/$name ]] && { echo "$dir/$name"; return; }
        done
    done
}

memkit_lib=$build/lib/libmemkit.so
[[ -r $memkit_lib ]] || { echo "startup.sh: $memkit_lib not built (cmake --build --preset release --target memkit_preload)" >&2; exit 1; }
declare -A lib=([glibc]="" [memkit]=$(realpath "$memkit_lib"))
names=(glibc)
mimalloc=$(find_lib libmimalloc.so.2 libmimalloc.so.2.0)
if [[ -n $mimalloc ]]; then lib[mimalloc]=$mimalloc; names+=(mimalloc); else echo "(mimalloc not installed: skipped)" >&2; fi
names+=(memkit)
for e in "${extra[@]}"; do
    lib[${e%%=*}]=${e#*=}
    names+=("${e%%=*}")
done

true_bin=$(command -v true)
true_bin=$(realpath /bin/true 2>/dev/null || echo "$true_bin")

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT

# children_cpu: the user + system seconds of this shell's waited-for children so far, from the
# builtin times run in this shell (in a $(...) subshell it would count the subshell's children).
children_cpu() {
    awk 'NR == 2 { n = split($0, f, /[ms ]+/); s = 0
                   for (i = 1; i + 1 <= n; i += 2) if (f[i] != "") s += 60 * f[i] + f[i + 1]
                   print s }' "$tmp"
}

# measure KIND LIB: RUNS processes of KIND (true: fork+execs of /bin/true from this script;
# shell: sh -c running /bin/true RUNS times, all under LD_PRELOAD); sets wall and cpu (seconds).
measure() {
    local kind=$1 preload=$2 i t0 t1 c0 c1
    local script="i=0; while [ \$i -lt $runs ]; do $true_bin; i=\$((i + 1)); done"
    times >"$tmp"
    c0=$(children_cpu)
    t0=$EPOCHREALTIME
    if [[ $kind == true && -z $preload ]]; then
        for ((i = 0; i < runs; i++)); do "$true_bin"; done
    elif [[ $kind == true ]]; then
        for ((i = 0; i < runs; i++)); do LD_PRELOAD=$preload "$true_bin"; done
    elif [[ -z $preload ]]; then
        sh -c "$script"
    else
        LD_PRELOAD=$preload sh -c "$script"
    fi
    t1=$EPOCHREALTIME
    times >"$tmp"
    c1=$(children_cpu)
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')
    cpu=$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.6f", b - a }')
}

# Each allocator must load: a typo in a path would otherwise time the loader's error message.
for n in "${names[@]}"; do
    if [[ -n ${lib[$n]} ]]; then
        out=$(LD_PRELOAD=${lib[$n]} "$true_bin" 2>&1) || true
        [[ -z $out ]] || { echo "startup.sh: $n (${lib[$n]}) does not load: $out" >&2; exit 1; }
    fi
done

declare -A samples
echo "start-up: $runs processes per measure, $rounds rounds, allocators interleaved"
for ((r = 0; r < rounds; r++)); do
    count=${#names[@]}
    for ((k = 0; k < count; k++)); do
        n=${names[$(((k + r) % count))]}
        for kind in true shell; do
            measure "$kind" "${lib[$n]}"
            samples[$kind,wall,$n]+="$wall "
            samples[$kind,cpu,$n]+="$cpu "
        done
    done
done

median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

for kind in true shell; do
    for what in wall cpu; do
        echo
        case $kind in
            true) echo -n "/bin/true, one fork+exec each" ;;
            shell) echo -n "sh -c 'while ...; do /bin/true; done', all under LD_PRELOAD" ;;
        esac
        case $what in
            wall) echo ": wall ms per process (median of $rounds rounds)" ;;
            cpu) echo ": CPU ms (user + system) per process (median of $rounds rounds)" ;;
        esac
        declare -A med=()
        for n in "${names[@]}"; do
            med[$n]=$(median <<<"${samples[$kind,$what,$n]}")
        done
        printf '%-14s %8s %8s %10s\n' allocator "ms" "/glibc" "/mimalloc"
        for n in "${names[@]}"; do
            awk -v n="$n" -v t="${med[$n]}" -v g="${med[glibc]}" -v m="${med[mimalloc]:-}" -v runs="$runs" \
                'BEGIN { printf "%-14s %8.3f %8.2f %10s\n", n, 1000 * t / runs, t / g, m == "" ? "-" : sprintf("%.2f", t / m) }'
        done
        unset med
    done
done
