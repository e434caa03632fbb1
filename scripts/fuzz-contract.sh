#!/usr/bin/env bash
# Fuzzes every route against the API's own contract (`GET /openapi.json`) with schemathesis:
# starts moto and the local stack on free ports (never `make dev`'s), connects the demo tenant to
# Sandbox Meta, sends its due WhatsApp follow-ups (so the log has entries), mints a `ceo` JWT of
# that tenant and runs schemathesis with these checks: no 5xx; status codes, content types and
# response bodies as documented (response objects are closed, so an undocumented field fails);
# requests the document forbids are refused; no authenticated route answers without credentials.
# Webhook bodies are signed as Meta and YCloud sign them (infra/local/fuzz_hooks.py), so their
# parsers are fuzzed too. Everything it started is stopped on exit.
#
#   FUZZ_MAX_EXAMPLES (15)  test cases per operation and phase
#   FUZZ_SEED (20261124)    schemathesis seed (same seed = same requests)
#   FUZZ_KEEP_LOGS=1        keep the work folder (moto and local stack logs)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
PY=.venv/bin/python
work=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-contract.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ "${FUZZ_KEEP_LOGS:-}" = 1 ]; then echo "fuzz-contract: logs in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT INT TERM

# Four distinct free ports, held open together while they are picked.
read -r MOTO_PORT API_PORT META_PORT YCLOUD_PORT < <($PY - <<'EOF'
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
EOF
)
wait_port() {
  for _ in $(seq 1 "$2"); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.2
  done
  echo "fuzz-contract: nothing listens on port $1" >&2
  return 1
}
secret() { $PY -c 'import secrets; print(secrets.token_hex(32))'; }

cargo build -q -p local-stack --bin local-stack
$PY infra/local/moto_serial.py -H 127.0.0.1 -p "$MOTO_PORT" >"$work/moto.log" 2>&1 &
pids+=($!)
wait_port "$MOTO_PORT" 150

ADMIN_TOKEN=$(secret)
JWT_SECRET_KEY=$(secret)
META_APP_SECRET=$(secret)
YCLOUD_WEBHOOK_SECRET=$(secret)
META_WEBHOOK_VERIFY_TOKEN=$(secret)
export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT" AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=local \
  AWS_SECRET_ACCESS_KEY=local RUST_LOG=warn LOCAL_API_PORT="$API_PORT" SANDBOX_META_PORT="$META_PORT" \
  SANDBOX_YCLOUD_PORT="$YCLOUD_PORT" ADMIN_TOKEN JWT_SECRET_KEY META_APP_SECRET YCLOUD_WEBHOOK_SECRET \
  META_WEBHOOK_VERIFY_TOKEN LOCAL_DEMO_DAYS="${LOCAL_DEMO_DAYS:-7}" \
  RATE_LIMIT_PER_MINUTE=1000000 TENANT_RATE_LIMIT_PER_MINUTE=10000000 \
  PUBLIC_RATE_LIMIT_PER_MINUTE=10000000
"$(scripts/target-dir.sh)/debug/local-stack" >"$work/stack.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 600); do
  grep -q '^Local API' "$work/stack.log" && break
  kill -0 "${pids[-1]}" 2>/dev/null || { cat "$work/stack.log" >&2; exit 1; }
  sleep 0.5
done
grep -q '^Local API' "$work/stack.log" || { echo "fuzz-contract: the local stack did not start" >&2; exit 1; }
# localhost, as the redirect URI: the login cookie set on /url must come back to the callback host.
API="http://localhost:$API_PORT"

# A ceo of the demo tenant (1), valid for two hours.
JWT=$($PY - "$JWT_SECRET_KEY" <<'EOF'
import base64, hashlib, hmac, json, sys, time
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
claims = {"user_id": "fuzz-ceo", "email": "ceo@fuzz.local", "role": "ceo", "tenant_id": 1, "exp": int(time.time()) + 7200}
body = b64(json.dumps(claims).encode())
sig = hmac.new(sys.argv[1].encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
print(f"{head}.{body}.{b64(sig)}")
EOF
)
auth=(-H "Authorization: Bearer $JWT" -H "X-Admin-Token: $ADMIN_TOKEN")

# Connect the demo tenant through the real OAuth flow (cookies kept, as a browser would) and pick
# the demo ad account, so the Meta routes answer with data rather than 409.
jar="$work/cookies"
auth_url=$(curl -fsS -c "$jar" -b "$jar" "${auth[@]}" "$API/crm/auth/meta/url" | $PY -c 'import json,sys; print(json.load(sys.stdin)["data"]["auth_url"])')
callback=$(curl -fsS -o /dev/null -w '%{redirect_url}' "$auth_url")
landed=$(curl -sS -o /dev/null -c "$jar" -b "$jar" -w '%{redirect_url}' "$callback")
case "$landed" in *success=connected) ;; *) echo "fuzz-contract: connect failed: $landed" >&2; exit 1 ;; esac
curl -fsS -o /dev/null "${auth[@]}" -H 'content-type: application/json' \
  -d '{"account_id":"act_5100000001001","account_name":"Demo"}' "$API/crm/marketing/connect"
curl -fsS -o /dev/null -X POST "$API/__local/hsm-evaluate"

set +e
# infra/local/fuzz_hooks.py signs the webhook bodies (Meta's and YCloud's signatures) and gives
# Meta's handshake the verify token.
SCHEMATHESIS_HOOKS=fuzz_hooks PYTHONPATH=infra/local .venv/bin/schemathesis run "$API/openapi.json" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,negative_data_rejection,ignored_auth \
  --phases examples,coverage,fuzzing --workers 1 --max-redirects 0 --request-timeout 30 \
  --max-examples "${FUZZ_MAX_EXAMPLES:-15}" --seed "${FUZZ_SEED:-20261124}" \
  --generation-with-security-parameters false --generation-database none \
  --no-color \
  "${auth[@]}"
status=$?
set -e

if [ "$status" -ne 0 ]; then
  echo "fuzz-contract: failures above (stack log: keep it with FUZZ_KEEP_LOGS=1)" >&2
  tail -n 40 "$work/stack.log" >&2
fi
exit "$status"
