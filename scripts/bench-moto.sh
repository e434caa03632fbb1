#!/usr/bin/env bash
# Sourced by the moto benchmarks: `start_bench_moto <log name>` starts serial moto (as `make dev`
# and the tests do: moto's threaded server is not atomic for transactions) on a free port, stops it
# on exit, and points the AWS SDK at it with bench credentials.
start_bench_moto() {
  local port
  port="$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
  .venv/bin/python infra/local/moto_serial.py -H 127.0.0.1 -p "$port" >".local/$1.log" 2>&1 &
  bench_moto_pid=$!
  trap 'kill "$bench_moto_pid" 2>/dev/null || true; wait "$bench_moto_pid" 2>/dev/null || true' EXIT INT TERM
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
  done
  export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
  export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench
  export RUST_LOG="${RUST_LOG:-warn}"
}
