#!/usr/bin/env python3
"""memkit bench: python3 as a real program (bench/workloads/real/python_workload.py).

Run by mkb-python with PYTHONMALLOC=malloc, so that every object goes through the allocator
under test instead of pymalloc's arenas. Builds and queries dicts of strings, lists and tuples,
joins and splits text, sorts records, and runs the same on T threads (the GIL serialises them;
the allocator still sees frees from other threads). Prints `checksum: <16 hex digits>`, a hash
of every result in a fixed order.

usage: python_workload.py [--threads T] [--scale S]
"""
import argparse
import hashlib
import sys
import threading


def work(seed, n):
    state = seed
    def rnd():
        nonlocal state
        state = (state * 6364136223846793005 + 1442695040888963407) & (2**64 - 1)
        return state >> 33
    index = {}
    for i in range(n):
        key = "k%d-%d" % (rnd() % (n // 4 + 1), i % 7)
        words = [("w%x" % (rnd() % 5000)) * (1 + rnd() % 3) for _ in range(1 + rnd() % 6)]
        index.setdefault(key, []).append((i, " ".join(words)))
    records = []
    for key, items in index.items():
        text = "|".join(t for _, t in items)
        parts = text.split("|")
        records.append((len(parts), sum(len(p) for p in parts), key))
        if len(items) > 3:
            del items[::2]
    records.sort(key=lambda r: (-r[0], -r[1], r[2]))
    h = hashlib.sha256()
    for r in records[:1000]:
        h.update(repr(r).encode())
    h.update(str(len(index)).encode())
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--scale", type=float, default=1.0)
    args = ap.parse_args()
    if args.threads < 1 or not args.scale > 0:
        print("python_workload: --threads must be >= 1 and --scale > 0", file=sys.stderr)
        return 2
    n = max(1000, int(150000 * args.scale / args.threads))
    results = [None] * args.threads
    def run(t):
        results[t] = work(1000 + t, n)
    threads = [threading.Thread(target=run, args=(t,)) for t in range(args.threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    print("python: %d threads x %d records" % (args.threads, n))
    total = hashlib.sha256("".join(results).encode()).hexdigest()
    print("checksum: %s" % total[:16])
    return 0


if __name__ == "__main__":
    sys.exit(main())
