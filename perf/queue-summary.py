#!/usr/bin/env python3
"""Figures of a queue-bench.sh run from the gateway's journal: for every
charge point, the time from its BootNotification (the journal line of the CALL and its
answer, written before the answer is sent) to
the first kept command it sent (server_call with a command_id), and from the
first boot answer to the last kept command's answer. Stdlib only.

  queue-summary.py JOURNAL_DIR
"""
import glob, json, os, sys
from datetime import datetime


def ms(ts):
    return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp() * 1000


boot_answer, first_call, last_answer = {}, {}, 0
first_boot = None
answers = 0
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.jsonl"))):
    with open(path) as f:
        for line in f:
            try:
                r = json.loads(line)
            except ValueError:
                continue
            cp, kind, t = r.get("cp"), r.get("kind"), ms(r["ts"])
            # The boot's line is its CALL with the answer (written before the answer is sent).
            if kind == "call" and r.get("action") == "BootNotification":
                boot_answer.setdefault(cp, t)
                first_boot = t if first_boot is None else min(first_boot, t)
            elif kind == "server_call" and "command_id" in r:
                first_call.setdefault(cp, t)
            elif kind in ("result", "error") and r.get("dir") == "in" and "command_id" in r:
                answers += 1
                last_answer = max(last_answer, t)
lat = sorted(first_call[cp] - boot_answer[cp] for cp in first_call if cp in boot_answer)


def pct(p):
    return lat[min(len(lat) - 1, int(p * len(lat)))] if lat else None


print(json.dumps({
    "charge_points_booted": len(boot_answer),
    "charge_points_delivered": len(first_call),
    "kept_commands_answered": answers,
    "boot_to_first_command_ms": {"p50": pct(0.5), "p90": pct(0.9), "p99": pct(0.99),
                                 "max": lat[-1] if lat else None},
    "first_boot_to_last_answer_s": round((last_answer - first_boot) / 1000, 2) if first_boot else None,
}))
