//! `GET /crm/marketing/token-status`: the Meta connection state of the caller's tenant.
//!
//! `data` carries the exact state (`connected` / `expired` / `missing`, expiry, scopes, selected
//! business and ad accounts); `needs_reconnect` and `days_left` are repeated at the top level for
//! the frontend's banner.

use crm_shared::api::http::{run_read_endpoint, Endpoint, Reply, RequestCtx};
use crm_shared::api::wiring::Wiring;
use crm_shared::domain::connection::{token_status, TokenStatus};
use crm_shared::meta::lead_ads_status::LeadAdsStatus;
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
    name: "meta-token-status",
    method: Method::GET,
    path: "/crm/marketing/token-status",
    access: Access::AnyRole,
};

/// `data`: the connection's state, and its pages and feature permissions (`lead_ads`; `null`
/// without a connection).
#[derive(serde::Serialize)]
struct StatusWithLeadAds<'a> {
    #[serde(flatten)]
    status: &'a TokenStatus,
    lead_ads: Option<LeadAdsStatus>,
}

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    run_read_endpoint(app, &ENDPOINT, req, |ctx| token_status_of_caller(app, ctx)).await
}

async fn token_status_of_caller(app: &App, ctx: RequestCtx) -> Result<Reply, ApiError> {
    let caller = ctx.caller()?;
    // One round trip: the connection and the pages are read at once.
    let (conn, pages) =
        tokio::join!(app.connections.get_connection(caller.tenant_id), app.pages.pages_of(caller.tenant_id));
    let (conn, pages) = (conn?, pages?);
    let status = token_status(conn.as_ref(), ctx.now);
    let lead_ads = conn.is_some().then(|| LeadAdsStatus::of(pages, &status.scopes));
    let data = StatusWithLeadAds { status: &status, lead_ads };
    Ok(Reply::ok(&data)?
        .with_top_level("needs_reconnect", json!(status.needs_reconnect))
        .with_top_level("days_left", json!(status.days_left)))
}

#[cfg(test)]
mod tests {

    use chrono::Duration;
    use crm_shared::api::http::body_json;
    use crm_shared::domain::ids::TenantId;
    use crm_shared::store::{ConnectionStatus, MetaConnection};
    use crm_shared::testing::{caller_request, unit_app};

    use super::*;

    fn app() -> (App, crm_shared::api::app::InMemory) {
        unit_app(&[])
    }

    fn request(tenant: i64) -> Request {
        caller_request("GET", "/crm/marketing/token-status", tenant, "setter", "")
    }

    #[tokio::test]
    async fn when_no_connection_should_report_missing() {
        let (app, mem) = app();
        let resp = handle(&app, request(7)).await;
        assert_eq!(resp.status(), 200);
        let body = body_json(&resp);
        assert_eq!(body["data"]["status"], "missing");
        assert_eq!(body["needs_reconnect"], false);
        assert_eq!(mem.audit.entries().len(), 1);
    }

    #[tokio::test]
    async fn when_connection_expires_in_three_days_should_warn() {
        let (app, _) = app();
        let now = app.clock.now();
        let conn = MetaConnection {
            tenant_id: TenantId(7),
            token_ciphertext_b64: "x".into(),
            status: ConnectionStatus::Active,
            meta_user_id: None,
            expires_at: Some(now + Duration::days(3) + Duration::hours(1)),
            data_access_expires_at: None,
            scopes: vec!["ads_read".into()],
            business_id: Some("b1".into()),
            business_name: None,
            ad_account_ids: vec!["act_1".into()],
            ad_account_name: None,
            connected_at: now,
            connected_by: "u".into(),
            updated_at: now,
            revision: None,
        };
        app.connections.put_connection(&conn).await.expect("put").expect("created");
        let body = body_json(&handle(&app, request(7)).await);
        assert_eq!(body["data"]["status"], "connected");
        assert_eq!(body["data"]["expires_soon"], true);
        assert_eq!(body["days_left"], 3);
        assert_eq!(body["needs_reconnect"], true);
        // Another tenant sees nothing of it.
        assert_eq!(body_json(&handle(&app, request(8)).await)["data"]["status"], "missing");
    }

    #[tokio::test]
    async fn when_no_ad_account_is_chosen_should_stay_connected_and_say_so() {
        let (app, _) = app();
        let conn = crm_shared::testing::active_connection(TenantId(7), app.clock.now());
        app.connections.put_connection(&conn).await.expect("put").expect("created");
        let body = body_json(&handle(&app, request(7)).await);
        assert_eq!(body["data"]["status"], "connected");
        assert_eq!(body["data"]["ad_account_selected"], false);
        assert_eq!(body["data"]["reason"], "no_ad_account_selected");
        assert!(body["data"]["message"].as_str().is_some_and(|m| m.contains("ad account")));
        assert_eq!(body["needs_reconnect"], false, "a reconnect would not help: choosing an account does");
    }
}
