#!/usr/bin/env python3
"""Summarises bus-bench.sh output (stdlib only).

  bus-summary.py throughput DIR   -> one row per load-*.json (+ .meta.json, .samples.jsonl)
  bus-summary.py drain DIR        -> outage / backlog figures from drain.*
  bus-summary.py commands DIR     -> busprobe percentiles

Publication figures come from the 200 ms /metrics samples: the load window is
from the first to the last sample in which the journal record count grew.
"""
import glob, json, os, sys

RECORD_BYTES = None  # filled from the journal/published ratio per run


def samples(path):
    rows = [json.loads(l) for l in open(path)]
    return [r for r in rows if "published" in r]


def load_window(rows):
    grew = [i for i in range(1, len(rows)) if rows[i]["journal"] > rows[i - 1]["journal"]]
    return (grew[0] - 1, grew[-1]) if grew else (None, None)


def rate(rows, a, b, key):
    dt = rows[b]["t"] - rows[a]["t"]
    return (rows[b][key] - rows[a][key]) / dt if dt > 0 else None


def first_drained(rows, start):
    for i in range(start, len(rows)):
        r = rows[i]
        if r["backlog"] == 0 and r["published"] == r["journal"]:
            return i
    return None


def throughput(d):
    out = []
    for f in sorted(glob.glob(os.path.join(d, "load-*.json"))):
        if f.endswith(".meta.json"):
            continue
        name = os.path.basename(f)[:-5]
        rep = json.load(open(f))
        meta = json.load(open(os.path.join(d, name + ".meta.json")))
        res = rep["result"]
        row = {
            "run": name,
            "loadavg_before": meta["before"]["loadavg"],
            "calls_per_s": round(res["calls_per_s"]),
            "gw_cpu_us_per_call": res["server_cpu_us_per_call"],
            "p50_ms": rep["latency_ms"]["call"]["p50"],
            "p99_ms": rep["latency_ms"]["call"]["p99"],
            "errors": rep["errors"],
            "failures": rep["failures"]["total"],
            "nats_cpu_s_during_load": meta["nats_cpu_s_load"],
            "journal_lines": meta["journal_lines"],
            "stream_messages": meta["stream_messages"],
        }
        rows = samples(os.path.join(d, name + ".samples.jsonl"))
        a, b = load_window(rows)
        if a is not None:
            row["journal_records_per_s_during_load"] = round(rate(rows, a, b, "journal"))
            if "on" in name:
                row["published_per_s_during_load"] = round(rate(rows, a, b, "published"))
                peak = max(range(len(rows)), key=lambda i: rows[i]["backlog"])
                row["backlog_peak_bytes"] = rows[peak]["backlog"]
                row["backlog_peak_records"] = rows[peak]["journal"] - rows[peak]["published"]
                e = first_drained(rows, b)
                if e is not None:
                    row["backlog_zero_after_load_end_s"] = round(rows[e]["t"] - rows[b]["t"], 2)
                    row["published_per_s_after_load_end"] = round(rate(rows, b, e, "published"))
                    row["published_per_s_overall"] = round(rate(rows, a, e, "published"))
                row["drain_wait_after_loadgen_exit_s"] = meta["drain_wait_after_loadgen_s"]
                row["gw_cpu_s_drain"] = meta["gw_cpu_s_drain"]
                row["nats_cpu_s_drain"] = meta["nats_cpu_s_drain"]
                if e is not None and rows[e]["published"] > rows[b]["published"]:
                    n = rows[e]["published"] - rows[b]["published"]
                    row["events_published_after_load_end"] = n
                    row["gw_cpu_us_per_event_drain"] = round(meta["gw_cpu_s_drain"] * 1e6 / n, 2)
                    row["nats_cpu_us_per_event_drain"] = round(meta["nats_cpu_s_drain"] * 1e6 / n, 2)
        out.append(row)
    return out


