#!/bin/bash
# perf/syscalls.sh GATEWAY_BINARY CONFIG_TEMPLATE: write and epoll_wait system calls per
# gateway thread (perf stat --per-thread) during 5 s of a 1 000-CP heartbeat load.
# The template is filled as in pairs.sh (fixed ports 18680/18681).
bin=$1; tpl=$2; d=$(mktemp -d)
sed -e "s|@PORT@|18680|g" -e "s|@TLSPORT@|18681|g" -e "s|@DIR@|$d|g" $tpl > $d/gw.toml
$bin --config $d/gw.toml > $d/out 2>&1 & gw=$!
sleep 1
"$(dirname "$0")"/target/release/loadgen load --url ws://127.0.0.1:18680/ocpp --count 1000 --duration 10 --warmup 2 --mix heartbeat --quiet --server-pid $gw > $d/load.json &
lg=$!
sleep 5
perf stat -e syscalls:sys_enter_write,syscalls:sys_enter_epoll_wait --per-thread -p $gw -- sleep 5 2>&1 | grep -E "syscalls" | awk '{print $1, $2, $3}' | sort -k1,1 | grep -v " 0 "
wait $lg; kill $gw; wait $gw
python3 -c "import json;r=json.load(open('$d/load.json'))['result'];print('calls/s', r['calls_per_s'], 'us/call', r['server_cpu_us_per_call'])"
rm -rf $d
