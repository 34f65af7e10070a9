#!/usr/bin/env bash
# Colour where a terminal is, and only there (tests/test_colour.sh): the views' headers and
# warnings, the checked mode's report kinds. script(1) gives the commands a terminal. Also the
# options that a subcommand does not use, which it must refuse (v2p -b, buddy --trace --ops).
set -uo pipefail
: "${MEMKIT_CLI:?set by ctest: the memkit binary}"
memkit=$MEMKIT_CLI
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
esc=$'\e['
q=$(printf '%q' "$memkit")
on_tty() { script -qec "$1" /dev/null </dev/null; }
command -v script >/dev/null || { echo "script(1) is missing (util-linux)" >&2; exit 1; }

echo "== the views"
# Each view's title or column header is bold (ESC[1m) on a terminal.
for view in meminfo buddyinfo status maps ps cgroup; do
    out=$(TERM=xterm on_tty "$q $view")
    [[ $out == *"${esc}1m"* ]] || fail "memkit $view on a terminal: no bold header: $(head -c 300 <<<"$out" | cat -v)"
    out=$(TERM=xterm NO_COLOR=1 on_tty "$q $view")
    [[ $out != *"$esc"* ]] || fail "memkit $view with NO_COLOR=1: coloured"
    out=$(TERM=xterm "$memkit" $view 2>&1)
    [[ $out != *"$esc"* ]] || fail "memkit $view in a pipe: coloured"
done
# slabinfo and slabtop read /proc/slabinfo (root, CONFIG_SLUB_DEBUG): from a saved one here.
mkdir -p "$work/fake/proc"
cp "${MEMKIT_SOURCE_DIR:?}/tests/data/slabinfo/slabinfo" "$work/fake/proc/slabinfo"
for view in slabinfo slabtop; do
    out=$(TERM=xterm on_tty "$q $view --proc-root $(printf %q "$work/fake")")
    [[ $out == *"${esc}1m"* ]] || fail "memkit $view on a terminal: no bold header: $(head -c 300 <<<"$out" | cat -v)"
    out=$(TERM=xterm "$memkit" $view --proc-root "$work/fake" 2>&1)
    [[ $out != *"$esc"* ]] || fail "memkit $view in a pipe: coloured"
done
# A warning: status's RSS check failing on an edited file is bold yellow on a terminal.
mkdir -p "$work/bad/proc/42"
printf 'Name:\tedited\nPid:\t42\nVmSize:\t   1000 kB\nVmRSS:\t    100 kB\nRssAnon:\t     10 kB\nRssFile:\t     10 kB\nRssShmem:\t      0 kB\n' \
    >"$work/bad/proc/42/status"
out=$(TERM=xterm on_tty "$q status 42 --proc-root $(printf %q "$work/bad")")
[[ $out == *"${esc}1;33mdoes NOT hold"* ]] || fail "status' failed check on a terminal is not yellow: $(cat -v <<<"$out")"
out=$("$memkit" status 42 --proc-root "$work/bad")
[[ $out == *"does NOT hold"* && $out != *"$esc"* ]] || fail "status' failed check in a pipe: $(cat -v <<<"$out")"

echo "== the checked mode's reports"
if cc -O0 -g -o "$work/overflow" -x c - <<'C'
#include <stdlib.h>
int main(int argc, char** argv) {
  char* volatile p = malloc(16);
  if (argc > 1) p[16 + argc] = 1; /* a heap-buffer-overflow, found at free or exit */
  else p = malloc(40);            /* a leak: the first block is lost */
  (void)argv;
  return 0;
}
C
then
    prog=$(printf %q "$work/overflow")
    out=$(TERM=xterm on_tty "$q check $prog x")
    [[ $out == *"${esc}1;31mERROR: heap-buffer-overflow${esc}0m"* ]] ||
        fail "check on a terminal: ERROR not in red: $(head -c 400 <<<"$out" | cat -v)"
    out=$(TERM=xterm on_tty "$q check $prog")
    [[ $out == *"${esc}1;35mLEAK: "* ]] || fail "check on a terminal: LEAK not in magenta: $(head -c 400 <<<"$out" | cat -v)"
    [[ $out == *"${esc}1mSUMMARY: "* ]] || fail "check on a terminal: SUMMARY not bold: $(head -c 400 <<<"$out" | cat -v)"
    out=$(TERM=xterm NO_COLOR=1 on_tty "$q check $prog x; $q check $prog")
    [[ $out == *"ERROR: heap-buffer-overflow"* && $out != *"$esc"* ]] ||
        fail "check with NO_COLOR=1: $(head -c 400 <<<"$out" | cat -v)"
    out=$(TERM=xterm "$memkit" check "$work/overflow" x 2>&1; TERM=xterm "$memkit" check "$work/overflow" 2>&1)
    [[ $out == *"ERROR: heap-buffer-overflow"* && $out == *"LEAK: "* && $out != *"$esc"* ]] ||
        fail "check in a pipe: $(head -c 400 <<<"$out" | cat -v)"
    out=$(TERM=xterm "$memkit" check --log "$work/log" "$work/overflow" x 2>&1; cat "$work/log")
    [[ $out == *"ERROR: heap-buffer-overflow"* && $out != *"$esc"* ]] || fail "check --log FILE: coloured"
    out=$(MEMKIT_OPTIONS=color=always "$memkit" check "$work/overflow" x 2>&1)
    [[ $out == *"${esc}1;31mERROR: heap-buffer-overflow${esc}0m"* ]] || fail "color=always in a pipe: $(head -c 300 <<<"$out" | cat -v)"
    out=$(MEMKIT_OPTIONS=color=never TERM=xterm on_tty "$q check $prog x")
    [[ $out == *"ERROR: heap-buffer-overflow"* && $out != *"${esc}1;31m"* ]] || fail "color=never on a terminal: coloured"
else
    fail "cannot compile the overflow program with cc"
fi

echo "== options a subcommand does not use are refused"
expect_usage() {
    local rc=0 err
    err=$("$memkit" "$@" 2>&1 >/dev/null) || rc=$?
    [[ $rc == 2 ]] || fail "memkit $*: status $rc, want 2 ($err)"
}
expect_usage v2p -b self 0x1000
expect_usage v2p --bytes self 0x1000
expect_usage buddy simulate --trace /dev/null --ops 10
expect_usage buddy simulate --trace /dev/null --seed 3
"$memkit" v2p --json self 0x1000 >/dev/null || fail "v2p --json no longer works"

((failures == 0)) && echo "ok: colour and unused options" || exit 1
