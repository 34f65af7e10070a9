#!/usr/bin/env bash
# README command 2: install dependencies, then build and run the test suite
# in the release, asan and tsan presets, the libFuzzer harnesses (scripts/fuzz.sh, 5 s each),
# then the install test.
# Every stage runs even if an earlier one failed; exits non-zero if any failed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

logdir=build/test-logs
mkdir -p "$logdir"

total_passed=0
total_failed=0
summary=()

# ctest --preset PRESET [ARGS...]: runs ctest, adds its counts to the totals.
run_ctest() {
    local preset=$1
    shift
    local log
    log="$logdir/ctest-$preset-$(date +%s%N).log"
    local rc=0
    ctest --preset "$preset" "$@" 2>&1 | tee "$log" || rc=${PIPESTATUS[0]}
    local line
    line=$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n1 || true)
    if [[ $line =~ ([0-9]+)\ tests?\ failed\ out\ of\ ([0-9]+) ]]; then
        local failed=${BASH_REMATCH[1]} all=${BASH_REMATCH[2]}
        total_failed=$((total_failed + failed))
        total_passed=$((total_passed + all - failed))
    fi
    return "$rc"
}

# preset_stage PRESET [CTEST ARGS...]: configure, build, test one preset.
preset_stage() {
    local preset=$1
    shift
    cmake --preset "$preset" || return 1
    cmake --build --preset "$preset" || return 1
    run_ctest "$preset" "$@" || return 1
}

# stage NAME CMD...: runs CMD, records PASS/FAIL and duration.
failures=0
stage() {
    local name=$1
    shift
    local start=$SECONDS
    echo
    echo "======== [$name] $*"
    if "$@"; then
        summary+=("$(printf '%-8s PASS %5ss' "$name" $((SECONDS - start)))")
    else
        summary+=("$(printf '%-8s FAIL %5ss' "$name" $((SECONDS - start)))")
        failures=$((failures + 1))
    fi
}

if ! bash scripts/deps.sh test; then
    echo "test.sh: dependency installation failed" >&2
    exit 1
fi

stage release preset_stage release -LE install
stage asan preset_stage asan
stage tsan preset_stage tsan
# Every /proc parser under libFuzzer + ASan for a bounded time (its own clang build).
stage fuzz bash scripts/fuzz.sh --seconds 5 --build-dir build/fuzz
if [[ -f build/release/CTestTestfile.cmake ]]; then
    stage install run_ctest release -L install
else
    summary+=("$(printf '%-8s FAIL %5ss (release build missing)' install 0)")
    failures=$((failures + 1))
fi

echo
echo "======== summary"
printf '%s\n' "${summary[@]}"
echo "test.sh: $total_passed passed, $total_failed failed"

if [[ $failures -ne 0 ]]; then
    echo "test.sh: $failures stage(s) failed" >&2
    exit 1
fi
