#!/usr/bin/env bash
# The live view (tests/test_live.sh): a program on libmemkit.so under `memkit run` publishes its
# heap's figures in a memfd that `memkit stats/top/metrics PID` read while it runs. Checks that
# the figures are there and follow what the program allocates (bin/preload_live allocates on
# command and waits), that the output parses (jq, promtool check metrics), that another user
# cannot read them, that nothing is left behind after exit or SIGKILL, and the one-line errors
# for PIDs that are gone or not on libmemkit.so.
set -euo pipefail
: "${MEMKIT_CLI:?set by ctest: the memkit binary}"
: "${MEMKIT_BINARY_DIR:?set by ctest}"
prog=$MEMKIT_BINARY_DIR/bin/preload_live
[[ -x $prog ]] || { echo "SKIP: $prog not built (a sanitizer build?)"; exit 0; }
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# No file anywhere: nothing named memkit-stats in /dev/shm, /tmp or /run, before or after.
# (Other tests may write memkit-stats.1 man pages under /tmp meanwhile: those are not segments.)
leftovers() { find /dev/shm /tmp /run -maxdepth 2 -name '*memkit-stats*' ! -name '*.1' 2>/dev/null | sort || true; }
before_files=$(leftovers)

# Starts the program under memkit run, its stdin/stdout on fifos; sets $pid.
start() {
    mkfifo "$work/in$1" "$work/out$1"
    "$MEMKIT_CLI" run -- "$prog" <"$work/in$1" >"$work/out$1" &
    pid=$!
    pids+=("$pid")
    exec {in}>"$work/in$1"
    exec {out}<"$work/out$1"
}
say() {  # say COMMAND: sends it, waits for the answer
    echo "$1" >&"$in"
    local answer
    read -r -t 20 answer <&"$out" || fail "no answer to '$1'"
    [[ $answer == ok ]] || fail "'$1' answered '$answer'"
}
# waits until memkit stats --json shows a refresh after the last command, prints it
fresh_json() {
    local before after
    before=$("$MEMKIT_CLI" stats "$pid" --json | jq .updates)
    for _ in $(seq 100); do
        after=$("$MEMKIT_CLI" stats "$pid" --json)
        (( $(jq .updates <<<"$after") >= before + 2 )) && { echo "$after"; return; }
        sleep 0.05
    done
    fail "the segment of $pid is not refreshed"
}

