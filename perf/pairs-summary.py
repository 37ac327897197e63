#!/usr/bin/env python3
"""Summarises perf/pairs.sh output: per server, calls/s, server µs/call and
p99 of each round, and each server's ratio to the baseline of the same
round (calls/s: higher is better; µs/call and p99: lower is better).

Usage: perf/pairs-summary.py OUTDIR [BASELINE_NAME]
"""
import glob
import json
import os
import re
import sys

out = sys.argv[1]
base = sys.argv[2] if len(sys.argv) > 2 else "base"
runs = {}
for path in sorted(glob.glob(os.path.join(out, "*-*.json"))):
    m = re.match(r"(.+)-(\d+)\.json$", os.path.basename(path))
    if not m:
        continue
    r = json.load(open(path))
    if "result" not in r:
        continue
    res = r["result"]
    runs.setdefault(m.group(1), {})[int(m.group(2))] = (
        res["calls_per_s"],
        res["server_cpu_us_per_call"],
        r["latency_ms"]["call"]["p99"],
    )
summary = {}
for name, rounds in sorted(runs.items()):
    rows = []
    for rnd, (cps, us, p99) in sorted(rounds.items()):
        row = {"round": rnd, "calls_per_s": round(cps), "us_per_call": us, "p99_ms": p99}
        b = runs.get(base, {}).get(rnd)
        if b and name != base:
            row["vs_base"] = {
                "calls_per_s": round(cps / b[0], 3),
                "us_per_call": round(us / b[1], 3),
                "p99": round(p99 / b[2], 3),
            }
        rows.append(row)
    summary[name] = rows
print(json.dumps(summary, indent=1))
