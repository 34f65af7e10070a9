#!/usr/bin/env bash
# The checked mode on real programs none of us wrote (issue 17 §1): each program under plain
# glibc, `memkit check` (fast), `memkit check --full` and valgrind memcheck, medians of RUNS runs
# (default 3), interleaved (one run of every program under every tool, then the next round), wall
# time and peak RSS from GNU time (`/usr/bin/time -f '%e %M'`: wait4's rusage, so a program's
# children count: g++'s cc1plus and as, git's pagers and helpers; the peak is the largest
# process's), then the table of ratios the issue's targets are stated in:
#
#   fast/glibc <= 2 (time), full/valgrind <= 0.5 (time), fast/glibc <= 2 (peak RSS)
#
# The programs (sizes for the real run; --quick makes them tiny and runs each once, to show the
# script works, not to measure anything):
#   py_json         python3: a json round trip (dumps, loads) of a 200k-entry dict
#   py_json_malloc  the same with PYTHONMALLOC=malloc (every object through malloc)
#   perl_hash       perl (PERL_HASH_SEED=0): a 300k-key hash, its keys sorted, half deleted
#   sqlite3         sqlite3 :memory:: 150k inserts in a transaction, two indexes, aggregates, a join
#   gxx             g++ -O2 -c of a generated 1,000+ line C++ file (the driver, cc1plus, as)
#   git             git log -p and git blame on a local repository of generated commits
#
# Every run's stdout must match glibc's (the checked runs may add reports on stderr, which go to
# a log; a leak's exit status 23 is accepted). Needs valgrind, python3, perl, sqlite3, g++, git.
# Timing needs a quiet machine: nothing else running.
#
# usage: bench/check_real_programs.sh [--quick] [--runs N] [--build DIR] [--only NAME[,NAME...]] [--keep DIR]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

runs=3
quick=0
build=build/release
only=""
keep=""
while [[ $# -gt 0 ]]; do
    case $1 in
        --quick) quick=1; shift ;;
        --runs) runs=$2; shift 2 ;;
        --build) build=$2; shift 2 ;;
        --only) only=$2; shift 2 ;;
        --keep) keep=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "check_real_programs.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
[[ $quick -eq 1 && $runs -eq 3 ]] && runs=1

memkit=$(realpath "$build/bin/memkit")
[[ -x $memkit ]] || { echo "check_real_programs.sh: no $memkit (build the release preset first)" >&2; exit 1; }
for tool in valgrind /usr/bin/time /usr/bin/python3 perl sqlite3 g++ git; do
    command -v "$tool" >/dev/null || { echo "check_real_programs.sh: $tool is not installed" >&2; exit 1; }
done

if [[ -n $keep ]]; then
    work=$keep
    mkdir -p "$work"
else
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
fi

# ---- sizes ----
if [[ $quick -eq 1 ]]; then
    py_n=2000; perl_n=3000; sql_n=1500; gxx_n=12; git_commits=8
else
    py_n=200000; perl_n=300000; sql_n=150000; gxx_n=120; git_commits=200
fi

# ---- inputs ----
# sqlite3: the inserts one statement each, in one transaction; then the indexes, the queries.
{
    echo "CREATE TABLE item(id INTEGER PRIMARY KEY, grp INTEGER, name TEXT, price REAL);"
    echo "CREATE TABLE sale(id INTEGER PRIMARY KEY, item_id INTEGER, qty INTEGER);"
    echo "BEGIN;"
    awk -v n="$sql_n" 'BEGIN { for (i = 1; i <= n; i++)
        printf "INSERT INTO item VALUES(%d, %d, %cname-%d-%d%c, %d.%02d);\n", i, (i * 7919) % 997, 39, i, (i * 31) % 1000, 39, i % 500, i % 100 }'
    awk -v n="$sql_n" 'BEGIN { for (i = 1; i <= n / 5; i++)
        printf "INSERT INTO sale(item_id, qty) VALUES(%d, %d);\n", (i * 104729) % n + 1, i % 9 + 1 }'
    echo "COMMIT;"
    echo "CREATE INDEX item_grp ON item(grp);"
    echo "CREATE INDEX item_name ON item(name);"
    echo "SELECT grp, count(*), round(sum(price), 2) FROM item GROUP BY grp ORDER BY 3 DESC LIMIT 5;"
    echo "SELECT count(*), min(name), max(name) FROM item WHERE name > 'name-5';"
    echo "SELECT i.grp, sum(s.qty), round(avg(i.price), 3) FROM sale s JOIN item i ON i.id = s.item_id GROUP BY i.grp ORDER BY 2 DESC LIMIT 5;"
} >"$work/sqlite.sql"

