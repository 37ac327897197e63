#!/usr/bin/env bash
# Flamegraph of an already built gateway binary (no frame pointers needed:
# perf's DWARF unwinding) during a loadgen heartbeat `load`, ws or wss.
#
# Usage: perf/flame-dwarf.sh GATEWAY_BINARY CONFIG_TEMPLATE ws|wss OUT.svg [CA.pem]
#   The template's @PORT@, @TLSPORT@ and @DIR@ are filled as in pairs.sh.
#   Records 6 s (perf record -F 299 --call-graph dwarf) in the middle of a
#   12 s load of 1000 charge points; prints calls/s and server µs/call.
set -euo pipefail
bin=$1 template=$2 scheme=$3 out=$4 ca=${5:-}
here=$(cd "$(dirname "$0")" && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
port=$(free_port) tls_port=$(free_port)
sed -e "s|@PORT@|$port|g" -e "s|@TLSPORT@|$tls_port|g" -e "s|@DIR@|$scratch|g" \
  "$template" > "$scratch/gateway.toml"
"$bin" --config "$scratch/gateway.toml" > "$scratch/stdout" 2>&1 &
gw=$!
sleep 1
dial=$port tls_args=()
if [ "$scheme" = wss ]; then dial=$tls_port tls_args=(--ca "$ca"); fi
"$here/target/release/loadgen" load --url "$scheme://127.0.0.1:$dial/ocpp" "${tls_args[@]}" \
  --count 1000 --duration 12 --warmup 2 --mix heartbeat --quiet --server-pid "$gw" \
  > "$scratch/load.json" &
load=$!
sleep 4
perf record -F 299 --call-graph dwarf,16384 -p "$gw" -o "$scratch/perf.data" -- sleep 6 \
  > /dev/null 2>&1
wait "$load"
kill "$gw"
wait "$gw" || true
perf script -i "$scratch/perf.data" 2>/dev/null | inferno-collapse-perf \
  | inferno-flamegraph --title "$(basename "$out" .svg)" > "$out"
python3 - "$scratch/load.json" "$out" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["result"]
print(f"{sys.argv[2]}: {r['calls_per_s']:.0f} calls/s, {r['server_cpu_us_per_call']:.2f} us/call")
PY
