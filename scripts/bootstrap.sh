#!/usr/bin/env bash
# Installs what a fresh machine lacks into ./.venv (PyPI only). Idempotent and quiet when done.
#   scripts/bootstrap.sh          moto[server] + cfn-lint (what the tests need)
#   scripts/bootstrap.sh dev      ... + cargo-lambda (what `make dev` / deploys need)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv
stamp() { sha256sum "$@" | sha256sum | cut -c1-16; }

if [ ! -x "$VENV/bin/python" ]; then
  echo "bootstrap: creating $VENV" >&2
  python3 -m venv "$VENV"
fi
want=(infra/requirements.txt)
[ "${1:-}" = "dev" ] && want+=(infra/requirements-deploy.txt)
for req in "${want[@]}"; do
  mark="$VENV/.installed-$(basename "$req")-$(stamp "$req")"
  if [ ! -f "$mark" ]; then
    echo "bootstrap: installing $req" >&2
    "$VENV/bin/pip" install --disable-pip-version-check -q -r "$req"
    touch "$mark"
  fi
done
