#!/usr/bin/env bash
# Allocation traces end to end (ctest: trace_roundtrip): record tests/trace/known.cpp with
# `memkit run --trace` on memkit and with libmemkit-trace.so alone in front of glibc, check its
# decoded events exactly (check_known.py), replay it and small python3 and g++ traces on every
# installed allocator, the page-level part in `memkit buddy simulate --trace`, the stats, and
# the errors for truncated and corrupt traces.
#
#   run.sh MEMKIT_CLI KNOWN_PROGRAM TRACE_LIBRARY
set -euo pipefail
memkit=$1 known=$2 tracelib=$3
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "trace_roundtrip: FAIL: $*" >&2; exit 1; }

# 1. The known sequence, recorded on memkit and on glibc.
"$memkit" run --trace "$work/known.trace" "$known" || fail "memkit run --trace known"
"$memkit" trace dump --json "$work/known.trace" >"$work/known.jsonl"
python3 "$here/check_known.py" "$work/known.jsonl" || fail "known sequence on memkit"
LD_PRELOAD="$tracelib" MEMKIT_TRACE_FILE="$work/glibc.trace" "$known" || fail "known on glibc"
"$memkit" trace dump --json "$work/glibc.trace" >"$work/glibc.jsonl"
python3 "$here/check_known.py" "$work/glibc.jsonl" || fail "known sequence on glibc"

# A child that loads the recorder too (no MEMKIT_TRACE_PID) runs untraced: the file is the
# parent's, whole (the child used to truncate it and the two wrote over each other).
# (The child, python3, makes more events than the shell: its data used to trail the shell's.)
LD_PRELOAD="$tracelib" MEMKIT_TRACE_FILE="$work/parent.trace" \
    bash -c "python3 -c 'x = [str(i) * 20 for i in range(30000)]'; exit 0" ||
    fail "a shell running python3 under the recorder"
"$memkit" trace stats "$work/parent.trace" >/dev/null || fail "the parent's trace is corrupt"

# 2. trace stats agrees with the dump.
"$memkit" trace stats --json "$work/known.trace" >"$work/stats.json"
python3 - "$work/stats.json" "$work/known.jsonl" <<'PY' || fail "trace stats"
import json, sys, collections
s = json.load(open(sys.argv[1]))
events = [json.loads(l) for l in open(sys.argv[2])]
kinds = collections.Counter(e["kind"] for e in events)
assert s["events"] == len(events), (s["events"], len(events))
assert s["kinds"] == dict(kinds), (s["kinds"], kinds)
assert len(s["threads"]) == 2, s["threads"]
assert s["cross_thread_frees"] >= 1, s["cross_thread_frees"]
assert s["peak"]["bytes"] >= 777002, s["peak"]
assert sum(c["allocations"] for c in s["sizes"]) == sum(1 for e in events if e.get("id")), s["sizes"]
print("trace stats: consistent with the dump")
PY
"$memkit" trace stats "$work/known.trace" | grep -q "cross-thread frees: [1-9]" || fail "stats text"

# 3. The page-level part: the blocks above the slab limit (32 KiB) as buddy orders.
"$memkit" buddy simulate --trace "$work/known.trace" --pages 65536 --json >"$work/buddy.json"
python3 - "$work/buddy.json" "$work/known.jsonl" <<'PY' || fail "buddy simulate --trace"
import json, sys
b = json.load(open(sys.argv[1]))
events = [json.loads(l) for l in open(sys.argv[2])]
def size(e):
    if e["kind"] == "calloc": return e["nmemb"] * e["size"]
    if e["kind"] == "pvalloc": return (e["size"] + 4095) // 4096 * 4096
    return e["size"]
big = [e for e in events if e.get("id") and size(e) > 32768 and (size(e) + 4095) // 4096 <= 1024]
assert b["allocs"] + b["failed_allocs"] == len(big), (b["allocs"], len(big))
assert b["allocs"] >= 3, b
print(f"buddy simulate: {b['allocs']} page-level blocks")
PY

# 4. Replays on every installed allocator (bench's runner: checksums must agree, exit 0).
python3 -c 'import json; json.loads(json.dumps({str(i): [i] * 3 for i in range(20000)}))' >/dev/null
"$memkit" run --trace "$work/py.trace" python3 -c 'import json; json.loads(json.dumps({str(i): [i] * 3 for i in range(20000)}))'
cat >"$work/small.cpp" <<'CPP'
#include <map>
#include <string>
#include <vector>
std::map<std::string, std::vector<int>> build(int n) {
  std::map<std::string, std::vector<int>> m;
  for (int i = 0; i < n; ++i) m[std::to_string(i)].push_back(i);
  return m;
}
CPP
g++ -O2 -S -o /dev/null "$work/small.cpp" -wrapper "$memkit,run,--trace,$work/gxx.trace"
for t in known py gxx; do
    "$memkit" trace stats "$work/$t.trace" | head -n 1
    "$memkit" replay "$work/$t.trace" --runs 1 --no-progress --out "$work/replay-$t" \
        --options decay_ms=0 >"$work/replay-$t.txt" 2>&1 || { cat "$work/replay-$t.txt"; fail "replay of $t"; }
    n=$(tail -n +2 "$work/replay-$t/runs.csv" | wc -l)
    [[ $n -ge 3 ]] || fail "replay of $t: $n runs"
    echo "replay of $t: $n allocators, same checksum"
done

# 5. A truncated or corrupt trace: one error naming the byte offset, exit status 1.
size=$(stat -c %s "$work/known.trace")
for cut in 0 10 16 17 $((size / 2)) $((size - 1)); do
    head -c "$cut" "$work/known.trace" >"$work/cut.trace"
    set +e
    "$memkit" trace stats "$work/cut.trace" >/dev/null 2>"$work/err.txt"; rc=$?
    set -e
    [[ $rc -eq 1 ]] || fail "truncated at $cut: exit status $rc"
    grep -q "at byte [0-9]" "$work/err.txt" || fail "truncated at $cut: $(cat "$work/err.txt")"
    [[ $(wc -l <"$work/err.txt") -eq 1 ]] || fail "truncated at $cut: more than one line"
done
set +e
"$memkit" replay "$work/cut.trace" --runs 1 --no-progress --out "$work/r" 2>"$work/err.txt"; rc=$?
set -e
[[ $rc -eq 1 ]] && grep -q "at byte" "$work/err.txt" || fail "replay of a cut trace: $rc $(cat "$work/err.txt")"
echo "trace_roundtrip: all passed"
