#!/usr/bin/env bash
# memkit — the drop-in malloc as a user meets it (tests/preload/run.sh BINARY_DIR PRELOAD)
#
#   1. the conformance program under LD_PRELOAD=libmemkit.so, and linked statically with
#      libmemkit_malloc.a; 1000 forks while two threads churn; 1 GiB freed goes back to the OS
#      while the program sleeps (background purger) and on malloc_trim, and so does the
#      fragmentation workload's heap after it frees everything; allocation before main, in
#      dlopen'ed code and after main (against glibc's output); free-list poisoning after free
#      is caught (safe-linking), and so are double frees of small blocks (right away, after
#      other frees, from another thread, realloc of a freed block); memkit run --stats and
#      --json (figures checked);
#   2. real programs under LD_PRELOAD, each compared with the same run under glibc (exit status
#      and output must be identical): python3 (dicts, strings, big integers, threads), git
#      (init, add, commit, log with fixed dates), sqlite3 (thousands of inserts and selects),
#      cmake configuring a tiny project and g++ compiling it (multi-file, C++17), and the
#      resulting multi-threaded program.
# A program that is not installed is reported and skipped (scripts/deps.sh installs them).
set -uo pipefail

bin=$1
preload=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0

fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

echo "== conformance (LD_PRELOAD)"
LD_PRELOAD=$preload "$bin/preload_conformance" || fail "conformance under LD_PRELOAD"
echo "== conformance (static link)"
"$bin/static_conformance" || fail "conformance, statically linked"

# compare NAME DIR CMD...: runs CMD in DIR/glibc and DIR/memkit (fresh copies of DIR/seed if it
# exists), with and without LD_PRELOAD; the exit status and stdout+stderr must match.
compare() {
    local name=$1 dir=$2
    shift 2
    local mode
    for mode in glibc memkit; do
        rm -rf "$dir/$mode"
        if [[ -d $dir/seed ]]; then cp -r "$dir/seed" "$dir/$mode"; else mkdir -p "$dir/$mode"; fi
        local rc=0
        if [[ $mode == memkit ]]; then
            (cd "$dir/$mode" && LD_PRELOAD=$preload "$@") >"$dir/$mode.out" 2>&1 || rc=$?
        else
            (cd "$dir/$mode" && "$@") >"$dir/$mode.out" 2>&1 || rc=$?
        fi
        echo "$rc" >"$dir/$mode.rc"
        # The two runs differ only in their directory.
        sed -i "s#$dir/$mode#DIR#g" "$dir/$mode.out"
    done
    if [[ $(cat "$dir/glibc.rc") != 0 ]]; then
        fail "$name: exits $(cat "$dir/glibc.rc") even under glibc"
        head -20 "$dir/glibc.out" >&2
    elif ! cmp -s "$dir/glibc.rc" "$dir/memkit.rc" || ! cmp -s "$dir/glibc.out" "$dir/memkit.out"; then
        fail "$name: under memkit exit $(cat "$dir/memkit.rc") (glibc 0), output differs:"
        diff "$dir/glibc.out" "$dir/memkit.out" | head -20 >&2
    else
        echo "ok: $name ($(wc -l <"$dir/glibc.out") lines of output, identical)"
    fi
}

need() {
    if command -v "$1" >/dev/null; then return 0; fi
    echo "SKIP: $1 is not installed (scripts/deps.sh installs it)"
    return 1
}

echo "== fork 1000 times while 2 threads churn (LD_PRELOAD)"
LD_PRELOAD=$preload timeout 300 "$bin/preload_fork" 1000 || fail "fork test (status $?; 124 = deadlock)"

echo "== allocation before main, in dlopen'ed code, in threads, at exit (vs glibc)"
lib=$bin/libpreload_init_lib.so
if "$bin/preload_init_order" "$lib" >"$work/init.glibc" 2>&1; then
    EXPECT_MEMKIT=1 LD_PRELOAD=$preload "$bin/preload_init_order" "$lib" >"$work/init.memkit" 2>&1 ||
        fail "init order under LD_PRELOAD (status $?)"
    EXPECT_MEMKIT=1 "$bin/static_init_order" "$lib" >"$work/init.static" 2>&1 ||
        fail "init order, statically linked (status $?)"
    for mode in memkit static; do
        cmp -s "$work/init.glibc" "$work/init.$mode" ||
            { fail "init order: $mode output differs from glibc's"; diff "$work/init.glibc" "$work/init.$mode" | head -20 >&2; }
    done
    echo "ok: init order ($(wc -l <"$work/init.glibc") lines, identical under glibc, LD_PRELOAD and static link)"
