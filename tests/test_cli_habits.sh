#!/usr/bin/env bash
# memkit — the CLI's shell completion, man pages and colour (tests/test_cli_habits.sh)
#
# Needs MEMKIT_CLI (the built binary) and MEMKIT_BINARY_DIR (the build tree, where the build
# generated share/bash-completion/completions/memkit and share/man/man1).
set -u
memkit=$MEMKIT_CLI
share=$MEMKIT_BINARY_DIR/share
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

subcommands=$("$memkit" --help | sed -n '/^Subcommands:/,$p' | awk 'NR > 1 && NF { print $1 }')
[[ -n $subcommands ]] || fail "memkit --help lists no subcommands"

echo "== bash completion"
# Completes with the script the build generated (and installs), as bash would call it.
complete_words() {  # WORD... (the last one is being completed): prints COMPREPLY, one a line
    bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
             _memkit; printf "%s\n" "${COMPREPLY[@]}"' bash "$share/bash-completion/completions/memkit" memkit "$@"
}
cmp -s <("$memkit" completion bash) "$share/bash-completion/completions/memkit" ||
    fail "the generated completion file differs from memkit completion bash"
got=$(complete_words fr)
[[ $got == free ]] || fail "memkit fr<TAB>: '$got', want free"
for s in $subcommands; do
    grep -qx "$s" <<<"$(complete_words "")" || fail "memkit <TAB> does not offer $s"
done
got=$(complete_words run --st)
[[ $got == --stats ]] || fail "memkit run --st<TAB>: '$got', want --stats"
got=$(complete_words check --log /tmp/x --fu)
[[ $got == --full ]] || fail "memkit check --log FILE --fu<TAB>: '$got', want --full"
got=$(complete_words run ls --st)
[[ -z $got ]] || fail "memkit run ls --st<TAB> offered run's options for ls: '$got'"
got=$(complete_words buddy "")
[[ $got == simulate ]] || fail "memkit buddy <TAB>: '$got', want simulate"
got=$(complete_words buddy simulate --pa)
[[ $got == --pages ]] || fail "memkit buddy simulate --pa<TAB>: '$got', want --pages"
got=$(complete_words free --by)
[[ $got == --bytes ]] || fail "memkit free --by<TAB>: '$got', want --bytes"
"$memkit" completion zsh | grep -q "^#compdef memkit" || fail "memkit completion zsh: no #compdef line"
"$memkit" completion fish | grep -q "^complete -c memkit -n __fish_use_subcommand -a free " ||
    fail "memkit completion fish: no completion of free"
if command -v zsh >/dev/null; then "$memkit" completion zsh | zsh -n || fail "zsh -n"; fi
if command -v fish >/dev/null; then "$memkit" completion fish | fish -n || fail "fish -n"; fi
rc=0; "$memkit" completion tcsh >/dev/null 2>&1 || rc=$?
[[ $rc == 2 ]] || fail "memkit completion tcsh: status $rc, want 2"

echo "== man pages"
for page in memkit $(sed 's/^/memkit-/' <<<"$subcommands"); do
    file=$share/man/man1/$page.1
    [[ -s $file ]] || { fail "no man page $file"; continue; }
    if command -v man >/dev/null; then
        # (a long path in a footer cannot always be adjusted: not an error)
        warnings=$(MANWIDTH=80 man --warnings -l "$file" 2>&1 >/dev/null | grep -v "cannot adjust line")
        [[ -z $warnings ]] || fail "$page.1: $warnings"
    fi
done
[[ ! -e $share/man/man1/memkit-manpage.1 ]] || fail "the hidden manpage subcommand has a page"
grep -q -- '\\-\\-stats' "$share/man/man1/memkit-run.1" || fail "memkit-run.1 does not describe --stats"
grep -q "memkit\\\\-free" "$share/man/man1/memkit.1" || fail "memkit.1 does not name memkit-free(1)"

echo "== colour"
# On a terminal (script(1) gives one) the error prefix and the views' headers are coloured;
# never in a pipe or a file, nor with NO_COLOR set, nor on TERM=dumb.
esc=$'\e['
if command -v script >/dev/null; then
    on_tty() { script -qec "$1" /dev/null </dev/null; }
    q=$(printf '%q' "$memkit")
    out=$(TERM=xterm on_tty "$q fre")
    [[ $out == *"${esc}1;31mmemkit:${esc}0m"* ]] || fail "memkit fre on a terminal: no coloured prefix: $(printf '%q' "$out")"
    out=$(TERM=xterm on_tty "$q free")
    [[ $out == *"${esc}1m"*total* ]] || fail "memkit free on a terminal: no bold header: $(printf '%q' "$out")"
    out=$(TERM=xterm NO_COLOR=1 on_tty "$q free; $q fre")
    [[ $out != *"$esc"* ]] || fail "NO_COLOR=1: coloured anyway: $(printf '%q' "$out")"
    out=$(TERM=dumb on_tty "$q free; $q fre")
    [[ $out != *"$esc"* ]] || fail "TERM=dumb: coloured anyway: $(printf '%q' "$out")"
else
    echo "SKIP: colour on a terminal (no script(1))"
fi
out=$(TERM=xterm "$memkit" free; TERM=xterm "$memkit" vmstat; TERM=xterm "$memkit" fre 2>&1)
[[ $out != *"$esc"* ]] || fail "colour in a pipe: $(printf '%q' "$out")"

((failures == 0)) && echo "ok: completion, man pages and colour" || exit 1
