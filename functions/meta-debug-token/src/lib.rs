//! `GET /crm/auth/meta/debug/token`: what Meta's `debug_token` says about the tenant's stored
//! token right now — `data` = `{valid, status, needs_reconnect, checked_at, app_id,
//! app_id_matches, meta_user_id, scopes, missing_scopes, expires_at, data_access_expires_at,
//! marked_expired}`; never the token or its `appsecret_proof`. Meta calling the token invalid
//! marks the connection expired (token-status then says reconnect).
//!
//! Every role (FRONTEND-CONTRACT: "reading: any of them"), like `/crm/auth/meta/test-connection`
//! and token-status: it tells which Meta user granted which permissions to which app, and names
//! no secret. Acting on it (reconnecting) is for the roles that manage the connection.

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
    name: "meta-debug-token",
    method: Method::GET,
    path: "/crm/auth/meta/debug/token",
    // FRONTEND-CONTRACT: "reading: any of them" — the facts name no secret.
    access: Access::AnyRole,
};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    run_endpoint(app, &ENDPOINT, req, |ctx| debug_token(app, ctx)).await
}

async fn debug_token(app: &App, ctx: RequestCtx) -> Result<Reply, ApiError> {
    let caller = ctx.caller()?;
    Reply::ok(&token_check::check_token(app.into(), caller.tenant_id, ctx.now).await?)
}

#[cfg(test)]
mod tests {
    use crm_shared::api::http::body_json;
    use crm_shared::testing::{caller_request, unit_app};

    use super::*;

    #[tokio::test]
    async fn when_meta_is_not_connected_should_answer_409() {
        let (app, _) = unit_app(&[]);
        for role in ["ceo", "admin", "marketing", "setter", "closer", "secretary", "professional"] {
            let resp = handle(&app, caller_request("GET", ENDPOINT.path, 7, role, "")).await;
            assert_eq!(resp.status(), 409, "{role}");
            assert_eq!(body_json(&resp)["error"]["code"], "meta_not_connected");
        }
    }
}