else
    fail "init order fails under glibc"
fi

echo "== a write after free cannot steer malloc (safe-linking)"
rc=0; LD_PRELOAD=$preload "$bin/preload_safe_link" >"$work/safe_link.out" 2>&1 || rc=$?
if [[ $rc == 134 ]] && grep -q "^memkit: ERROR: slab-corruption" "$work/safe_link.out"; then
    echo "ok: free-list poisoning caught ($(grep -m1 '^memkit: ERROR' "$work/safe_link.out"))"
else
    fail "safe-linking: status $rc (want 134, abort), output: $(head -3 "$work/safe_link.out")"
fi

echo "== a small block freed twice is caught (now, after other frees, from another thread, realloc)"
for mode in now between thread realloc; do
    rc=0; LD_PRELOAD=$preload timeout 60 "$bin/preload_double_free" $mode >"$work/df.out" 2>&1 || rc=$?
    want="^memkit: ERROR: double-free $( [[ $mode == realloc ]] && echo realloc || echo free ) 0x[0-9a-f]* cache kmalloc-48 (object size 48): the object is already free ("
    if [[ $rc == 134 ]] && [[ $(grep -c '^memkit: ERROR' "$work/df.out") == 1 ]] && grep -q "$want" "$work/df.out"; then
        echo "ok: double free ($mode): $(grep -m1 '^memkit: ERROR' "$work/df.out")"
    else
        fail "double free ($mode): status $rc (want 134, abort), output: $(head -3 "$work/df.out")"
    fi
done
LD_PRELOAD=$preload "$bin/preload_double_free" none || fail "double free test program without the bug: status $?"

echo "== memory back to the OS: 1 GiB of small objects freed, then idle / malloc_trim"
LD_PRELOAD=$preload "$bin/preload_decay" idle || fail "decay: idle program kept its memory"
MEMKIT_OPTIONS=decay_ms=-1 LD_PRELOAD=$preload "$bin/preload_decay" trim || fail "decay: malloc_trim"
echo "== memory back to the OS: 45 MiB of large blocks (cached direct mappings) freed, then idle / malloc_trim"
LD_PRELOAD=$preload "$bin/preload_decay" large-idle || fail "decay: idle program kept its cached large blocks"
MEMKIT_OPTIONS=decay_ms=-1 LD_PRELOAD=$preload "$bin/preload_decay" large-trim || fail "decay: malloc_trim of cached large blocks"

echo "== memory back to the OS after the fragmentation workload, while it sleeps"
if [[ -x $bin/mkb-fragmentation ]]; then
    out=$(LD_PRELOAD=$preload "$bin/mkb-fragmentation" --threads 1 --scale 0.25 --idle-ms 2500)
    peak=$(sed -n 's/^peak rss (VmHWM): \([0-9]*\) KiB$/\1/p' <<<"$out")
    idle=$(sed -n 's/^rss after 2500 ms idle: \([0-9]*\) KiB$/\1/p' <<<"$out")
    if [[ -n $peak && -n $idle ]] && ((idle * 4 < peak)); then
        echo "ok: mkb-fragmentation: peak $peak KiB, $idle KiB after 2.5 s idle"
    else
        fail "mkb-fragmentation kept its memory while idle (peak '$peak' KiB, idle '$idle' KiB)"
    fi
else
    fail "mkb-fragmentation not built"
fi

