//! The OpenAPI 3.1 document, written by hand beside the code and held to it by tests: the local
//! stack's route table and `infra/template.yaml` must list exactly these operations (with the
//! same function and access), and `scripts/fuzz-contract.sh` validates live responses against it.
//! Enumerations (ranges, statuses, triggers, roles) come from the code's own constants.

mod automation;
mod campaigns;
mod conversions;
mod dashboard;
mod meta;
pub mod ops;
pub mod schema;
mod whatsapp;

use serde_json::{json, Map, Value};

use ops::Op;
use schema::{date_time, object, string};

/// The success envelope (`Reply`) and the error envelope (`ApiError::body`).
fn envelopes() -> Vec<(&'static str, Value)> {
    let envelope = json!({
        "type": "object",
        "description": "Every JSON success: `data` holds the payload; some routes add top-level keys beside it.",
        "properties": {"success": {"const": true}, "data": {}, "timestamp": date_time()},
        "required": ["success", "data", "timestamp"],
    });
    let error = json!({
        "type": "object",
        "description": "Every error. `detail` repeats the message (the frontend shows it); 5xx never carry internals.",
        "properties": {
            "success": {"const": false},
            "error": object(&[("code", described(string(), "stable machine-readable code")), ("message", string())]),
            "detail": string(),
        },
        "required": ["success", "error", "detail"],
        "additionalProperties": false,
    });
    vec![("Envelope", envelope), ("Error", error)]
}

fn described(mut s: Value, text: &str) -> Value {
    s["description"] = json!(text);
    s
}

fn error_responses() -> Value {
    let e = |text: &str| json!({"description": text, "content": {"application/json": {"schema": schema::reference("Error")}}});
    let retry = |text: &str| {
        let mut r = e(text);
        r["headers"] = json!({"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}});
        r
    };
    json!({
        "BadRequest": e("bad input (`detail` says why); nothing changed"),
        "Unauthorized": e("missing, invalid or expired JWT or admin token, or a missing/forged webhook signature"),
        "Forbidden": e("role not allowed, or admin access not configured"),
        "NotFound": e("nothing of the caller's tenant at this id"),
        "Conflict": e("the request conflicts with the current state (e.g. `meta_not_connected`, `meta_token_expired`)"),
        "PayloadTooLarge": e("request body over the limit"),
        "UnsupportedMediaType": e("request body is not `application/json`"),
        "TooManyRequests": retry("rate limited (per user per route, per tenant, or per webhook source)"),
        "InternalError": e("our fault; the cause is logged with the request id"),
        "BadGateway": e("a peer (Meta, YCloud) answered with an error"),
        "Unavailable": retry("a peer is down or throttling, or work is still pending; retry later"),
    })
}

fn security_schemes() -> Value {
    json!({
        "bearerJwt": {
            "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
            "description": "The CRM's JWT (HS256): `user_id` (or `sub`), `email`, `role`, integer `tenant_id`, `exp`. The tenant comes only from it (`X-Tenant-ID` is ignored)."
        },
        "cookieJwt": {"type": "apiKey", "in": "cookie", "name": "access_token", "description": "The same JWT in the CRM's HttpOnly cookie."},
        "adminToken": {"type": "apiKey", "in": "header", "name": "X-Admin-Token", "description": "The deployment's admin token; unset on the server = every request refused."},
        "metaSignature": {
            "type": "apiKey", "in": "header", "name": "X-Hub-Signature-256",
            "description": "`sha256=<hex>`: HMAC-SHA256 of the raw body with the Meta app secret."
        },
        "ycloudSignature": {
            "type": "apiKey", "in": "header", "name": "YCloud-Signature",
            "description": "`t=<unix seconds>,s=<hex>`: HMAC-SHA256 of `{t}.{raw body}` with the webhook secret; at most 5 minutes old."
        },
    })
}

/// Every operation of the API, in the order of the local route table.
pub fn operations() -> Vec<Op> {
    let mut ops = meta::operations();
    ops.extend(dashboard::operations());
    ops.extend(campaigns::operations());
    ops.extend(meta::webhook_operations());
    ops.extend(automation::operations());
    ops.extend(whatsapp::operations());
    ops.extend(conversions::operations());
    ops.push(
        Op::new("GET", crate::ENDPOINT.path, crate::ENDPOINT.name, ops::Guard::Public, "This document")
            .describe("Public and cacheable (`Cache-Control`, `ETag`; `If-None-Match` → 304).")
            .response(200, json!({"description": "the OpenAPI document", "content": {"application/json": {"schema": {"type": "object"}}}}))
            .response(304, json!({"description": "not modified since the `ETag` sent in `If-None-Match`"})),
    );
    ops
}

/// The whole document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for op in operations() {
        let entry = paths.entry(op.path.to_string()).or_insert_with(|| json!({}));
        entry[op.method.to_ascii_lowercase()] = op.to_json();
    }
    let mut schemas = Map::new();
    for (name, s) in envelopes()
        .into_iter()
        .chain(meta::schemas())
        .chain(dashboard::schemas())
        .chain(campaigns::schemas())
        .chain(automation::schemas())
        .chain(whatsapp::schemas())
        .chain(conversions::schemas())
    {
        schemas.insert(name.to_string(), s);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "CRM marketing hub API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Meta Ads ROI and WhatsApp (YCloud) automation for the CRM. JSON successes are `{success: true, data, timestamp}`; errors are `{success: false, error: {code, message}, detail}`. Money is exact integer minor units (`*_minor`) beside the frontend's major-unit numbers. `x-roles` on an operation lists the JWT roles it admits; `x-function` names the Lambda that serves it."
        },
        "servers": [{"url": "/", "description": "the API's own origin (API Gateway in AWS, the local stack locally)"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": error_responses(),
            "securitySchemes": security_schemes(),
        },
    })
}
