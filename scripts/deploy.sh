#!/usr/bin/env bash
# `make deploy STAGE=dev|prod`: sam validate --lint -> sam build (arm64 bootstraps through the
# template's rust-cargolambda build method) -> sam deploy with the stage of infra/samconfig.toml.
# Never deploys the unbuilt template (its CodeUri: .. would upload the repository as code).
set -euo pipefail
cd "$(dirname "$0")/.."
stage="${1:-}"
case "$stage" in
  dev | prod) ;;
  *) echo "usage: make deploy STAGE=dev|prod" >&2; exit 2 ;;
esac
config="$PWD/infra/samconfig.toml"

# The stage's settings must be filled in (no placeholder) before anything slow runs.
placeholders="$(python3 - "$config" "$stage" <<'PY'
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    cfg = tomllib.load(f)
params = cfg.get(sys.argv[2], {}).get("deploy", {}).get("parameters")
if params is None:
    print(f"no [{sys.argv[2]}.deploy.parameters] section")
    sys.exit()
for override in params.get("parameter_overrides", []):
    if "CHANGE_ME" in override:
        print(override.split("=", 1)[0])
PY
)"
if [ -n "$placeholders" ]; then
  echo "deploy: infra/samconfig.toml [$stage] still has placeholders, set them first:" >&2
  echo "$placeholders" | sed 's/^/  /' >&2
  exit 1
fi

scripts/bootstrap.sh deploy
export PATH="$PWD/.venv-deploy/bin:$PATH" SAM_CLI_TELEMETRY=0
# Credentials first: a missing profile should fail now, not after a 10-minute build.
python3_deploy="$PWD/.venv-deploy/bin/python"
"$python3_deploy" - <<'PY'
import sys
import boto3
try:
    session = boto3.session.Session()
    who = session.client("sts").get_caller_identity()
except Exception as e:  # noqa: BLE001 - any failure means: no usable credentials
    sys.exit(f"deploy: no usable AWS credentials ({type(e).__name__}); set AWS_PROFILE / AWS_REGION")
if not session.region_name:
    sys.exit("deploy: no AWS region; set AWS_REGION or the profile's region")
print(f"deploy: account {who['Account']}, region {session.region_name}", file=sys.stderr)
PY

sam validate --lint -t infra/template.yaml
# --beta-features: the rust-cargolambda build method is a beta feature of SAM CLI.
# --language-extensions: SAM CLI reads the Fn::ForEach alarm loops (AWS::LanguageExtensions) instead
# of failing on them; the loops stay in the uploaded template, CloudFormation expands them.
sam build --beta-features --language-extensions -t infra/template.yaml --build-dir .aws-sam/build
sam deploy --language-extensions --config-file "$config" --config-env "$stage" \
  --template-file .aws-sam/build/template.yaml