echo "== memkit run"
if [[ -x $bin/memkit ]]; then
    before=$failures
    rc=0; "$bin/memkit" run -- sh -c 'exit 7' || rc=$?
    [[ $rc == 7 ]] || fail "memkit run: exit status $rc, want 7 (passed through)"
    rc=0; "$bin/memkit" run -- no-such-program-memkit 2>/dev/null || rc=$?
    [[ $rc == 127 ]] || fail "memkit run of a missing program: exit status $rc, want 127"
    err=$("$bin/memkit" run --stats -- /bin/echo hello 2>&1 >/dev/null)
    for want in "^memkit: heap report for PID [0-9]* (echo)" "^memkit:   calls: [0-9]* allocations" \
        "^memkit:   heap: peak .* peak RSS" "^memkit:   given back to the OS" "^memkit:   [0-9]* arenas\? (" \
        "^NAME  *ACTIVE  *OBJS  *OBJSIZE .* MEMORY " "^kmalloc-[0-9]* " "^Node 0, zone   memkit" \
        "^unusable_index " "^extfrag_index " \
        "^memkit:   calls: .* blocks\? ([0-9.]* [KMG]\?i\?B) in use now" \
        "^memkit:   heap: peak [0-9.]* [KMG]iB of pages .* peak RSS [0-9.]* [KMG]iB$" \
        "^kmalloc-16 .* [0-9.]* [KMG]iB  *[0-9]*  *[0-9]*  *[0-9]*$"; do
        grep -q "$want" <<<"$err" || fail "memkit run --stats: no line like '$want' in: $err"
    done
    # One unit style: no raw byte counts, no tunables of the kernel's SLAB (meaningless here).
    ! grep -q "bytes)\|tunables\|<limit>" <<<"$err" || fail "memkit run --stats: raw bytes or tunables: $err"
    # -b: every size an exact byte count.
    err=$("$bin/memkit" run -b --stats -- /bin/echo hello 2>&1 >/dev/null)
    for want in "^memkit: heap report for PID [0-9]* (echo), sizes in bytes" \
        "^memkit:   calls: .* blocks\? ([0-9]*) in use now" \
        "^memkit:   heap: peak [0-9]* of pages .* peak RSS [0-9]*$" \
        "^kmalloc-16  *[0-9]*  *[0-9]*  *16  *[0-9]*  *[0-9]*  *[0-9]*  *[0-9]*  *[0-9]*  *[0-9]*  *[0-9]*$"; do
        grep -q "$want" <<<"$err" || fail "memkit run -b --stats: no line like '$want' in: $err"
    done
    ! grep -q "iB" <<<"$err" || fail "memkit run -b --stats: human units left: $err"
    rc=0; "$bin/memkit" run -b -- /bin/true 2>/dev/null || rc=$?
    [[ $rc == 2 ]] || fail "memkit run -b without --stats: status $rc, want 2 (it would do nothing)"
    # The JSON report of a program whose heap is known (tests/preload/report.cpp).
    rc=0; "$bin/memkit" run --json "$work/report.json" -- "$bin/preload_report" || rc=$?
    [[ $rc == 0 ]] || fail "memkit run --json: status $rc"
    /usr/bin/python3 - "$work/report.json" <<'PY' || fail "memkit run --json: report figures"
import json, sys
r = json.load(open(sys.argv[1]))
def check(cond, what):
    if not cond:
        print("report:", what, {k: v for k, v in r.items() if not isinstance(v, (list, dict))}, file=sys.stderr)
        sys.exit(1)
check(r["program"] == "preload_report", "program")
check(10000 <= r["allocations"] < 10200 and 4000 <= r["frees"] < 4200, "calls")
check(r["blocks_in_use"] == r["allocations"] - r["frees"], "blocks = allocations - frees")
check(6001 <= r["blocks_in_use"] < 6100, "blocks in use")
low = 6000 * 112 + (1 << 20)
check(low <= r["bytes_in_use"] < low + (1 << 20), "bytes in use")
check(r["peak_heap_bytes"] >= 64 << 20 and r["heap_bytes"] < 8 << 20, "heap, peak and now")
check(r["peak_rss_bytes"] >= 64 << 20, "peak RSS")
check(r["returned_to_os_bytes"] >= 160 << 20, "returned to the OS")
check(r["page_heap"]["direct_cached"] == 1 and r["page_heap"]["direct_cached_bytes"] == 16 << 20,
      "the freed 16 MiB block cached")
