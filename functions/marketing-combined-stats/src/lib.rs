//! `GET /crm/marketing/combined-stats`: the dashboard's main load (Meta ROI, campaign and creative rows, connection; google.connected = false).
//!
//! Range from `time_range=` or `range=` (default `all`); the numbers come from the
//! tenant's aggregate and spend items (`Query` only, never a per-lead read), see
//! [`crm_shared::marketing::dashboard`].

use crm_shared::api::http::{run_read_endpoint, Endpoint, Reply, RequestCtx};
use crm_shared::api::wiring::Wiring;
use crm_shared::marketing::dashboard::load_dashboard;
use crm_shared::platform::auth::Access;
use crm_shared::platform::secrets::{SecretName, SecretNeeds};
use crm_shared::{ApiError, App};
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};

/// The secrets this function resolves; nothing else is read. The JWT key and admin token (its
/// routes authenticate callers).
pub const SECRETS: SecretNeeds = &[SecretName::JwtSecretKey, SecretName::AdminToken];

/// The AWS clients built besides DynamoDB and Secrets Manager (`crm_shared::api::wiring`; IAM
/// grants match). Neither KMS nor the bus.
pub const WIRING: Wiring = Wiring::NONE;

pub const ENDPOINT: Endpoint = Endpoint {
    name: "marketing-combined-stats",
    method: Method::GET,
    path: "/crm/marketing/combined-stats",
    access: Access::AnyRole,
};

/// The range used when the request names none.
pub const DEFAULT_RANGE: &str = "all";

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    run_read_endpoint(app, &ENDPOINT, req, |ctx| view(app, ctx)).await
}

async fn view(app: &App, ctx: RequestCtx) -> Result<Reply, ApiError> {
    let tenant = ctx.caller()?.tenant_id;
    let dashboard = load_dashboard(app.into(), tenant, &ctx.query, DEFAULT_RANGE, ctx.now).await?;
    Reply::ok(&dashboard.combined_view())
}

#[cfg(test)]
mod tests {
    use crm_shared::api::http::body_json;
    use crm_shared::domain::ids::TenantId;
    use crm_shared::store::MetaConnection;
    use crm_shared::testing::{active_connection, caller_request, unit_app};

    use super::*;

    fn request(tenant: i64) -> Request {
        caller_request("GET", "/crm/marketing/combined-stats?time_range=last_30d", tenant, "setter", "")
    }

    #[tokio::test]
    async fn serves_the_roi_at_data_roi_and_meta_roi() {
        let (app, _) = unit_app(&[]);
        let resp = handle(&app, request(5)).await;
        assert_eq!(resp.status(), 200);
        let body = body_json(&resp);
        assert!(body["data"]["roi"].is_object(), "data.roi is the ROI object");
        assert_eq!(body["data"]["roi"], body["data"]["meta"]["roi"]);
        assert_eq!(body["data"]["roi"]["time_range"], "last_30d");
    }

    #[tokio::test]
    async fn a_connection_without_an_ad_account_is_connected_but_says_none_is_selected() {
        let (app, _) = unit_app(&[]);
        let now = app.clock.now();
        app.connections.put_connection(&active_connection(TenantId(5), now)).await.expect("put").expect("created");
        let body = body_json(&handle(&app, request(5)).await);
        let meta = &body["data"]["meta"];
        assert_eq!(
            (meta["meta_connected"].as_bool(), meta["ad_account_selected"].as_bool()),
            (Some(false), Some(false)),
            "the hub's 'account active' badge waits for an account"
        );
        assert_eq!(meta["connection"]["status"], "connected");
        assert_eq!(meta["connection"]["reason"], "no_ad_account_selected");

        let chosen = MetaConnection { ad_account_ids: vec!["act_1".into()], ..active_connection(TenantId(6), now) };
        app.connections.put_connection(&chosen).await.expect("put").expect("created");
        let meta = body_json(&handle(&app, request(6)).await)["data"]["meta"].clone();
        assert_eq!(meta["ad_account_selected"], true);
        assert_eq!(meta["meta_connected"], true);
        assert!(meta["connection"]["reason"].is_null());
    }
}
