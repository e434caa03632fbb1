//! `GET /crm/marketing/meta-portfolios`: `data` = `[{id, name}]`, every Business Manager of the
//! connected Meta user (`/me/businesses`, all pages).

use crm_shared::api::http::{run_endpoint, Endpoint, Reply, RequestCtx};
use crm_shared::api::wiring::Wiring;
use crm_shared::meta::connect;
use crm_shared::platform::auth::Access;
use crm_shared::platform::secrets::{SecretName, SecretNeeds};
use crm_shared::{ApiError, App};
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};

/// The secrets this function resolves; nothing else is read. The JWT key and admin token (its
/// routes authenticate callers) and the Meta app secret (Graph calls).
pub const SECRETS: SecretNeeds = &[SecretName::JwtSecretKey, SecretName::AdminToken, SecretName::MetaAppSecret];

/// The AWS clients built besides DynamoDB and Secrets Manager (`crm_shared::api::wiring`; IAM
/// grants match). KMS opens the stored token.
pub const WIRING: Wiring = Wiring { kms: true, bus: false };

pub const ENDPOINT: Endpoint = Endpoint {
    name: "meta-portfolios",
    method: Method::GET,
    path: "/crm/marketing/meta-portfolios",
    access: Access::AnyRole,
};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    run_endpoint(app, &ENDPOINT, req, |ctx| portfolios(app, ctx)).await
}

async fn portfolios(app: &App, ctx: RequestCtx) -> Result<Reply, ApiError> {
    let caller = ctx.caller()?;
    Reply::ok(&connect::list_portfolios(app.into(), caller.tenant_id, ctx.now).await?)
}
