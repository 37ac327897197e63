#!/usr/bin/env bash
# Drain after a 10 s NATS outage (bus-bench.sh drain), gateway after then
# before (then again, swapped, when ROUNDS=2); each run holds /work/perf.lock.
#   run-drain.sh OUTDIR BEFORE_BIN AFTER_BIN
set -u
HERE=$(cd "$(dirname "$0")" && pwd); PERF=$(cd "$HERE/../../.." && pwd)
OUT=${1:?}; BEFORE=${2:?}; AFTER=${3:?}; mkdir -p "$OUT"
for r in $(seq "${ROUNDS:-1}"); do
  if [ $((r % 2)) = 1 ]; then order="after before"; else order="before after"; fi
  for which in $order; do
    bin=$AFTER; [ "$which" = before ] && bin=$BEFORE
    echo "[$(date +%T)] drain $r $which (rustc running: $(pgrep -xc rustc))" >&2
    GW_BIN=$bin IDLE_WAIT=${IDLE_WAIT:-20} timeout 400 flock /work/perf.lock \
      "$PERF/bus-bench.sh" drain "$OUT/$which-r$r" 2>>"$OUT/bench.log" >/dev/null
    python3 "$PERF/bus-summary.py" drain "$OUT/$which-r$r" >"$OUT/$which-r$r/summary.json" 2>&1
  done
done
