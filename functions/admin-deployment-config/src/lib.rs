//! `GET /admin/config/deployment`: `{company_name}` (plus reporting time zone and currency) of the
//! caller's tenant, from its stored profile. The frontend's connect wizard stops without it.

use crm_shared::auth::Access;
use crm_shared::http::{run_endpoint, Endpoint, Reply, RequestCtx};
use crm_shared::meta_connect;
use crm_shared::{ApiError, App};
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};

pub const ENDPOINT: Endpoint = Endpoint {
    name: "admin-deployment-config",
    method: Method::GET,
    path: "/admin/config/deployment",
    access: Access::AnyRole,
};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    run_endpoint(app, &ENDPOINT, req, |ctx| deployment(app, ctx)).await
}

async fn deployment(app: &App, ctx: RequestCtx) -> Result<Reply, ApiError> {
    let caller = ctx.caller()?;
    Reply::ok(&meta_connect::deployment_config(app, caller.tenant_id).await?)
}
