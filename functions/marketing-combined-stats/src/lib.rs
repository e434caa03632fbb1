//! `GET /crm/marketing/combined-stats`: the dashboard's main load (Meta ROI, campaign and creative rows, connection; google.connected = false).
//!
//! Range from `time_range=` or `range=` (default `all`); the numbers come from the
//! tenant's aggregate and spend items (`Query` only, never a per-lead read), see
//! [`crm_shared::marketing::dashboard`].

use crm_shared::api::http::{run_endpoint, Endpoint};
use crm_shared::marketing::dashboard::{dashboard_reply, Dashboard};
use crm_shared::platform::auth::Access;
use crm_shared::App;
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};

pub const ENDPOINT: Endpoint = Endpoint {
    name: "marketing-combined-stats",
    method: Method::GET,
    path: "/crm/marketing/combined-stats",
    access: Access::AnyRole,
};

/// The range used when the request names none.
pub const DEFAULT_RANGE: &str = "all";

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    run_endpoint(app, &ENDPOINT, req, |ctx| dashboard_reply(app, ctx, DEFAULT_RANGE, Dashboard::combined_view)).await
}
