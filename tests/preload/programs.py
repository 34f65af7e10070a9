# A workload for python3 under memkit (tests/preload/run.sh): dicts, strings, lists, sets,
# big integers and threads, printing a deterministic digest of what it computed.
import hashlib
import threading

def words(n):
    out = []
    x = 12345
    for _ in range(n):
        x = (x * 1103515245 + 12345) % (1 << 31)
        out.append("w%d" % (x % 5000) * (1 + x % 7))
    return out

counts = {}
for w in words(200000):
    counts[w] = counts.get(w, 0) + 1
top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
print("distinct", len(counts), "top", top)

text = " ".join(words(50000))
print("text", len(text), hashlib.sha256(text.encode()).hexdigest()[:16])

fib = [0, 1]
for _ in range(2000):
    fib.append(fib[-1] + fib[-2])
print("fib2000 digits", len(str(fib[-1])))

results = [None] * 8
def work(i):
    d = {}
    for j in range(20000):
        d[(i, j)] = str(j) * (j % 5)
    results[i] = sum(len(v) for v in d.values())
threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("threads", results)
