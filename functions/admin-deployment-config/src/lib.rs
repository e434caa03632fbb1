//! `GET /admin/config/deployment`: `{company_name}` (plus reporting time zone and currency) of the
//! caller's tenant, from its stored profile, or [`connect::DEFAULT_COMPANY_NAME`] without one
//! (`profile_stored: false`) — never a 404: the frontend's connect wizard stops on any error. The
//! wizard reads `company_name` at the top level of the body, so every key of `data` is served
//! there too (FRONTEND-CONTRACT).

use crm_shared::api::http::{run_read_endpoint, Endpoint, Reply, RequestCtx};
use crm_shared::api::wiring::Wiring;
use crm_shared::meta::connect;
use crm_shared::platform::auth::Access;
use crm_shared::platform::secrets::{SecretName, SecretNeeds};
use crm_shared::{ApiError, App};
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde_json::{Map, Value};

/// The secrets this function resolves; nothing else is read. The JWT key and admin token (its
/// routes authenticate callers).
pub const SECRETS: SecretNeeds = &[SecretName::JwtSecretKey, SecretName::AdminToken];

/// The AWS clients built besides DynamoDB and Secrets Manager (`crm_shared::api::wiring`; IAM
/// grants match). Neither KMS nor the bus.
pub const WIRING: Wiring = Wiring::NONE;

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
    let config = connect::deployment_config(app.profiles.as_ref(), caller.tenant_id).await?;
    let reply = Reply::ok(&config)?;
    let top_level = match serde_json::to_value(&config).map_err(ApiError::internal)? {
        Value::Object(keys) => keys,
        _ => Map::new(),
    };
    Ok(top_level.into_iter().fold(reply, |reply, (key, value)| reply.with_top_level(&key, value)))
}

#[cfg(test)]
mod tests {

    use crm_shared::api::http::body_json;
    use crm_shared::domain::ids::TenantId;
    use crm_shared::store::TenantProfile;
    use crm_shared::testing::{caller_request, unit_app};
    use serde_json::json;

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
        let resp = handle(&app, request(3)).await;
        assert_eq!(resp.status(), 200);
        let body = body_json(&resp);
        assert_eq!(body["data"]["company_name"], "Ventas Norte");
        assert_eq!(body["data"]["currency"], "MXN");
        assert_eq!(body["data"]["profile_stored"], true);
        // The wizard reads the top level of the body: every key of `data` is there too.
        for key in ["company_name", "tenant_id", "reporting_time_zone", "currency", "profile_stored"] {
            assert_eq!(body[key], body["data"][key], "{key}");
        }
        assert_eq!(body["success"], true, "the envelope is intact");
    }

    #[tokio::test]
    async fn when_no_profile_should_serve_the_default_name_not_404() {
        let (app, _) = app();
        let resp = handle(&app, request(4)).await;
        assert_eq!(resp.status(), 200);
        let body = body_json(&resp);
        assert_eq!(body["company_name"], connect::DEFAULT_COMPANY_NAME);
        assert_eq!(body["data"]["company_name"], connect::DEFAULT_COMPANY_NAME);
        assert_eq!((body["profile_stored"].clone(), body["tenant_id"].clone()), (json!(false), json!(4)));
        assert_eq!(body["currency"], Value::Null);
    }
}
