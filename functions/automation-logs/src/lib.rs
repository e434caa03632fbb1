//! `GET /crm/marketing/automation-logs?limit=&cursor=` (also `offset=`): the caller's tenant's
//! WhatsApp automation log, newest first. `data` is an array (the frontend's HSM page iterates it)
//! of `{id, lead_name, trigger_type, status, created_at, …}`; the next page's opaque, signed cursor
//! is the top-level `next_cursor` (`null` at the end). See [`crm_shared::automation::logs`].

use crm_shared::api::http::{run_read_endpoint, Endpoint, Reply, RequestCtx};
use crm_shared::api::wiring::Wiring;
use crm_shared::automation::logs;
use crm_shared::platform::auth::Access;
use crm_shared::platform::secrets::{SecretName, SecretNeeds};
use crm_shared::{ApiError, App};
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde_json::json;

/// The secrets this function resolves; nothing else is read. The JWT key and admin token (its
/// routes authenticate callers).
pub const SECRETS: SecretNeeds = &[SecretName::JwtSecretKey, SecretName::AdminToken];

/// The AWS clients built besides DynamoDB and Secrets Manager (`crm_shared::api::wiring`; IAM
/// grants match). Neither KMS nor the bus.
pub const WIRING: Wiring = Wiring::NONE;

pub const ENDPOINT: Endpoint = Endpoint {
    name: "automation-logs",
    method: Method::GET,
    path: "/crm/marketing/automation-logs",
    access: Access::AnyRole,
};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    run_read_endpoint(app, &ENDPOINT, req, |ctx| list(app, ctx)).await
}

async fn list(app: &App, ctx: RequestCtx) -> Result<Reply, ApiError> {
    let tenant = ctx.caller()?.tenant_id;
    let key = app.required_secret(SecretName::JwtSecretKey).await?;
    let cursor_key = logs::CursorKey::derive(key.expose().as_bytes());
    let page = logs::list(
        app.automation_log.as_ref(),
        &cursor_key,
        tenant,
        ctx.query("limit"),
        ctx.query("cursor"),
        ctx.query("offset"),
    )
    .await?;
    Ok(Reply::ok(&page.entries)?.with_top_level("next_cursor", json!(page.next_cursor)))
}

#[cfg(test)]
mod tests {
    use crm_shared::api::http::body_json;
    use crm_shared::testing::caller_request;

    use super::*;

    #[tokio::test]
    async fn an_empty_log_is_an_empty_array_and_bad_parameters_are_400() {
        let (app, _) = crm_shared::testing::unit_app(&[]);
        let body =
            body_json(&handle(&app, caller_request("GET", "/crm/marketing/automation-logs", 7, "setter", "")).await);
        assert_eq!(body["data"], json!([]));
        assert_eq!(body["next_cursor"], json!(null));
        for q in ["limit=0", "limit=101", "limit=x", "cursor=forged.abc", "offset=100000"] {
            let uri = format!("/crm/marketing/automation-logs?{q}");
            let resp = handle(&app, caller_request("GET", &uri, 7, "setter", "")).await;
            assert_eq!(resp.status(), 400, "{q}");
        }
    }

    #[tokio::test]
    async fn a_cursor_signed_with_the_jwt_key_is_400_and_a_fresh_one_round_trips() {
        use crm_shared::automation::logs::{encode_cursor, CursorKey};
        use crm_shared::domain::ids::TenantId;
        use crm_shared::platform::crypto::hmac_sha256;
        use crm_shared::testing::UNIT_JWT_KEY;
        let (app, _) = crm_shared::testing::unit_app(&[]);
        let get = |cursor: String| {
            caller_request("GET", &format!("/crm/marketing/automation-logs?cursor={cursor}"), 7, "setter", "")
        };
        let sk = "LOG#0000000000001#a";
        let b64 = |b: &[u8]| base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, b);
        let raw_mac =
            hmac_sha256(UNIT_JWT_KEY.as_bytes(), format!("automation-log-cursor|{}|{sk}", TenantId(7)).as_bytes());
        let resp = handle(&app, get(format!("{}.{}", b64(sk.as_bytes()), b64(&raw_mac)))).await;
        assert_eq!(resp.status(), 400);
        assert_eq!(body_json(&resp)["error"]["code"], "invalid_cursor");
        let fresh = encode_cursor(&CursorKey::derive(UNIT_JWT_KEY.as_bytes()), TenantId(7), sk);
        let resp = handle(&app, get(fresh)).await;
        assert_eq!(resp.status(), 200, "{}", body_json(&resp));
    }
}
