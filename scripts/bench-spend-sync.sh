#!/usr/bin/env bash
# `make bench-spend-sync`: starts its own moto on a free port, indexes BENCH_TENANTS (10,000)
# connected tenants, runs the real fan-out through moto's EventBridge, syncs BENCH_SAMPLE (20) of
# them against the Sandbox Meta with BENCH_LATENCY_MS (50) per Graph call, and prints a markdown
# table with the projected wall time at several Lambda concurrencies. Not part of `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
mkdir -p .local

. scripts/bench-moto.sh
start_bench_moto bench-sync-moto

cargo build -q --release -p local-stack --bin bench-spend-sync
"$(scripts/target-dir.sh)/release/bench-spend-sync"
