#!/usr/bin/env bash
# Bus (NATS) measurements behind perf/README.md, "Bus (NATS)".
#
#   perf/bus-bench.sh throughput OUTDIR   heartbeat load, bus on vs off, 2 rounds alternating
#   perf/bus-bench.sh commands   OUTDIR   1000 booted CPs held; busprobe command c=1 and c=50
#   perf/bus-bench.sh drain      OUTDIR   heartbeat load 20 s; NATS stopped at 5 s, back at 15 s
#                                         (OUTAGE_AT, OUTAGE_S, KILL_SIG change that)
#
# Every run: fresh journal (RUN_DIR) and fresh JetStream store (JS_DIR), gateway
# started from GW_BIN with the configs in results/2026-11-24-bus/ (ports 8380 ws,
# 8381 admin, NATS 24222, monitor 28222 — all loopback). Before each measurement it
# waits (up to IDLE_WAIT s) for a 1-minute load average below 1.0 and records it.
# Env: GW_BIN, CFG_ON, CFG_OFF, NATS_BIN, IDLE_WAIT, KILL_SIG (drain: signal that
# stops nats-server, default TERM), OUTAGE_AT / OUTAGE_S (drain: seconds into the
# load when NATS stops, default 5, and how long it stays down, default 10),
# ROUNDS (throughput, default 2).
set -u
PERF=$(cd "$(dirname "$0")" && pwd)
MODE=${1:?mode: throughput | commands | drain}
OUT=${2:?output directory}
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
GW_BIN=${GW_BIN:-$PERF/../target/release/ocpp-gateway}
NATS_BIN=${NATS_BIN:-nats-server}
CFG_ON=${CFG_ON:-$PERF/results/2026-11-24-bus-v2/gw-bus-on.toml}
CFG_OFF=${CFG_OFF:-$PERF/results/2026-11-24-bus-v2/gw-bus-off.toml}
L=$PERF/target/release/loadgen
B=$PERF/target/release/busprobe
S=$PERF/bus-sample.py
RUN_DIR=/tmp/busperf/run            # = journal/log directories in the configs
JS_DIR=/tmp/busperf/js
NATS_URL=nats://127.0.0.1:24222
ADMIN=http://127.0.0.1:8381
WS=ws://127.0.0.1:8380/ocpp
IDLE_WAIT=${IDLE_WAIT:-180}
KILL_SIG=${KILL_SIG:-TERM}
OUTAGE_AT=${OUTAGE_AT:-5}
OUTAGE_S=${OUTAGE_S:-10}
NATS_PID= GW_PID= SAMPLER_PID=

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

cleanup() {
  [ -n "$SAMPLER_PID" ] && kill "$SAMPLER_PID" 2>/dev/null
  [ -n "$GW_PID" ] && kill "$GW_PID" 2>/dev/null
  [ -n "$NATS_PID" ] && kill "$NATS_PID" 2>/dev/null
  wait 2>/dev/null
}
trap cleanup EXIT

load1() { cut -d' ' -f1 /proc/loadavg; }

# Waits for a 1-minute load below 1.0 (at most IDLE_WAIT s); prints the load seen.
wait_idle() {
  local waited=0
  while awk -v l="$(load1)" 'BEGIN{exit !(l >= 1.0)}' && [ "$waited" -lt "$IDLE_WAIT" ]; do
    sleep 5; waited=$((waited + 5))
  done
  log "load $(cut -d' ' -f1-3 /proc/loadavg) after waiting ${waited}s"
  echo "{\"loadavg\":\"$(cut -d' ' -f1-3 /proc/loadavg)\",\"waited_s\":$waited}"
}

# utime + stime of a process, in seconds.
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat" 2>/dev/null || echo 0; }

metric() { curl -s "$ADMIN/metrics" | awk -v m="$1" '$1 == m {print $2}'; }

start_nats() {   # $1 = fresh | keep
  [ "${1:-fresh}" = fresh ] && rm -rf "$JS_DIR"
  mkdir -p "$JS_DIR"
  "$NATS_BIN" -js -a 127.0.0.1 -p 24222 -m 28222 -sd "$JS_DIR" >>"$OUT/nats.log" 2>&1 &
  NATS_PID=$!
  for _ in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:28222/healthz && break; sleep 0.1; done
}

