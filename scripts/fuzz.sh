#!/usr/bin/env bash
# Fuzzes every /proc and /sys parser: configures a clang build with MEMKIT_BUILD_FUZZ=ON
# (libFuzzer + AddressSanitizer), builds every fuzz/fuzz_*.cpp and runs each for a bounded
# time. Exits non-zero if a harness does not build, crashes, leaks or times out; the crashing
# input is kept in BUILD/fuzz-artifacts/ and its reproduction command printed.
#
#   scripts/fuzz.sh [--seconds N] [--build-dir DIR] [--jobs N] [HARNESS...]
#
#   --seconds N     run time per harness (default 20; ctest's "fuzz" test uses 3)
#   --build-dir DIR clang build directory (default build/fuzz)
#   --jobs N        parallel build jobs (default 2)
#   HARNESS...      only these (e.g. fuzz_meminfo); default all
#
# Seed corpus: the files under tests/data/ whose name matches a glob on the harness's
# "// seeds: GLOB..." line (without one: whose path contains NAME, for fuzz_NAME), plus
# fuzz/corpus/NAME/ if present.
# The corpus grown by a run is thrown away; seeds never change.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=20
build="$root/build/fuzz"
jobs=2
only=()
while [[ $# -gt 0 ]]; do
    case $1 in
        --seconds) seconds=$2; shift 2 ;;
        --build-dir) build=$2; shift 2 ;;
        --jobs) jobs=$2; shift 2 ;;
        -h|--help) sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "fuzz.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) only+=("$1"); shift ;;
    esac
done
[[ $seconds =~ ^[0-9]+$ && $seconds -ge 1 ]] || { echo "fuzz.sh: --seconds must be >= 1" >&2; exit 2; }

export CC=${CC:-clang-14} CXX=${CXX:-clang++-14}
if ! command -v "$CXX" >/dev/null; then
    echo "fuzz.sh: $CXX not found (scripts/deps.sh installs clang and libclang-rt-14-dev)" >&2
    exit 1
fi

# A build directory configured with another compiler cannot be reused.
if [[ -f $build/CMakeCache.txt ]] && ! grep -q "^CMAKE_CXX_COMPILER:.*$(basename "$CXX")\$" "$build/CMakeCache.txt"; then
    rm -rf "$build"
fi
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DMEMKIT_BUILD_FUZZ=ON -DMEMKIT_BUILD_TESTS=OFF -DMEMKIT_BUILD_BENCH=OFF \
    -DMEMKIT_WERROR=ON >/dev/null
cmake --build "$build" -j "$jobs" --target memkit_fuzzers

artifacts="$build/fuzz-artifacts"
mkdir -p "$artifacts"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

failed=()
passed=()
for src in "$root"/fuzz/fuzz_*.cpp; do
    name=$(basename "$src" .cpp)
    short=${name#fuzz_}
    if [[ ${#only[@]} -gt 0 && ! " ${only[*]} " == *" $name "* && ! " ${only[*]} " == *" $short "* ]]; then
        continue
    fi

    corpus="$work/$name"
    mkdir -p "$corpus"
    read -r -a globs <<<"$(sed -n 's|^// seeds:||p' "$src" | head -n1)"
    if [[ ${#globs[@]} -gt 0 ]]; then
        match=()
        for glob in "${globs[@]}"; do match+=(-o -name "$glob"); done
        match=("${match[@]:1}")
    else
        match=(-path "*$short*")  # any file whose path mentions the harness's name
    fi
    while IFS= read -r -d '' f; do
        cp "$f" "$corpus/$(sha1sum <"$f" | cut -c1-40)"
    done < <(find "$root/tests/data" -type f \( "${match[@]}" \) -print0)
    if [[ -d $root/fuzz/corpus/$short ]]; then
        cp "$root/fuzz/corpus/$short"/* "$corpus/" 2>/dev/null || true
    fi
    seeds=$(find "$corpus" -type f | wc -l)

    log="$work/$name.log"
    echo "fuzz.sh: $name for ${seconds}s ($seeds seeds)"
    if "$build/bin/$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
            -artifact_prefix="$artifacts/$name-" -print_final_stats=1 "$corpus" >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
        echo "fuzz.sh: $name PASS (${runs:-?} runs)"
        passed+=("$name")
    else
        echo "fuzz.sh: $name FAIL; the last lines of its log:" >&2
        tail -n 40 "$log" >&2
        crash=$(ls -t "$artifacts/$name-"* 2>/dev/null | head -n1 || true)
        [[ -n $crash ]] && echo "fuzz.sh: reproduce with: $build/bin/$name $crash" >&2
        failed+=("$name")
    fi
done

echo "fuzz.sh: ${#passed[@]} passed, ${#failed[@]} failed${failed:+: ${failed[*]}}"
[[ ${#passed[@]} -gt 0 || ${#failed[@]} -gt 0 ]] || { echo "fuzz.sh: no harness matched" >&2; exit 2; }
[[ ${#failed[@]} -eq 0 ]]
