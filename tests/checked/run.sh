#!/usr/bin/env bash
# memkit — the checked-mode corpus (tests/checked/run.sh MEMKIT_CLI BINARY_DIR)
#
# Runs every program of tests/checked/ under `memkit check` and `memkit check --full` and checks
# the first report line against the table below: the error kind ("memkit: ERROR: <kind> on
# address 0x..."), a leak ("memkit: LEAK: N bytes in M blocks (direct|indirect)"), or none (exit
# status 0 and not one "memkit:" line). A report must also name the program's source file (the
# stacks are symbolized). The table is the "what each level finds" table of docs/checked-mode.md.
set -uo pipefail

cli=$1
bin=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
checks=0

fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# program               fast                    full
table="
overflow_write          heap-buffer-overflow    heap-buffer-overflow
overflow_read           none                    heap-buffer-overflow
overflow_memcpy         none                    heap-buffer-overflow
underflow_write         heap-buffer-underflow   heap-buffer-underflow
uaf_write               heap-use-after-free     heap-use-after-free
uaf_write_late          heap-use-after-free     heap-use-after-free
uaf_read                none                    heap-use-after-free
uaf_read_own_handler    none                    heap-use-after-free
double_free             double-free             double-free
invalid_free            invalid-free            invalid-free
invalid_free_stack      invalid-free            invalid-free
invalid_free_mmap       invalid-free            invalid-free
invalid_free_global     invalid-free            invalid-free
double_delete_o2        double-free             double-free
mismatch_new_free       alloc-dealloc-mismatch  alloc-dealloc-mismatch
mismatch_array          alloc-dealloc-mismatch  alloc-dealloc-mismatch
mismatch_malloc_delete  alloc-dealloc-mismatch  alloc-dealloc-mismatch
mismatch_sized          alloc-dealloc-mismatch  alloc-dealloc-mismatch
mismatch_aligned        alloc-dealloc-mismatch  alloc-dealloc-mismatch
aligned_overflow        heap-buffer-overflow    heap-buffer-overflow
realloc_uaf             heap-use-after-free     heap-use-after-free
realloc_overflow        heap-buffer-overflow    heap-buffer-overflow
thread_uaf              heap-use-after-free     heap-use-after-free
thread_overflow         heap-buffer-overflow    heap-buffer-overflow
leak_direct             leak-direct             leak-direct
leak_indirect           leak-direct             leak-direct
leak_loop               leak-direct             leak-direct
leak_inline_o2          leak-direct             leak-direct
clean_threads           none                    none
clean_realloc           none                    none
clean_aligned           none                    none
clean_static_dtor       none                    none
clean_fork              none                    none
clean_thread_register   none                    none
clean_stdlib            none                    none
clean_many_blocks       none                    none
"

# run NAME LEVEL EXPECT
# check=full runs with full_align=1, the weakest alignment (every block's end flush against its
# guard page, so a one-byte read past a 10-byte block faults); the default, 8, is checked on
# python3 below.
run() {
    local name=$1 level=$2 expect=$3
    local flags=()
    [[ $level == full ]] && flags=(--full)
    local out=$work/$name.$level.txt
    checks=$((checks + 1))
    MEMKIT_OPTIONS=full_align=1 "$cli" check "${flags[@]}" -- "$bin/check_$name" >"$out" 2>&1
    local status=$?
    local first
    first=$(grep -m1 '^memkit: ' "$out")
    local src
    src=$(ls "$(dirname "${BASH_SOURCE[0]}")/$name".c* 2>/dev/null | head -1)
    src=$(basename "$src")
    case $expect in
    none)
        if [[ $status -ne 0 || -n $first ]]; then
            fail "$name ($level): expected no report and status 0, got status $status"
            cat "$out" >&2
        fi
        ;;
    leak-direct)
        if ! [[ $first =~ ^memkit:\ LEAK:\ [0-9]+\ bytes\ in\ [0-9]+\ blocks?\ \(direct\)$ ]] || [[ $status -ne 23 ]]; then
            fail "$name ($level): expected a direct leak and status 23, got status $status"
            cat "$out" >&2
        elif ! grep -q "$src:" "$out"; then
            fail "$name ($level): the allocation stack does not name $src"
            cat "$out" >&2
        fi
        ;;
    *)
        if ! [[ $first =~ ^memkit:\ ERROR:\ $expect\ on\ address\ 0x[0-9a-f]+ ]] || [[ $status -eq 0 ]]; then
            fail "$name ($level): expected '$expect', got status $status and: $first"
            cat "$out" >&2
        elif ! grep -q "$src:" "$out"; then
            fail "$name ($level): the report does not name $src"
            cat "$out" >&2
        fi
        ;;
    esac
}

