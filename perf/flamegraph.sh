#!/usr/bin/env bash
# Flamegraph of a server while loadgen runs a heartbeat `load` against it.
#
# Usage:
#   perf/flamegraph.sh --pid PID --url ws://127.0.0.1:8180/ocpp   # a running server
#   perf/flamegraph.sh --gateway                                   # build + start the gateway
#   perf/flamegraph.sh --baseline                                  # build + start perf's baseline
# Options: --count C (charge points, 1000) --duration S (10) --mix heartbeat|realistic
#          --freq HZ (999) --out FILE.svg (perf/results/flamegraph-<target>-<time>.svg)
#
# Records `perf record -F 999 -g` on the server for the whole loadgen run,
# then renders with inferno (inferno-collapse-perf | inferno-flamegraph).
# Installs linux-perf (apt-get) and inferno (cargo install) when missing.
# Servers started by this script are built with frame pointers (in a
# separate target dir) so `-g` sees whole stacks; for --pid, build your
# server with RUSTFLAGS="-C force-frame-pointers=yes" for the same effect.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
pid="" url="" start="" count=1000 duration=10 mix=heartbeat freq=999 out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --pid) pid=$2; shift 2 ;;
    --url) url=$2; shift 2 ;;
    --gateway) start=gateway; shift ;;
    --baseline) start=baseline; shift ;;
    --count) count=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --mix) mix=$2; shift 2 ;;
    --freq) freq=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "flamegraph: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [ -z "$pid" ] && [ -z "$start" ]; then start=gateway; fi

say() { echo "flamegraph: $*" >&2; }

# --- tools -----------------------------------------------------------------
if ! command -v perf >/dev/null 2>&1; then
  say "installing linux-perf"
  apt-get install -y linux-perf >&2
fi
if ! command -v inferno-flamegraph >/dev/null 2>&1 || ! command -v inferno-collapse-perf >/dev/null 2>&1; then
  say "installing inferno"
  cargo install inferno >&2
fi
# Virtual machines often lack hardware counters; perf then needs the
# software clock event (same sampling, no cycle counts).
event=()
if perf stat -e cycles true 2>&1 | grep -q 'not supported'; then
  event=(-e cpu-clock)
  say "hardware 'cycles' not supported here; sampling cpu-clock"
fi

cargo build --release --quiet --manifest-path "$here/Cargo.toml"
loadgen="$here/target/release/loadgen"

# --- the server --------------------------------------------------------------
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT

wait_port() {
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0
    sleep 0.1
  done
  say "nothing listens on $1:$2"; return 1
}

fp_env=(env RUSTFLAGS="-C force-frame-pointers=yes" CARGO_PROFILE_RELEASE_DEBUG=true)
case "$start" in
  baseline)
    "${fp_env[@]}" CARGO_TARGET_DIR="$here/target/frame-pointers" \
      cargo build --release --quiet --manifest-path "$here/Cargo.toml" --bin baseline
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    "$here/target/frame-pointers/release/baseline" --listen "127.0.0.1:$port" --threads 2 &
    server_pid=$!
    url=${url:-ws://127.0.0.1:$port/ocpp}
    wait_port 127.0.0.1 "$port"
    ;;
  gateway)
    "${fp_env[@]}" CARGO_TARGET_DIR="$root/target/frame-pointers" \
      cargo build --release --quiet --manifest-path "$root/Cargo.toml"
    (cd "$root" && exec "$root/target/frame-pointers/release/ocpp-gateway" --config gateway.toml) &
    server_pid=$!
    url=${url:-ws://127.0.0.1:8180/ocpp}
    wait_port 127.0.0.1 8180
    ;;
esac
pid=${pid:-$server_pid}
url=${url:-ws://127.0.0.1:8180/ocpp}
name=${start:-pid$pid}

mkdir -p "$here/results"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out=${out:-$here/results/flamegraph-$name-$stamp.svg}
work=$(mktemp -d -t ocpp-flame.XXXXXX)

# --- record --------------------------------------------------------------------
say "recording pid $pid at $freq Hz while loadgen loads $url"
perf record "${event[@]}" -F "$freq" -g -p "$pid" -o "$work/perf.data" 2> "$work/perf-record.log" &
perf_pid=$!
sleep 0.5
"$loadgen" load --url "$url" --server-pid "$pid" --count "$count" --duration "$duration" \
  --warmup 1 --mix "$mix" --quiet > "${out%.svg}.json" || say "loadgen reported problems (see ${out%.svg}.json)"
kill -INT "$perf_pid"
wait "$perf_pid" || true

# --- render --------------------------------------------------------------------
perf script -i "$work/perf.data" 2>/dev/null | inferno-collapse-perf > "$work/folded"
inferno-flamegraph --title "$name: loadgen load --count $count --mix $mix" < "$work/folded" > "$out"
say "wrote $out (loadgen report ${out%.svg}.json, raw data in $work)"
