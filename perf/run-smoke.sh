#!/usr/bin/env bash
# Smoke test of a server with the load generator:
#   a 500-connection ramp (hold 2 s), then a 5-second heartbeat load with
#   50 charge points. Exits non-zero if either reports any failure, error or
#   disconnect (loadgen --fail-on-error).
#
# Usage: perf/run-smoke.sh [ws://127.0.0.1:PORT/PREFIX] [--server-pid PID]
#   Without a URL, builds and starts the baseline on a free port and stops
#   it afterwards. Reports go to a temporary directory (or $SMOKE_OUT).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
url=""
pid_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --server-pid) pid_args=(--server-pid "$2"); shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) url="$1"; shift ;;
  esac
done

cargo build --release --quiet --manifest-path "$here/Cargo.toml"
bin="$here/target/release"

baseline_pid=""
cleanup() { [ -n "$baseline_pid" ] && kill "$baseline_pid" 2>/dev/null || true; }
trap cleanup EXIT

if [ -z "$url" ]; then
  # Ask the kernel for a free port, then start the baseline on it.
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$bin/baseline" --listen "127.0.0.1:$port" --threads 2 &
  baseline_pid=$!
  for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
  done
  url="ws://127.0.0.1:$port/ocpp"
  pid_args=(--server-pid "$baseline_pid")
  echo "smoke: started baseline (pid $baseline_pid) on $url" >&2
fi

out_dir=${SMOKE_OUT:-$(mktemp -d -t ocpp-smoke.XXXXXX)}
mkdir -p "$out_dir"
status=0

run() {
  local name=$1; shift
  local out="$out_dir/$name.json"
  if "$bin/loadgen" "$@" --url "$url" "${pid_args[@]}" --fail-on-error --quiet > "$out"; then
    echo "smoke: $name ok ($out)" >&2
  else
    echo "smoke: $name FAILED (exit $?; report in $out)" >&2
    status=1
  fi
}

run ramp ramp --count 500 --rate 5000 --hold 2
run load load --count 50 --duration 5 --warmup 1 --mix heartbeat

exit $status
