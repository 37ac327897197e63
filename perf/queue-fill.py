#!/usr/bin/env python3
"""Queues COUNT commands for each of N charge points (CP0 … CP{N-1}) through a
gateway's admin API, over THREADS keep-alive connections. Prints one JSON line:
commands queued, refused, seconds, rate. Stdlib only.

  queue-fill.py ADMIN_HOST:PORT N COUNT [THREADS]
"""
import http.client, json, sys, threading, time

host, port = sys.argv[1].rsplit(":", 1)
n, count = int(sys.argv[2]), int(sys.argv[3])
threads = int(sys.argv[4]) if len(sys.argv) > 4 else 4
ok = [0] * threads
bad = [0] * threads
examples = []


def fill(t):
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    for cp in range(t, n, threads):
        for k in range(count):
            body = json.dumps({
                "action": "ChangeConfiguration",
                "payload": {"key": f"K{k}", "value": str(cp)},
                "queue": {"ttl": "1h"},
            })
            conn.request("POST", f"/connections/CP{cp}/calls", body,
                         {"Content-Type": "application/json"})
            r = conn.getresponse()
            text = r.read()
            if r.status == 202:
                ok[t] += 1
            else:
                bad[t] += 1
                if len(examples) < 3:
                    examples.append((r.status, text[:200].decode(errors="replace")))


start = time.monotonic()
workers = [threading.Thread(target=fill, args=(t,)) for t in range(threads)]
for w in workers:
    w.start()
for w in workers:
    w.join()
secs = time.monotonic() - start
print(json.dumps({"queued": sum(ok), "refused": sum(bad), "seconds": round(secs, 2),
                  "per_s": round(sum(ok) / secs), "examples": examples}))