stop_nats() {    # $1 = signal
  [ -z "$NATS_PID" ] && return
  kill -"${1:-TERM}" "$NATS_PID"; wait "$NATS_PID" 2>/dev/null; NATS_PID=
}

start_gw() {     # $1 = config
  rm -rf "$RUN_DIR"; mkdir -p "$RUN_DIR"
  "$GW_BIN" --config "$1" >"$RUN_DIR/stdout" 2>&1 &
  GW_PID=$!
  for _ in $(seq 50); do curl -s -o /dev/null "$ADMIN/health" && break; sleep 0.1; done
  if grep -q '^kind = "nats"' "$1"; then
    for _ in $(seq 50); do [ "$(metric ocpp_gateway_bus_connected)" = 1 ] && break; sleep 0.1; done
    [ "$(metric ocpp_gateway_bus_connected)" = 1 ] || log "WARNING: bus not connected (no bus metrics?)"
  fi
}

stop_gw() {       # $1 = run name: the gateway's log is kept as OUT/$1.gw.log
  [ -z "$GW_PID" ] && return
  kill -TERM "$GW_PID"; wait "$GW_PID" 2>/dev/null; GW_PID=
  [ -n "${1:-}" ] && cp "$RUN_DIR/gw.log" "$OUT/$1.gw.log" 2>/dev/null
}

start_sampler() { python3 "$S" "$ADMIN" "$1" 0.2 & SAMPLER_PID=$!; }
stop_sampler() { [ -n "$SAMPLER_PID" ] && kill "$SAMPLER_PID" && wait "$SAMPLER_PID" 2>/dev/null; SAMPLER_PID=; }

# Polls until backlog 0 and published == journal records (max $1 s); prints seconds waited.
wait_drained() {
  local t0 now b p j
  t0=$(date +%s.%N)
  while :; do
    b=$(metric ocpp_gateway_bus_backlog_bytes); p=$(metric ocpp_gateway_bus_events_published_total)
    j=$(metric ocpp_gateway_journal_records_written_total)
    now=$(date +%s.%N)
    if [ "$b" = 0 ] && [ "$p" = "$j" ]; then break; fi
    awk -v a="$now" -v b="$t0" -v m="$1" 'BEGIN{exit !(a - b > m)}' && { log "not drained after $1 s"; break; }
    sleep 0.2
  done
  awk -v a="$now" -v b="$t0" 'BEGIN{printf "%.2f", a - b}'
}

journal_lines() { cat "$RUN_DIR"/journal/journal-*.jsonl 2>/dev/null | wc -l; }

stream_messages() { "$B" stream --nats "$NATS_URL" --stream OCPP_EVENTS | python3 -c 'import json,sys; print(json.load(sys.stdin)["messages"])'; }

case "$MODE" in
throughput)
  for round in $(seq "${ROUNDS:-2}"); do
    for kind in on off; do
      name=load-$kind-$round
      cfg=$CFG_ON; [ $kind = off ] && cfg=$CFG_OFF
      start_nats fresh          # NATS runs in both cases (idle when the bus is off)
      start_gw "$cfg"
      sleep 1
      idle=$(wait_idle)
      start_sampler "$OUT/$name.samples.jsonl"
      n0=$(cpu_s "$NATS_PID")
      log "$name: loadgen load (gateway $GW_PID)"
      "$L" load --url "$WS" --count 1000 --duration 10 --warmup 2 --mix heartbeat \
        --server-pid "$GW_PID" --quiet >"$OUT/$name.json"
      n1=$(cpu_s "$NATS_PID"); g1=$(cpu_s "$GW_PID")
      drained=null
      if [ $kind = on ]; then
        drained=$(wait_drained 600)
      fi
      n2=$(cpu_s "$NATS_PID"); g2=$(cpu_s "$GW_PID")
      sleep 0.5
      stop_sampler
      jl=$(journal_lines); sm=null
      [ $kind = on ] && sm=$(stream_messages)
      cat >"$OUT/$name.meta.json" <<JSON
{"run":"$name","config":"$(basename "$cfg")","before":$idle,"nats_cpu_s_load":$(awk -v a="$n1" -v b="$n0" 'BEGIN{print a-b}'),
 "drain_wait_after_loadgen_s":$drained,"gw_cpu_s_drain":$(awk -v a="$g2" -v b="$g1" 'BEGIN{print a-b}'),
 "nats_cpu_s_drain":$(awk -v a="$n2" -v b="$n1" 'BEGIN{print a-b}'),"journal_lines":$jl,"stream_messages":$sm,
 "loadavg_after":"$(cut -d' ' -f1-3 /proc/loadavg)"}