def drain(d):
    meta = json.load(open(os.path.join(d, "drain.meta.json")))
    rep = json.load(open(os.path.join(d, "drain-load.json")))
    raw = [json.loads(l) for l in open(os.path.join(d, "drain.samples.jsonl"))]
    rows = samples(os.path.join(d, "drain.samples.jsonl"))
    wall0 = raw[0]["wall"] - raw[0]["t"]
    t_stop = meta["nats_stopped_at"] - wall0
    t_start = meta["nats_restarted_at"] - wall0
    t_end = meta["loadgen_ended_at"] - wall0
    a, b = load_window(rows)
    pre = [i for i in range(len(rows)) if rows[i]["t"] <= t_stop]
    during = [i for i in range(len(rows)) if t_stop < rows[i]["t"] <= t_start]
    after = [i for i in range(len(rows)) if rows[i]["t"] > t_start]
    peak = max(range(len(rows)), key=lambda i: rows[i]["backlog"])
    rec_bytes = None
    if rows[-1]["journal"]:
        # mean record size: journal bytes are not exported, use backlog/records at the peak
        rec_bytes = rows[peak]["backlog"] / max(1, rows[peak]["journal"] - rows[peak]["published"])
    e = first_drained(rows, peak)
    reconnected = next((i for i in after if rows[i].get("connected") == 1), None)
    first_pub_after = next((i for i in after if rows[i]["published"] > rows[after[0] - 1]["published"]), None)
    res = {
        "loadavg_before": meta["before"]["loadavg"],
        "kill_signal": meta["kill_signal"],
        "calls_per_s": round(rep["result"]["calls_per_s"]),
        "gw_cpu_us_per_call": rep["result"]["server_cpu_us_per_call"],
        "loadgen_errors": rep["errors"],
        "loadgen_failures": rep["failures"]["total"],
        "nats_down_s": round(t_start - t_stop, 2),
        "published_per_s_before_outage": round(rate(rows, a, pre[-1], "published")) if pre and a is not None and pre[-1] > a else None,
        "journal_per_s_before_outage": round(rate(rows, a, pre[-1], "journal")) if pre and a is not None and pre[-1] > a else None,
        "published_during_outage": rows[during[-1]]["published"] - rows[during[0]]["published"] if during else None,
        "bus_connected_min_during_outage": min(rows[i].get("connected", 1) for i in during) if during else None,
        "backlog_peak_bytes": rows[peak]["backlog"],
        "backlog_peak_records": rows[peak]["journal"] - rows[peak]["published"],
        "backlog_peak_at_s_after_restart": round(rows[peak]["t"] - t_start, 2),
        "mean_record_bytes": round(rec_bytes, 1) if rec_bytes else None,
        "bus_connected_s_after_restart": round(rows[reconnected]["t"] - t_start, 2) if reconnected is not None else None,
        "first_publish_after_restart_s": round(rows[first_pub_after]["t"] - t_start, 2) if first_pub_after is not None else None,
        "load_end_s_after_restart": round(t_end - t_start, 2),
    }
    if e is not None:
        res["drained_s_after_restart"] = round(rows[e]["t"] - t_start, 2)
        res["drained_s_after_load_end"] = round(rows[e]["t"] - t_end, 2)
        s = after[0] - 1
        res["published_per_s_restart_to_drained"] = round(rate(rows, s, e, "published"))
        # after the load ended: pure drain, no new records
        endi = next(i for i in range(len(rows)) if rows[i]["t"] >= t_end)
        if e > endi:
            res["published_per_s_load_end_to_drained"] = round(rate(rows, endi, e, "published"))
        if first_pub_after is not None and e > first_pub_after:
            # from the first acknowledged publish after the restart to drained:
            # the drain rate proper (the time before it is reconnect + stall)
            f = first_pub_after - 1
            res["published_per_s_resume_to_drained"] = round(rate(rows, f, e, "published"))
            res["resume_to_drained_s"] = round(rows[e]["t"] - rows[f]["t"], 2)
        res["published_per_s_restart_to_load_end"] = round(rate(rows, s, endi, "published")) if endi > s else None
        res["journal_per_s_restart_to_load_end"] = round(rate(rows, s, endi, "journal")) if endi > s else None
    res.update({
        "published_total": meta["published"],
        "duplicates": meta["duplicate"],
        "publish_errors": meta["publish_errors"],
        "journal_lines": meta["journal_lines"],
        "stream_messages": meta["stream_messages"],
        "stream_minus_journal": meta["stream_messages"] - meta["journal_lines"],
        "after_gateway_stop": meta["after_gateway_stop"],
    })
    return res


def commands(d):
    out = []
    for f in sorted(glob.glob(os.path.join(d, "cmd-c*.json"))) + [os.path.join(d, "cmd-noresp.json")]:
        if not os.path.exists(f):
            continue
        r = json.load(open(f))
        out.append({
            "run": os.path.basename(f)[:-5],
            "concurrency": r["concurrency"], "count": r["count"], "ok": r["ok"],
            "status": r["status"], "no_responders": r["no_responders"], "timeouts": r["timeouts"],
            "errors": r["errors"], "rate_per_s": r["rate_per_s"], "elapsed_s": r["elapsed_s"],
            "latency_us": r["latency_us"],
        })
    return out


if __name__ == "__main__":
    mode, d = sys.argv[1], sys.argv[2]
    print(json.dumps({"throughput": throughput, "drain": drain, "commands": commands}[mode](d), indent=1))