# g++: a C++ file of gxx_n generated classes and functions (templates, the STL), 1,000+ lines.
{
    echo '#include <algorithm>'
    echo '#include <map>'
    echo '#include <string>'
    echo '#include <vector>'
    echo '#include <memory>'
    echo '#include <cstdio>'
    awk -v n="$gxx_n" 'BEGIN {
      for (i = 0; i < n; i++) {
        printf "template <typename T> struct Node%d {\n  T value;\n  std::vector<T> items;\n", i
        printf "  std::map<std::string, T> index;\n  explicit Node%d(T v) : value(v) {}\n", i
        printf "  T sum() const {\n    T s = value;\n    for (const T& x : items) s += x;\n    return s;\n  }\n"
        printf "  void add(const std::string& k, T v) {\n    items.push_back(v);\n    index[k] = v;\n  }\n};\n"
        printf "long f%d(int n) {\n  auto node = std::make_unique<Node%d<long>>(%d);\n", i, i, i
        printf "  for (int j = 0; j < n; ++j) node->add(std::to_string(j * %d), j);\n", i + 1
        printf "  std::sort(node->items.begin(), node->items.end(), [](long a, long b) { return a > b; });\n"
        printf "  return node->sum() + static_cast<long>(node->index.size());\n}\n"
      }
      printf "int main() {\n  long total = 0;\n"
      for (i = 0; i < n; i++) printf "  total += f%d(%d);\n", i, i % 17 + 1
      printf "  std::printf(\"%%ld\\n\", total);\n  return 0;\n}\n"
    }'
} >"$work/big.cpp"

# git: a repository of git_commits commits on a few files (the blame has history to walk).
(
    cd "$work" && rm -rf repo && git init -q repo && cd repo
    git config user.email bench@example.invalid && git config user.name bench
    for f in a b c; do seq 1 200 | sed "s/^/$f line /" >"$f.txt"; done
    for ((i = 1; i <= git_commits; i++)); do
        f=$(printf 'a\nb\nc\n' | sed -n "$((i % 3 + 1))p")
        sed -i "$((i * 7 % 200 + 1))s/.*/$f line changed in commit $i/" "$f.txt"
        git add "$f.txt" && git commit -q -m "commit $i"
    done
)

py_code="import json
d = {str(i): [i, str(i) * 3, {'k': i % 7}] for i in range($py_n)}
s = json.dumps(d)
e = json.loads(s)
assert e == d
print(len(s))"
perl_code='my %h; $h{"key$_"} = [$_, "v$_"] for 1..'"$perl_n"'; my @k = sort keys %h;
delete $h{$_} for @k[0 .. $#k / 2]; my $t = 0; $t += $_->[0] for values %h; print scalar(keys %h), " $t\n";'

programs=(py_json py_json_malloc perl_hash sqlite3 gxx git)
if [[ -n $only ]]; then IFS=, read -ra programs <<<"$only"; fi
tools=(glibc fast full valgrind)

# The command of a program, as words after `env VARS...`.
program_cmd() {
    case $1 in
        py_json) echo "PYTHONHASHSEED=0 /usr/bin/python3 -c \"\$PY_CODE\"" ;;
        py_json_malloc) echo "PYTHONHASHSEED=0 PYTHONMALLOC=malloc /usr/bin/python3 -c \"\$PY_CODE\"" ;;
        perl_hash) echo "PERL_HASH_SEED=0 perl -e \"\$PERL_CODE\"" ;;
        sqlite3) echo "sqlite3 :memory: <\"\$WORK/sqlite.sql\"" ;;
        gxx) echo "g++ -O2 -c \"\$WORK/big.cpp\" -o \"\$WORK/big.o\" && echo compiled" ;;
        git) echo "cd \"\$WORK/repo\" && git --no-pager log -p --stat | wc -l && git --no-pager blame a.txt | wc -l" ;;
        *) echo "check_real_programs.sh: unknown program $1" >&2; exit 2 ;;
    esac
}