names = [c["name"] for c in r["size_classes"]]
check("kmalloc-112" in names, "slabinfo of kmalloc-112")
k112 = next(c for c in r["size_classes"] if c["name"] == "kmalloc-112")
check(k112["active_objs"] >= 6000 and k112["objsize"] == 112, "kmalloc-112 objects")
a = r["arenas"][0]
check(len(a["nr_free"]) == len(a["unusable_index"]) == len(a["fragmentation_index"]) == 11, "arena orders")
check(all(0 <= u <= 1 for u in a["unusable_index"]), "unusable index range")
PY
    # --json: memkit writes FILE once PROGRAM has exited; a report that cannot be written, or
    # that PROGRAM never wrote, is an error (exit status 1 when PROGRAM's was 0; else PROGRAM's,
    # its signal re-raised).
    rc=0; err=$("$bin/memkit" run --json /dev/full -- /bin/true 2>&1) || rc=$?
    [[ $rc == 1 ]] && grep -q "^memkit: run: cannot write the heap report to /dev/full: " <<<"$err" ||
        fail "memkit run --json /dev/full: status $rc, message '$err'"
    rc=0; err=$("$bin/memkit" run --json "$work/killed.json" -- /bin/bash -c 'kill -9 $$' 2>&1) || rc=$?
    [[ $rc == 137 ]] && grep -q "^memkit: run: no heap report: /bin/bash was killed by signal 9" <<<"$err" ||
        fail "memkit run --json of a killed program: status $rc, message '$err'"
    rc=0; "$bin/memkit" run --json "$work/seven.json" -- /bin/bash -c 'exit 7' || rc=$?
    [[ $rc == 7 ]] && /usr/bin/python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$work/seven.json" ||
        fail "memkit run --json -- bash -c 'exit 7': status $rc, or no JSON in the file"
    rc=0; "$bin/memkit" run --json "$work/none.json" -- no-such-program-memkit 2>/dev/null || rc=$?
    [[ $rc == 127 ]] || fail "memkit run --json of a missing program: exit status $rc, want 127"
    # Blocks and bytes in use count the same blocks: /bin/true's only one is large (libstdc++'s
    # emergency pool, made before any small block), once counted in bytes but not in blocks.
    rc=0; "$bin/memkit" run --json "$work/true.json" -- /bin/true || rc=$?
    [[ $rc == 0 ]] && /usr/bin/python3 - "$work/true.json" <<'PY' || fail "memkit run --json -- /bin/true: blocks and bytes in use disagree"
import json, sys
r = json.load(open(sys.argv[1]))
if (r["blocks_in_use"] == 0) != (r["bytes_in_use"] == 0) or r["blocks_in_use"] != r["allocations"] - r["frees"]:
    print("report:", {k: v for k, v in r.items() if not isinstance(v, (list, dict))}, file=sys.stderr)
    sys.exit(1)
PY
    # Only PROGRAM reports, not its children (which inherit the options).
    n=$("$bin/memkit" run --stats -- /usr/bin/python3 -c \
        "import subprocess; subprocess.run(['/bin/echo', 'x'])" 2>&1 >/dev/null | grep -c "^memkit: heap report for PID")
    [[ $n == 1 ]] || fail "memkit run --stats: $n reports from python3 and its child, want 1"
    out=$("$bin/memkit" run -- /bin/echo hello) && [[ $out == hello ]] ||
        fail "memkit run -- echo hello printed '$out'"
    # Without "--": the first word that is not one of run's options is PROGRAM, and the options
    # after it are PROGRAM's (as with valgrind, strace).
    out=$("$bin/memkit" run /bin/echo -n --stats hello) && [[ $out == "--stats hello" ]] ||
        fail "memkit run echo -n --stats hello printed '$out'"
    err=$("$bin/memkit" run --stats /bin/echo hello 2>&1 >/dev/null)
    grep -q "^memkit: heap report for PID [0-9]* (echo)" <<<"$err" ||
        fail "memkit run --stats echo (no --): no heap report in: $err"
    rc=0; "$bin/memkit" run --json "$work/nodash.json" /bin/bash -c 'exit 7' || rc=$?
    [[ $rc == 7 && -s $work/nodash.json ]] || fail "memkit run --json FILE bash -c 'exit 7' (no --): status $rc"
    # --stats, like --json, says so when no report could come (PROGRAM left through _exit, or
    # closed the report's descriptor), instead of exiting 0 without one.
    rc=0; err=$("$bin/memkit" run --stats /usr/bin/python3 -c 'import os; os._exit(0)' 2>&1) || rc=$?
    [[ $rc == 1 ]] && grep -q "^memkit: run: no heap report: /usr/bin/python3 exited without running its exit handlers" <<<"$err" ||
        fail "memkit run --stats of a program leaving through _exit: status $rc, message '$err'"
    rc=0; err=$("$bin/memkit" run --stats /bin/bash -c 'for fd in /proc/$$/fd/*; do n=${fd##*/}; ((n > 2)) && eval "exec $n>&-"; done; exec /bin/true' 2>&1) || rc=$?
    [[ $rc == 1 ]] && grep -q "^memkit: run: no heap report: " <<<"$err" ||
        fail "memkit run --stats of a program closing the report's descriptor: status $rc, message '$err'"
    rc=0; err=$("$bin/memkit" run --stats /bin/bash -c 'exit 3' 2>&1) || rc=$?
    [[ $rc == 3 ]] && grep -q "^memkit: heap report for PID" <<<"$err" ||
        fail "memkit run --stats bash -c 'exit 3': status $rc, message '$err'"
    # No PROGRAM: the bundled workload (README command 1), its output as under glibc, and the
    # heap report of memkit-lisp's own PID.
    rc=0; "$bin/memkit" run >"$work/default.out" 2>"$work/default.err" || rc=$?
    [[ $rc == 0 ]] || fail "memkit run (bundled workload): status $rc: $(head -3 "$work/default.err")"
    cmp -s "$work/default.out" "$here/../../workloads/lisp/demo.expected" ||
        fail "memkit run (bundled workload): output differs from workloads/lisp/demo.expected"
    grep -q "^memkit: heap report for PID [0-9]* (memkit-lisp)" "$work/default.err" &&
        grep -q "^memkit:   calls: [1-9][0-9]\{6,\} allocations" "$work/default.err" ||
        fail "memkit run (bundled workload): no heap report with millions of calls: $(head -3 "$work/default.err")"
    [[ $failures == "$before" ]] && echo "ok: memkit run"
