#!/usr/bin/env python3
"""Checks `memkit trace dump --json` of tests/trace/known.cpp event by event.

Usage: check_known.py DUMP.jsonl
The events of thread 1 between the markers (malloc 777001 ... free of malloc 777002) and the
events of the worker thread must be exactly those the program makes, with the ids linked:
each free names the block its allocation got, the realloc chain passes its block along."""
import json
import sys

events = [json.loads(line) for line in open(sys.argv[1])]
by_thread = {}
for e in events:
    by_thread.setdefault(e["thread"], []).append(e)
fail = []


def expect(cond, what):
    if not cond:
        fail.append(what)


main = by_thread.get(1, [])
start = next(i for i, e in enumerate(main) if e["kind"] == "malloc" and e.get("size") == 777001)
stop = next(i for i, e in enumerate(main) if e["kind"] == "malloc" and e.get("size") == 777002)
seq = main[start:stop + 2]
# (kind, fields) with ids as names: "=X" binds the id, "X" must equal the bound one.
want = [
    ("malloc", {"size": 777001, "id": "=begin"}),
    ("free", {"frees": "begin"}),
    ("malloc", {"size": 100, "id": "=a"}),
    ("calloc", {"nmemb": 3, "size": 40, "id": "=c"}),
    ("realloc", {"frees": "null", "size": 10, "id": "=r1"}),
    ("realloc", {"frees": "r1", "size": 1000, "id": "=r2"}),
    ("realloc", {"frees": "r2", "size": 100000, "id": "=r3"}),
    ("posix_memalign", {"align": 64, "size": 200, "id": "=pm"}),
    ("aligned_alloc", {"align": 4096, "size": 8192, "id": "=aa"}),
    ("memalign", {"align": 128, "size": 50, "id": "=ma"}),
    ("valloc", {"size": 10, "id": "=va"}),
    ("pvalloc", {"size": 5000, "id": "=pv"}),
    ("new", {"size": 24, "id": "=n1"}),
    ("delete(sized)", {"frees": "n1", "size": 24}),
    ("new[](nothrow)", {"size": 48, "id": "=n2"}),
    ("delete[]", {"frees": "n2"}),
    ("new(aligned)", {"align": 256, "size": 64, "id": "=n3"}),
    ("delete(aligned)", {"frees": "n3", "align": 256}),
    ("free", {"frees": "a"}),
    ("free", {"frees": "c"}),
    ("free", {"frees": "r3"}),
    ("free", {"frees": "pm"}),
    ("free", {"frees": "aa"}),
    ("free", {"frees": "ma"}),
    ("free", {"frees": "va"}),
    ("free", {"frees": "pv"}),
    ("free", {"frees": "null"}),
    ("free", {"frees": "t1"}),
    ("malloc", {"size": 777002, "id": "=end"}),
    ("free", {"frees": "end"}),
]
worker_want = [
    ("thread", {}),
    ("malloc", {"size": 4242, "id": "=t1"}),
    ("malloc", {"size": 4343, "id": "=t2"}),
    ("free", {"frees": "t2"}),
]
names = {"null": "null"}
workers = [t for t in by_thread if t != 1]
expect(len(workers) == 1, f"threads other than the main one: {workers}")
worker = by_thread[workers[0]] if workers else []
# The C library frees its per-thread state at thread exit: free(NULL) calls, after the program's.
while len(worker) > len(worker_want) and worker[-1]["kind"] == "free" and worker[-1]["frees"] == "null":
    worker.pop()


def match(got, want, where):
    expect(len(got) == len(want), f"{where}: {len(got)} events, expected {len(want)}: {got}")
    for i, (g, (kind, fields)) in enumerate(zip(got, want)):
        expect(g["kind"] == kind, f"{where} event {i}: kind {g['kind']}, expected {kind}: {g}")
        keys = set(g) - {"thread", "ns", "kind", "tid"}
        expect(keys == set(fields), f"{where} event {i} ({kind}): fields {sorted(keys)}, expected {sorted(fields)}")
        for k, v in fields.items():
            if isinstance(v, str) and v.startswith("="):
                expect(isinstance(g.get(k), int) and g[k] > 0, f"{where} event {i}: {k}={g.get(k)}")
                expect(g.get(k) not in names.values(), f"{where} event {i}: id {g.get(k)} reused")
                names[v[1:]] = g.get(k)
            elif isinstance(v, str):
                expect(v in names, f"{where} event {i}: {v} not yet bound")
                expect(g.get(k) == names.get(v), f"{where} event {i}: {k}={g.get(k)}, expected {v}={names.get(v)}")
            else:
                expect(g.get(k) == v, f"{where} event {i}: {k}={g.get(k)}, expected {v}")


match(worker, worker_want, "worker")
match(seq, want, "main")
if fail:
    print("check_known: FAIL\n  " + "\n  ".join(fail[:20]))
    sys.exit(1)
print(f"check_known: {len(seq)} + {len(worker)} events as expected")
