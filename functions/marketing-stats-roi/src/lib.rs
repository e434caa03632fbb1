//! `GET /crm/marketing/stats/roi`: CPA, cost per opportunity, ROAS, ROI, LTV, attribution rule and per-campaign breakdown (plus the frontend's fields).
//!
//! Range from `time_range=` or `range=` (default `30d`); the numbers come from the
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
    name: "marketing-stats-roi",
    method: Method::GET,
    path: "/crm/marketing/stats/roi",
    access: Access::AnyRole,
};

/// The range used when the request names none.
pub const DEFAULT_RANGE: &str = "30d";

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    run_read_endpoint(app, &ENDPOINT, req, |ctx| view(app, ctx)).await
}

async fn view(app: &App, ctx: RequestCtx) -> Result<Reply, ApiError> {
    let tenant = ctx.caller()?.tenant_id;
    let dashboard = load_dashboard(app.into(), tenant, &ctx.query, DEFAULT_RANGE, ctx.now).await?;
    Reply::ok(&dashboard.roi_view(true))
}
