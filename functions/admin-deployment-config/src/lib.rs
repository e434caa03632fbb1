//! `GET /admin/config/deployment`: `{company_name}` (plus reporting time zone and currency) of the
//! caller's tenant, from its stored profile. The frontend's connect wizard stops without it.

use crm_shared::api::http::{run_read_endpoint, Endpoint, Reply, RequestCtx};
use crm_shared::meta::connect;
use crm_shared::platform::auth::Access;
use crm_shared::platform::secrets::{SecretName, SecretNeeds};
use crm_shared::{ApiError, App};
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};

/// The secrets this function resolves; nothing else is read. The JWT key and admin token (its
/// routes authenticate callers).
pub const SECRETS: SecretNeeds = &[SecretName::JwtSecretKey, SecretName::AdminToken];

pub const ENDPOINT: Endpoint = Endpoint {
    name: "admin-deployment-config",
    method: Method::GET,
    path: "/admin/config/deployment",
    access: Access::AnyRole,
};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    run_read_endpoint(app, &ENDPOINT, req, |ctx| deployment(app, ctx)).await
}

async fn deployment(app: &App, ctx: RequestCtx) -> Result<Reply, ApiError> {
    let caller = ctx.caller()?;
    Reply::ok(&connect::deployment_config(app.profiles.as_ref(), caller.tenant_id).await?)
}

#[cfg(test)]
mod tests {

    use crm_shared::api::http::body_json;
    use crm_shared::domain::ids::TenantId;
    use crm_shared::store::TenantProfile;
    use crm_shared::testing::{caller_request, unit_app};

    use super::*;

    fn app() -> (App, crm_shared::api::app::InMemory) {
        unit_app(&[])
    }

    fn request(tenant: i64) -> Request {
        caller_request("GET", "/admin/config/deployment", tenant, "closer", "")
    }

    #[tokio::test]
    async fn when_profile_exists_should_serve_company_name_of_the_callers_tenant_only() {
        let (app, _) = app();
        let profile = TenantProfile {
            tenant_id: TenantId(3),
            display_name: "Ventas Norte".into(),
            reporting_time_zone: None,
            currency: crm_shared::domain::money::Currency::parse("MXN").ok(),
            updated_at: app.clock.now(),
        };
        app.profiles.put_profile(&profile).await.expect("put");
        let body = body_json(&handle(&app, request(3)).await);
        assert_eq!(body["data"]["company_name"], "Ventas Norte");
        assert_eq!(body["data"]["currency"], "MXN");
        let other = handle(&app, request(4)).await;
        assert_eq!(other.status(), 404);
        assert!(body_json(&other)["detail"].as_str().is_some_and(|d| d.contains("profile")));
    }
}
