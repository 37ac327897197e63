#!/usr/bin/env bash
# Heartbeat pairs: the same loadgen `load` run against several servers,
# alternating, a fresh server process for each run, so that figures are
# compared as ratios within one session on a shared box.
#
# Usage: perf/pairs.sh OUTDIR ROUNDS NAME=SPEC [NAME=SPEC ...]
#   SPEC is `baseline`, or `GATEWAY_BINARY:CONFIG_TEMPLATE` where the
#   template's @PORT@, @TLSPORT@ and @DIR@ are replaced by two free ports
#   and a scratch directory. Loadgen flags come from $LOAD_ARGS (default:
#   1000 charge points, 10 s after a 2 s warm-up, heartbeats).
#   $SCENARIO: the loadgen scenario (default `load`; `ramp` reports the
#   server's RSS per held connection). $SCHEME: `ws` (default) dials @PORT@,
#   `wss` dials @TLSPORT@ (give `--ca` in $LOAD_ARGS; gateways only).
# Output: OUTDIR/<name>-<round>.json, and one summary line per run on stdout
# (calls/s, server µs/call, p99; for ramp, KiB of server RSS per connection).
set -euo pipefail

out=$1 rounds=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
bin="$here/target/release"
load_args=${LOAD_ARGS:---count 1000 --duration 10 --warmup 2 --mix heartbeat --fail-on-error}
scenario=${SCENARIO:-load}
scheme=${SCHEME:-ws}
mkdir -p "$out"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

server=
stop_server() {
  if [ -n "$server" ]; then
    kill -TERM "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  server=
}
trap stop_server EXIT

for round in $(seq "$rounds"); do
  for pair in "$@"; do
    name=${pair%%=*} spec=${pair#*=}
    port=$(free_port)
    tls_port=$(free_port)
    scratch=$(mktemp -d)
    if [ "$spec" = baseline ]; then
      "$bin/baseline" --listen "127.0.0.1:$port" --threads 2 &
    else
      gw_bin=${spec%%:*} template=${spec#*:}
      sed -e "s|@PORT@|$port|g" -e "s|@TLSPORT@|$tls_port|g" -e "s|@DIR@|$scratch|g" \
        "$template" > "$scratch/gateway.toml"
      "$gw_bin" --config "$scratch/gateway.toml" > "$scratch/stdout" 2>&1 &
    fi
    server=$!
    dial_port=$port
    [ "$scheme" = wss ] && dial_port=$tls_port
    for _ in $(seq 100); do
      (exec 3<>"/dev/tcp/127.0.0.1/$dial_port") 2>/dev/null && break
      sleep 0.1
    done
    # shellcheck disable=SC2086
    "$bin/loadgen" "$scenario" --url "$scheme://127.0.0.1:$dial_port/ocpp" --server-pid "$server" $load_args \
      > "$out/$name-$round.json"
    stop_server
    rm -rf "$scratch"
    python3 - "$out/$name-$round.json" "$name" "$round" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
lat = r.get("latency_ms", {}).get("call", {})
res = r.get("result", r)  # loadgen puts the figures under "result"
if "server_rss_per_conn_kib" in res:
    print(f"{sys.argv[2]:>12} round {sys.argv[3]}: {res.get('server_rss_per_conn_kib') or 0:6.2f} KiB/conn")
    sys.exit(0)
print(f"{sys.argv[2]:>12} round {sys.argv[3]}: {res.get('calls_per_s', 0):>9.0f} calls/s  "
      f"{res.get('server_cpu_us_per_call', 0):5.2f} us/call  p99 {lat.get('p99', 0):6.2f} ms")
PY
  done
done
