//! `GET/POST /crm/webhooks/meta`: the Meta lead-ads webhook (one function, two routes).
//!
//! - `GET` answers Meta's subscription handshake: `hub.mode=subscribe` and a `hub.verify_token`
//!   equal (constant time) to `META_WEBHOOK_VERIFY_TOKEN` → `hub.challenge` echoed as plain text;
//!   anything else → 403.
//! - `POST` checks `X-Hub-Signature-256` (HMAC-SHA256 of the raw body with the Meta app secret)
//!   before reading anything else — forged or missing → 401 and nothing written but the audit
//!   record — then hands the delivery to [`crm_shared::meta::leadgen::process_delivery`].
//!
//! Design (details in `crm_shared::meta::leadgen` and `crm_shared::meta::pages`):
//! - **Page → tenant**: `META#PAGE#{page_id}` items, claimed for a tenant from `GET /me/accounts`
//!   when it connects Meta (the `meta.connected` job after the callback) and selects its ad
//!   accounts; changes for pages no tenant owns are logged by page id and skipped.
//! - **Fast and lossless**: every lead gets an inbox item (`T#{tenant}` / `LEADGEN#{id}`) before
//!   any Graph call; leads are fetched (`GET /{leadgen_id}`, only the fields used) with bounded
//!   concurrency inside a time budget and ingested through the one idempotent lead path
//!   (`meta:{leadgen_id}`, event `meta-leadgen:{leadgen_id}`). Anything still open after a
//!   transient failure or the budget → `503`, and Meta's re-delivery (36 h of retries) finishes
//!   it; a rejected token (190) marks the connection expired and parks the lead, and the OAuth
//!   connect's follow-up job replays the tenant's open leads when it reconnects.
//! - **Body limit**: deliveries batch up to 1,000 changes, so this endpoint accepts up to
//!   [`crm_shared::meta::leadgen::MAX_BODY_BYTES`] (1 MiB) instead of `MAX_BODY_BYTES`.

use crm_shared::api::http::{run_public_endpoint, Endpoint, Reply, RequestCtx};
use crm_shared::api::wiring::Wiring;
use crm_shared::flows::lead_arrived::meta_leads_arrived;
use crm_shared::meta::leadgen::{self, DeliveryReport, WebhookError};
use crm_shared::platform::auth::Access;
use crm_shared::platform::secrets::{SecretName, SecretNeeds};
use crm_shared::{ApiError, App};
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};

/// The secrets this function resolves; nothing else is read. Public (Meta calls it; deliveries are
/// signed with the app secret): never the JWT key or admin token.
pub const SECRETS: SecretNeeds = &[SecretName::MetaAppSecret, SecretName::MetaWebhookVerifyToken];

/// The AWS clients built besides DynamoDB and Secrets Manager (`crm_shared::api::wiring`; IAM
/// grants match). KMS opens Page tokens; the bus hands leads to the CRM.
pub const WIRING: Wiring = Wiring::ALL;

const NAME: &str = "meta-webhook";
const PATH: &str = "/crm/webhooks/meta";

/// `GET`: the subscription handshake (no JWT: Meta calls it).
pub const VERIFY_ENDPOINT: Endpoint = Endpoint { name: NAME, method: Method::GET, path: PATH, access: Access::Public };
/// `POST`: signed lead-ads deliveries (no JWT: the signature authenticates Meta).
pub const DELIVERY_ENDPOINT: Endpoint =
    Endpoint { name: NAME, method: Method::POST, path: PATH, access: Access::Public };

/// Both routes of the function.
pub const ENDPOINTS: [&Endpoint; 2] = [&VERIFY_ENDPOINT, &DELIVERY_ENDPOINT];

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    if req.method() == Method::GET {
        let limit = app.config.max_body_bytes;
        run_public_endpoint(app, &VERIFY_ENDPOINT, limit, req, |ctx| verify_subscription(app, ctx)).await
    } else {
        run_public_endpoint(app, &DELIVERY_ENDPOINT, leadgen::MAX_BODY_BYTES, req, |ctx| receive_delivery(app, ctx))
            .await
    }
}

