#!/usr/bin/env bash
# `make bench-cold-start`: release-builds every function's bootstrap and measures its init under
# a local Lambda Runtime API stand-in (moto behind a connection-counting proxy).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
pkgs=()
for d in functions/*/; do pkgs+=(-p "$(basename "$d")"); done
cargo build --release --bins "${pkgs[@]}"
cargo build --release -p local-stack --bin bench-cold-start
mkdir -p target/bench
target/release/bench-cold-start --runs "${RUNS:-20}" "$@" | tee target/bench/cold-start.md
