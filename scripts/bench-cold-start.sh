#!/usr/bin/env bash
# `make bench-cold-start`: release-builds every function's bootstrap and measures its init under
# a local Lambda Runtime API stand-in (moto behind a connection-counting proxy).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
pkgs=()
for d in functions/*/; do pkgs+=(-p "$(basename "$d")"); done
# One invocation, so the functions and the bench share one feature-unified build.
cargo build --release --bins "${pkgs[@]}" -p local-stack
target_dir="$(scripts/target-dir.sh)"
mkdir -p "$target_dir/bench"
"$target_dir/release/bench-cold-start" --runs "${RUNS:-20}" --bin-dir "$target_dir/release" "$@" \
  | tee "$target_dir/bench/cold-start.md"
