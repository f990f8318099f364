#!/usr/bin/env bash
# retryd's ReportFailure against the retry counter of section 5 in Redis
# (an EVALSHA), at c=64, alternating: redis-benchmark (C, RESP, 64
# connections), then retryd-bench's lean client (HTTP/2 gRPC, 4
# connections) against the bare tonic echo and each retryd binary given.
# Prints each run's rate and the medians: the echo's shows what the
# transport alone reaches against Redis on the same machine. Runs on 127.0.0.1 only, bounded in time; stops what it starts.
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

RPID=$(redis-cli -p "$PORT" info server | tr -d '\r' | awk -F: '/^process_id:/ {print $2}')
# redis-server's CPU time (user + system), in microseconds.
cpu_us() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) * 1000000 / hz}' "/proc/$RPID/stat"; }

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
declare -A RATES
for r in $(seq "$ROUNDS"); do
  before=$(cpu_us)
  rps=$(redis-benchmark -p "$PORT" -c 64 -n 1000000 -r 10000 --csv EVALSHA "$SHA" 1 'job:__rand_int__' \
    | awk -F'","' 'NR==2 {print int($2)}')
  after=$(cpu_us)
  echo "round $r  EVALSHA (redis-benchmark, c=64)  $rps scripts/s  server CPU $(python3 -c "print(f'{($after - $before) / 1e6:.1f}')") µs/script"
  RATES[evalsha]+="$rps "
  for b in "${BINS[@]}"; do
    # One echo run, then one retryd run.
    line=$("$BENCH" baseline --retryd-bin "$b" --concurrencies 64 --channels 4 --rounds 1 \
      --duration 8s --warmup 2s --json | tail -1)
    read -r echo ecpu rps rcpu < <(python3 -c 'import json, sys
d = json.load(sys.stdin)
print(*[x for s in ("echo", "retryd") for x in (int(d[s]["requests_per_second"]), round(d[s]["server_cpu_us_per_call"], 1))])' <<<"$line")
    echo "round $r  echo (c=64, 4 channels)  $echo calls/s  server CPU $ecpu µs/call"
    echo "round $r  retryd $b (c=64, 4 channels)  $rps calls/s  server CPU $rcpu µs/call"
    RATES[echo]+="$echo "
    RATES[$b]+="$rps "
  done
done
e=$(echo "${RATES[evalsha]}" | tr ' ' '\n' | grep . | median)
echo "median EVALSHA $e scripts/s"
for b in echo "${BINS[@]}"; do
  m=$(echo "${RATES[$b]}" | tr ' ' '\n' | grep . | median)
  echo "median $b $m calls/s: $(python3 -c "print(f'{$m/$e:.2f}')") x EVALSHA"
done
