#!/usr/bin/env bash
# Bus on vs off, gateway before and after, alternating: per round one
# `bus-bench.sh throughput` (ROUNDS=1: on, then off) with each binary, the
# order of the binaries swapped every round. Each bench run holds
# /work/perf.lock (about 2 minutes) and first waits (up to 180 s) for no
# compiler on the box (the box is shared with builds).
#   run-pairs.sh OUTDIR ROUNDS BEFORE_BIN AFTER_BIN
set -u
HERE=$(cd "$(dirname "$0")" && pwd); PERF=$(cd "$HERE/../../.." && pwd)
OUT=${1:?}; N=${2:?}; BEFORE=${3:?}; AFTER=${4:?}
mkdir -p "$OUT"
quiet() { for _ in $(seq 36); do pgrep -x rustc >/dev/null || pgrep -x cc1 >/dev/null || return 0; sleep 5; done; echo "compiler still running" >&2; }
for r in $(seq "$N"); do
  if [ $((r % 2)) = 1 ]; then order="after before"; else order="before after"; fi
  for which in $order; do
    bin=$AFTER; [ "$which" = before ] && bin=$BEFORE
    quiet
    echo "[$(date +%T)] round $r $which (rustc running: $(pgrep -xc rustc))" >&2
    GW_BIN=$bin ROUNDS=1 IDLE_WAIT=${IDLE_WAIT:-20} timeout 400 flock /work/perf.lock \
      "$PERF/bus-bench.sh" throughput "$OUT/$which-r$r" 2>>"$OUT/bench.log"
    python3 "$PERF/bus-summary.py" throughput "$OUT/$which-r$r" >"$OUT/$which-r$r/summary.json" 2>&1
  done
done
