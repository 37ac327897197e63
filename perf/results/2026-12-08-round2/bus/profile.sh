#!/usr/bin/env bash
# Profile of the bus-bridge thread during a heartbeat load (bus on), and its
# CPU per event published, under load and while the backlog drains after it.
#   GW_BIN=... profile.sh OUTDIR NAME
# perf record -g --call-graph dwarf on the bridge thread only, 4 s in the middle
# of a 10 s loadgen run (1000 CPs, heartbeat); folded stacks + SVG via inferno.
set -u
HERE=$(cd "$(dirname "$0")" && pwd); PERF=$(cd "$HERE/../../.." && pwd)
OUT=${1:?outdir}; NAME=${2:?name}; mkdir -p "$OUT"
GW_BIN=${GW_BIN:?}
CFG=$PERF/results/2026-11-24-bus-v2/gw-bus-on.toml
L=$PERF/target/release/loadgen
RUN_DIR=/tmp/busperf/run; JS_DIR=/tmp/busperf/js; ADMIN=http://127.0.0.1:8381
metric() { curl -s "$ADMIN/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
tcpu() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$GW/task/$TID/stat"; }
rm -rf "$JS_DIR" "$RUN_DIR"; mkdir -p "$JS_DIR" "$RUN_DIR"
nats-server -js -a 127.0.0.1 -p 24222 -m 28222 -sd "$JS_DIR" >"$OUT/$NAME.nats.log" 2>&1 & NATS=$!
sleep 0.5
"$GW_BIN" --config "$CFG" >"$RUN_DIR/stdout" 2>&1 & GW=$!
for _ in $(seq 50); do [ "$(metric ocpp_gateway_bus_connected)" = 1 ] && break; sleep 0.1; done
TID=$(grep -l '^bus-bridge' /proc/$GW/task/*/comm | head -1 | cut -d/ -f5)
"$L" load --url ws://127.0.0.1:8380/ocpp --count 1000 --duration 10 --warmup 2 --mix heartbeat \
  --server-pid "$GW" --quiet >"$OUT/$NAME.load.json" & LG=$!
sleep 4
c0=$(tcpu); p0=$(metric ocpp_gateway_bus_events_published_total)
perf record -F 999 -g --call-graph dwarf,16384 -t "$TID" -o "$OUT/$NAME.perf.data" -- sleep 4 2>"$OUT/$NAME.perf.log"
c1=$(tcpu); p1=$(metric ocpp_gateway_bus_events_published_total)
wait "$LG"
c2=$(tcpu); p2=$(metric ocpp_gateway_bus_events_published_total); t2=$(date +%s.%N)
# Drain: until published == journal records (max 60 s).
for _ in $(seq 600); do
  p=$(metric ocpp_gateway_bus_events_published_total); j=$(metric ocpp_gateway_journal_records_written_total)
  [ "$p" = "$j" ] && break; sleep 0.1
done
c3=$(tcpu); p3=$(metric ocpp_gateway_bus_events_published_total); t3=$(date +%s.%N)
kill -TERM "$GW"; wait "$GW"; kill "$NATS"; wait "$NATS"
python3 - "$OUT/$NAME.bridge.json" <<PY
import json,sys
c0,c1,c2,c3=$c0,$c1,$c2,$c3; p0,p1,p2,p3=$p0,$p1,$p2,$p3; dt=$t3-$t2
d={"bridge_cpu_us_per_event_under_load":round((c1-c0)/max(p1-p0,1)*1e6,2),"events_per_s_under_load":round((p1-p0)/4),
   "bridge_cpu_us_per_event_drain":round((c3-c2)/max(p3-p2,1)*1e6,2),"drain_events":p3-p2,"drain_s":round(dt,2),
   "drain_events_per_s":round((p3-p2)/dt) if dt>0 else None}
json.dump(d,open(sys.argv[1],"w")); print(d)
PY
perf script -i "$OUT/$NAME.perf.data" 2>/dev/null | inferno-collapse-perf >"$OUT/$NAME.folded" && \
  inferno-flamegraph --title "bus-bridge thread, $NAME" <"$OUT/$NAME.folded" >"$OUT/$NAME.svg"
rm -f "$OUT/$NAME.perf.data"
