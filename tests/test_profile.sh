#!/usr/bin/env bash
# The sampling heap profiler (tests/test_profile.sh): `memkit profile` on bin/preload_profile_sites,
# a program with known allocation sites (tests/preload/profile_sites.cpp), checked against the
# truth:
#   --sample 1      every site's live and allocated bytes and objects exact (sites.csv), the
#                   transient site 0 live bytes but its whole allocated total, the peak copy,
#                   threads, realloc/calloc/memalign of sampled blocks, fork (the parent's
#                   profile untouched by its children, no deadlock with threads allocating);
#   --sample 16384  every site holding >= 1 % of the heap within 10 % of the truth;
#   off             (profile_sample=0, the default) nothing sampled, no profile written;
# and the formats read by their real readers: heap.pb.gz / peak.pb.gz by Go's pprof (`go tool
# pprof -raw` and `-top`), the folded stacks' format and totals, the CSV files' headers.
set -euo pipefail
: "${MEMKIT_CLI:?set by ctest: the memkit binary}"
: "${MEMKIT_BINARY_DIR:?set by ctest}"
prog=$MEMKIT_BINARY_DIR/bin/preload_profile_sites
[[ -x $prog ]] || { echo "SKIP: $prog not built (a sanitizer build?)"; exit 0; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
export HOME=${HOME:-$work} GOCACHE=$work/gocache GOFLAGS=-mod=mod GOTOOLCHAIN=local

# site FILE FUNCTION FIELD -> the value of FIELD in the row of FUNCTION in sites.csv
site() {
    python3 - "$@" <<'PY'
import csv, sys
path, fn, field = sys.argv[1:4]
rows = [r for r in csv.DictReader(open(path)) if fn in r["function"]]
if not rows: sys.exit(f"no site {fn} in {path}")
print(int(sum(float(r[field]) for r in rows)))
PY
}
expect() {  # expect DIR FUNCTION FIELD VALUE
    local got
    got=$(site "$1/sites.csv" "$2" "$3") || fail "$2 is not a site in $1/sites.csv"
    [[ $got == "$4" ]] || fail "$2 $3 = $got, want $4 ($1/sites.csv)"
}
near() {  # near DIR FUNCTION FIELD TRUTH PERCENT
    local got
    got=$(site "$1/sites.csv" "$2" "$3") || fail "$2 is not a site in $1/sites.csv"
    python3 -c "import sys; g, t, p = $got, $4, $5; sys.exit(0 if abs(g - t) <= t * p / 100 else 1)" ||
        fail "$2 $3 = $got, not within $5 % of $4"
    echo "  $2 $3 = $got (truth $4)"
}

echo "== --sample 1: every site exact"
"$MEMKIT_CLI" profile --sample 1 --interval 20 --out "$work/exact" -- "$prog" sites 16 2 64
d=$work/exact
for f in heap.pb.gz peak.pb.gz heap.folded peak.folded timeline.csv sites.csv peak-buddyinfo.txt peak-slabinfo.txt; do
    [[ -s $d/$f ]] || fail "$f missing or empty"
done
head -1 "$d/sites.csv" | grep -qx 'function,file,line,live_bytes,live_objects,alloc_bytes,alloc_objects,peak_bytes,peak_objects' ||
    fail "sites.csv header: $(head -1 "$d/sites.csv")"
expect "$d" keep_4k live_bytes $((16 << 20))
expect "$d" keep_4k live_objects 4096
expect "$d" keep_4k alloc_bytes $((16 << 20))
expect "$d" keep_64 live_bytes $((2 << 20))
expect "$d" keep_64 live_objects 32768
expect "$d" keep_64 alloc_objects 32768
expect "$d" transient live_bytes 0
expect "$d" transient alloc_bytes $((64 << 20))
expect "$d" transient alloc_objects 64
# At the peak all that is kept was live, and one transient block.
expect "$d" keep_4k peak_bytes $((16 << 20))
expect "$d" keep_64 peak_bytes $((2 << 20))
expect "$d" transient peak_bytes $((1 << 20))
# The folded stacks: `frame;frame;leaf BYTES`, root first, the totals those of sites.csv.
python3 - "$d" <<'PY' || fail "folded stacks"
import csv, re, sys
d = sys.argv[1]
for name, field in (("heap", "live_bytes"), ("peak", "peak_bytes")):
    total = 0
    for line in open(f"{d}/{name}.folded"):
        m = re.fullmatch(r"(.+) (\d+)\n", line)
        assert m, f"{name}.folded: bad line {line!r}"
        frames = m.group(1).split(";")
        assert all(frames), line
        total += int(m.group(2))
    want = sum(int(r[field]) for r in csv.DictReader(open(f"{d}/sites.csv")))
    assert total == want, f"{name}.folded totals {total}, sites.csv {want}"
    keep = [l for l in open(f"{d}/{name}.folded") if "keep_4k" in l]
    assert keep, f"{name}.folded has no keep_4k stack"
    frames = keep[0].rsplit(" ", 1)[0].split(";")
    assert "keep_4k" in frames[-1], f"the leaf last: {keep[0]}"
    assert "keep_4k" not in frames[0], f"the root first: {keep[0]}"
PY
head -1 "$d/timeline.csv" | grep -q '^time_s,heap_bytes,rss_bytes,' || fail "timeline.csv header: $(head -1 "$d/timeline.csv")"
(($(wc -l <"$d/timeline.csv") >= 2)) || fail "timeline.csv has no rows"
head -1 "$d/peak-slabinfo.txt" | grep -q '^slabinfo - version: 2.1' || fail "peak-slabinfo.txt: $(head -1 "$d/peak-slabinfo.txt")"
grep -q '^Node 0, zone' "$d/peak-buddyinfo.txt" || fail "peak-buddyinfo.txt: $(head -1 "$d/peak-buddyinfo.txt")"

echo "== pprof reads heap.pb.gz and peak.pb.gz"
if command -v go >/dev/null; then
    top=$(go tool pprof -top -sample_index=inuse_space "$d/heap.pb.gz" 2>&1) || fail "pprof -top: $top"
    grep -q 'keep_4k' <<<"$top" || fail "pprof -top has no keep_4k: $top"
    grep -q 'keep_64' <<<"$top" || fail "pprof -top has no keep_64: $top"
    raw=$(go tool pprof -raw "$d/heap.pb.gz" 2>&1) || fail "pprof -raw: $raw"
    grep -q 'alloc_objects/count alloc_space/bytes inuse_objects/count inuse_space/bytes' <<<"$raw" ||
        fail "pprof -raw sample types: $raw"
    grep -Eq '^ +4096 +16777216 +4096 +16777216:' <<<"$raw" || fail "pprof -raw has no keep_4k sample: $raw"
    grep -Eq '^ +64 +67108864 +0 +0:' <<<"$raw" || fail "pprof -raw has no transient sample: $raw"
    grep -q 'keep_4k.*profile_sites.cpp' <<<"$raw" || fail "pprof -raw: keep_4k has no file: $raw"
    peak=$(go tool pprof -top -sample_index=inuse_space "$d/peak.pb.gz" 2>&1) || fail "pprof peak: $peak"
    grep -q 'transient' <<<"$peak" || fail "peak.pb.gz: no transient block at the peak: $peak"
else
    echo "  (go is not installed: pprof not checked)"
fi

echo "== --sample 16384: sites of >= 1 % within 10 %"
"$MEMKIT_CLI" profile --sample 16384 --interval 10 --out "$work/sampled" -- "$prog" sites 64 16 1024
d=$work/sampled
# The timeline follows the heap while it grows: rows with different heap bytes, a keep_4k column.
python3 - "$d/timeline.csv" <<'PY' || fail "timeline.csv: $(head -5 "$d/timeline.csv")"
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
head, rows = rows[0], rows[1:]
assert len(rows) >= 3, f"{len(rows)} rows"
assert len({r[1] for r in rows}) >= 2, "heap_bytes never changed"
col = [i for i, h in enumerate(head) if "keep_4k" in h]
assert col and max(int(r[col[0]]) for r in rows) > 0, f"no keep_4k column with bytes: {head}"
PY
near "$d" keep_4k live_bytes $((64 << 20)) 10
near "$d" keep_64 live_bytes $((16 << 20)) 10
near "$d" keep_4k alloc_bytes $((64 << 20)) 10
near "$d" transient alloc_bytes $((1024 << 20)) 10
expect "$d" transient live_bytes 0

echo "== threads, realloc, calloc, memalign: exact"
"$MEMKIT_CLI" profile --sample 1 --out "$work/threads" -- "$prog" threads 8 1000 200
expect "$work/threads" thread_alloc live_bytes $((8 * 500 * 200))
expect "$work/threads" thread_alloc live_objects 4000
expect "$work/threads" thread_alloc alloc_objects 8000
"$MEMKIT_CLI" profile --sample 1 --out "$work/realloc" -- "$prog" realloc
expect "$work/realloc" grow_block live_bytes 65536
expect "$work/realloc" grow_block live_objects 1
# malloc(16), 12 doublings up to 64 KiB (32 .. 65536), 96 KiB, back to 64 KiB in place
expect "$work/realloc" grow_block alloc_bytes $((16 + 131040 + 98304 + 65536))
expect "$work/realloc" grow_block alloc_objects 15
expect "$work/realloc" shrink_block live_bytes 100
expect "$work/realloc" shrink_block alloc_bytes $(((1 << 20) + 100))
expect "$work/realloc" aligned_block live_bytes 5000
expect "$work/realloc" inlined_block live_bytes 3000  # the inlined function names its site

echo "== fork: the parent's profile, no deadlock"
timeout 120 "$MEMKIT_CLI" profile --sample 1 --out "$work/fork" -- "$prog" fork || fail "fork mode failed"
expect "$work/fork" keep_4k live_bytes $((256 * 4096))
expect "$work/fork" keep_4k alloc_objects 256

echo "== memkit stats/top PID show the top sites, symbolised"
mkfifo "$work/hold_in"
# (A long decay time: the freed pages wait for it, the purger is in its rounds all along.)
MEMKIT_OPTIONS=decay_ms=10000 "$MEMKIT_CLI" profile --sample 1 --interval 20 --out "$work/hold" -- "$prog" hold <"$work/hold_in" >"$work/hold_out" &
cli=$!
exec {hold_in}>"$work/hold_in"
for _ in $(seq 100); do grep -q ready "$work/hold_out" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$work/hold_out" || fail "the hold program did not start"
child=$(pgrep -P "$cli" | head -1)
[[ -n $child ]] || fail "no child of memkit profile"
sleep 0.5  # a refresh of the live segment after the allocations
stats=$("$MEMKIT_CLI" stats "$child") || fail "memkit stats $child"
grep -Eq '^ +1048576 bytes +256 blocks +[^<]*keep_4k' <<<"$stats" || fail "memkit stats has no keep_4k site: $stats"
top=$("$MEMKIT_CLI" top --once "$child") || fail "memkit top $child"
grep -q 'keep_4k.*profile_sites.cpp' <<<"$top" || fail "memkit top has no keep_4k site: $top"
json=$("$MEMKIT_CLI" stats --json "$child")
python3 -c "import json, sys; s = json.loads(sys.argv[1])['top_sites'][0]; assert 'keep_4k' in s['site'] and s['bytes'] == 1048576, s" "$json" ||
    fail "memkit stats --json top_sites: $json"
# Refreshed every --interval ms even while free pages wait for the decay time (the purger's
# rounds, 2.5 s apart here, used to be the only refreshes then).
updates() { "$MEMKIT_CLI" stats --json "$child" | python3 -c "import json, sys; print(json.load(sys.stdin)['updates'])"; }
u1=$(updates)
sleep 0.6
u2=$(updates)
((u2 - u1 >= 5)) || fail "the live segment was refreshed $((u2 - u1)) times in 0.6 s at --interval 20"
exec {hold_in}>&-
wait "$cli" || fail "memkit profile of the hold program failed"

echo "== off: nothing sampled"
: >"$work/raw"
MEMKIT_OPTIONS=profile_fd=7 LD_PRELOAD=$(dirname "$MEMKIT_CLI")/../lib/libmemkit.so "$prog" sites 1 1 1 7>"$work/raw"
[[ ! -s $work/raw ]] || fail "profile_sample=0 wrote a profile: $(head -3 "$work/raw")"
MEMKIT_OPTIONS=profile_sample=1:profile_fd=7 LD_PRELOAD=$(dirname "$MEMKIT_CLI")/../lib/libmemkit.so "$prog" sites 1 1 1 7>"$work/raw"
head -1 "$work/raw" | grep -qx 'memkit-profile 1' || fail "profile_sample=1 wrote no profile"
"$MEMKIT_CLI" profile --sample 0 -- true 2>/dev/null && fail "--sample 0 accepted"
echo "test_profile: all passed"
