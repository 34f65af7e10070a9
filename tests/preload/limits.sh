#!/usr/bin/env bash
# memkit — the drop-in malloc where memory runs out (tests/preload/limits.sh BINARY_DIR PRELOAD)
#
#   1. impossible requests (64 TiB, 1 TiB) fail exactly as under glibc (NULL and ENOMEM, or
#      new_handler then bad_alloc), and a granted 8 GiB block, freed and trimmed, leaves no
#      bookkeeping resident (limits huge, its output compared with glibc's);
#   2. under an address-space limit (ulimit -v) of 64 MiB, 256 MiB and 1 GiB, a program that
#      allocates until failure gets at least 90 % of the bytes glibc gets, for small, page,
#      large and 1 MiB blocks;
#   3. real programs run under ulimit -v 400000 as they do under glibc (ls, python3, sort).
set -uo pipefail

bin=$1
preload=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# 1. Impossible requests. Under overcommit_memory=1 the kernel grants anything: nothing to
# compare then (glibc gets pointers too).
overcommit=$(cat /proc/sys/vm/overcommit_memory 2>/dev/null || echo 0)
echo "== impossible requests (vm.overcommit_memory=$overcommit)"
"$bin/preload_limits" huge >"$work/glibc.out" 2>&1
LD_PRELOAD=$preload "$bin/preload_limits" huge >"$work/memkit.out" 2>&1
if [[ $overcommit == 1 ]]; then
    echo "(overcommit_memory=1: the kernel grants every request; comparison skipped)"
elif ! grep -q "errno=ENOMEM" "$work/glibc.out"; then
    fail "glibc itself got a pointer for an impossible request:"
    cat "$work/glibc.out" >&2
elif ! cmp -s "$work/glibc.out" "$work/memkit.out"; then
    fail "impossible requests differ from glibc's:"
    diff "$work/glibc.out" "$work/memkit.out" >&2
else
    echo "same as glibc: $(grep -c ENOMEM "$work/memkit.out") requests refused with ENOMEM"
fi
grep -q "resident set back where it was" "$work/memkit.out" || fail "8 GiB freed and trimmed: $(grep '8 GiB' "$work/memkit.out")"

# 2. Allocating until failure under ulimit -v.
fill() {  # fill LIMIT_KIB SIZE [PRELOAD] -> MiB obtained
    (ulimit -v "$1" && LD_PRELOAD=${3:-} "$bin/preload_limits" fill "$2") 2>/dev/null | tail -n1
}
for limit in 65536 262144 1048576; do
    for size in 64 4096 100000 1048576; do
        g=$(fill "$limit" "$size")
        m=$(fill "$limit" "$size" "$preload")
        line="ulimit -v $limit, $size-byte blocks: glibc $g MiB, memkit ${m:-nothing} MiB"
        if [[ ! $g =~ ^[0-9]+$ ]]; then
            fail "$line (glibc run failed)"
        elif [[ ! $m =~ ^[0-9]+$ ]] || ((m * 10 < g * 9)); then
            fail "$line: below 90 %"
        else
            echo "$line"
        fi
    done
done

# 3. Real programs under a limit that 512 MiB reservations could not live with.
run_limited() {  # run_limited NAME CMD...: same output and status as under glibc
    local name=$1
    shift
    local rg=0 rm=0
    (ulimit -v 400000 && "$@") >"$work/$name.glibc" 2>&1 || rg=$?
    (ulimit -v 400000 && LD_PRELOAD=$preload "$@") >"$work/$name.memkit" 2>&1 || rm=$?
    if [[ $rg != "$rm" ]] || ! cmp -s "$work/$name.glibc" "$work/$name.memkit"; then
        fail "$name under ulimit -v 400000: status $rm (glibc $rg), output:"
        diff "$work/$name.glibc" "$work/$name.memkit" | head -10 >&2
    else
        echo "ulimit -v 400000: $name as under glibc"
    fi
}
run_limited ls ls -la /usr/lib
seq 1 200000 | sort -R --random-source=/dev/zero >"$work/numbers"
run_limited sort sort -n "$work/numbers"
if command -v python3 >/dev/null; then
    run_limited python3 python3 -c '
d = {i: str(i) * 3 for i in range(300000)}
print(len(d), sum(len(v) for v in d.values()))
blocks = [bytearray(1 << 20) for _ in range(100)]
print(len(blocks))'
else
    echo "(python3 not installed: skipped)"
fi

if [[ $failures -ne 0 ]]; then
    echo "limits.sh: $failures failure(s)" >&2
    exit 1
fi
echo "limits.sh: all passed"