async fn verify_subscription(app: &App, ctx: RequestCtx) -> Result<Reply, ApiError> {
    let expected = app.secrets().await?.get(SecretName::MetaWebhookVerifyToken);
    let challenge = leadgen::verify_subscription(&ctx.query, expected).map_err(WebhookError::counted)?;
    tracing::info!("Meta webhook subscription verified");
    Ok(Reply::text(challenge))
}

async fn receive_delivery(app: &App, ctx: RequestCtx) -> Result<Reply, ApiError> {
    let app_secret = app.required_secret(SecretName::MetaAppSecret).await?;
    let header = ctx.headers.get(leadgen::SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    leadgen::verify_signature(app_secret, &ctx.body, header).map_err(WebhookError::counted)?;
    let delivery = leadgen::parse_delivery(&ctx.body).map_err(WebhookError::counted)?;
    let report: DeliveryReport = leadgen::process_delivery(app.into(), delivery, ctx.now).await?;
    tracing::info!(
        received = report.received,
        created = report.created,
        duplicates = report.duplicates,
        unknown_page = report.unknown_page,
        invalid = report.invalid,
        awaiting_reconnect = report.awaiting_reconnect,
        failed = report.failed,
        pending = report.pending,
        "Meta lead-ads delivery processed"
    );
    // Follow-up scheduled and the lead handed to the CRM, once each. A failure answers 503: Meta
    // re-delivers, the leads are duplicates then, and the flow runs again (idempotent).
    let arrivals = meta_leads_arrived(app, &report.ingested, ctx.now).await;
    if arrivals.failed > 0 {
        return Err(ApiError::Unavailable {
            code: "leads_pending",
            message: format!("{} lead(s) not handed on yet; re-deliver", arrivals.failed),
            retry_after_secs: None,
        });
    }
    // Leads still open → 503: Meta re-delivers; the leads already settled are not fetched again.
    Reply::ok(&report.into_answer()?)
}

#[cfg(test)]
mod tests {

    use crm_shared::api::http::body_json;

    use crm_shared::testing::{unit_app, unit_request as req};

    use super::*;

    fn app() -> (App, crm_shared::api::app::InMemory) {
        unit_app(&[("META_APP_SECRET", "app-secret"), ("META_WEBHOOK_VERIFY_TOKEN", "verify-me")])
    }

    #[tokio::test]
    async fn handshake_with_our_token_echoes_the_challenge_as_plain_text() {
        let (app, _) = app();
        let uri = "/crm/webhooks/meta?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444";
        let resp = handle(&app, req("GET", uri, &[], "")).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.body().as_ref(), b"1158201444");
        assert!(resp.headers()["content-type"].to_str().expect("ascii").starts_with("text/plain"));
    }

    #[tokio::test]
    async fn handshake_with_a_wrong_token_is_403_json() {
        let (app, mem) = app();
        let uri = "/crm/webhooks/meta?hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1";
        let resp = handle(&app, req("GET", uri, &[], "")).await;
        assert_eq!(resp.status(), 403);
        assert_eq!(body_json(&resp)["error"]["code"], "verification_failed");
        assert_eq!(mem.audit.entries().len(), 1);
    }

    #[tokio::test]
    async fn delivery_without_a_valid_signature_is_401_before_any_parsing() {
        let (app, _) = app();
        let body = "{not even json";
        let missing = handle(&app, req("POST", "/crm/webhooks/meta", &[], body)).await;
        assert_eq!(
            (missing.status().as_u16(), body_json(&missing)["error"]["code"].clone()),
            (401, "missing_signature".into())
        );
        let forged = format!("sha256={}", "0".repeat(64));
        let resp = handle(&app, req("POST", "/crm/webhooks/meta", &[("x-hub-signature-256", &forged)], body)).await;
        assert_eq!(
            (resp.status().as_u16(), body_json(&resp)["error"]["code"].clone()),
            (401, "invalid_signature".into())
        );
    }

    #[tokio::test]
    async fn signed_malformed_json_is_400() {
        let (app, _) = app();
        let body = "{not json";
        let sig = leadgen::sign("app-secret", body.as_bytes());
        let resp = handle(&app, req("POST", "/crm/webhooks/meta", &[("x-hub-signature-256", &sig)], body)).await;
        assert_eq!(resp.status(), 400);
    }

    /// `WebhookRejections` lines with `Source=meta` captured so far (only this crate's tests run here).
    fn meta_rejections() -> usize {
        crm_shared::platform::metrics::captured()
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["Source"] == "meta" && v["WebhookRejections"] == 1.0)
            .inspect(|v| assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Dimensions"], serde_json::json!([["Source"]])))
            .count()
    }

    #[tokio::test]
    async fn forged_unsigned_malformed_and_wrong_token_requests_are_counted_as_rejections() {
        crm_shared::platform::metrics::start_capture();
        let (app, _) = app();
        let forged = format!("sha256={}", "0".repeat(64));
        let sig = leadgen::sign("app-secret", b"{not json");
        let requests = [
            req("POST", "/crm/webhooks/meta", &[], "{}"),
            req("POST", "/crm/webhooks/meta", &[("x-hub-signature-256", &forged)], "{}"),
            req("POST", "/crm/webhooks/meta", &[("x-hub-signature-256", &sig)], "{not json"),
            req("GET", "/crm/webhooks/meta?hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1", &[], ""),
        ];
        for r in requests {
            assert!(handle(&app, r).await.status().is_client_error());
        }
        assert!(meta_rejections() >= 4, "one line per refused request");
    }

    #[tokio::test]
    async fn bodies_over_the_webhook_limit_are_413() {
        let (app, _) = app();
        let body = "x".repeat(leadgen::MAX_BODY_BYTES + 1);
        let sig = leadgen::sign("app-secret", body.as_bytes());
        let resp = handle(&app, req("POST", "/crm/webhooks/meta", &[("x-hub-signature-256", &sig)], &body)).await;
        assert_eq!(resp.status(), 413);
    }

    fn signed_post(app_secret: &str, body: &str) -> Request {
        let sig = leadgen::sign(app_secret, body.as_bytes());
        req("POST", "/crm/webhooks/meta", &[("x-hub-signature-256", &sig)], body)
    }

    fn leadgen_delivery(page: &str, leadgen_ids: &[&str]) -> String {
        let changes: Vec<serde_json::Value> = leadgen_ids
            .iter()
            .map(|id| serde_json::json!({"field": "leadgen", "value": {"leadgen_id": id, "page_id": page, "form_id": "77"}}))
            .collect();
        serde_json::json!({"object": "page", "entry": [{"id": page, "time": 1, "changes": changes}]}).to_string()
    }

    #[tokio::test]
    async fn changes_for_a_page_no_tenant_owns_are_answered_200_and_open_nothing() {
        use crm_shared::store::leadgen_inbox::LeadInbox;
        let (app, mem) = app();
        let resp = handle(&app, signed_post("app-secret", &leadgen_delivery("100", &["11"]))).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(body_json(&resp)["data"]["unknown_page"], 1);
        let owner = crm_shared::domain::ids::TenantId(1);
        assert_eq!(mem.lead_inbox.get(owner, "11").await.expect("get"), None);
    }

    #[tokio::test]
    async fn leads_of_a_tenant_without_a_meta_connection_are_parked_and_answered_200() {
        use crm_shared::store::leadgen_inbox::{InboxStatus, LeadInbox};
        use crm_shared::store::pages::{PageIndex, PageOwner};
        let (app, mem) = unit_app(&[
            ("META_APP_ID", "app"),
            ("META_APP_SECRET", "app-secret"),
            ("META_WEBHOOK_VERIFY_TOKEN", "verify-me"),
        ]);
        let tenant = crm_shared::domain::ids::TenantId(1);
        let owner = PageOwner::new("100", tenant, "", app.clock.now());
        assert!(mem.pages.put_if_owner(&owner, tenant).await.expect("claim"));
        let resp = handle(&app, signed_post("app-secret", &leadgen_delivery("100", &["11", "12"]))).await;
        assert_eq!(resp.status(), 200, "{:?}", body_json(&resp));
        assert_eq!(body_json(&resp)["data"]["awaiting_reconnect"], 2);
        let parked = mem.lead_inbox.get(tenant, "12").await.expect("get").map(|i| i.status);
        assert_eq!(parked, Some(InboxStatus::AwaitingReconnect), "kept for the replay after reconnect");
    }

    #[tokio::test]
    async fn other_methods_are_405() {
        let (app, _) = app();
        assert_eq!(handle(&app, req("PUT", "/crm/webhooks/meta", &[], "")).await.status(), 405);
    }
}
