#!/usr/bin/env python3
"""Key figures of a faults.sh results directory, one JSON object per run.

    perf/faults-summary.py perf/results/2026-12-02-faults > summary.json

Per run: what the attack saw (cut / dropped / closed, how, when), the
gateway's peaks during the attack phase, and the honest workload's figures
with the attack next to the ratios with / without (from --compare).
"""
import json
import os
import sys


def attack_phase(report):
    for p in report["phases"]:
        if p["with_attack"]:
            return p
    return report["phases"][0]


def peak(server, key):
    v = (server or {}).get("peak", {}).get(key)
    return v["value"] if v else None


def held(a):
    return {
        "connected": a["connected"],
        "cut_by_server": a["cut_by_server"],
        "cut_how": a["cut_how"],
        "cut_after_ms_p50_max": [a["cut_after_connect_ms"]["p50"], a["cut_after_connect_ms"]["max"]],
        "open_at_end": a["open_at_end"],
        "reply_status": a["reply_status"],
    }


def attack_figures(name, a):
    if a is None or "error" in a:
        return a
    if name in ("slowloris", "silent"):
        return held(a)
    if name == "non-reading":
        return {k: a.get(k) for k in ("feed", "call", "upgraded", "dropped", "drop_how", "still_connected_at_end",
                                      "calls_queued", "bytes_sent", "admin_commands")} | {
            "dropped_after_ms_p50_max": [a["dropped_after_upgrade_ms"]["p50"], a["dropped_after_upgrade_ms"]["max"]]}
    if name == "fragments":
        return [{
            "round": r["round"],
            "upgraded": r["upgraded"],
            "rss_before_kib": r["rss_before_kib"],
            "rss_peak_kib": r["rss_peak_kib"],
            "rss_peak_per_conn_kib": r["rss_peak_per_conn_kib"],
            "rss_after_close_kib": r["rss_after_close_kib"],
            "how": r["outcome"]["how"],
            "answers": r["outcome"]["answers"],
            "gateway_ended_after_ms_p50": r["outcome"]["gateway_ended_after_first_fragment_ms"]["p50"],
            "fragments_late": r["fragments_late"],
            "round_s": r["round_s"],
        } for r in a["rounds"]]
    if name == "garbage":
        return {
            "kind": a["kind"],
            "connections_opened": a["connections_opened"],
            "bytes_sent": a["bytes_sent"],
            "frames_sent": a["frames_sent"],
            "answers": a["answers"]["count"],
            "answer_bytes_max": a["answers"]["size_max"],
            "answer_example": (a["answers"]["example"] or "")[:120],
            "close_how": a["close_how"],
            "closed_after_ms_p50_max": [a["closed_after_first_frame_ms"]["p50"], a["closed_after_first_frame_ms"]["max"]],
        }
    if name == "admin":
        def one(x):
            r = x["result"]
            return {k: r.get(k) for k in ("status", "answer_after_s", "bytes_written", "write_error", "connection_end")}
        return {
            "wrong_tokens": a["wrong_tokens"]["status"],
            "wrong_tokens_p99_ms": a["wrong_tokens"]["latency_ms"]["p99"],
            "big_body": one(a["big_body"]),
            "many_headers": one(a["many_headers"]),
            "huge_header": one(a["huge_header"]),
            "slow_requests": held(a["slow_requests"]),
        }
    return a


def summary(path):
    r = json.load(open(path))
    p = attack_phase(r)
    h = p.get("honest") or {}
    lat = h.get("latency_ms", {})
    cmp = r.get("with_vs_without") or {}
    server = p.get("server") or {}
    return {
        "run": os.path.basename(path)[:-5],
        "attack": attack_figures(r["attack"], p.get("attack")),
        "gateway": {
            "rss_before_kib": (server.get("before") or {}).get("rss_kib"),
            "rss_peak_kib": peak(server, "rss_kib"),
            "rss_after_kib": (server.get("after") or {}).get("rss_kib"),
            "threads_peak": peak(server, "threads"),
            "fds_peak": peak(server, "fds"),
            "cpu_s": server.get("cpu_s"),
        },
        "honest_with_attack": {
            "boot_success_pct": h.get("boot_success_pct"),
            "boot_p50_p99_ms": [lat.get("boot", {}).get("p50"), lat.get("boot", {}).get("p99")],
            "heartbeat_p99_ms": lat.get("heartbeat", {}).get("p99"),
            "closed_by_gateway": h.get("closed_by_gateway"),
            "failures": (h.get("failures") or {}).get("by_kind"),
            "max_last_tick_age_ms": (p.get("health") or {}).get("max_last_tick_age_ms"),
            "health_unanswered": (p.get("health") or {}).get("unanswered"),
        },
        "ratio_with_over_without": {k: v.get("ratio") for k, v in cmp.items()},
        "without": {k: v.get("without") for k, v in cmp.items()},
    }


def main():
    d = sys.argv[1]
    runs = []
    for f in sorted(os.listdir(d)):
        if not f.endswith(".json") or f == "summary.json":
            continue
        try:
            runs.append(summary(os.path.join(d, f)))
        except (ValueError, KeyError) as e:  # a run still going, or one that failed
            print(f"{f}: skipped ({e!r})", file=sys.stderr)
    json.dump(runs, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
