#!/usr/bin/env python3
"""memkit — keeps README.md and docs/ honest (tests/docs/check_docs.py, ctest `docs`).

Checks, over README.md, BENCHMARKS.md and docs/*.md:
  1. every relative link (and image) resolves to a file, and a #fragment to a heading of it;
  2. every MEMKIT_OPTIONS key the text names exists in src/options/options.def: the keys of
     `MEMKIT_OPTIONS=k=v:k=v` strings, of `k=v:k=v` spans in backquotes (unless another
     *_OPTIONS= variable owns them, as ASAN_OPTIONS=...), and of the docs/options.md table;
  3. the options table of docs/options.md is the one options.def gives (--write-options
     rewrites it);
  4. every subcommand `memkit --help` lists has its row in docs/cli.md's table;
  5. every fenced ```sh block of README.md runs and exits 0 (bash -e -o pipefail, in a temp
     dir with the built memkit first on PATH and build/release linked to the build tree), but
     for blocks marked ```sh illustrative: REASON, which must be few and give their reason
     (the temp dir holds links to the source tree's top-level files, as in a clone);
     a ```text block right after a ```sh block is its output, shortened: each of its lines but
     "…" must appear, in order, in what the block printed, numbers and units aside.

Usage: check_docs.py --source DIR [--build DIR] [--no-run] [--write-options]
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

# Pages that other branches add; links to them may dangle until they land. Each must name the
# branch or issue that brings it; an entry whose page exists is checked like any other link.
PENDING_PAGES = {
    "docs/building.md": "the lean first build (issue 18 section 2), another branch",
}
# At most this many ```sh blocks of README.md may be left unrun (the two top-level scripts and
# the system-wide install: they install packages as root or write outside a temp dir).
MAX_ILLUSTRATIVE = 3
BLOCK_TIMEOUT_S = 240

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg)


def doc_files(src):
    files = ["README.md", "BENCHMARKS.md"]
    ddir = os.path.join(src, "docs")
    if os.path.isdir(ddir):
        files += sorted("docs/" + f for f in os.listdir(ddir) if f.endswith(".md"))
    return [f for f in files if os.path.isfile(os.path.join(src, f))]


# ---------------------------------------------------------------- markdown helpers

FENCE = re.compile(r"^(\s*)(```+|~~~+)(.*)$")


def blocks(text):
    """Yields (kind, info, lines, start_line): kind 'code' or 'prose'."""
    lines = text.split("\n")
    i, prose, prose_start = 0, [], 1
    while i < len(lines):
        m = FENCE.match(lines[i])
        if m:
            if prose:
                yield ("prose", "", prose, prose_start)
                prose = []
            fence, info, start = m.group(2), m.group(3).strip(), i + 1
            body = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(fence):
                body.append(lines[i])
                i += 1
            yield ("code", info, body, start)
            i += 1
            prose_start = i + 1
            continue
        if not prose:
            prose_start = i + 1
        prose.append(lines[i])
        i += 1
    if prose:
        yield ("prose", "", prose, prose_start)


def slug(heading):
    """GitHub's anchor for a heading."""
    h = heading.strip().lower()
    h = re.sub(r"[^\w\- ]", "", h)
    return h.replace(" ", "-")


def anchors(path):
    out = set()
    with open(path, encoding="utf-8") as f:
        for kind, _, lines, _ in blocks(f.read()):
            if kind != "prose":
                continue
            for line in lines:
                m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
                if m:
                    out.add(slug(m.group(1)))
    return out


# ---------------------------------------------------------------- 1. links

LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def check_links(src, files):
    n = 0
    for rel in files:
        path = os.path.join(src, rel)
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for kind, _, lines, start in blocks(text):
            if kind != "prose":
                continue
            for k, line in enumerate(lines):
                for target in LINK.findall(re.sub(r"`[^`]*`", "", line)):
                    if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, mailto: ...
                        continue
                    n += 1
                    where = f"{rel}:{start + k}"
                    file_part, _, frag = target.partition("#")
                    dest = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
                    dest_rel = os.path.relpath(dest, src)
                    if not os.path.exists(dest):
                        if dest_rel in PENDING_PAGES:
                            print(f"pending: {where}: {target} ({PENDING_PAGES[dest_rel]})")
                            continue
                        fail(f"{where}: link to {target}: no file {dest_rel}")
                        continue
                    if frag and dest.endswith(".md") and frag not in anchors(dest):
                        fail(f"{where}: link to {target}: {dest_rel} has no heading #{frag}")
    print(f"links: {n} relative links checked")


# ---------------------------------------------------------------- 2. and 3. options

def option_def(src):
    """[(type, key, default, values, help)] from src/options/options.def."""
    with open(os.path.join(src, "src/options/options.def"), encoding="utf-8") as f:
        text = "\n".join(l for l in f.read().split("\n") if not l.lstrip().startswith("//"))
    out = []
    for m in re.finditer(r'MK_OPTION\(\s*(\w+)\s*,\s*(\w+)\s*,\s*([^,]*?)\s*,\s*(MK_\w+(?:\([^)]*\))?)\s*,\s*"((?:[^"\\]|\\.)*)"\s*\)', text):
        out.append(m.groups())
    return out


