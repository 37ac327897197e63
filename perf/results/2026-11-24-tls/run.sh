#!/bin/bash
# run.sh NAME tls|plain loadgen-args...   (fresh gateway, idle wait, box CPU recorded)
set -u
name=$1; mode=$2; shift 2
cd /tmp/tlsperf
OUT=/work/main/perf/results/2026-11-24-tls
L=/work/main/perf/target/release/loadgen
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8, $5+$6}' /proc/stat; }
rm -rf journal-$mode gw.txid
/work/main/target/release/ocpp-gateway --config gw-$mode.toml > gw-$name.out 2>&1 &
GW=$!
sleep 1
for i in $(seq 15); do
  read b1 i1 < <(busy); sleep 2; read b2 i2 < <(busy)
  idle=$(( 100 * (i2-i1) / (b2-b1+i2-i1+1) ))
  [ $idle -ge 90 ] && break
done
read b1 i1 < <(busy)
$L "$@" --server-pid $GW --fail-on-error --quiet > $OUT/$name.json
rc=$?
read b2 i2 < <(busy)
kill $GW; wait $GW
echo "$name rc=$rc idle_before=$idle% box_busy_s=$(( (b2-b1)/100 ))"
