#!/usr/bin/env bash
# The pictures as a reader sees them (tests/test_pictures.sh): each SVG memkit draws is loaded in
# headless Chromium (tests/pictures/measure.py measures every label in the browser's layout) and
# checked for what makes a picture unreadable: labels overlapping one another, text running off
# the picture, a picture too tall to take in, sizes that mean nothing.
#   maps --svg     python3 with a dozen modules loaded (~200 VMAs): under 2,200 px high, every
#                  label clear of the others, shared libraries and other files in far-apart
#                  colours, the space above user space not called a "gap" of PiB or EiB;
#   buddy --svg    65,536 pages: every row labelled with its first page's offset;
#   bench chart    a short run of two workloads: title inside the picture, the medians written
#                  beside the ratios, a whisker for the spread of the runs.
set -euo pipefail
: "${MEMKIT_CLI:?set by ctest: the memkit binary}"
: "${MEMKIT_SOURCE_DIR:?set by ctest}"
measure="$MEMKIT_SOURCE_DIR/tests/pictures/measure.py"
if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
    # scripts/deps.sh installs it; without it nothing here can be judged.
    [[ ${CI:-} == true ]] && { echo "chromium is missing (scripts/deps.sh installs it)" >&2; exit 1; }
    echo "SKIP: no chromium"
    exit 0
fi
work=$(mktemp -d)
pid=
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

echo "== maps --svg of python3"
python3 -c 'import json, ssl, sqlite3, decimal, ctypes, hashlib, zlib, bz2, lzma, asyncio, csv, time
open(__import__("sys").argv[1], "w").close(); time.sleep(120)' "$work/ready" &
pid=$!
for _ in $(seq 100); do [[ -e $work/ready ]] && break; sleep 0.1; done
[[ -e $work/ready ]] || { echo "python3 did not start" >&2; exit 1; }
"$MEMKIT_CLI" maps "$pid" --svg "$work/maps.svg" >/dev/null
vmas=$(wc -l <"/proc/$pid/maps")
kill "$pid"; pid=
python3 "$measure" "$work/maps.svg" >"$work/maps.json"
python3 - "$work/maps.json" "$work/maps.svg" "$vmas" <<'PY'
import json, re, sys
m = json.load(open(sys.argv[1])); svg = open(sys.argv[2]).read(); vmas = int(sys.argv[3])
t = m["texts"]
assert vmas >= 150, f"python3 has only {vmas} VMAs: the picture is not tall enough to judge"
assert not m["overlaps"], "labels overlap: " + "; ".join(
    f"{t[a]['text']!r} / {t[b]['text']!r}" for a, b in m["overlaps"][:5])
assert not m["outside"], "labels off the picture: " + "; ".join(t[i]["text"] for i in m["outside"][:5])
assert m["height"] < 2200, f"{vmas} VMAs drawn {m['height']:.0f} px high (want < 2200)"
for x in t:
    assert not re.match(r"gap .*(PiB|EiB)", x["text"]), f"a gap beyond user space: {x['text']!r}"
if "[vsyscall]" in svg:
    assert any("user space ends" in x["text"] for x in t), "no word on where user space ends"
def fill(cls):
    h = re.search(r"\." + cls + r" \{ fill: #([0-9a-f]{6}); \}", svg).group(1)
    return [int(h[i:i + 2], 16) for i in (0, 2, 4)]
d = sum((a - b) ** 2 for a, b in zip(fill("lib"), fill("file"))) ** 0.5
assert d > 100, f"lib and file colours too alike (RGB distance {d:.0f})"
rows = len([x for x in t if x["cls"] == "addr"]) - 1
assert rows < vmas, f"{rows} rows for {vmas} VMAs: nothing folded"
print(f"ok: {vmas} VMAs in {rows} rows, {m['height']:.0f} px high, {len(t)} labels, none overlapping")
PY

echo "== buddy simulate --svg, 65,536 pages"
"$MEMKIT_CLI" buddy simulate --pages 65536 --ops 20000 --svg "$work/buddy.svg" >/dev/null
python3 "$measure" "$work/buddy.svg" >"$work/buddy.json"
python3 - "$work/buddy.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1])); t = m["texts"]
assert not m["overlaps"], "labels overlap: " + "; ".join(
    f"{t[a]['text']!r} / {t[b]['text']!r}" for a, b in m["overlaps"][:5])
assert not m["outside"], "labels off the picture: " + "; ".join(t[i]["text"] for i in m["outside"][:5])
offsets = [int(x["text"]) for x in t if x["cls"] == "offset"]
assert offsets, "no page offsets on the rows"
step = offsets[1] - offsets[0]
assert offsets == list(range(0, 65536, step)), f"row offsets {offsets[:4]}... do not tile 65,536 pages"
assert step <= 1024, f"{step} pages a row: order-1 blocks narrower than 2 px"
print(f"ok: {len(offsets)} rows of {step} pages, each with its offset")
PY

echo "== bench chart"
"$MEMKIT_CLI" bench --workloads glibc_simple,xmalloc --allocators memkit,glibc --runs 2 \
    --scale 0.02 --no-progress --out "$work/bench" >/dev/null
python3 "$measure" "$work/bench/chart.svg" >"$work/chart.json"
python3 - "$work/chart.json" "$work/bench/chart.svg" <<'PY'
import json, re, sys
m = json.load(open(sys.argv[1])); svg = open(sys.argv[2]).read(); t = m["texts"]
assert not m["outside"], "text off the picture: " + "; ".join(t[i]["text"] for i in m["outside"][:5])
assert not m["overlaps"], "labels overlap: " + "; ".join(
    f"{t[a]['text']!r} / {t[b]['text']!r}" for a, b in m["overlaps"][:5])
values = [x["text"] for x in t if re.fullmatch(r"\d+\.\d+ (s|MiB)", x["text"])]
assert len(values) == 2 * 2 * 2, f"absolute medians: {values} (want 8: 2 workloads x 2 allocators x 2 panels)"
whiskers = len(re.findall(r'<path d="M[^"]*V', svg))
assert whiskers >= 1, "no whisker for the spread of the runs"
print(f"ok: {len(values)} medians written, {whiskers} whiskers, title inside {m['width']:.0f} px")
PY
echo "ok: pictures"
