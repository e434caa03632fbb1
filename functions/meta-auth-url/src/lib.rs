//! `GET /crm/auth/meta/url`: the Meta login-dialog URL for the caller's tenant.
//!
//! `data.auth_url` carries our own state (signed, bound to tenant + user, single-use, 10 minutes);
//! any `state` the frontend sends (`tenant_<x>`) is ignored on purpose. The response also sets
//! the login's browser binding: an HttpOnly, Secure, SameSite=Lax cookie scoped to the callback
//! path, carrying SHA-256 of the state's nonce, which the callback requires
//! (`crm_shared::meta::login_cookie` says where browsers keep and send it).

use crm_shared::api::http::{run_endpoint, Endpoint, Reply, RequestCtx};
use crm_shared::api::wiring::Wiring;
use crm_shared::meta::login;
use crm_shared::platform::auth::Access;
use crm_shared::platform::secrets::{SecretName, SecretNeeds};
use crm_shared::{ApiError, App};
use lambda_http::http::{header::SET_COOKIE, Method};
use lambda_http::{Body, Request, Response};

/// The secrets this function resolves; nothing else is read. The JWT key and admin token (its
/// routes authenticate callers) and the Meta app secret (Graph calls).
pub const SECRETS: SecretNeeds = &[SecretName::JwtSecretKey, SecretName::AdminToken, SecretName::MetaAppSecret];

/// The AWS clients built besides DynamoDB and Secrets Manager (`crm_shared::api::wiring`; IAM
/// grants match). Neither KMS nor the bus.
pub const WIRING: Wiring = Wiring::NONE;

pub const ENDPOINT: Endpoint =
    Endpoint { name: "meta-auth-url", method: Method::GET, path: "/crm/auth/meta/url", access: Access::Manage };

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    run_endpoint(app, &ENDPOINT, req, |ctx| login_url(app, ctx)).await
}

async fn login_url(app: &App, ctx: RequestCtx) -> Result<Reply, ApiError> {
    let caller = ctx.caller()?;
    let started = login::start_login(app.into(), caller, ctx.now).await?;
    Ok(Reply::ok(&started.url)?.with_header(SET_COOKIE, &started.set_cookie))
}