JSON
      stop_gw "$name"; stop_nats TERM
    done
  done
  ;;
commands)
  start_nats fresh
  start_gw "$CFG_ON"
  sleep 1
  idle=$(wait_idle)
  log "ramp 1000 CPs, hold 60 s"
  "$L" ramp --url "$WS" --count 1000 --rate 1000 --hold 60 --server-pid "$GW_PID" --quiet >"$OUT/cmd-ramp.json" &
  RAMP=$!
  sleep 4   # 1 s ramp + margin
  "$B" command --nats "$NATS_URL" --id-prefix CP --ids 1000 --count 2000 --concurrency 1 --warmup 100 >"$OUT/cmd-c1.json"
  "$B" command --nats "$NATS_URL" --id-prefix CP --ids 1000 --count 20000 --concurrency 50 --warmup 1000 >"$OUT/cmd-c50.json"
  "$B" command --nats "$NATS_URL" --id-prefix CP --ids 1000 --count 2000 --concurrency 1 >"$OUT/cmd-c1-b.json"
  "$B" command --nats "$NATS_URL" --id-prefix CP --ids 1000 --count 20000 --concurrency 50 >"$OUT/cmd-c50-b.json"
  # Ids nobody holds: "no responders" at once.
  "$B" command --nats "$NATS_URL" --id-prefix NOBODY --ids 10 --count 200 --concurrency 1 >"$OUT/cmd-noresp.json"
  curl -s "$ADMIN/metrics" | grep -E '^ocpp_gateway_(bus|server_calls)' >"$OUT/cmd-metrics.txt"
  wait "$RAMP"
  echo "{\"before\":$idle,\"loadavg_after\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}" >"$OUT/cmd-meta.json"
  stop_gw cmd; stop_nats TERM
  ;;
drain)
  start_nats fresh
  start_gw "$CFG_ON"
  sleep 1
  idle=$(wait_idle)
  start_sampler "$OUT/drain.samples.jsonl"
  log "loadgen load 20 s; nats-server stopped (SIG$KILL_SIG) at $OUTAGE_AT s, restarted $OUTAGE_S s later"
  "$L" load --url "$WS" --count 1000 --duration 18 --warmup 2 --mix heartbeat \
    --server-pid "$GW_PID" --quiet >"$OUT/drain-load.json" &
  LG=$!
  sleep "$OUTAGE_AT"
  t_stop=$(date +%s.%N); stop_nats "$KILL_SIG"
  sleep "$OUTAGE_S"
  t_start=$(date +%s.%N); start_nats keep
  wait "$LG"; t_load_end=$(date +%s.%N)
  drained=$(wait_drained 900)
  sleep 1
  stop_sampler
  jl=$(journal_lines); sm=$(stream_messages)
  pub=$(metric ocpp_gateway_bus_events_published_total); dup=$(metric ocpp_gateway_bus_events_duplicate_total)
  err=$(metric ocpp_gateway_bus_publish_errors_total)
  stop_gw drain
  jl2=$(journal_lines); sleep 2; sm2=$(stream_messages)
  cat >"$OUT/drain.meta.json" <<JSON
{"before":$idle,"kill_signal":"$KILL_SIG","nats_stopped_at":$t_stop,"nats_restarted_at":$t_start,"loadgen_ended_at":$t_load_end,
 "drain_wait_after_loadgen_s":$drained,"published":$pub,"duplicate":$dup,"publish_errors":$err,
 "journal_lines":$jl,"stream_messages":$sm,"after_gateway_stop":{"journal_lines":$jl2,"stream_messages":$sm2},
 "loadavg_after":"$(cut -d' ' -f1-3 /proc/loadavg)"}
JSON
  cat "$OUT/drain.meta.json"
  stop_nats TERM
  ;;
*) echo "unknown mode $MODE" >&2; exit 2 ;;
esac