while read -r name fast full; do
    [[ -z $name ]] && continue
    run "$name" fast "$fast"
    run "$name" full "$full"
done <<<"$table"

# The leak details: a loop's 100 blocks are one group; a lost list is 1 direct + 4 indirect.
for level in fast full; do
    flags=()
    [[ $level == full ]] && flags=(--full)
    "$cli" check "${flags[@]}" -- "$bin/check_leak_loop" >"$work/loop.txt" 2>&1
    grep -qx 'memkit: LEAK: 1600 bytes in 100 blocks (direct)' "$work/loop.txt" ||
        { fail "leak_loop ($level): no '1600 bytes in 100 blocks (direct)'"; cat "$work/loop.txt" >&2; }
    "$cli" check "${flags[@]}" -- "$bin/check_leak_indirect" >"$work/list.txt" 2>&1
    grep -qx 'memkit: LEAK: 32 bytes in 1 block (direct)' "$work/list.txt" &&
        grep -qx 'memkit: LEAK: 128 bytes in 4 blocks (indirect)' "$work/list.txt" ||
        { fail "leak_indirect ($level): expected 32 bytes direct and 128 bytes indirect"; cat "$work/list.txt" >&2; }
    checks=$((checks + 2))
done

# Inlined frames (the *_o2 programs, built at -O2): a call inlined at a pc is a frame of its own,
# "#N 0xPC in FUNCTION FILE:LINE (inlined)", right before the frame of the function it was inlined
# into, at the same pc, whose line is the call's. Before, ~Holder's frames were missing and both
# deletes were "main double_delete_o2.cpp:1x", and the leak's stack lost make_copy's line.
# inline_pair FILE INNER OUTER: an inlined frame matching INNER, then OUTER at the same pc.
inline_pair() {
    awk -v inner="$2" -v outer="$3" '
        prev != "" && $0 ~ ("^    #[0-9]+ " pc " in " outer) { found = 1 }
        { prev = ""; pc = "" }
        $0 ~ ("^    #[0-9]+ 0x[0-9a-f]+ in " inner " [(]inlined[)]$") { prev = $0; pc = $2 }
        END { exit !found }' "$1"
}
for level in fast full; do
    flags=()
    [[ $level == full ]] && flags=(--full)
    "$cli" check "${flags[@]}" -- "$bin/check_double_delete_o2" >"$work/dd.txt" 2>&1
    inline_pair "$work/dd.txt" 'Holder::~Holder[(][)] [^ ]*double_delete_o2.cpp:7' 'main [^ ]*double_delete_o2.cpp:12 ' &&
        inline_pair "$work/dd.txt" 'Holder::~Holder[(][)] [^ ]*double_delete_o2.cpp:7' 'main [^ ]*double_delete_o2.cpp:11 ' &&
        grep -qx 'memkit: SUMMARY: double-free in Holder::~Holder() double_delete_o2.cpp:7' "$work/dd.txt" ||
        { fail "double_delete_o2 ($level): no inlined ~Holder frame above main:12 and main:11"; cat "$work/dd.txt" >&2; }
    "$cli" check "${flags[@]}" -- "$bin/check_leak_inline_o2" >"$work/li.txt" 2>&1
    inline_pair "$work/li.txt" 'make_copy [^ ]*leak_inline_o2.c:7' 'lose [^ ]*leak_inline_o2.c:12 ' ||
        { fail "leak_inline_o2 ($level): no inlined make_copy frame above lose:12"; cat "$work/li.txt" >&2; }
    checks=$((checks + 2))
done

# A free of a non-heap address says what it is: a global (its symbol from the ELF symbol table,
# and the offset into it), or a local (whose stack: this thread's, and the function's frame).
for level in fast full; do
    flags=()
    [[ $level == full ]] && flags=(--full)
    "$cli" check "${flags[@]}" -- "$bin/check_invalid_free_global" >"$work/gl.txt" 2>&1
    grep -qx "  the address is in the global 'g_table' (8 bytes into its 64), in check_invalid_free_global" "$work/gl.txt" ||
        { fail "invalid_free_global ($level): the global is not named"; cat "$work/gl.txt" >&2; }
    "$cli" check "${flags[@]}" -- "$bin/check_invalid_free_stack" >"$work/st.txt" 2>&1
    grep -Eqx '  the address is on the stack of thread [0-9]+ \(this thread\), in the frame of main \(invalid_free_stack.c\)' "$work/st.txt" ||
        { fail "invalid_free_stack ($level): the stack and frame are not named"; cat "$work/st.txt" >&2; }
    checks=$((checks + 2))
done

