#!/usr/bin/env bash
# memkit report (tests/test_report_html.sh): the HTML page of a profile directory.
# From the fixture in tests/report/ (the files `memkit profile` writes, with names holding
# quotes, '<', '&', commas, unicode and attempts at markup injection), writes report.html and
#  - checks it is self-contained: nothing in it loads a file or a URL, and the data cannot leave
#    its <script type="application/json"> (five scripts, no '<' in the JSON);
#  - loads it in headless Chromium (--dump-dom, network disabled) and checks in the resulting DOM
#    that no script failed (errors.js writes errors into the page), that every part drew, that
#    the timeline's SVG has a line and a legend entry per site, that the flame graph's SVG has
#    every frame of peak.folded (and of heap.folded with #exit) with the right total, that the
#    table has sites.csv's rows, and that no injected markup ran;
#  - checks that a script error would be seen (a page with a failing script added);
#  - checks the errors: a missing DIR, each file missing, corrupt files, an unwritable --out:
#    one line naming the file, exit status 1, nothing on stdout, no page left behind.
set -euo pipefail
: "${MEMKIT_CLI:?set by ctest: the memkit binary}"
: "${MEMKIT_SOURCE_DIR:?set by ctest}"
fixture=$MEMKIT_SOURCE_DIR/tests/report
work=$(mktemp -d)
[[ -n ${MEMKIT_KEEP_WORK:-} ]] || trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

chromium=$(command -v chromium || command -v chromium-browser || true)
[[ -n $chromium ]] || fail "chromium is not installed (scripts/deps.sh installs it)"

# dump URL OUT: the DOM after the page's scripts ran, from headless Chromium with no network.
dump() {
    timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --no-first-run \
        --user-data-dir="$work/chrome-profile" --host-resolver-rules="MAP * ~NOTFOUND" \
        --window-size=1400,1800 --virtual-time-budget=5000 --dump-dom "$1" \
        >"$2" 2>"$work/chrome.log" || { cat "$work/chrome.log" >&2; fail "chromium failed on $1"; }
    [[ -s $2 ]] || { cat "$work/chrome.log" >&2; fail "chromium dumped nothing for $1"; }
}

cp -r "$fixture" "$work/prof"
out=$("$MEMKIT_CLI" report "$work/prof") || fail "memkit report failed on the fixture"
[[ $out == "wrote $work/prof/report.html" ]] || fail "unexpected output: $out"
page=$work/prof/report.html
[[ -s $page ]] || fail "no page"
# --out writes elsewhere, the same page.
"$MEMKIT_CLI" report "$work/prof" --out "$work/other.html" >/dev/null || fail "--out"
cmp -s "$page" "$work/other.html" || fail "--out wrote a different page"

