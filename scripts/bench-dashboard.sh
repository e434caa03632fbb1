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

. scripts/bench-moto.sh
start_bench_moto bench-moto

cargo build -q --release -p local-stack --bin bench-dashboard
"$(scripts/target-dir.sh)/release/bench-dashboard"
