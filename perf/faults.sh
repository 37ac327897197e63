#!/usr/bin/env bash
# Fault harness runs: for each run, a fresh gateway (generated config, free
# ports, admin on with a bearer token, journal in a temp dir), one `faults`
# invocation with --compare (honest workload without / with / without the
# attack), its JSON kept, the gateway stopped.
#
#   perf/faults.sh                       # every run below, into perf/results/<date>-faults/
#   perf/faults.sh OUTDIR slowloris garbage-brackets   # some runs
#   GW_BIN=/path/ocpp-gateway perf/faults.sh            # another gateway binary
#
# Output: OUTDIR/<run>.json (the report), <run>.log (progress), <run>.gateway.log,
# <run>.toml (the config), and summary.txt (one line per run).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
GW_BIN=${GW_BIN:-$root/target/release/ocpp-gateway}
FAULTS=${FAULTS:-$root/perf/target/release/faults}
OUT=${1:-$root/perf/results/$(date -u +%Y-%m-%d)-faults}
shift || true
[ -x "$GW_BIN" ] || { echo "no gateway binary at $GW_BIN (cargo build --release)" >&2; exit 2; }
[ -x "$FAULTS" ] || { echo "no $FAULTS (cargo build --release --manifest-path perf/Cargo.toml)" >&2; exit 2; }
mkdir -p "$OUT"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
TOKEN=faults-harness-admin-token-0123

# name | faults arguments (sizes: see "Fault harness" in perf/README.md)
RUNS=(
  "slowloris|slowloris --count 2000 --rate 1000"
  "silent|silent --count 15000 --rate 5000"
  # 45 s: longer than websocket.write_timeout (30 s) plus its check.
  "non-reading-calls|non-reading --count 100 --feed calls --call heartbeat --call-rate 200 --duration 45"
  "non-reading-long-id|non-reading --count 100 --feed calls --call long-id --id-len 10000 --call-rate 20 --duration 45"
  # Commands under admin.max_body_bytes (64 KiB): bigger ones get 413.
  "non-reading-admin|non-reading --count 100 --feed admin --command-bytes 60000 --command-timeout-ms 500 --duration 45"
  "fragments|fragments --count 2000 --rate 500 --fragment-bytes 16384 --fragment-ms 100 --rounds 2 --duration 75"
  "garbage-brackets|garbage --kind brackets"
  "garbage-not-json|garbage --kind not-json"
  "garbage-wrong-arity|garbage --kind wrong-arity"
  "garbage-long-id|garbage --kind long-id --id-len 37"
  "garbage-long-id-10000|garbage --kind long-id --id-len 10000"
  "garbage-invalid-utf8|garbage --kind invalid-utf8"
  "garbage-oversized-control|garbage --kind oversized-control"
  "garbage-reserved-opcode|garbage --kind reserved-opcode"
  "garbage-unmasked|garbage --kind unmasked"
  "garbage-binary|garbage --kind binary"
  "admin|admin"
)

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

gw=
stop_gateway() {
  if [ -n "$gw" ] && kill -0 "$gw" 2>/dev/null; then
    kill -TERM "$gw"
    wait "$gw" || true
  fi
  gw=
}
trap stop_gateway EXIT

# start_gateway NAME: writes OUT/NAME.toml, starts the gateway, sets gw, port, admin_port.
start_gateway() {
  local name=$1 work
  work=$(mktemp -d /tmp/faults-gw.XXXXXX)
  port=$(free_port)
  admin_port=$(free_port)
  cat > "$OUT/$name.toml" <<TOML
[listen]
address = "127.0.0.1:$port"
[ocpp]
transaction_id_file = "$work/txid"
[log]
level = "warn"
output = "$OUT/$name.gateway.log"
[admin]
address = "127.0.0.1:$admin_port"
bearer_token = "$TOKEN"
[journal]
directory = "$work/journal"
TOML
  "$GW_BIN" --config "$OUT/$name.toml" > "$OUT/$name.gateway.stdout" 2>&1 &
  gw=$!
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && (exec 3<>"/dev/tcp/127.0.0.1/$admin_port") 2>/dev/null; then
      sleep 1 # every reactor has ticked: /health has a tick age for each
      return 0
    fi
    sleep 0.1
  done
  echo "gateway did not come up on $port / $admin_port" >&2
  return 1
}

# want NAME [SELECTED...]: no selection means every run.
# Waits up to IDLE_WAIT seconds (default 30) for a 1-minute load below
# IDLE_LOAD (1.5): the box is shared; the load before each run is recorded.
wait_idle() {
  local waited=0
  while [ "$waited" -lt "${IDLE_WAIT:-30}" ]; do
    awk -v max="${IDLE_LOAD:-1.5}" '{ exit !($1 < max) }' /proc/loadavg && break
    sleep 1
    waited=$((waited + 1))
  done
  load_before=$(cut -d' ' -f1-3 /proc/loadavg)
}

want() {
  local n=$1; shift
  [ $# -eq 0 ] && return 0
  for w in "$@"; do [ "$w" = "$n" ] && return 0; done
  return 1
}

: > "$OUT/summary.txt"
for entry in "${RUNS[@]}"; do
  name=${entry%%|*}
  args=${entry#*|}
  want "$name" "$@" || continue
  wait_idle
  start_gateway "$name"
  echo "== $name (gateway pid $gw, ws $port, admin $admin_port): faults $args" >&2
  # shellcheck disable=SC2086
  if "$FAULTS" $args --compare --url "ws://127.0.0.1:$port/ocpp" --admin "127.0.0.1:$admin_port" \
       --admin-token "$TOKEN" --server-pid "$gw" > "$OUT/$name.json" 2> "$OUT/$name.log"; then
    status=ok
  else
    status="faults exit $?"
  fi
  alive=yes
  kill -0 "$gw" 2>/dev/null || alive="NO (gateway died)"
  stop_gateway
  rm -rf /tmp/faults-gw.*/journal 2>/dev/null || true
  echo "$name: $status, gateway alive at the end: $alive, load before: $load_before" | tee -a "$OUT/summary.txt" >&2
done
echo "reports in $OUT" >&2
