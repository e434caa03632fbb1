//! `GET /crm/auth/meta/test-connection`: a live check that the tenant's Meta connection works —
//! `debug_token` on the stored token, then one read of the primary ad account with it.
//! `data` = `{connected, valid, status, needs_reconnect, checked_at, expires_at, missing_scopes,
//! ad_account_id, ad_account_reachable, message}`; never the token. Meta rejecting the token marks
//! the connection expired (token-status then says reconnect). Any CRM role may run it: it is a
//! read of the connection's health, as token-status is.

use crm_shared::api::http::{run_endpoint, Endpoint, Reply, RequestCtx};
use crm_shared::api::wiring::Wiring;
use crm_shared::meta::token_check;
use crm_shared::platform::auth::Access;
use crm_shared::platform::secrets::{SecretName, SecretNeeds};
use crm_shared::{ApiError, App};
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};

/// The secrets this function resolves; nothing else is read. The JWT key and admin token (its
/// route authenticates callers) and the Meta app secret (Graph calls).
pub const SECRETS: SecretNeeds = &[SecretName::JwtSecretKey, SecretName::AdminToken, SecretName::MetaAppSecret];

/// The AWS clients built besides DynamoDB and Secrets Manager (`crm_shared::api::wiring`; IAM
/// grants match). KMS opens the stored token and seals the claimed pages' tokens.
pub const WIRING: Wiring = Wiring { kms: true, bus: false };

pub const ENDPOINT: Endpoint = Endpoint {
    name: "meta-test-connection",
    method: Method::GET,
    path: "/crm/auth/meta/test-connection",
    access: Access::AnyRole,
};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    run_endpoint(app, &ENDPOINT, req, |ctx| test_connection(app, ctx)).await
}

async fn test_connection(app: &App, ctx: RequestCtx) -> Result<Reply, ApiError> {
    let caller = ctx.caller()?;
    Reply::ok(&token_check::test_connection(app.into(), caller.tenant_id, ctx.now).await?)
}

#[cfg(test)]
mod tests {
    use crm_shared::api::http::body_json;
    use crm_shared::testing::{caller_request, unit_app};

    use super::*;

    #[tokio::test]
    async fn when_meta_is_not_connected_should_answer_409_to_any_role() {
        let (app, mem) = unit_app(&[]);
        for role in ["setter", "ceo"] {
            let resp = handle(&app, caller_request("GET", ENDPOINT.path, 7, role, "")).await;
            assert_eq!(resp.status(), 409, "{role}");
            let body = body_json(&resp);
            assert_eq!(body["error"]["code"], "meta_not_connected");
            assert!(body["detail"].as_str().is_some_and(|d| d.contains("connect")));
        }
        assert_eq!(mem.audit.entries().len(), 2, "each check is audited");
    }
}