def values_text(typ, values):
    m = re.match(r"MK_RANGE\(\s*(-?\d+)\s*,\s*(-?\d+)\s*\)", values)
    if m:
        return f"{m.group(1)}..{m.group(2)}"
    m = re.match(r"MK_POW2\(\s*(\d+)\s*,\s*(\d+)\s*\)", values)
    if m:
        return f"{m.group(1)}..{m.group(2)}, a power of two"
    m = re.match(r"MK_FD\(\s*(-?\d+)\s*\)", values)
    if m:
        return f"{m.group(1)}..RLIMIT_NOFILE-1"
    m = re.match(r'MK_CHOICES\(\s*"([^"]*)"\s*\)', values)
    if m:
        return m.group(1).replace("|", "\\|")
    if values == "MK_ANY":
        return "1/0, true/false, yes/no, on/off" if typ == "bool" else "text of at most 255 bytes"
    raise ValueError(f"options.def: unknown values form {values}")


TABLE_BEGIN = "<!-- options table: generated from src/options/options.def by tests/docs/check_docs.py --write-options -->"
TABLE_END = "<!-- end of the options table -->"


def options_table(src):
    rows = ["| key | type | default | values | meaning |", "|---|---|---|---|---|"]
    for typ, key, default, values, help_text in option_def(src):
        help_text = help_text.replace('\\"', '"').replace("|", "\\|")
        rows.append(f"| `{key}` | {typ} | {default or '(empty)'} | {values_text(typ, values)} | {help_text} |")
    return "\n".join(rows)


OPT_SPAN = re.compile(r"^[a-z_][a-z0-9_]*=[^\s=:]*(?::[a-z_][a-z0-9_]*=[^\s=:]*)*$")


def keys_of(assignments):
    return [a.split("=", 1)[0] for a in assignments.split(":") if "=" in a]


def check_options(src, files, write):
    keys = {k for _, k, _, _, _ in option_def(src)}
    if len(keys) < 10:
        fail(f"options.def: only {len(keys)} keys parsed; the parser is out of step with the file")
    named = 0
    for rel in files:
        path = os.path.join(src, rel)
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for n, line in enumerate(text.split("\n"), 1):
            found = []
            for m in re.finditer(r"MEMKIT_OPTIONS=['\"]?([^\s'\"`]+)", line):
                found += keys_of(m.group(1))
            for m in re.finditer(r"`([^`]+)`", line):
                span = m.group(1)
                if OPT_SPAN.match(span):  # (ASAN_OPTIONS=... spans start in capitals: not ours)
                    found += keys_of(span)
            if rel == "docs/options.md":
                m = re.match(r"^\|\s*`([a-z_0-9]+)`\s*\|", line)
                if m:
                    found.append(m.group(1))
            for k in found:
                if k == "key":  # the placeholder of `key=value:key=value`
                    continue
                named += 1
                if k not in keys:
                    fail(f"{rel}:{n}: MEMKIT_OPTIONS key '{k}' is not in src/options/options.def")
    print(f"options: {named} mentions of MEMKIT_OPTIONS keys checked against {len(keys)} keys")

    path = os.path.join(src, "docs/options.md")
    if not os.path.isfile(path):
        fail("docs/options.md is missing")
        return
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if TABLE_BEGIN not in text or TABLE_END not in text:
        fail("docs/options.md: the generated table's markers are missing")
        return
    head, rest = text.split(TABLE_BEGIN, 1)
    old, tail = rest.split(TABLE_END, 1)
    want = "\n" + options_table(src) + "\n"
    if write:
        with open(path, "w", encoding="utf-8") as f:
            f.write(head + TABLE_BEGIN + want + TABLE_END + tail)
        print("docs/options.md: table written")
    elif old != want:
        fail("docs/options.md: the options table differs from src/options/options.def; "
             "run python3 tests/docs/check_docs.py --source . --write-options")


# ---------------------------------------------------------------- 4. the subcommands