# Suppressions: the direct leak, silenced by its source file, and by function name.
printf '# known\nleak:leak_direct.c\n' >"$work/supp.txt"
"$cli" check --suppressions "$work/supp.txt" -- "$bin/check_leak_direct" >"$work/s.txt" 2>&1
status=$?
[[ $status -eq 0 ]] && ! grep -q '^memkit:' "$work/s.txt" ||
    { fail "suppressions by file: status $status"; cat "$work/s.txt" >&2; }
printf 'double-free:main\n' >"$work/supp2.txt"
"$cli" check --suppressions "$work/supp2.txt" -- "$bin/check_double_free" >"$work/s2.txt" 2>&1
status=$?
[[ $status -eq 0 ]] && ! grep -q '^memkit:' "$work/s2.txt" ||
    { fail "suppressions by function: status $status"; cat "$work/s2.txt" >&2; }
checks=$((checks + 2))

# --continue: two distinct bugs, each reported once, then the summary; a non-zero status.
"$cli" check --continue -- "$bin/check_continue_many" >"$work/c.txt" 2>&1
status=$?
errors=$(grep -c '^memkit: ERROR:' "$work/c.txt")
[[ $errors -eq 2 && $status -ne 0 ]] && grep -q '^memkit: SUMMARY: 2 errors' "$work/c.txt" ||
    { fail "--continue: expected 2 reports, a summary and a non-zero status; got $errors, status $status"; cat "$work/c.txt" >&2; }
checks=$((checks + 1))

# --continue at check=full: the first report's symbolising must not allocate from the checked
# heap (it flushed the quarantine, and a freed block's pages, reused, were made writable): two
# writes after free are exactly two use-after-free reports. Before, with the default quarantine
# the second write was missed; with 256 KiB it was mostly (5 runs in 6) an underflow of a libdw
# block (2 errors, the second one false), else missed; with 64 KiB the program died of SIGSEGV.
for q in 4194304 262144 65536; do
    MEMKIT_OPTIONS=quarantine_bytes=$q "$cli" check --full --continue -- "$bin/check_continue_dangling" >"$work/cd.txt" 2>&1
    status=$?
    errors=$(grep -c '^memkit: ERROR:' "$work/cd.txt")
    uaf=$(grep -c '^memkit: ERROR: heap-use-after-free on address 0x.*-byte block' "$work/cd.txt")
    [[ $errors -eq 2 && $uaf -eq 2 && $status -ne 0 ]] && grep -q '^memkit: SUMMARY: 2 errors' "$work/cd.txt" &&
        [[ $(grep -c 'in main .*continue_dangling.c:1[35] ' "$work/cd.txt") -eq 2 ]] ||
        { fail "--full --continue (quarantine_bytes=$q): expected 2 use-after-free reports at lines 13 and 15; got $errors errors ($uaf use-after-free), status $status"; cat "$work/cd.txt" >&2; }
    checks=$((checks + 1))
done

# Children: leak_exitcode is the status of the process memkit check started only; a child
# keeps its own status (gcc's cc1 or as exiting 23 made the driver give up) and says its PID
# and name on its report lines.
"$cli" check -- sh -c "\"$bin/check_leak_direct\"; echo child status \$?" >"$work/ch.txt" 2>&1
status=$?
[[ $status -eq 0 ]] && grep -qx 'child status 0' "$work/ch.txt" &&
    grep -Eq '^memkit: \[pid [0-9]+ check_leak_direct\] LEAK: 100 bytes in 1 block \(direct\)$' "$work/ch.txt" &&
    grep -Eq '^memkit: \[pid [0-9]+ check_leak_direct\] SUMMARY: 0 errors, 1 leak \(100 bytes in 1 block\)$' "$work/ch.txt" ||
    { fail "child process: expected its leak tagged with its pid and name, its status 0 and sh's 0; got $status"; cat "$work/ch.txt" >&2; }
checks=$((checks + 1))
if command -v gcc >/dev/null; then
    printf '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n' >"$work/hello.c"
    "$cli" check -- gcc "$work/hello.c" -o "$work/hello" >"$work/gcc.txt" 2>&1
    status=$?
    # The driver's own leaks (if any) give it 23; its children's must not fail the build.
    [[ ($status -eq 0 || $status -eq 23) && -x $work/hello ]] && [[ $("$work/hello") == hello ]] ||
        { fail "memkit check -- gcc: status $status, no working hello"; tail -20 "$work/gcc.txt" >&2; }
    checks=$((checks + 1))
fi

# --log: the reports go to the file, not to stderr.
"$cli" check --log "$work/log.txt" -- "$bin/check_double_free" >"$work/l.txt" 2>&1
grep -q '^memkit: ERROR: double-free' "$work/log.txt" && ! grep -q '^memkit: ERROR' "$work/l.txt" ||
    fail "--log: the report is not in the log file alone"
