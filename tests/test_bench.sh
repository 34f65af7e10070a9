#!/usr/bin/env bash
# `memkit bench` as CI runs it (tests/test_bench.sh): every workload once, short, under every
# allocator installed (memkit, glibc, and the peers scripts/deps.sh installs), checking that
# each works and prints the same checksum under all of them; then the bench's outputs and its
# errors. Benchmarks are never timed here.
set -euo pipefail
: "${MEMKIT_CLI:?set by ctest: the memkit binary}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

listed=$("$MEMKIT_CLI" bench --list)
n_workloads=$(wc -l <<<"$listed")
grep -q "^lisp " <<<"$listed" || { echo "bench --list has no lisp: $listed" >&2; exit 1; }
grep -q "^gxx " <<<"$listed" && grep -q "^python " <<<"$listed" ||
    { echo "bench --list has no gxx or python: $listed" >&2; exit 1; }
(( n_workloads >= 13 )) || { echo "bench --list shows $n_workloads workloads, want >= 13" >&2; exit 1; }

# The smoke run: exit 1 if any run fails or any checksum differs.
"$MEMKIT_CLI" bench --runs 1 --scale 0.05 --threads 2 --no-progress --out "$work/out" | tee "$work/table"
for f in runs.csv summary.json chart.svg; do
    [[ -s $work/out/$f ]] || { echo "bench wrote no $f" >&2; exit 1; }
done
allocators=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["allocators"]))' "$work/out/summary.json")
rows=$(( $(wc -l <"$work/out/runs.csv") - 1 ))
(( rows == n_workloads * allocators )) ||
    { echo "runs.csv has $rows runs, want $n_workloads x $allocators" >&2; exit 1; }
python3 - "$work/out/summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
assert "memkit" in s["allocators"] and "glibc" in s["allocators"], s["allocators"]
for w, row in s["results"].items():
    assert "problem" not in row, (w, row)
    for a in s["allocators"]:
        assert row[a]["time_s"] > 0 and row[a]["peak_rss_mib"] > 0, (w, a, row[a])
    assert row["memkit_time_ratio"]["ratio"] > 0, (w, row)
PY
head -c 5 "$work/out/chart.svg" | grep -q "<svg" || { echo "chart.svg is not SVG" >&2; exit 1; }
grep -q "^geomean/best" "$work/table" || { echo "no geomean line in the table" >&2; exit 1; }

# Errors: exit status 2 with one line naming the problem.
# expect_usage OPTION VALUE [TEXT]: TEXT, if given, must be in the message.
expect_usage() {
    local rc=0 err
    err=$("$MEMKIT_CLI" bench --no-progress --out "$work/e" "$1" "$2" 2>&1 >/dev/null) || rc=$?
    [[ $rc == 2 ]] || { echo "bench $1 $2: status $rc, want 2 ($err)" >&2; exit 1; }
    grep -q "^memkit: bench: " <<<"$err" || { echo "bench $1 $2: message '$err'" >&2; exit 1; }
    [[ -z ${3:-} ]] || grep -qF "$3" <<<"$err" || { echo "bench $1 $2: no '$3' in '$err'" >&2; exit 1; }
}
expect_usage --allocators nosuch
expect_usage --allocators memkit,memkit
expect_usage --allocators "mine=/nonexistent/libmine.so"
# What is not a shared library, or is one without malloc, is no allocator: it must not run the
# workloads on glibc's malloc under its name.
expect_usage --allocators "bad=/etc/passwd" "invalid ELF header"
if cc -shared -fPIC -o "$work/libnomalloc.so" -x c - <<<'int not_malloc(void) { return 1; }' 2>/dev/null; then
    expect_usage --allocators "glibc,nomalloc=$work/libnomalloc.so" "does not define malloc"
fi
expect_usage --allocators "spaced=$work/a b.so"
expect_usage --workloads nosuch
expect_usage --runs 0
expect_usage --scale 0

# A run that fails is reported, and the bench exits 1.
# (Its malloc works in memkit itself, which bench runs with it preloaded to check that it is
# an allocator, and exits 42 in the workloads.)
cat >"$work/bad.c" <<'C'
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
extern void* __libc_malloc(size_t);
void* malloc(size_t n) {
    if (strcmp(program_invocation_short_name, "memkit") == 0) return __libc_malloc(n);
    _exit(42);
}
C
if cc -shared -fPIC -o "$work/libbad.so" "$work/bad.c" 2>/dev/null; then
    rc=0
    err=$("$MEMKIT_CLI" bench --allocators "glibc,bad=$work/libbad.so" --workloads lisp --runs 1 \
        --scale 0.05 --no-progress --out "$work/bad" 2>&1 >/dev/null) || rc=$?
    [[ $rc == 1 ]] && grep -q "bad run 1: status 42" <<<"$err" ||
        { echo "a failing allocator: status $rc, message '$err'" >&2; exit 1; }
fi
echo "bench: ok ($n_workloads workloads x $allocators allocators)"
