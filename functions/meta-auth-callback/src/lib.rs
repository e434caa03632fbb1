//! `GET /crm/auth/meta/callback?code&state`: where Meta sends the admin's browser after login.
//!
//! No JWT (it is Meta's redirect): the signed, single-use state identifies tenant and user. Every
//! outcome is a 302 to `{FRONTEND_URL}/crm/marketing?success=connected` or `?error=<code>` —
//! never a JSON page, and never the code or the token anywhere.

use crm_shared::auth::Access;
use crm_shared::http::{run_endpoint, AuditNote, Endpoint, Reply, RequestCtx};
use crm_shared::meta_connect;
use crm_shared::{ApiError, App};
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};

pub const ENDPOINT: Endpoint = Endpoint {
    name: "meta-auth-callback",
    method: Method::GET,
    path: "/crm/auth/meta/callback",
    access: Access::Public,
};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    run_endpoint(app, &ENDPOINT, req, |ctx| callback(app, ctx)).await
}

async fn callback(app: &App, ctx: RequestCtx) -> Result<Reply, ApiError> {
    let outcome = meta_connect::complete_login(app, &ctx.query, ctx.now).await;
    if let Err(code) = outcome.result {
        tracing::info!(outcome = code, "Meta login failed");
    }
    let note = AuditNote { tenant_id: outcome.tenant_id, user_id: outcome.user_id, error_code: outcome.result.err() };
    Ok(Reply::redirect(meta_connect::frontend_redirect(&app.config.frontend_url, outcome.result)).with_audit(note))
}
