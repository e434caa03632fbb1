#!/usr/bin/env bash
# Lists each function's Lambda package (cargo lambda's <target>/lambda/<name>/bootstrap.zip, built by
# `make package`): its entries and sizes. Fails if a package is missing or holds anything but one
# executable `bootstrap` — what provided.al2023 runs.
#   scripts/list-packages.sh              every function under functions/
#   scripts/list-packages.sh NAME...      those functions only
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$#" -eq 0 ]; then
  set --
  for d in functions/*/; do set -- "$@" "$(basename "$d")"; done
fi
lambda_dir="$(scripts/target-dir.sh)/lambda"
python3 - "$lambda_dir" "$@" <<'PY'
import os, stat, sys, zipfile

lambda_dir, names = sys.argv[1], sys.argv[2:]
failures = []
print(f"{'function':<30} {'zip':>10} {'bootstrap':>11}  entries")
for name in names:
    path = os.path.join(lambda_dir, name, "bootstrap.zip")
    if not os.path.isfile(path):
        failures.append(f"{name}: no package at {path} (run make package)")
        continue
    with zipfile.ZipFile(path) as z:
        infos = z.infolist()
    entries = [i.filename for i in infos]
    unpacked = sum(i.file_size for i in infos)
    print(f"{name:<30} {os.path.getsize(path):>10,} {unpacked:>11,}  {' '.join(entries)}")
    if entries != ["bootstrap"]:
        failures.append(f"{name}: package holds {entries}, expected only ['bootstrap']")
        continue
    mode = infos[0].external_attr >> 16
    if mode and not mode & stat.S_IXUSR:
        failures.append(f"{name}: bootstrap is not executable (mode {oct(mode)})")
print("sizes in bytes: zip = the upload, bootstrap = unpacked")
for f in failures:
    print(f"list-packages: {f}", file=sys.stderr)
sys.exit(1 if failures else 0)
PY
