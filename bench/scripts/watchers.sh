#!/usr/bin/env bash
# What slow watchers cost the decisions: ReportFailure instructions per call
# (callgrind) and throughput, with 0 and with N `retryd events` watchers that
# never read (stopped with SIGSTOP: their sockets fill, and retryd's ring
# overwrites what they miss). Runs on 127.0.0.1 only, bounded in time.
#
#   cargo build --release -p retryd -p retryd-bench
#   bench/scripts/watchers.sh [N=10] [ROUNDS=3]
set -euo pipefail
N=${1:-10}
ROUNDS=${2:-3}
BIN=${BIN:-target/release}
OUT=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$OUT"' EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Starts retryd (under $1, e.g. valgrind, or nothing) and N stopped watchers;
# prints the address. Sets PIDS.
start() {
  local wrap=$1 watchers=$2 addr w
  addr=127.0.0.1:$(port)
  $wrap "$BIN/retryd" --grpc-addr "$addr" --metrics-addr 127.0.0.1:0 --log warn 2>/dev/null &
  SERVER=$!
  for _ in $(seq 100); do
    "$BIN/retryd" stats --addr "$addr" >/dev/null 2>&1 && break
    sleep 0.2
  done
  WATCHERS=()
  for _ in $(seq "$watchers"); do
    "$BIN/retryd" events --addr "$addr" >/dev/null 2>&1 &
    WATCHERS+=($!)
  done
  sleep 1
  for w in "${WATCHERS[@]}"; do kill -STOP "$w"; done
  ADDR=$addr
}

stop() {
  local w
  for w in "${WATCHERS[@]}"; do kill -KILL "$w" 2>/dev/null || true; done
  kill -TERM "$SERVER"
  wait "$SERVER" 2>/dev/null || true
}

# Instructions per ReportFailure under callgrind, counted only after a
# fill phase (the watchers' sockets and HTTP/2 windows hold megabytes: until
# they are full a stopped watcher still receives every event), from two runs
# of different lengths so that what is left of start and shutdown cancels.
ir_per_call() {
  local watchers=$1 ir=() calls=() secs n
  for secs in 10 30; do
    start "valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=$OUT/cg.$watchers.$secs" "$watchers"
    "$BIN/retryd-bench" load --addr "$ADDR" --concurrency 8 --channels 2 --warmup 0s \
      --duration 40s --json >/dev/null
    callgrind_control -i on "$SERVER" >/dev/null 2>&1
    n=$("$BIN/retryd-bench" load --addr "$ADDR" --concurrency 1 --channels 1 --warmup 1s \
          --duration "${secs}s" --json | python3 -c 'import json,sys; print(json.loads(sys.stdin.readlines()[-1])["requests"])')
    stop
    calls+=("$n")
    ir+=("$(grep -m1 '^summary:' "$OUT/cg.$watchers.$secs" | awk '{print $2}')")
  done
  python3 -c "print(f'{($((ir[1])) - $((ir[0]))) / ($((calls[1])) - $((calls[0]))):.0f}')"
}

echo "instructions per ReportFailure (callgrind), 0 and $N slow watchers:"
echo "  0 watchers: $(ir_per_call 0)"
echo "  $N watchers: $(ir_per_call "$N")"

echo "throughput at c=64 over 4 channels, alternating, $ROUNDS rounds:"
for r in $(seq "$ROUNDS"); do
  for w in 0 "$N"; do
    start "" "$w"
    rate=$("$BIN/retryd-bench" load --addr "$ADDR" --concurrency 64 --channels 4 --warmup 2s \
             --duration 8s --json | python3 -c 'import json,sys; print(json.loads(sys.stdin.readlines()[-1])["requests_per_second"])')
    stop
    echo "  round $r, $w watchers: $rate req/s"
  done
done
