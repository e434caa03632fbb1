//! `POST /crm/auth/meta/disconnect`: best-effort `DELETE /me/permissions` at Meta, then the stored
//! connection is replaced by a tombstone (no stale writer can revive it) and its connected-index
//! entry deleted (also when Meta is unreachable; the response says whether Meta confirmed). A
//! newer login stored during the revocation is kept: 409 `meta_connection_changed`.

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
/// grants match). KMS opens the stored token (revocation, page release).
pub const WIRING: Wiring = Wiring { kms: true, bus: false };

pub const ENDPOINT: Endpoint = Endpoint {
    name: "meta-auth-disconnect",
    method: Method::POST,
    path: "/crm/auth/meta/disconnect",
    access: Access::Manage,
};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    run_endpoint(app, &ENDPOINT, req, |ctx| disconnect(app, ctx)).await
}

async fn disconnect(app: &App, ctx: RequestCtx) -> Result<Reply, ApiError> {
    let caller = ctx.caller()?;
    Reply::ok(&connect::disconnect(app.into(), caller.tenant_id, ctx.now).await?)
}
