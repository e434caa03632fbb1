#!/usr/bin/env bash
# Prints cargo's target directory (honours CARGO_TARGET_DIR and .cargo/config), for scripts that
# run a binary cargo just built.
set -euo pipefail
cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])'