start 1
fd_in1=$in
say "a 1 16"   # the program is up and on libmemkit.so
# The segment is a memfd: no name in any filesystem.
links=$(for f in /proc/$pid/fd/*; do readlink "$f"; done)
grep -qx "/memfd:memkit-stats (deleted)" <<<"$links" || fail "no memkit-stats memfd among: $links"

j0=$(fresh_json)
[[ $(jq .pid <<<"$j0") == "$pid" ]] || fail "pid: $j0"
[[ $(jq -r .program <<<"$j0") == preload_live ]] || fail "program: $j0"
in0=$(jq .bytes_in_use <<<"$j0")
a0=$(jq .allocations <<<"$j0")

# 1000 blocks of 1000 bytes (the 1024 class): bytes in use up by 1000 * 1024 at least,
# allocations by 1000, the kmalloc-1024 class holds 1000 more objects.
c0=$(jq '[.size_classes[] | select(.name == "kmalloc-1024") | .in_use_objs] | add // 0' <<<"$j0")
say "a 1000 1000"
j1=$(fresh_json)
in1=$(jq .bytes_in_use <<<"$j1")
a1=$(jq .allocations <<<"$j1")
c1=$(jq '[.size_classes[] | select(.name == "kmalloc-1024") | .in_use_objs] | add // 0' <<<"$j1")
(( in1 - in0 >= 1000 * 1024 && in1 - in0 < 1100 * 1024 )) || fail "bytes in use $in0 -> $in1"
(( a1 - a0 >= 1000 && a1 - a0 < 1100 )) || fail "allocations $a0 -> $a1"
(( c1 - c0 == 1000 )) || fail "kmalloc-1024 objects in use $c0 -> $c1"
(( $(jq .rss_bytes <<<"$j1") >= 1000 * 1024 )) || fail "rss: $j1"
(( $(jq '.arenas | length' <<<"$j1") >= 1 )) || fail "no arena: $j1"

# A large block (8 MiB: a direct mapping), then everything freed.
say "a 1 8388608"
j2=$(fresh_json)
(( $(jq .heap_bytes <<<"$j2") >= 8388608 )) || fail "heap after 8 MiB: $j2"
say "f"
j3=$(fresh_json)
in3=$(jq .bytes_in_use <<<"$j3")
(( in3 < in0 + 64 * 1024 )) || fail "bytes in use after the frees: $in0 -> $in3"
(( $(jq .frees <<<"$j3") >= $(jq .frees <<<"$j1") + 1001 )) || fail "frees: $j1 / $j3"

# The text, top's frame, the metrics.
text=$("$MEMKIT_CLI" stats "$pid")
grep -q "^memkit: live heap of PID $pid (preload_live)" <<<"$text" || fail "stats text: $text"
grep -q "^kmalloc-1024 " <<<"$text" || fail "no kmalloc-1024 line: $text"
grep -q "^Node 0, zone   memkit " <<<"$text" || fail "no buddyinfo: $text"
# Sizes in KiB/MiB/GiB by default, in bytes with -b (one unit style, as memkit run --stats).
grep -q "^  heap: [0-9.]* [KMG]iB now, peak [0-9.]* [KMG]iB; RSS [0-9.]* [KMG]iB" <<<"$text" ||
    fail "stats: sizes not in human units: $text"
text=$("$MEMKIT_CLI" stats -b "$pid")
grep -q "^  heap: [0-9]* now, peak [0-9]*; RSS [0-9]*, peak [0-9]*$" <<<"$text" || fail "stats -b: $text"
grep -q "^kmalloc-1024  *1024 " <<<"$text" || fail "stats -b: objsize not in bytes: $text"
frame=$("$MEMKIT_CLI" top "$pid" --once)
grep -q "^top sites: none" <<<"$frame" || fail "top frame: $frame"
"$MEMKIT_CLI" metrics "$pid" >"$work/metrics"
grep -q "^memkit_heap_bytes{pid=\"$pid\",program=\"preload_live\"} [1-9]" "$work/metrics" ||
    fail "metrics: $(head -20 "$work/metrics")"
grep -q "^memkit_class_allocations_total{pid=\"$pid\",program=\"preload_live\",class=\"kmalloc-1024\"} [1-9]" \
    "$work/metrics" || fail "no class counter in the metrics"
grep -q "^memkit_rss_bytes{.*} [1-9]" "$work/metrics" || fail "no rss in the metrics"
if command -v promtool >/dev/null; then
    promtool check metrics <"$work/metrics" || fail "promtool check metrics"
else
    echo "promtool not installed (Debian package prometheus): format not checked"
fi

# Another user cannot read it (nobody, through setpriv), and gets one line, exit 1.
if [[ $(id -u) -eq 0 ]] && command -v setpriv >/dev/null; then
    set +e
    msg=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$MEMKIT_CLI" stats "$pid" 2>&1 >/dev/null)
    rc=$?
    set -e
    (( rc == 1 )) || fail "another user: exit status $rc ($msg)"
    [[ $msg == "memkit: stats: PID $pid belongs to another user"* ]] || fail "another user: $msg"
    [[ $(wc -l <<<"$msg") -eq 1 ]] || fail "another user: more than one line: $msg"
else
    echo "SKIP: permission check (needs root and setpriv)"
fi

# Two programs at once in one exposition.
start 2
pid2=$pid
say "a 10 100"
pid=${pids[0]}
"$MEMKIT_CLI" metrics "$pid" "$pid2" >"$work/metrics2"
grep -q "^memkit_heap_bytes{pid=\"$pid2\"" "$work/metrics2" || fail "second PID not in metrics"
if command -v promtool >/dev/null; then
    promtool check metrics <"$work/metrics2" || fail "promtool check metrics (two PIDs)"
fi

# Bad PIDs: one line, exit 1, nothing on stdout.
expect_error() {  # expect_error PATTERN ARGS...
    local pattern=$1 rc out err
    shift
    set +e
    out=$("$MEMKIT_CLI" "$@" 2>"$work/err")
    rc=$?
    set -e
    err=$(cat "$work/err")
    (( rc == 1 )) || fail "$*: exit status $rc ($err)"
    [[ -z $out ]] || fail "$*: printed $out"
    [[ $(wc -l <<<"$err") -eq 1 && $err == $pattern ]] || fail "$*: '$err' is not '$pattern'"
}
sleep 30 &
plain=$!
pids+=("$plain")
expect_error "memkit: stats: PID $plain is not running on libmemkit.so*" stats "$plain"
expect_error "memkit: metrics: PID $plain is not running on libmemkit.so*" metrics "$pid" "$plain"
expect_error "memkit: top: PID $plain is not running on libmemkit.so*" top --once "$plain"
MEMKIT_OPTIONS=stats_shm=0 LD_PRELOAD=$MEMKIT_BINARY_DIR/lib/libmemkit.so sleep 30 &
off=$!
pids+=("$off")
for _ in $(seq 100); do grep -q libmemkit.so "/proc/$off/maps" 2>/dev/null && break; sleep 0.05; done
expect_error "memkit: stats: PID $off runs on libmemkit.so without its live statistics*" stats "$off"
kill "$plain" "$off"
wait "$plain" "$off" 2>/dev/null || true
expect_error "memkit: stats: no process $plain" stats "$plain"

# Exit and SIGKILL leave nothing behind.
# (The second program first: it holds the first one's stdin open, inherited.)
kill -9 "$pid2"
wait "$pid2" 2>/dev/null || true
expect_error "memkit: stats: no process $pid2" stats "$pid2"
pid=${pids[0]}
exec {fd_in1}>&-
wait "$pid" || fail "the program failed"
expect_error "memkit: stats: no process $pid" stats "$pid"
[[ $(leftovers) == "$before_files" ]] || fail "left behind: $(comm -13 <(echo "$before_files") <(leftovers))"
echo "PASS"