else
    echo "SKIP: memkit run (no CLI in this build)"
fi

echo "== real programs"
if need /usr/bin/python3; then
    mkdir -p "$work/python"
    compare python3 "$work/python" /usr/bin/python3 "$here/programs.py"
fi

if need git; then
    mkdir -p "$work/git"
    compare git "$work/git" bash -c '
        export GIT_AUTHOR_NAME=memkit GIT_AUTHOR_EMAIL=m@example.org GIT_COMMITTER_NAME=memkit
        export GIT_COMMITTER_EMAIL=m@example.org GIT_AUTHOR_DATE="2026-01-01T00:00:00Z"
        export GIT_COMMITTER_DATE="2026-01-01T00:00:00Z" HOME=$PWD GIT_CONFIG_NOSYSTEM=1
        git init -q -b main repo && cd repo
        for i in $(seq 1 200); do echo "line $i" >> "file$((i % 20)).txt"; done
        git add -A && git commit -q -m "first"
        for i in $(seq 1 50); do echo "more $i" >> "file$((i % 7)).txt"; done
        git commit -q -am "second"
        git log --stat --format="%H %s" && git gc -q && git count-objects -v | grep -v size'
fi

if need sqlite3; then
    mkdir -p "$work/sqlite"
    compare sqlite3 "$work/sqlite" bash -c '
        {
          echo "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, v REAL);"
          echo "BEGIN;"
          for i in $(seq 1 5000); do echo "INSERT INTO t (name, v) VALUES (\"n$((i % 97))\", $i.5);"; done
          echo "COMMIT;"
          echo "CREATE INDEX tn ON t(name);"
          echo "SELECT name, count(*), sum(v) FROM t GROUP BY name ORDER BY name LIMIT 10;"
          echo "SELECT count(*) FROM t WHERE v > 2500;"
          echo "DELETE FROM t WHERE id % 3 = 0; VACUUM;"
          echo "SELECT count(*), max(id) FROM t;"
        } | sqlite3 db.sqlite'
fi

if need cmake && need g++; then
    mkdir -p "$work/build"
    cp -r "$here/project" "$work/build/seed"
    compare "cmake + g++ + the program" "$work/build" bash -c '
        cmake -S . -B b -G "Unix Makefiles" -DCMAKE_BUILD_TYPE=Release >/dev/null &&
        cmake --build b -- -s >/dev/null && echo built && ./b/tiny'
fi

if [[ $failures -ne 0 ]]; then
    echo "preload: $failures failure(s)" >&2
    exit 1
fi
echo "preload: all passed"
