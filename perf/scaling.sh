#!/usr/bin/env bash
# The scaling experiment (perf/README.md, "Scaling model"): for each core
# layout, a fresh gateway pinned to its cores and load generators pinned to
# the cores left over, then
#   load: 1 000 charge points per reactor, heartbeats back to back (one
#         loadgen process) -> calls/s, server CPU per call;
#   ramp: CONNECTIONS charge points (fresh gateway; several loadgen
#         processes of at most 15 000 each) -> connections set up per
#         second and per server CPU-second, RSS per idle connection.
#
# Usage: perf/scaling.sh OUTDIR LAYOUT [LAYOUT ...]
#   LAYOUT is R+P: R reactors pinned to cores 0..R-1 and P processor threads
#   floating over the next P cores (the other gateway threads share them);
#   P = 0 puts one processor thread on the reactors' cores. Load generators
#   get every core after those.
# Environment: CONNECTIONS (ramp size, default 10000), RATE (connections/s
#   offered in all, default 5000), GATEWAY (binary, default
#   target/release/ocpp-gateway), SCHEME ws|wss and CA (wss: a gateway
#   certificate for 127.0.0.1 and its CA, as TLS_CERT, TLS_KEY, CA).
# Output: OUTDIR/<layout>-load.json, <layout>-ramp-<k>.json,
#   <layout>-summary.json, and one summary line per layout on stdout.
#
# On a 2-core box only `1+0` fits (gateway on core 0, loadgen on core 1).
# 100 000 connections need `ulimit -Hn` above 100 000 for this shell (the
# gateway inherits it) and CONNECTIONS=100000.
set -euo pipefail

out=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
loadgen="$here/target/release/loadgen"
gateway=${GATEWAY:-$root/target/release/ocpp-gateway}
connections=${CONNECTIONS:-10000}
rate=${RATE:-5000}
scheme=${SCHEME:-ws}
per_loadgen=15000
mkdir -p "$out"
ulimit -n "$(ulimit -Hn)"
total_cores=$(nproc)
[ -x "$loadgen" ] || { echo "scaling: build perf first (cargo build --release --manifest-path perf/Cargo.toml)" >&2; exit 2; }
[ -x "$gateway" ] || { echo "scaling: no gateway binary at $gateway" >&2; exit 2; }
if [ "$(ulimit -n)" -lt $((connections + 1000)) ]; then
  echo "scaling: open-file limit $(ulimit -n) is below CONNECTIONS=$connections + 1000" >&2
  exit 2
fi
tls_args=()
if [ "$scheme" = wss ]; then tls_args=(--ca "$CA"); fi

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# span A B: the core list "A" or "A-B".
span() { if [ "$1" -eq "$2" ]; then echo "$1"; else echo "$1-$2"; fi; }
rss_kib() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

gw=""
stop_gateway() {
  if [ -n "$gw" ]; then
    kill -TERM "$gw" 2>/dev/null || true
    wait "$gw" 2>/dev/null || true
  fi
  gw=""
}
trap stop_gateway EXIT

