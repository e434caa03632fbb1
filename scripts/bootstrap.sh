#!/usr/bin/env bash
# Installs what a fresh machine lacks (PyPI only). Idempotent and quiet when done.
#   scripts/bootstrap.sh          .venv: moto[server] + cfn-lint (make dev, the benches)
#   scripts/bootstrap.sh dev      the same
#   scripts/bootstrap.sh test     ... + .venv-deploy: aws-sam-cli (make test runs `sam validate --lint`)
#   scripts/bootstrap.sh deploy   .venv-deploy: aws-sam-cli + cargo-lambda, and the arm64 Rust target
#                                 (make package, make deploy)
# The deploy tools get a venv of their own: aws-sam-cli pins boto3/Flask versions of its own (about
# 340 MB, ~45 s to install), cargo-lambda ships zig (~450 MB); neither may move the tests' moto.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp() { sha256sum "$@" | sha256sum | cut -c1-16; }

# install VENV REQUIREMENTS-FILE: creates the venv if needed, installs the file once per content.
install() {
  local venv="$1" req="$2"
  if [ ! -x "$venv/bin/python" ]; then
    echo "bootstrap: creating $venv" >&2
    python3 -m venv "$venv"
  fi
  local mark
  mark="$venv/.installed-$(basename "$req")-$(stamp "$req")"
  if [ ! -f "$mark" ]; then
    echo "bootstrap: installing $req into $venv" >&2
    "$venv/bin/pip" install --disable-pip-version-check -q -r "$req"
    touch "$mark"
  fi
}

mode="${1:-}"
case "$mode" in
  "" | dev) install .venv infra/requirements.txt ;;
  test)
    install .venv infra/requirements.txt
    install .venv-deploy infra/requirements-deploy.txt
    ;;
  deploy)
    install .venv-deploy infra/requirements-deploy.txt
    install .venv-deploy infra/requirements-build.txt
    if command -v rustup >/dev/null 2>&1 \
      && ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
      echo "bootstrap: adding the aarch64-unknown-linux-gnu Rust target" >&2
      rustup target add aarch64-unknown-linux-gnu
    fi
    ;;
  *)
    echo "usage: scripts/bootstrap.sh [dev|test|deploy]" >&2
    exit 2
    ;;
esac
