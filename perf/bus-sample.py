#!/usr/bin/env python3
"""Samples the gateway's bus counters from admin /metrics every INTERVAL s.

Usage: bus-sample.py ADMIN_URL OUT.jsonl [INTERVAL]   (runs until SIGTERM/SIGINT)

One JSON line per sample: t (s since the first sample, monotonic), wall (unix s),
backlog (ocpp_gateway_bus_backlog_bytes), published (..._bus_events_published_total),
duplicate, errors (..._bus_publish_errors_total), connected, journal (journal records
written), calls (sum over reactors of the CALLs handled, if exported). Stdlib only.
"""
import json, signal, sys, time, urllib.request

url = sys.argv[1].rstrip("/") + "/metrics"
out = open(sys.argv[2], "w", buffering=1)
interval = float(sys.argv[3]) if len(sys.argv) > 3 else 0.2
stop = False

def on_signal(*_):
    global stop
    stop = True

signal.signal(signal.SIGTERM, on_signal)
signal.signal(signal.SIGINT, on_signal)

NAMES = {
    "ocpp_gateway_bus_backlog_bytes": "backlog",
    "ocpp_gateway_bus_events_published_total": "published",
    "ocpp_gateway_bus_events_duplicate_total": "duplicate",
    "ocpp_gateway_bus_publish_errors_total": "errors",
    "ocpp_gateway_bus_connected": "connected",
    "ocpp_gateway_journal_records_written_total": "journal",
}

t0 = time.monotonic()
next_at = t0
while not stop:
    row = {"t": round(time.monotonic() - t0, 3), "wall": round(time.time(), 3)}
    try:
        body = urllib.request.urlopen(url, timeout=2).read().decode()
        for line in body.splitlines():
            if line.startswith("#"):
                continue
            name, _, value = line.rpartition(" ")
            key = NAMES.get(name)
            if key:
                row[key] = int(float(value))
    except Exception as e:  # gateway busy or gone: keep the timestamp
        row["error"] = str(e)
    out.write(json.dumps(row) + "\n")
    next_at += interval
    time.sleep(max(0.0, next_at - time.monotonic()))