# start_gateway R P: starts it on fresh ports; sets gw, url.
start_gateway() {
  local r=$1 p=$2 scratch port tls_port procs proc_cores
  scratch=$(mktemp -d)
  port=$(free_port)
  tls_port=$(free_port)
  if [ "$p" -eq 0 ]; then
    procs=1 proc_cores=$(span 0 $((r - 1)))
  else
    procs=$p proc_cores=$(span "$r" $((r + p - 1)))
  fi
  cat > "$scratch/gateway.toml" <<EOF
[listen]
address = "127.0.0.1:$port"
max_connections = $((connections + 1000))
max_handshakes = 100000
[reactors]
count = $r
cores = "$(span 0 $((r - 1)))"
[processors]
threads = $procs
cores = "$proc_cores"
[threads]
other_cores = "$proc_cores"
[ocpp]
transaction_id_file = "$scratch/txid"
[log]
level = "warn"
output = "$scratch/gw.log"
[admin]
address = "127.0.0.1:0"
[journal]
directory = "$scratch/journal"
EOF
  if [ "$scheme" = wss ]; then
    cat >> "$scratch/gateway.toml" <<EOF
[tls]
enabled = true
address = "127.0.0.1:$tls_port"
certificate_chain = "$TLS_CERT"
private_key = "$TLS_KEY"
EOF
    url="wss://127.0.0.1:$tls_port/ocpp"
  else
    url="ws://127.0.0.1:$port/ocpp"
  fi
  "$gateway" --config "$scratch/gateway.toml" > "$scratch/stdout" 2>&1 &
  gw=$!
  local dial=${url##*:}
  dial=${dial%%/*}
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$dial") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "scaling: the gateway did not start; $scratch/stdout:" >&2
  cat "$scratch/stdout" >&2
  exit 1
}

for layout in "$@"; do
  r=${layout%%+*} p=${layout#*+}
  used=$((r + (p > 0 ? p : 0)))
  if [ "$used" -ge "$total_cores" ]; then
    echo "scaling: $layout leaves no core for the load generators ($total_cores cores)" >&2
    exit 2
  fi
  lg_cores=$(span "$used" $((total_cores - 1)))
  lg_threads=$((total_cores - used))

  # load: one generator, 1 000 charge points per reactor.
  start_gateway "$r" "$p"
  taskset -c "$lg_cores" "$loadgen" load --url "$url" "${tls_args[@]}" --count $((1000 * r)) \
    --duration 10 --warmup 2 --mix heartbeat --threads "$lg_threads" --source-ips 32 \
    --server-pid "$gw" --quiet > "$out/$layout-load.json"
  stop_gateway

  # ramp: several generators when one process cannot hold them all.
  start_gateway "$r" "$p"
  sleep 1
  k=$(((connections + per_loadgen - 1) / per_loadgen))
  each=$(((connections + k - 1) / k))
  hold=$((connections / rate + 10))
  rss0=$(rss_kib "$gw") cpu0=$(cpu_ticks "$gw") t0=$(date +%s.%N)
  pids=()
  for i in $(seq 0 $((k - 1))); do
    taskset -c "$lg_cores" "$loadgen" ramp --url "$url" "${tls_args[@]}" --count "$each" \
      --rate "$(python3 -c "print($rate / $k)")" --hold "$hold" --threads "$(((lg_threads + k - 1) / k))" \
      --source-ips 32 --id-prefix "S$i-" --quiet > "$out/$layout-ramp-$i.json" &
    pids+=($!)
  done
  # The ramp lasts connections / rate seconds; sample in the middle of the hold.
  sleep "$(python3 -c "print($connections / $rate + $hold / 2)")"
  rss1=$(rss_kib "$gw") cpu1=$(cpu_ticks "$gw")
  for pid in "${pids[@]}"; do wait "$pid" || true; done
  stop_gateway

  python3 - "$out" "$layout" "$k" "$connections" "$rss0" "$rss1" "$cpu0" "$cpu1" "$(getconf CLK_TCK)" "$r" <<'PY'
import json, sys
out, layout, k, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rss0, rss1, cpu0, cpu1, hz, reactors = map(float, sys.argv[5:11])
load = json.load(open(f"{out}/{layout}-load.json"))["result"]
ramps = [json.load(open(f"{out}/{layout}-ramp-{i}.json"))["result"] for i in range(k)]
booted = sum(r["booted"] for r in ramps)
took = max(r["time_to_all_booted_s"] or 0 for r in ramps)
cpu_s = (cpu1 - cpu0) / hz  # the ramp and half the hold (idle connections cost ~0)
summary = {
    "layout": layout,
    "calls_per_s": load["calls_per_s"],
    "calls_per_s_per_reactor": load["calls_per_s"] / reactors,
    "server_cpu_us_per_call": load["server_cpu_us_per_call"],
    "connections": n,
    "booted": booted,
    "connections_per_s": booted / took if took else None,
    "connections_per_server_cpu_s": booted / cpu_s if cpu_s else None,
    "rss_per_connection_kib": (rss1 - rss0) / booted if booted else None,
}
json.dump(summary, open(f"{out}/{layout}-summary.json", "w"), indent=1)
print(f"{layout:>6}: {summary['calls_per_s']:>9.0f} calls/s ({summary['calls_per_s_per_reactor']:.0f} per reactor), "
      f"{summary['server_cpu_us_per_call']:.2f} us/call; {booted}/{n} connections at "
      f"{summary['connections_per_s'] or 0:.0f}/s, {summary['connections_per_server_cpu_s'] or 0:.0f} per server CPU-s, "
      f"{summary['rss_per_connection_kib'] or 0:.2f} KiB each")
PY
done
