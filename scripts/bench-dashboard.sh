#!/usr/bin/env bash
# `make bench-dashboard`: starts its own moto on a free port, prints the DynamoDB calls and
# sequential depth of each read-only route (BENCH_SCALES=none: only that), then loads 1,000 then 100,000 leads (with
# opportunities, sales and 3 years of spend days) and prints, as a markdown table, the items read
# and warm handler latency of /stats (30 days and `all`) next to a naive per-lead read.
# BENCH_SCALES=1000,10000 overrides the scales. Not part of `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
mkdir -p .local

port="$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
# Serial moto, as in `make dev` and the tests (moto's threaded server is not atomic for transactions).
.venv/bin/python infra/local/moto_serial.py -H 127.0.0.1 -p "$port" >.local/bench-moto.log 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done

export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench
export RUST_LOG="${RUST_LOG:-warn}"

cargo build -q --release -p local-stack --bin bench-dashboard
"$(scripts/target-dir.sh)/release/bench-dashboard"
