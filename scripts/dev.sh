#!/usr/bin/env bash
# `make dev`: installs what is missing, starts moto and the local stack (every function at its
# real route, sandbox peers, demo tenant), prints URLs + a demo JWT. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh dev

MOTO_PORT="${MOTO_PORT:-4566}"
mkdir -p .local
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

if (exec 3<>"/dev/tcp/127.0.0.1/$MOTO_PORT") 2>/dev/null; then
  if curl -fsS "http://127.0.0.1:$MOTO_PORT/moto-api/data.json" >/dev/null 2>&1; then
    echo "dev: reusing the moto server already on port $MOTO_PORT (if it is a plain threaded moto_server, concurrent transactions are not atomic)" >&2
  else
    echo "dev: port $MOTO_PORT is taken by something that is not moto; set MOTO_PORT" >&2
    exit 1
  fi
else
  # One request at a time, not `moto_server`: moto's threaded server is not atomic for
  # TransactWriteItems under concurrent requests; DynamoDB's transactions are serializable.
  .venv/bin/python infra/local/moto_serial.py -H 127.0.0.1 -p "$MOTO_PORT" >.local/moto.log 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$MOTO_PORT") 2>/dev/null && break
    sleep 0.1
  done
fi

export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT"
export AWS_REGION="${AWS_REGION:-us-east-1}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-local}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-local}"
export RUST_LOG="${RUST_LOG:-warn}"

cargo build -q -p local-stack --bin local-stack
"$(scripts/target-dir.sh)/debug/local-stack" &
pids+=($!)
wait "${pids[-1]}"
