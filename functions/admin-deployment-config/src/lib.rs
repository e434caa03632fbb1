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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::{TimeZone, Utc};
    use crm_shared::auth::sign_hs256;
    use crm_shared::clock::ManualClock;
    use crm_shared::config::Config;
    use crm_shared::http::body_json;
    use crm_shared::store::TenantProfile;
    use crm_shared::tenant::TenantId;
    use serde_json::json;

    use super::*;

    fn app() -> (App, crm_shared::app::InMemory) {
        let cfg = Config::from_lookup(|k| match k {
            "TABLE_NAME" => Some("t".into()),
            "JWT_SECRET_KEY" => Some("k".into()),
            "ADMIN_TOKEN" => Some("adm".into()),
            _ => None,
        })
        .expect("config");
        let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).single().expect("date")));
        App::in_memory(cfg, clock)
    }

    fn request(tenant: i64) -> Request {
        let jwt =
            sign_hs256(&json!({"user_id": "u", "role": "closer", "tenant_id": tenant, "exp": 4_000_000_000_i64}), b"k");
        lambda_http::http::Request::builder()
            .uri("/admin/config/deployment")
            .header("authorization", format!("Bearer {jwt}"))
            .header("x-admin-token", "adm")
            .body(Body::Empty)
            .expect("request")
    }

    #[tokio::test]
    async fn when_profile_exists_should_serve_company_name_of_the_callers_tenant_only() {
        let (app, _) = app();
        let profile = TenantProfile {
            tenant_id: TenantId(3),
            display_name: "Ventas Norte".into(),
            reporting_time_zone: None,
            currency: Some("MXN".into()),
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