# run PROGRAM TOOL ROUND: one timed run; appends "program tool seconds kib" to results.
run() {
    local p=$1 t=$2 round=$3
    local cmd wrap=()
    cmd=$(program_cmd "$p")
    case $t in
        glibc) wrap=() ;;
        fast) wrap=("$memkit" check --log "$work/$p.$t.$round.log" --) ;;
        full) wrap=("$memkit" check --full --log "$work/$p.$t.$round.log" --) ;;
        valgrind) wrap=(valgrind --tool=memcheck --trace-children=yes --leak-check=full -q
                        --log-file="$work/$p.$t.$round.log") ;;
    esac
    local status=0
    # The program runs in a shell (its redirections, cd, the PY_CODE variable), and the shell runs
    # under the tool: a checked or traced shell, whose children (the program) are checked too.
    PY_CODE=$py_code PERL_CODE=$perl_code WORK=$work \
        /usr/bin/time -f '%e %M' -o "$work/time.txt" \
        "${wrap[@]}" /bin/sh -c "$cmd" >"$work/$p.$t.out" 2>"$work/$p.$t.err" || status=$?
    if [[ $status -ne 0 && !($t == fast || $t == full) ]] || [[ $status -ne 0 && $status -ne 23 ]]; then
        echo "check_real_programs.sh: $p under $t failed (status $status):" >&2
        tail -5 "$work/$p.$t.err" >&2
        exit 1
    fi
    if [[ $t != glibc ]] && ! cmp -s "$work/$p.glibc.out" "$work/$p.$t.out"; then
        echo "check_real_programs.sh: $p under $t printed something else than under glibc:" >&2
        diff "$work/$p.glibc.out" "$work/$p.$t.out" | head -5 >&2
        exit 1
    fi
    read -r secs kib <"$work/time.txt" || true
    echo "$p $t $secs $kib" >>"$work/results.txt"
}

: >"$work/results.txt"
for ((round = 1; round <= runs; round++)); do
    for p in "${programs[@]}"; do
        # glibc first in each round: its output is the reference for the others.
        for t in "${tools[@]}"; do
            echo "round $round/$runs: $p under $t" >&2
            run "$p" "$t" "$round"
        done
    done
done

# Medians per (program, tool), then the table.
awk -v runs="$runs" '
  { key = $1 " " $2; n[key]++; secs[key, n[key]] = $3; kib[key, n[key]] = $4; if (!($1 in seen)) { seen[$1] = 1; order[++np] = $1 } }
  function median(arr, key, cnt,   i, j, v, tmp) {
    for (i = 1; i <= cnt; i++) v[i] = arr[key, i] + 0
    for (i = 1; i <= cnt; i++) for (j = i + 1; j <= cnt; j++) if (v[j] < v[i]) { tmp = v[i]; v[i] = v[j]; v[j] = tmp }
    return cnt % 2 ? v[(cnt + 1) / 2] : (v[cnt / 2] + v[cnt / 2 + 1]) / 2
  }
  function r(a, b) { return b > 0 ? a / b : 0 }
  END {
    printf "medians of %d run(s); time in seconds, peak RSS in MiB (largest process of the tree)\n", runs
    printf "%-15s %7s %7s %7s %8s | %9s %9s %10s %10s | %7s %7s %9s\n", "program", "glibc", "fast", "full",
           "valgrind", "fast/gl", "full/gl", "valgr/gl", "full/valgr", "rss_gl", "rss_fast", "rss f/gl"
    for (i = 1; i <= np; i++) {
      p = order[i]
      g = median(secs, p " glibc", n[p " glibc"]); f = median(secs, p " fast", n[p " fast"])
      u = median(secs, p " full", n[p " full"]); v = median(secs, p " valgrind", n[p " valgrind"])
      rg = median(kib, p " glibc", n[p " glibc"]); rf = median(kib, p " fast", n[p " fast"])
      a = r(f, g); b = r(u, g); c = r(v, g); d = r(u, v); e = r(rf, rg)
      printf "%-15s %7.2f %7.2f %7.2f %8.2f | %8.2fx %8.2fx %9.2fx %9.2fx | %7.1f %7.1f %8.2fx\n", p, g, f, u, v,
             a, b, c, d, rg / 1024, rf / 1024, e
      if (a > 0) { la += log(a); lb += log(b); lc += log(c); ld += log(d); le += log(e); m++ }
      worst_a = a > worst_a ? a : worst_a; worst_d = d > worst_d ? d : worst_d; worst_e = e > worst_e ? e : worst_e
    }
    if (m > 0)
      printf "%-15s %7s %7s %7s %8s | %8.2fx %8.2fx %9.2fx %9.2fx | %7s %7s %8.2fx\n", "geomean", "", "", "", "",
             exp(la / m), exp(lb / m), exp(lc / m), exp(ld / m), "", "", exp(le / m)
    printf "targets: fast/glibc <= 2 on every one (worst %.2fx: %s), full/valgrind <= 0.5 (worst %.2fx: %s), peak RSS fast/glibc <= 2 (worst %.2fx: %s)\n",
           worst_a, worst_a <= 2 ? "met" : "NOT met", worst_d, worst_d <= 0.5 ? "met" : "NOT met",
           worst_e, worst_e <= 2 ? "met" : "NOT met"
  }' "$work/results.txt"
