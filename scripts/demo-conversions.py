#!/usr/bin/env python3
"""`make demo-conversions`: against a running `make dev`, the Conversions API for CRM end to end
for the demo tenant — connect Meta (OAuth through Sandbox Meta) if it is not connected, choose the
demo ad account, sweep the demo Meta leads in (`make spend-sync`), choose the account's dataset and
turn conversions on (`PUT /crm/marketing/conversions`), post a sale of a demo Meta lead as the CRM
would, send pending conversions (`make conversions-flush`) twice, and print what Sandbox Meta
received: the lead's stages once each, "Converted" with the sale's value.

Standard library only; the JWT is minted with the local stack's default key (or JWT_SECRET_KEY).
"""
import base64, hashlib, hmac, json, os, sys, time, urllib.error, urllib.request
from datetime import datetime, timezone

API = f"http://127.0.0.1:{os.environ.get('LOCAL_API_PORT', '8080')}"
SANDBOX = f"http://127.0.0.1:{os.environ.get('SANDBOX_META_PORT', '8090')}"
ADMIN = os.environ.get("ADMIN_TOKEN", "local-dev-admin-token")
KEY = os.environ.get("JWT_SECRET_KEY", "local-dev-jwt-key-not-for-production")
TENANT = 1
LEAD = "meta:1100000000000001"  # the first demo Meta lead (Sandbox Meta's DEMO_LEADGEN_IDS)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt() -> str:
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = {"user_id": "demo-admin", "email": "admin@demo.local", "role": "admin", "tenant_id": TENANT,
              "exp": int(time.time()) + 3600}
    body = b64(json.dumps(claims).encode())
    sig = b64(hmac.new(KEY.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest())
    return f"{head}.{body}.{sig}"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


OPENER = urllib.request.build_opener(NoRedirect)


def call(method, url, body=None, auth=True, headers=None):
    h = {"content-type": "application/json"} if body is not None else {}
    if auth:
        h.update({"Authorization": f"Bearer {jwt()}", "X-Admin-Token": ADMIN})
    h.update(headers or {})
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with OPENER.open(req, timeout=120) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def data_of(status, raw, what):
    if status >= 400:
        sys.exit(f"{what}: HTTP {status} {raw[:300]!r}")
    return json.loads(raw).get("data") if raw else None


def connect():
    status, _, raw = call("GET", f"{API}/crm/marketing/token-status")
    if data_of(status, raw, "token-status")["status"] != "connected":
        status, headers, raw = call("GET", f"{API}/crm/auth/meta/url")
        auth_url = data_of(status, raw, "auth url")["auth_url"]
        cookie = headers.get("Set-Cookie", headers.get("set-cookie", "")).split(";")[0]
        status, headers, _ = call("GET", auth_url, auth=False)
        callback = headers.get("Location") or headers.get("location")
        status, headers, _ = call("GET", callback, auth=False, headers={"Cookie": cookie})
        print("Meta connected:", headers.get("Location") or headers.get("location"))
    status, _, raw = call("GET", f"{API}/crm/marketing/meta-accounts")
    account = data_of(status, raw, "meta-accounts")[0]
    status, _, raw = call("POST", f"{API}/crm/marketing/connect", {"account_id": account["id"], "account_name": account["name"]})
    data_of(status, raw, "connect")
    print("ad account:", account["id"])


def main():
    connect()
    status, _, raw = call("POST", f"{API}/__local/spend-sync", auth=False)
    data_of(status, raw, "spend sync")
    status, _, raw = call("GET", f"{API}/crm/marketing/meta-datasets")
    dataset = data_of(status, raw, "meta-datasets")["datasets"][0]
    status, _, raw = call("PUT", f"{API}/crm/marketing/conversions",
                          {"enabled": True, "dataset_id": dataset["id"], "test_event_code": "TEST12345"})
    print("conversions:", data_of(status, raw, "PUT conversions")["status"], "→ dataset", dataset["id"])
    now = datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    sale_id = f"S-DEMO-{int(time.time())}"
    event = {"version": "0", "id": sale_id, "detail-type": "sale.completed", "source": "crm",
             "account": "000000000000", "time": now, "region": "us-east-1", "resources": [],
             "detail": {"event_id": f"evt-{sale_id}", "tenant_id": TENANT, "occurred_at": now,
                        "sale": {"id": sale_id, "lead_id": LEAD, "amount_minor": 150000, "currency": "USD",
                                 "completed_at": now}}}
    for _ in range(2):  # delivered twice, as EventBridge may
        status, _, raw = call("POST", f"{API}/__local/crm-events", event, auth=False)
        if status >= 400:
            sys.exit(f"crm event: HTTP {status} {raw[:300]!r}")
    for _ in range(2):
        status, _, raw = call("POST", f"{API}/__local/conversions-flush", auth=False)
        print("conversions run:", json.loads(raw).get("data"))
    status, _, raw = call("GET", f"{SANDBOX}/__sandbox/conversions", auth=False)
    got = json.loads(raw)
    mine = [e for e in got["events"] if e.get("dataset_id") == dataset["id"]]
    for e in mine:
        print(f"  Sandbox Meta received: {e['event_name']:<18} lead_id={e['lead_id']} value={e.get('value')} {e.get('currency') or ''}")
    converted = [e for e in mine if e["event_name"] == "Converted" and e.get("value") == 1500.0]
    print(f"duplicates at Sandbox Meta: {got['duplicates']}")
    if len(converted) < 1 or got["duplicates"] != 0:
        sys.exit("expected the sale as Converted with its value, and no duplicates")


if __name__ == "__main__":
    main()