def check_subcommands(src, build):
    p = subprocess.run([os.path.join(build, "bin", "memkit"), "--help"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    text = p.stdout.decode("utf-8", "replace")
    listed = text.split("Subcommands:", 1)[1] if "Subcommands:" in text else ""
    names = [l.split()[0] for l in listed.split("\n") if l.strip()]
    if not names:
        fail("memkit --help lists no subcommands")
        return
    with open(os.path.join(src, "docs/cli.md"), encoding="utf-8") as f:
        rows = [l for l in f.read().split("\n") if l.startswith("| `memkit")]
    missing = [n for n in names
               if not any(re.search(r"`memkit " + re.escape(n) + r"[` ]", r) for r in rows)]
    for name in missing:
        fail(f"docs/cli.md: the subcommands table has no row for `memkit {name}` (memkit --help lists it)")
    print(f"subcommands: {len(names)} in memkit --help, {len(names) - len(missing)} of them in docs/cli.md")


# ---------------------------------------------------------------- 5. README's commands

def normalise(line):
    s = re.sub(r"(?<![\w.])(?:/[^\s/:()]+)+/([^\s/:()]+)", r"\1", line)  # /tmp/x/uaf.c -> uaf.c
    s = re.sub(r"0x[0-9a-fA-F]+", "H", s)
    s = re.sub(r"\d+(?:\.\d+)?", "N", s)
    s = re.sub(r"N ?(?:B|KiB|MiB|GiB|TiB|PiB)\b", "N", s)
    s = re.sub(r"\bN (\w+?)s\b", r"N \1", s)  # 1 block / 3 blocks
    s = re.sub(r"[\s…]+", " ", s)
    return s.strip()


def check_output(where, sample, got):
    have = [normalise(l) for l in got.split("\n")]
    pos = 0
    for line in sample:
        if line.strip() in ("…", "...", ""):
            continue
        want = normalise(line)
        while pos < len(have) and have[pos] != want:
            pos += 1
        if pos == len(have):
            fail(f"{where}: the sample output's line\n    {line}\n  is not (in this order) in what the commands printed:\n"
                 + "\n".join("    | " + l for l in got.rstrip().split("\n")[-40:]))
            return
        pos += 1


def check_readme(src, build, run):
    with open(os.path.join(src, "README.md"), encoding="utf-8") as f:
        items = list(blocks(f.read()))
    illustrative, ran = 0, 0
    for i, (kind, info, lines, start) in enumerate(items):
        if kind != "code" or not re.match(r"^(sh|bash|shell)\b", info):
            continue
        where = f"README.md:{start}"
        if re.match(r"^(sh|bash|shell)$", info) is None:
            m = re.match(r"^(?:sh|bash|shell)\s+illustrative:\s*(\S.{15,})$", info)
            if not m:
                fail(f"{where}: fence info '{info}': a block is ```sh, or ```sh illustrative: REASON (why it cannot run in a test)")
                continue
            illustrative += 1
            continue
        if not run:
            continue
        ran += 1
        script = "\n".join(lines)
        with tempfile.TemporaryDirectory(prefix="memkit-docs-") as tmp:
            # The temp dir looks like a clone after the build: the source's files linked in
            # (read-only use), build/release the build tree.
            for entry in os.listdir(src):
                if entry not in ("build", ".git"):
                    os.symlink(os.path.join(src, entry), os.path.join(tmp, entry))
            os.makedirs(os.path.join(tmp, "build"))
            os.symlink(build, os.path.join(tmp, "build", "release"))
            env = dict(os.environ)
            env["PATH"] = os.path.join(build, "bin") + os.pathsep + env.get("PATH", "")
            env.pop("MEMKIT_OPTIONS", None)
            try:
                p = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=tmp, env=env,
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   timeout=BLOCK_TIMEOUT_S)
                out, rc = p.stdout.decode("utf-8", "replace"), p.returncode
            except subprocess.TimeoutExpired:
                fail(f"{where}: the block ran over {BLOCK_TIMEOUT_S} s")
                continue
        if rc != 0:
            fail(f"{where}: the block exited {rc}:\n" + "\n".join("    $ " + l for l in lines)
                 + "\n" + "\n".join("    | " + l for l in out.rstrip().split("\n")[-30:]))
            continue
        nxt = items[i + 1] if i + 1 < len(items) else None
        if nxt and nxt[0] == "prose" and not "".join(nxt[2]).strip() and i + 2 < len(items):
            nxt = items[i + 2]
        if nxt and nxt[0] == "code" and nxt[1] == "text":
            check_output(where, nxt[2], out)
        print(f"ran {where} ({len(lines)} lines): ok")
    if illustrative > MAX_ILLUSTRATIVE:
        fail(f"README.md: {illustrative} illustrative ```sh blocks, at most {MAX_ILLUSTRATIVE}: make the others runnable")
    print(f"README: {ran} ```sh blocks run, {illustrative} illustrative")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", required=True)
    ap.add_argument("--build", help="the build tree (bin/memkit); without it, no command runs")
    ap.add_argument("--no-run", action="store_true")
    ap.add_argument("--write-options", action="store_true")
    a = ap.parse_args()
    src = os.path.abspath(a.source)
    files = doc_files(src)
    print("documents: " + " ".join(files))
    check_links(src, files)
    check_options(src, files, a.write_options)
    run = bool(a.build) and not a.no_run
    if run and not os.access(os.path.join(a.build, "bin", "memkit"), os.X_OK):
        fail(f"{a.build}/bin/memkit is not there: build the CLI first")
        run = False
    if run:
        check_subcommands(src, os.path.abspath(a.build))
    check_readme(src, os.path.abspath(a.build) if a.build else "", run)
    if failures:
        print(f"check_docs: {len(failures)} failure(s)")
        return 1
    print("check_docs: README and docs are consistent")
    return 0


if __name__ == "__main__":
    sys.exit(main())
