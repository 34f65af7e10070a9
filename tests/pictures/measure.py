#!/usr/bin/env python3
"""Loads an SVG in headless Chromium and prints what a reader would see, as JSON.

tests/pictures/measure.py FILE.svg: the SVG is inlined in an HTML page whose script measures,
in the browser's own layout (real fonts, transforms applied), every <text> element's bounding
box, and writes the results into the page; `chromium --headless --dump-dom` prints the page
after the script ran, and this program prints the results:
  {"width", "height", "texts": [{"text", "x", "y", "w", "h", "cls"}], "overlaps": [[i, j]...],
   "outside": [i...]}
overlaps: pairs of texts whose boxes intersect by more than 1 px both ways; outside: texts that
stick out of the picture. Exit status 3 when Chromium is missing or printed no result.
"""
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

SCRIPT = r"""
<script>
const svg = document.querySelector('svg');
const origin = svg.getBoundingClientRect();
const texts = [...svg.querySelectorAll('text')].map(t => {
  const b = t.getBoundingClientRect();
  return {text: t.textContent, x: b.left - origin.left, y: b.top - origin.top, w: b.width,
          h: b.height, cls: t.getAttribute('class') || (t.parentNode.getAttribute('class') || '')};
});
const overlaps = [];
for (let i = 0; i < texts.length; ++i)
  for (let j = i + 1; j < texts.length; ++j) {
    const a = texts[i], b = texts[j];
    const ox = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x);
    const oy = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y);
    if (ox > 1 && oy > 1) overlaps.push([i, j]);
  }
const outside = [];
texts.forEach((t, i) => {
  if (t.w > 0 && (t.x < -0.5 || t.y < -0.5 || t.x + t.w > origin.width + 0.5 ||
                  t.y + t.h > origin.height + 0.5)) outside.push(i);
});
document.getElementById('result').textContent =
    JSON.stringify({width: origin.width, height: origin.height, texts, overlaps, outside});
</script>
"""


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def main():
    svg = open(sys.argv[1], encoding="utf-8").read()
    svg = re.sub(r"^<\?xml[^>]*\?>\s*", "", svg)
    chromium = find_chromium()
    if chromium is None:
        print("measure.py: no chromium", file=sys.stderr)
        return 3
    with tempfile.TemporaryDirectory() as tmp:
        page = os.path.join(tmp, "page.html")
        with open(page, "w", encoding="utf-8") as f:
            f.write("<!DOCTYPE html><html><body style=\"margin:0\">" + svg +
                    "<pre id=\"result\"></pre>" + SCRIPT + "</body></html>")
        dom = subprocess.run(
            [chromium, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run",
             f"--user-data-dir={tmp}/profile", "--dump-dom", "file://" + page],
            capture_output=True, text=True, timeout=120).stdout
    m = re.search(r'<pre id="result">(.*?)</pre>', dom, re.S)
    if not m or not m.group(1).strip():
        print("measure.py: chromium printed no result", file=sys.stderr)
        return 3
    print(html.unescape(m.group(1)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
