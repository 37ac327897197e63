#!/usr/bin/env python3
"""What an open status page costs the gateway, on N held connections.

usage: status-page-cost.py GATEWAY LOADGEN PYTHON_WITH_SELENIUM OUTDIR [--count N] [--window S] [--pairs P]

Starts GATEWAY (perf config + admin API), holds N booted charge points with
LOADGEN's `ramp --hold`, then measures the gateway's CPU (utime + stime of
the whole process, and of its reactor and admin threads, from /proc) over
alternating windows: page closed, page open in headless chromium (polling
/status every second and the connection list every 5 s, as a user sees it),
P pairs of S seconds each. Also records the page's load time and transfer
sizes from the browser's Navigation/Resource Timing. Writes OUTDIR/report.json
and prints it.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

TICKS = os.sysconf("SC_CLK_TCK")


def thread_cpu(pid):
    """{thread name: cpu seconds} summed by name prefix, plus "process"."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                stat = f.read()
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
        except FileNotFoundError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        cpu = (int(fields[11]) + int(fields[12])) / TICKS
        group = "reactors" if name.startswith("reactor-") else name
        out[group] = out.get(group, 0.0) + cpu
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()
    out["process"] = (int(fields[11]) + int(fields[12])) / TICKS
    return out


def status(admin):
    with urllib.request.urlopen(admin + "/status", timeout=5) as r:
        return json.loads(r.read())


def browser(python, admin, window, measure_load, shot):
    """Runs chromium on the page for `window` seconds in a child python."""
    script = r'''
import json, sys, tempfile, time
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
admin, window, measure, shot = sys.argv[1], float(sys.argv[2]), sys.argv[3] == "1", sys.argv[4]
o = webdriver.ChromeOptions()
o.binary_location = "/usr/bin/chromium"
for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
          "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
          "--window-size=1400,1100", "--user-data-dir=" + tempfile.mkdtemp(prefix="chromium-")]:
    o.add_argument(a)
d = webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=o)
try:
    d.get(admin + "/")
    end = time.monotonic() + window
    time.sleep(3)
    load = None
    if measure:
        load = d.execute_script("""
          const nav = performance.getEntriesByType('navigation')[0];
          const res = performance.getEntriesByType('resource');
          const first = (p) => res.find((r) => r.name.includes(p));
          const size = (r) => r ? r.transferSize : null;
          return {dom_content_loaded_ms: nav.domContentLoadedEventEnd, load_ms: nav.loadEventEnd,
                  html_bytes: nav.transferSize, app_js_bytes: size(first('/ui/app.js')),
                  css_bytes: size(first('/ui/style.css')), status_history_bytes: size(first('/status?history=600')),
                  status_poll_bytes: size(first('/status?history=5')), list_bytes: size(first('/connections?'))};""")
        load["rows"] = len(d.find_elements("css selector", "#connections tbody tr"))
        load["connections_shown"] = d.find_element("id", "total-connections").text
        time.sleep(max(0.0, min(20.0, end - time.monotonic() - 1)))
        d.save_screenshot(shot)
    time.sleep(max(0.0, end - time.monotonic()))
    print(json.dumps({"load": load}))
finally:
    d.quit()
'''
    started = time.monotonic()
    out = subprocess.run([python, "-c", script, admin, str(window), "1" if measure_load else "0", shot],
                         capture_output=True, text=True, env=dict(os.environ, SE_OFFLINE="true"), check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["load"], time.monotonic() - started


def main():
    p = argparse.ArgumentParser()
    p.add_argument("gateway")
    p.add_argument("loadgen")
    p.add_argument("python")
    p.add_argument("outdir")
    p.add_argument("--count", type=int, default=19000)
    p.add_argument("--window", type=float, default=30.0)
    p.add_argument("--pairs", type=int, default=3)
    a = p.parse_args()
    os.makedirs(a.outdir, exist_ok=True)
    work = tempfile.mkdtemp(prefix="pagecost-")
    port, admin_port = 8280, 8281
    config = f"""[listen]
address = "127.0.0.1:{port}"
max_connections = 20000
[websocket]
read_buffer_size = 1024
[ocpp]
subprotocols = ["ocpp1.6"]
transaction_id_file = "{work}/txid"
[log]
level = "warn"
output = "{work}/gw.log"
[journal]
directory = "{work}/journal"
[admin]
address = "127.0.0.1:{admin_port}"
"""
    with open(f"{work}/gw.toml", "w") as f:
        f.write(config)
    admin = f"http://127.0.0.1:{admin_port}"
    gw = subprocess.Popen([a.gateway, "--config", f"{work}/gw.toml"])
    hold = 60 + a.pairs * 2 * (a.window + 15)
    load = None
    try:
        for _ in range(100):
            try:
                status(admin)
                break
            except OSError:
                time.sleep(0.1)
        ramp = subprocess.Popen([a.loadgen, "ramp", "--count", str(a.count), "--rate", "5000", "--hold", str(hold),
                                 "--url", f"ws://127.0.0.1:{port}/ocpp", "--source-ips", "32", "--quiet"],
                                stdout=open(f"{work}/ramp.json", "w"))
        deadline = time.monotonic() + 60
        while status(admin)["totals"]["connections"] < a.count:
            if time.monotonic() > deadline:
                raise SystemExit("the charge points did not all connect")
            time.sleep(0.5)
        time.sleep(5)
        windows = []
        for i in range(a.pairs):
            for page_open in (False, True):
                before, t0 = thread_cpu(gw.pid), time.monotonic()
                if page_open:
                    measured, _ = browser(a.python, admin, a.window, load is None,
                                          f"{a.outdir}/overview-{a.count}.png")
                    load = load or measured
                else:
                    time.sleep(a.window)
                after, t1 = thread_cpu(gw.pid), time.monotonic()
                seconds = t1 - t0
                cpu = {k: round((after.get(k, 0) - before.get(k, 0)) / seconds * 100, 3) for k in after}
                windows.append({"pair": i, "page_open": page_open, "seconds": round(seconds, 2),
                                "cpu_percent_of_a_core": cpu})
                print(json.dumps(windows[-1]), file=sys.stderr)
        ramp.send_signal(signal.SIGINT)
        ramp.wait(timeout=60)
    finally:
        gw.send_signal(signal.SIGTERM)
        gw.wait(timeout=30)

    def mean(open_, key):
        values = [w["cpu_percent_of_a_core"].get(key, 0) for w in windows if w["page_open"] == open_]
        return round(sum(values) / len(values), 3)

    keys = sorted({k for w in windows for k in w["cpu_percent_of_a_core"]})
    report = {
        "count": a.count, "window_seconds": a.window, "pairs": a.pairs, "windows": windows,
        "mean_cpu_percent": {k: {"closed": mean(False, k), "open": mean(True, k)} for k in keys},
        "page_load": load,
    }
    with open(f"{a.outdir}/report.json", "w") as f:
        json.dump(report, f, indent=1)
    print(json.dumps(report["mean_cpu_percent"]))
    print(json.dumps(report["page_load"]))


if __name__ == "__main__":
    main()
