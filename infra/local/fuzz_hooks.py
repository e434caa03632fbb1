"""schemathesis hooks of `scripts/fuzz-contract.sh`.

The webhooks check a signature over the raw body before they read anything, so unsigned fuzzing
would only ever reach their 401. These hooks sign every generated body the way Meta and YCloud do
(with the secrets the script gave the local stack), so the fuzzer reaches the parsers and the
processing behind them; Meta's handshake gets the right verify token, so its challenge check is
fuzzed rather than its 403. The 401/403 paths are covered by the integration tests.
"""

import hashlib
import hmac
import json
import os
import time

import schemathesis

META_PATH = "/crm/webhooks/meta"
YCLOUD_PATH = "/crm/webhooks/ycloud"


def _raw_body(case):
    """The exact bytes to send (and sign): the generated body, serialized once here."""
    body = case.body
    if isinstance(body, bytes):
        return body
    if type(body).__name__ == "NotSet":
        return b""
    return json.dumps(body).encode()


@schemathesis.hook
def before_call(context, case, kwargs):
    method, path = case.method.upper(), case.operation.path
    if method == "GET" and path == META_PATH:
        query = dict(case.query or {})
        query["hub.verify_token"] = os.environ["META_WEBHOOK_VERIFY_TOKEN"]
        case.query = query
        return
    if method != "POST" or path not in (META_PATH, YCLOUD_PATH):
        return
    raw = _raw_body(case)
    kwargs["data"] = raw
    headers = dict(case.headers or {})
    if case.operation.path == META_PATH:
        key = os.environ["META_APP_SECRET"].encode()
        headers["X-Hub-Signature-256"] = "sha256=" + hmac.new(key, raw, hashlib.sha256).hexdigest()
    else:
        key = os.environ["YCLOUD_WEBHOOK_SECRET"].encode()
        t = str(int(time.time()))
        signature = hmac.new(key, t.encode() + b"." + raw, hashlib.sha256).hexdigest()
        headers["YCloud-Signature"] = f"t={t},s={signature}"
    case.headers = headers
