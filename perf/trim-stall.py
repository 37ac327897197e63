#!/usr/bin/env python3
"""Does giving memory back stall a reactor? (malloc_trim with 19 000 connections)

Starts a gateway (argv[1]: its binary) on free loopback ports, holds
HOLD charge points with one loadgen `ramp`, and meanwhile churns CHURN
more (connect, boot, disconnect, 200 at a time) with a second loadgen, so
that reactors see bursts of disconnects and ask for trims while thousands
of connections stay open. Every 50 ms it reads /health (each reactor's
last_tick_age_ms) and every 500 ms /metrics (malloc_trim counters, when the
gateway has them). Prints one JSON object: tick age percentiles and max
over the churn, trims and their durations, the loadgen reports' key
figures.

  perf/trim-stall.py target/release/ocpp-gateway [OUT.json]
  HOLD=17000 CHURN=6000 perf/trim-stall.py /tmp/gw-old

stdlib only.
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
LOADGEN = os.path.join(HERE, "target", "release", "loadgen")
HOLD = int(os.environ.get("HOLD", "17000"))
CHURN = int(os.environ.get("CHURN", "6000"))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def get(url, timeout=1.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


def main():
    gw_bin = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) > 2 else None
    scratch = tempfile.mkdtemp(prefix="trim-stall-")
    ws, admin = free_port(), free_port()
    config = os.path.join(scratch, "gateway.toml")
    with open(config, "w") as f:
        f.write(
            f'[listen]\naddress = "127.0.0.1:{ws}"\n'
            f'[ocpp]\ntransaction_id_file = "{scratch}/txid"\n'
            f'[log]\nlevel = "warn"\noutput = "{scratch}/gw.log"\n'
            f'[admin]\naddress = "127.0.0.1:{admin}"\n'
            f'[journal]\ndirectory = "{scratch}/journal"\n'
        )
    gw = subprocess.Popen([gw_bin, "--config", config], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{admin}"
    for _ in range(100):
        try:
            get(base + "/health")
            break
        except Exception:
            time.sleep(0.1)
    url = f"ws://127.0.0.1:{ws}/ocpp"
    hold_s = 40
    holder = subprocess.Popen(
        [LOADGEN, "ramp", "--url", url, "--count", str(HOLD), "--rate", "5000",
         "--hold", str(hold_s), "--server-pid", str(gw.pid), "--quiet",
         "--source-ips", "32"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    # Churn starts once the held connections are up.
    time.sleep(HOLD / 5000 + 3)
    samples, stop = [], threading.Event()
    metrics_seen = []

    def sample():
        next_metrics = 0.0
        while not stop.is_set():
            now = time.monotonic()
            try:
                health = json.loads(get(base + "/health"))
                ages = [r.get("last_tick_age_ms") or 0 for r in health.get("reactors", [])]
                samples.append(max(ages) if ages else 0)
            except Exception:
                samples.append(None)
            if now >= next_metrics:
                try:
                    metrics_seen.append(get(base + "/metrics"))
                except Exception:
                    pass
                next_metrics = now + 0.5
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    churn = subprocess.run(
        [LOADGEN, "churn", "--url", url, "--cycles", str(CHURN), "--workers", "200",
         "--linger-ms", "100", "--id-prefix", "CHURN", "--quiet", "--source-ips", "32",
         "--modes", "close,fin,rst", "--settle", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    stop.set()
    sampler.join()
    held = holder.communicate()[0]
    gw.terminate()
    gw.wait()

    ages = sorted(a for a in samples if a is not None)
    pct = lambda p: ages[min(len(ages) - 1, int(p / 100 * len(ages)))] if ages else None
    last = metrics_seen[-1] if metrics_seen else ""
    report = {
        "gateway": gw_bin,
        "held": HOLD,
        "churn_cycles": CHURN,
        "health_polls": len(samples),
        "health_unanswered": sum(1 for a in samples if a is None),
        "tick_age_ms": {"p50": pct(50), "p99": pct(99), "max": ages[-1] if ages else None},
        "malloc_trims": metric(last, "ocpp_gateway_malloc_trims_total")
        or metric(last, "ocpp_gateway_malloc_trims"),
        "malloc_trim_us_total": metric(last, "ocpp_gateway_malloc_trim_microseconds_total")
        or metric(last, "ocpp_gateway_malloc_trim_microseconds"),
        "malloc_trim_us_max": metric(last, "ocpp_gateway_malloc_trim_max_microseconds"),
    }
    try:
        c = json.loads(churn.stdout)
        report["churn"] = {k: c.get("result", c).get(k) for k in
                           ("cycles_per_s", "completed_by_mode", "server_fd_growth")}
        report["churn_failures"] = c.get("failures", {}).get("by_kind")
    except Exception as e:
        report["churn_error"] = str(e)
    try:
        h = json.loads(held)
        r = h.get("result", h)
        report["hold"] = {k: r.get(k) for k in ("booted", "server_rss_per_conn_kib")}
        report["hold_failures"] = h.get("failures", {}).get("by_kind")
    except Exception as e:
        report["hold_error"] = str(e)
    text = json.dumps(report, indent=1)
    print(text)
    if out:
        with open(out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
