#!/usr/bin/env bash
# retryd's ReportFailure against the retry counter of section 5 in Redis
# (an EVALSHA), at c=64, alternating: redis-benchmark (C, RESP, 64
# connections), then retryd-bench's lean client (HTTP/2 gRPC, 4
# connections) against each retryd binary given. Prints each run's rate and
# the medians. Runs on 127.0.0.1 only, bounded in time; stops what it starts.
#
#   cargo build --release -p retryd -p retryd-bench
#   bench/scripts/evalsha.sh [ROUNDS=3] [RETRYD_BIN...]   (default: target/release/retryd)
set -euo pipefail
ROUNDS=${1:-3}
shift || true
BINS=("$@")
[ ${#BINS[@]} -eq 0 ] && BINS=(target/release/retryd)
BENCH=${BENCH:-target/release/retryd-bench}
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes >/dev/null
trap 'redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true' EXIT
for _ in $(seq 50); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
SHA=$(redis-cli -p "$PORT" SCRIPT LOAD "local n = redis.call('INCR', KEYS[1]) redis.call('PEXPIRE', KEYS[1], 86400000) local d = math.min(2000 * 2^(n-1), 60000) return {n, d}")

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
declare -A RATES
for r in $(seq "$ROUNDS"); do
  rps=$(redis-benchmark -p "$PORT" -c 64 -n 1000000 -r 10000 --csv EVALSHA "$SHA" 1 'job:__rand_int__' \
    | awk -F'","' 'NR==2 {print int($2)}')
  echo "round $r  EVALSHA (redis-benchmark, c=64)  $rps scripts/s"
  RATES[evalsha]+="$rps "
  for b in "${BINS[@]}"; do
    line=$("$BENCH" load --retryd-bin "$b" --concurrency 64 --channels 4 --duration 8s --warmup 2s --json)
    rps=$(python3 -c 'import json,sys; print(int(json.loads(sys.argv[1].splitlines()[-1])["requests_per_second"]))' "$line")
    echo "round $r  retryd $b (c=64, 4 channels)  $rps calls/s"
    RATES[$b]+="$rps "
  done
done
e=$(echo "${RATES[evalsha]}" | tr ' ' '\n' | grep . | median)
echo "median EVALSHA $e scripts/s"
for b in "${BINS[@]}"; do
  m=$(echo "${RATES[$b]}" | tr ' ' '\n' | grep . | median)
  echo "median retryd $b $m calls/s: $(python3 -c "print(f'{$m/$e:.2f}')") x EVALSHA"
done
