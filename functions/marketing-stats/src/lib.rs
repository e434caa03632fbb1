//! `GET /crm/marketing/stats`: leads, opportunities, sales, revenue, spend, CPA, ROAS, ROI %, conversion rates, daily series, freshness, Meta connection.
//!
//! Range from `time_range=` or `range=` (default `7d`); the numbers come from the
//! tenant's aggregate and spend items (`Query` only, never a per-lead read), see
//! [`crm_shared::marketing::dashboard`].

use crm_shared::api::http::{run_endpoint, Endpoint};
use crm_shared::marketing::dashboard::{dashboard_reply, Dashboard};
use crm_shared::platform::auth::Access;
use crm_shared::App;
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};

pub const ENDPOINT: Endpoint =
    Endpoint { name: "marketing-stats", method: Method::GET, path: "/crm/marketing/stats", access: Access::AnyRole };

/// The range used when the request names none.
pub const DEFAULT_RANGE: &str = "7d";

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    run_endpoint(app, &ENDPOINT, req, |ctx| dashboard_reply(app, ctx, DEFAULT_RANGE, Dashboard::stats_view)).await
}