checks=$((checks + 1))

# Sampled guard pages at check=fast: with every allocation sampled, a read after free faults.
MEMKIT_OPTIONS=guard_sample_rate=1 "$cli" check -- "$bin/check_uaf_read" >"$work/g.txt" 2>&1
grep -q '^memkit: ERROR: heap-use-after-free on address 0x' "$work/g.txt" ||
    { fail "guard_sample_rate=1: uaf_read not found at check=fast"; cat "$work/g.txt" >&2; }
MEMKIT_OPTIONS=guard_sample_rate=1 "$cli" check -- "$bin/check_clean_threads" >"$work/g2.txt" 2>&1 ||
    { fail "guard_sample_rate=1: clean_threads reported"; cat "$work/g2.txt" >&2; }
checks=$((checks + 2))

# Full mode's faults say the access's size, from the faulting instruction: a char read, a char
# written, and memcpy's vector load (16, 32 or 64 bytes, by the CPU's memcpy).
for expect in "overflow_read:READ of size 1 " "uaf_write:WRITE of size 1 " "overflow_memcpy:READ of size (16|32|64) "; do
    name=${expect%%:*}
    MEMKIT_OPTIONS=full_align=1 "$cli" check --full -- "$bin/check_$name" >"$work/size.txt" 2>&1
    grep -Eq "^  ${expect#*:}at pc 0x" "$work/size.txt" ||
        { fail "$name (full): no '${expect#*:}' line"; cat "$work/size.txt" >&2; }
    checks=$((checks + 1))
done

# A program's own SIGSEGV handler still gets the faults that are not memkit's, at both levels.
for level in fast full; do
    "$cli" check $([[ $level == full ]] && echo --full) -- "$bin/check_uaf_read_own_handler" other >"$work/h.txt" 2>&1
    status=$?
    [[ $status -eq 3 ]] && grep -q '^own handler ran$' "$work/h.txt" && ! grep -q '^memkit: ERROR' "$work/h.txt" ||
        { fail "own SIGSEGV handler ($level): status $status"; cat "$work/h.txt" >&2; }
    checks=$((checks + 1))
done

# free_fill_max: uaf_write writes 8 bytes into its freed block; with only 8 bytes filled and
# checked the write is not seen, with 9 it is; and with the libunwind walker it is found too.
MEMKIT_OPTIONS=free_fill_max=8 "$cli" check -- "$bin/check_uaf_write" >"$work/f.txt" 2>&1 ||
    { fail "free_fill_max=8: the write at offset 8 was reported"; cat "$work/f.txt" >&2; }
MEMKIT_OPTIONS=free_fill_max=9 "$cli" check -- "$bin/check_uaf_write" >"$work/f2.txt" 2>&1
grep -q '^memkit: ERROR: heap-use-after-free on address 0x' "$work/f2.txt" ||
    { fail "free_fill_max=9: the write at offset 8 was not reported"; cat "$work/f2.txt" >&2; }
MEMKIT_OPTIONS=stack_unwinder=libunwind "$cli" check -- "$bin/check_uaf_write" >"$work/u.txt" 2>&1
grep -q '^memkit: ERROR: heap-use-after-free on address 0x' "$work/u.txt" && grep -q 'uaf_write.c:' "$work/u.txt" ||
    { fail "stack_unwinder=libunwind: uaf_write not reported with its stack"; cat "$work/u.txt" >&2; }
checks=$((checks + 3))

# The default alignment at check=full runs real programs: python3 reads its frozen modules into
# odd-sized blocks holding 8-byte fields ("error reading frozen getpath.py" at full_align=1).
if command -v python3 >/dev/null; then
    "$cli" check --full -- python3 -c 'import json; print(json.dumps({"a": [6 * 7]}))' >"$work/py.txt" 2>&1
    status=$?
    [[ $status -eq 0 ]] && grep -qx '{"a": \[42\]}' "$work/py.txt" ||
        { fail "python3 at check=full (default full_align): status $status"; tail -20 "$work/py.txt" >&2; }
    checks=$((checks + 1))
fi

# Every malloc entry point and edge case of the drop-in malloc issue, under both levels
# (full_align=16: the program checks glibc's 16-byte alignment).
for level in fast full; do
    MEMKIT_OPTIONS=full_align=16 "$cli" check $([[ $level == full ]] && echo --full) -- \
        "$bin/check_conformance" >"$work/conf.txt" 2>&1 ||
        { fail "conformance ($level)"; tail -20 "$work/conf.txt" >&2; }
    checks=$((checks + 1))
done

echo "checked corpus: $checks checks, $failures failures"
[[ $failures -eq 0 ]]