# Static checks of the file.
python3 - "$page" <<'EOF' || fail "static checks of the page"
import html.parser, json, sys
text = open(sys.argv[1], encoding="utf-8").read()
class P(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.scripts = []      # (attrs, text)
        self.loads = []        # elements that would load something
        self.in_script = None
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script":
            self.in_script = (a, [])
        for key in ("src", "srcset", "data", "action", "poster"):
            if key in a:
                self.loads.append((tag, key, a[key]))
        if tag in ("link", "iframe", "embed", "object", "img", "base"):
            self.loads.append((tag, "", str(a)))
    def handle_data(self, data):
        if self.in_script is not None:
            self.in_script[1].append(data)
    def handle_endtag(self, tag):
        if tag == "script" and self.in_script is not None:
            self.scripts.append((self.in_script[0], "".join(self.in_script[1])))
            self.in_script = None
p = P()
p.feed(text)
assert not p.loads, f"the page loads something: {p.loads}"
assert "url(" not in text.split("<script")[0], "the style loads something"
types = [a.get("type") for a, _ in p.scripts]
assert types == [None, None, None, "application/json", None], f"scripts: {types}"
data_text = p.scripts[3][1]
assert "<" not in data_text and ">" not in data_text and "&" not in data_text, "raw <, > or & in the JSON"
data = json.loads(data_text)
assert any("pwned=1" in s for s in data["timeline"]["sites"]), "the injection attempt is not in the data"
assert "Content-Security-Policy" in text and "default-src 'none'" in text, "no CSP"
EOF

# What the browser made of it.
dump "file://$page" "$work/dom.html"
dump "file://$page#exit" "$work/dom-exit.html"

python3 - "$work/dom.html" "$work/dom-exit.html" "$work/prof" <<'EOF' || fail "the rendered page (DOM in $work/dom.html)"
import csv, html.parser, sys

def bytes_(n):  # as report.js prints them
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
    i, v = 0, float(n)
    while abs(v) >= 1024 and i < len(units) - 1:
        v /= 1024
        i += 1
    if i == 0:
        return f"{round(v)} B"
    return f"{v:.{2 if abs(v) < 10 else 1 if abs(v) < 100 else 0}f} {units[i]}"

class Node:
    def __init__(self, tag, attrs, parent):
        self.tag, self.attrs, self.parent, self.children, self.text = tag, dict(attrs), parent, [], []
    def all(self):
        yield self
        for c in self.children:
            if isinstance(c, Node):
                yield from c.all()
    def find(self, tag=None, id=None, cls=None):
        return [n for n in self.all() if (tag is None or n.tag == tag) and (id is None or n.attrs.get("id") == id)
                and (cls is None or cls in (n.attrs.get("class") or "").split())]
    def content(self):
        return "".join(c if isinstance(c, str) else c.content() for c in self.children)

VOID = {"meta", "link", "br", "hr", "img", "input", "col", "area", "base", "wbr", "source"}
class Tree(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", [], None)
        self.cur = self.root
    def handle_starttag(self, tag, attrs):
        n = Node(tag, attrs, self.cur)
        self.cur.children.append(n)
        if tag not in VOID:
            self.cur = n
    def handle_startendtag(self, tag, attrs):
        self.cur.children.append(Node(tag, attrs, self.cur))
    def handle_endtag(self, tag):
        n = self.cur
        while n is not None and n.tag != tag:
            n = n.parent
        if n is not None and n.parent is not None:
            self.cur = n.parent
    def handle_data(self, data):
        self.cur.children.append(data)

def load(path):
    t = Tree()
    t.feed(open(path, encoding="utf-8").read())
    return t.root

def one(root, **kw):
    found = root.find(**kw)
    assert len(found) == 1, f"{kw}: {len(found)} elements"
    return found[0]

prof = sys.argv[3]
def folded(name):
    stacks = []
    for line in open(f"{prof}/{name}", encoding="utf-8"):
        if line.strip():
            stack, count = line.rstrip("\n").rsplit(" ", 1)
            stacks.append((stack.split(";"), int(count)))
    return stacks

def check_common(dom, label):
    html_el = one(dom, tag="html")
    assert "data-errors" not in html_el.attrs, f"{label}: script errors: " + one(dom, id="errors").content()
    assert one(dom, id="errors").content().strip() == "", f"{label}: errors box not empty"
    body = one(dom, tag="body")
    parts = (body.attrs.get("data-rendered") or "").split()
    for part in ("summary", "timeline", "flamegraph", "sites", "kernel"):
        assert part in parts, f"{label}: part {part} did not draw (data-rendered={parts})"
    assert "data-pwned" not in body.attrs, f"{label}: injected markup ran"
    assert not [n for n in dom.find(tag="img")], f"{label}: an injected <img> is in the DOM"
    scripts = dom.find(tag="script")
    assert len(scripts) == 5, f"{label}: {len(scripts)} <script> elements (an injected one?)"

def check_flame(dom, stacks, label, absent=()):
    svg = one(one(dom, id="flame"), tag="svg")
    frames = [g for g in svg.find(tag="g") if g.find(tag="rect")]
    names = set()
    for g in frames:
        for div in g.find(tag="div"):
            names.add(div.content())
    titles = [t.content() for t in svg.find(tag="title")]
    total = sum(c for _, c in stacks)
    root = [t for t in titles if t.startswith("all: ")]
    assert root and root[0].startswith(f"all: {bytes_(total)} ("), f"{label}: root frame {root}, total {bytes_(total)}"
    for stack, _ in stacks:
        for frame in stack:
            assert frame in names, f"{label}: frame {frame!r} not drawn"
            assert any(t.startswith(frame + ": ") for t in titles), f"{label}: no title for {frame!r}"
    for frame in absent:
        assert frame not in names, f"{label}: {frame!r} drawn but not in the profile"
    # Each frame as wide as its bytes: per name, the widths add up to its share of the total.
    svg_width = float(svg.attrs["width"])
    drawn = {}
    for g in frames:
        drawn[g.attrs["name"]] = drawn.get(g.attrs["name"], 0) + float(one(g, tag="rect").attrs["width"])
    want = {"all": total}
    for stack, count in stacks:
        for frame in set(stack):
            want[frame] = want.get(frame, 0) + count
    for frame, count in want.items():
        assert abs(drawn[frame] - svg_width * count / total) < 0.5, \
            f"{label}: {frame!r} is {drawn[frame]:.1f} px wide, expected {svg_width * count / total:.1f}"

dom = load(sys.argv[1])
check_common(dom, "peak")
peak, exit_ = folded("peak.folded"), folded("heap.folded")
exit_frames = {f for s, _ in exit_ for f in s}
check_flame(dom, peak, "flame graph at the peak")
assert one(dom, id="show-peak").attrs.get("aria-pressed") == "true"

# Timeline: a line per series, a legend entry (title) per site, the axis labelled in bytes.
rows = list(csv.reader(open(f"{prof}/timeline.csv", encoding="utf-8", newline="")))
sites = rows[0][3:]
svg = one(one(dom, id="timeline"), tag="svg")
lines = [p for p in svg.find(tag="path") if "line" in (p.attrs.get("class") or "").split()]
assert len(lines) == 2 + len(sites), f"timeline: {len(lines)} lines for {len(sites)} sites"
for p in lines:
    assert len(p.attrs.get("d", "")) > 20, "timeline: an empty line"
titles = [t.content() for t in svg.find(tag="title")]
for name in ["heap: bytes in use", "RSS of the process"] + sites:
    assert titles.count(name) == 2, f"timeline: {name!r} has {titles.count(name)} titles (line + legend)"
heap_max = max(int(r[1]) for r in rows[1:])
legend_values = [t.content() for t in svg.find(tag="text") if "legend-value" in (t.attrs.get("class") or "")]
assert legend_values[0] == "max " + bytes_(heap_max), f"timeline: heap max {legend_values[0]}"

# The table: sites.csv's rows, in its order.
table = one(dom, id="sites")
body_rows = one(table, tag="tbody").find(tag="tr")
sites_rows = list(csv.DictReader(open(f"{prof}/sites.csv", encoding="utf-8", newline="")))
assert len(body_rows) == len(sites_rows), f"table: {len(body_rows)} rows, sites.csv has {len(sites_rows)}"
for tr, want in zip(body_rows, sites_rows):
    cells = {c.attrs["class"].split()[-1]: c for c in tr.find(tag="td")}
    assert cells["col-function"].content() == want["function"], (cells["col-function"].content(), want["function"])
    where = want["file"] + (":" + want["line"] if want["file"] and want["line"] else "")
    assert cells["col-where"].content() == where, (cells["col-where"].content(), where)
    for key in ("peak_bytes", "live_bytes", "alloc_bytes"):
        assert cells["col-" + key].attrs.get("title") == f"{int(want[key]):,} bytes", (key, cells["col-" + key].attrs)
        assert cells["col-" + key].content() == bytes_(int(want[key])), (key, cells["col-" + key].content())
    for key in ("peak_objects", "live_objects", "alloc_objects"):
        assert cells["col-" + key].content() == f"{int(want[key]):,}", (key, cells["col-" + key].content())

# The kernel texts, as they are.
for name, file in (("buddyinfo", "peak-buddyinfo.txt"), ("slabinfo", "peak-slabinfo.txt")):
    assert one(dom, id=name).content() == open(f"{prof}/{file}", encoding="utf-8").read(), name

# At exit (#exit): heap.folded's frames, none that only the peak had.
dom = load(sys.argv[2])
check_common(dom, "exit")
peak_only = {f for s, _ in peak for f in s} - exit_frames
assert peak_only, "the fixture needs frames only the peak has"
check_flame(dom, exit_, "flame graph at exit", absent=peak_only)
assert one(dom, id="show-exit").attrs.get("aria-pressed") == "true"
EOF

# CSV as RFC 4180 has it: CRLF line ends give the same page as LF, and a quoted field may hold
# a line break.
mkdir "$work/crlf"
cp -r "$fixture" "$work/crlf/prof"
sed -i 's/$/\r/' "$work/crlf/prof/timeline.csv" "$work/crlf/prof/sites.csv"
(cd "$work/crlf" && "$MEMKIT_CLI" report prof --out ../crlf.html >/dev/null) || fail "report with CRLF"
(cd "$work" && "$MEMKIT_CLI" report prof --out lf.html >/dev/null) || fail "report with LF"
cmp -s "$work/crlf.html" "$work/lf.html" || fail "CRLF line ends gave another page than LF"
printf '"two\nlines, ""quoted""",src/x.c,,1,1,1,1,1,1\n' >>"$work/crlf/prof/sites.csv"
"$MEMKIT_CLI" report "$work/crlf/prof" >/dev/null || fail "report with a line break in a quoted field"
python3 - "$work/crlf/prof/report.html" <<'PY' || fail "a quoted field with a line break"
import json, re, sys
text = open(sys.argv[1], encoding="utf-8").read()
data = json.loads(re.search(r'<script type="application/json" id="memkit-data">(.*?)</script>', text, re.S).group(1))
last = data["sites"][-1]
assert last["function"] == 'two\nlines, "quoted"' and last["file"] == "src/x.c" and last["line"] is None, last
PY

# Frames under 0.001 % of the bytes are left out of the flame graph, and the page says so.
cp -r "$fixture" "$work/tiny"
echo 'main (src/main.cc:20);tiny_leaf (src/tiny.c:1) 700' >>"$work/tiny/peak.folded"
"$MEMKIT_CLI" report "$work/tiny" >/dev/null || fail "memkit report with a tiny frame"
dump "file://$work/tiny/report.html" "$work/dom-tiny.html"
grep -q 'tiny_leaf' "$work/tiny/report.html" && fail "a frame of 700 bytes in 73 MiB is in the page"
grep -q '1 frame under 0.001 % of the bytes left out' "$work/dom-tiny.html" || fail "the left-out frame is not mentioned"
grep -q '76,546,748 bytes' "$work/dom-tiny.html" || fail "the left-out frame's bytes do not count in the total"

# A failing script shows: the same page with one that throws added is reported as failed.
sed 's#</body>#<script>null.boom();</script></body>#' "$page" >"$work/broken.html"
dump "file://$work/broken.html" "$work/dom-broken.html"
grep -q 'data-errors="1"' "$work/dom-broken.html" || fail "a script error is not shown in the page"
grep -q 'script error: .*boom' "$work/dom-broken.html" || fail "the error message is not in the page"

# Errors: one line naming the file, exit status 1, nothing on stdout, no page written.
expect_error() {  # expect_error DIR PATTERN [ARGS...]
    local dir=$1 pattern=$2
    shift 2
    local status=0
    "$MEMKIT_CLI" report "$dir" "$@" >"$work/stdout" 2>"$work/stderr" || status=$?
    [[ $status -eq 1 ]] || fail "report $dir $*: status $status, expected 1 ($(cat "$work/stderr"))"
    [[ ! -s $work/stdout ]] || fail "report $dir: wrote on stdout"
    [[ $(wc -l <"$work/stderr") -eq 1 ]] || fail "report $dir: not one line: $(cat "$work/stderr")"
    grep -qF -- "$pattern" "$work/stderr" || fail "report $dir: '$(cat "$work/stderr")' lacks '$pattern'"
    [[ ! -e $dir/report.html ]] || fail "report $dir: a page was written"
    if compgen -G "$dir/report.html.tmp.*" >/dev/null; then fail "report $dir: a temporary file was left"; fi
}
bad() {  # bad NAME: a fresh copy of the fixture in $work/NAME
    rm -rf "${work:?}/$1"
    cp -r "$fixture" "$work/$1"
}

expect_error "$work/none" "memkit: $work/none: no such directory"
touch "$work/plain"
expect_error "$work/plain" "memkit: $work/plain: not a directory"
# What a message echoes is escaped: a path or a line holding ESC or a newline stays one line.
expect_error "$work/a"$'\n'"b"$'\e'"[31m" "memkit: $work/a\\nb\\x1b[31m: no such directory"
bad c && printf 'main 1\x1b[2J\n' >"$work/c/heap.folded"
expect_error "$work/c" "memkit: $work/c/heap.folded: line 1: '1\\x1b[2J' is not a byte count"
for file in heap.folded peak.folded timeline.csv sites.csv peak-buddyinfo.txt peak-slabinfo.txt; do
    bad missing
    rm "$work/missing/$file"
    expect_error "$work/missing" "memkit: $work/missing/$file: no such file"
done

bad c && echo 'main;leaf' >>"$work/c/peak.folded"
expect_error "$work/c" "memkit: $work/c/peak.folded: line 8: no byte count"
bad c && echo 'main;leaf 12x' >>"$work/c/heap.folded"
expect_error "$work/c" "memkit: $work/c/heap.folded: line 5: '12x' is not a byte count"
bad c && echo 'main;;leaf 12' >>"$work/c/heap.folded"
expect_error "$work/c" "memkit: $work/c/heap.folded: line 5: an empty frame"
bad c && printf 'main 1\n\0\0\0\0' >"$work/c/heap.folded"
expect_error "$work/c" "memkit: $work/c/heap.folded: line 2: binary data (a NUL byte)"
bad c && sed -i '1s/heap_bytes/heap/' "$work/c/timeline.csv"
expect_error "$work/c" "memkit: $work/c/timeline.csv: line 1: the header must start with time_s,heap_bytes,rss_bytes"
bad c && echo '3.1,"1,2,3,4,5,6,7,8,9' >>"$work/c/timeline.csv"
expect_error "$work/c" "memkit: $work/c/timeline.csv: line 33: a quoted field is never closed"
bad c && echo '3.1,1,2' >>"$work/c/timeline.csv"
expect_error "$work/c" "memkit: $work/c/timeline.csv: line 33: 3 fields, the header has 9"
bad c && echo '3.1,1,2,3,4,5,6,7,-8' >>"$work/c/timeline.csv"
expect_error "$work/c" "memkit: $work/c/timeline.csv: line 33: "
bad c && echo 'soon,1,2,3,4,5,6,7,8' >>"$work/c/timeline.csv"
expect_error "$work/c" "memkit: $work/c/timeline.csv: line 33: time_s 'soon' is not a time in seconds"
bad c && sed -i '1s/peak_bytes/peak/' "$work/c/sites.csv"
expect_error "$work/c" "memkit: $work/c/sites.csv: line 1: the header has no column 'peak_bytes'"
bad c && echo 'f,x.c,1,1,1,1,1,lots,1' >>"$work/c/sites.csv"
expect_error "$work/c" "memkit: $work/c/sites.csv: line 9: peak_bytes 'lots' is not a non-negative integer"
bad c && echo 'garbage' >"$work/c/peak-buddyinfo.txt"
expect_error "$work/c" "memkit: $work/c/peak-buddyinfo.txt: not in /proc/buddyinfo's format"
bad c && echo 'garbage' >"$work/c/peak-slabinfo.txt"
expect_error "$work/c" "memkit: $work/c/peak-slabinfo.txt: line 1: not in /proc/slabinfo's format"
bad c
expect_error "$work/c" "memkit: $work/none/r.html: No such file or directory" --out "$work/none/r.html"

# Usage: DIR is required (status 2).
status=0
"$MEMKIT_CLI" report >/dev/null 2>&1 || status=$?
[[ $status -eq 2 ]] || fail "memkit report without DIR: status $status, expected 2"
echo "PASS"
