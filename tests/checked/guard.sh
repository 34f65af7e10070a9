#!/usr/bin/env bash
# memkit — the guard mode against the checked-mode corpus (tests/checked/guard.sh MEMKIT_CLI BIN LIBMEMKIT)
#
# `memkit run --guard 1` (every allocation on a guarded slot while slots are free) on every
# corpus program whose bug involves a heap block and a fault (overflows, underflows, uses after
# free, reads included) and on the double free: the first report line must name the bug's kind
# and the right block (its size), and the report must be symbolised (name the program's source
# file). Clean programs must run as they do without it. Then the raw report's frames
# (module+offset, as libmemkit.so prints them) read with addr2line, the real tool.
set -uo pipefail

cli=$1
bin=$2
lib=$3
src_dir=$(dirname "${BASH_SOURCE[0]}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
checks=0

fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# program               kind                   block  MEMKIT_OPTIONS besides guard_sample
# A one-byte overread of a block whose size is not a multiple of 16 stays inside malloc's
# 16-byte alignment at the slot's end: those two need the block flush against the guard page
# (guard_align=1) and at the slot's end (guard_left=0). uaf_write_late frees 2,048 blocks
# between the free and the write: with 256 slots its slot is reused by then (and the report
# names the reusing block), so it runs with a pool larger than the program's churn.
table="
overflow_write          heap-buffer-overflow   10     -
overflow_read           heap-buffer-overflow   10     guard_align=1:guard_left=0
overflow_memcpy         heap-buffer-overflow   100    guard_align=1:guard_left=0
underflow_write         heap-buffer-underflow  24     -
uaf_write               heap-use-after-free    32     -
uaf_write_late          heap-use-after-free    32     guard_slots=4096
uaf_read                heap-use-after-free    32     -
uaf_read_own_handler    heap-use-after-free    32     -
aligned_overflow        heap-buffer-overflow   128    -
realloc_uaf             heap-use-after-free    16     -
realloc_overflow        heap-buffer-overflow   20     -
thread_uaf              heap-use-after-free    64     -
thread_overflow         heap-buffer-overflow   48     -
double_free             double-free            40     -
"

found=0
while read -r name kind size opts; do
    [[ -z $name ]] && continue
    [[ $opts == - ]] && opts=""
    src=$(basename "$(ls "$src_dir/$name".c* | head -1)")
    # Both placements (guard_left=0: against the slot's end; 100: at its start) unless the
    # row needs one.
    placements=("guard_left=0" "guard_left=100")
    [[ $opts == *guard_left* ]] && placements=("")
    for place in "${placements[@]}"; do
        checks=$((checks + 1))
        out=$work/$name.txt
        MEMKIT_OPTIONS="$opts:$place" "$cli" run --guard 1 -- "$bin/check_$name" >"$out" 2>&1
        status=$?
        first=$(grep -m1 '^memkit: ' "$out")
        if ! [[ $first =~ ^memkit:\ ERROR:\ $kind\ on\ address\ 0x[0-9a-f]+\ \(.*the\ $size-byte\ block ]] || [[ $status -eq 0 ]]; then
            fail "$name ($opts $place): expected '$kind' of the $size-byte block, got status $status and: $first"
            cat "$out" >&2
        elif ! grep -q "in main .*$src:[0-9]" "$out" && ! grep -q "$src:[0-9]" "$out"; then
            fail "$name ($opts $place): the report is not symbolised (does not name $src)"
            cat "$out" >&2
        else
            found=$((found + 1))
        fi
    done
done <<<"$table"

# No false report, the program's own status.
for name in clean_threads clean_realloc clean_aligned clean_fork clean_stdlib clean_many_blocks \
    clean_static_dtor clean_thread_register; do
    checks=$((checks + 1))
    "$cli" run --guard 1 -- "$bin/check_$name" >"$work/c.txt" 2>&1
    status=$?
    if [[ $status -ne 0 ]] || grep -q '^memkit: ERROR' "$work/c.txt"; then
        fail "$name: expected no report and status 0, got status $status"
        cat "$work/c.txt" >&2
    fi
done

# Off by default: the same bug goes unseen (and the program exits 0).
checks=$((checks + 1))
LD_PRELOAD=$lib "$bin/check_uaf_read" >"$work/off.txt" 2>&1 && ! grep -q '^memkit:' "$work/off.txt" ||
    { fail "guard mode off: expected no report"; cat "$work/off.txt" >&2; }

# The raw report (no memkit run): frames as (module+0xOFFSET). addr2line reads the faulting
# frame #0 (exact) and the allocation's frame #0 (a return address: the call is at OFFSET-1)
# back to the lines of the program's source.
checks=$((checks + 1))
MEMKIT_OPTIONS=guard_sample=1:guard_left=0:guard_align=1 LD_PRELOAD=$lib "$bin/check_overflow_write" >"$work/raw.txt" 2>&1
fault=$(grep -A1 'the faulting access in thread' "$work/raw.txt" | sed -n 's/^ *#0 0x[0-9a-f]* in ?? (\(.*\)+0x\([0-9a-f]*\))$/\1 \2/p')
alloc=$(grep -A1 'allocated by thread' "$work/raw.txt" | sed -n 's/^ *#0 0x[0-9a-f]* in ?? (\(.*\)+0x\([0-9a-f]*\))$/\1 \2/p')
if [[ -z $fault || -z $alloc ]]; then
    fail "raw report: no module+offset frames"
    cat "$work/raw.txt" >&2
else
    read -r fmod foff <<<"$fault"
    read -r amod aoff <<<"$alloc"
    fline=$(addr2line -e "$fmod" "0x$foff")
    aline=$(addr2line -e "$amod" "$(printf '0x%x' $((0x$aoff - 1)))")
    # overflow_write.c: line 6 allocates, line 8 writes past the end.
    [[ $fline == *overflow_write.c:8* && $aline == *overflow_write.c:6* ]] ||
        { fail "raw report: addr2line says $fline and $aline, expected overflow_write.c:8 and :6"; cat "$work/raw.txt" >&2; }
fi

# guard_continue: the report, then the program goes on (to its exit status 0).
checks=$((checks + 1))
MEMKIT_OPTIONS=guard_continue=1 "$cli" run --guard 1 -- "$bin/check_uaf_write" >"$work/cont.txt" 2>&1
status=$?
[[ $status -eq 0 ]] && [[ $(grep -c '^memkit: ERROR: heap-use-after-free' "$work/cont.txt") -eq 1 ]] ||
    { fail "guard_continue: expected one report and status 0, got $status"; cat "$work/cont.txt" >&2; }

# malloc's contract with guarded blocks everywhere: the conformance program (realloc, memalign,
# usable size, calloc, threads) and forks, at guard_sample=1 and at 2 (guarded and heap blocks mixed).
for n in 1 2; do
    checks=$((checks + 2))
    MEMKIT_OPTIONS=guard_sample=$n LD_PRELOAD=$lib "$bin/preload_conformance" >"$work/conf.txt" 2>&1 ||
        { fail "conformance at guard_sample=$n"; tail -20 "$work/conf.txt" >&2; }
    MEMKIT_OPTIONS=guard_sample=$n LD_PRELOAD=$lib "$bin/preload_fork" 200 >"$work/fork.txt" 2>&1 ||
        { fail "fork at guard_sample=$n"; tail -20 "$work/fork.txt" >&2; }
done

# The sampling rate: 100,000 allocations at guard_sample=100 guard about 1,000 of them.
checks=$((checks + 1))
guarded=$(MEMKIT_OPTIONS=guard_sample=100:guard_slots=4096 LD_PRELOAD=$lib "$bin/preload_guard_rate" 100000)
[[ $guarded =~ ^[0-9]+$ ]] && ((guarded >= 900 && guarded <= 1100)) ||
    fail "guard_sample=100: $guarded of 100000 allocations guarded, expected 900..1100"
checks=$((checks + 1))
guarded=$(LD_PRELOAD=$lib "$bin/preload_guard_rate" 100000)
[[ $guarded == 0 ]] || fail "guard mode off: $guarded allocations guarded"

echo "guard corpus: $found bug runs found"
echo "$((checks - failures)) passed, $failures failed"
[[ $failures -eq 0 ]]
