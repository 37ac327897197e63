#!/usr/bin/env bash
# Kept commands (the embedded store) behind perf/README.md, "Command queue":
# N charge points (default 10 000) with K kept commands each (default 10) are
# queued while offline, then reconnect at RATE per second (default 1 000) with
# loadgen, which boots each and accepts every server CALL. Measures the time
# until every queue has drained (queue depth 0), the gateway's CPU over that
# time, the store's size on disk before and after, and (from the journal,
# queue-summary.py) the delay from each boot answer to its first kept command.
#
#   perf/queue-bench.sh OUTDIR
#
# Env: GW_BIN, CFG (default results/2026-12-03-queue/gw-queue.toml), N, K, RATE.
set -u
PERF=$(cd "$(dirname "$0")" && pwd)
OUT=${1:?output directory}
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
GW_BIN=${GW_BIN:-$PERF/../target/release/ocpp-gateway}
CFG=${CFG:-$PERF/results/2026-12-03-queue/gw-queue.toml}
N=${N:-10000} K=${K:-10} RATE=${RATE:-1000}
L=$PERF/target/release/loadgen
RUN=/tmp/queueperf/run
ADMIN=127.0.0.1:8481
GW_PID=

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
cleanup() { [ -n "$GW_PID" ] && kill "$GW_PID" 2>/dev/null; wait 2>/dev/null; }
trap cleanup EXIT
metric() { curl -s "http://$ADMIN/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$GW_PID/stat"; }

rm -rf "$RUN"; mkdir -p "$RUN"
"$GW_BIN" --config "$CFG" & GW_PID=$!
until curl -s "http://$ADMIN/health" >/dev/null; do sleep 0.2; done
log "gateway $GW_PID up; queueing $N x $K commands"
python3 "$PERF/queue-fill.py" "$ADMIN" "$N" "$K" 4 > "$OUT/fill.json"
cat "$OUT/fill.json" >&2
store_before=$(stat -c %s "$RUN/journal/queue/commands.log")
depth=$(metric ocpp_gateway_queue_depth)
log "depth $depth, store $store_before bytes; reconnecting at $RATE/s"
ticks0=$(cpu_ticks); t0=$(date +%s.%N)
"$L" ramp --url ws://127.0.0.1:8480/ocpp -n "$N" -r "$RATE" --hold 60 --quiet \
  --server-pid "$GW_PID" > "$OUT/ramp.json" &
LG=$!
while [ "$(metric ocpp_gateway_queue_depth)" != "0" ]; do
  sleep 0.1
  if [ "$(echo "$(date +%s.%N) - $t0 > 120" | bc)" = 1 ]; then log "not drained in 120 s"; break; fi
done
t1=$(date +%s.%N); ticks1=$(cpu_ticks)
hz=$(getconf CLK_TCK)
drain_s=$(echo "$t1 - $t0" | bc)
cpu_s=$(echo "($ticks1 - $ticks0) / $hz" | bc -l)
answered=$(metric 'ocpp_gateway_queue_commands_total{event="answered"}')
store_after=$(stat -c %s "$RUN/journal/queue/commands.log")
kill "$LG" 2>/dev/null; wait "$LG" 2>/dev/null
python3 "$PERF/queue-summary.py" "$RUN/journal" > "$OUT/journal-summary.json"
cat > "$OUT/summary.json" <<JSON
{"charge_points": $N, "commands_each": $K, "reconnect_rate": $RATE,
 "drain_s_from_first_connect": $drain_s, "gateway_cpu_s": $(printf %.2f "$cpu_s"),
 "answered": $answered, "store_bytes_queued": $store_before, "store_bytes_drained": $store_after,
 "machine": "$(nproc) cores, $(uname -r)", "loadavg_before": "$(cut -d' ' -f1-3 /proc/loadavg)",
 "journal": $(cat "$OUT/journal-summary.json")}
JSON
cat "$OUT/summary.json"
