#!/usr/bin/env bash
# `make bench-cold-start`: release-builds every function's bootstrap as it is deployed and measures
# its init under a local Lambda Runtime API stand-in (moto behind a connection-counting proxy).
#
# The bootstraps are built for this machine's triple with an explicit `--target` and the rustflags
# of the Lambda target in .cargo/config.toml (non-PIE), in one cargo run for the functions only
# (they share one feature set, as a per-function build gives them); the bench itself is built
# apart. Extra arguments go to the bench (e.g. `--runs 5 marketing-stats`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
host="$(rustc -vV | sed -n 's/^host: //p')"
rustflags="$(python3 -c 'import json, tomllib; print(json.dumps(tomllib.load(open(".cargo/config.toml", "rb"))["target"]["aarch64-unknown-linux-gnu"]["rustflags"]))')"
pkgs=()
for d in functions/*/; do pkgs+=(-p "$(basename "$d")"); done
cargo build --release --bins "${pkgs[@]}" --target "$host" --config "target.$host.rustflags=$rustflags"
cargo build --release -p local-stack --bin bench-cold-start
target_dir="$(scripts/target-dir.sh)"
mkdir -p "$target_dir/bench"
"$target_dir/release/bench-cold-start" --runs "${RUNS:-20}" --bin-dir "$target_dir/$host/release" "$@" \
  | tee "$target_dir/bench/cold-start.md"
