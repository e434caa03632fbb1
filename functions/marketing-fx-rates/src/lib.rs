//! `PUT /crm/marketing/fx-rates`: a tenant's manual exchange rates with effective dates, e.g.
//! `{"rates":[{"from":"USD","to":"ARS","rate":"1050.25","effective_from":"2026-11-01"}]}` (rate a
//! decimal string: units of `to` per unit of `from`, kept exactly as rate × 10^9). Every rate is
//! validated before any is written (400 with `detail`). The dashboard converts spend billed in
//! `from` into the reporting currency `to` at the rate effective on each spend day.

use crm_shared::api::http::{run_endpoint, Endpoint, Reply, RequestCtx};
use crm_shared::api::wiring::Wiring;
use crm_shared::marketing::fx::{rates_json, set_rates, SetRatesRequest};
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
    name: "marketing-fx-rates",
    method: Method::PUT,
    path: "/crm/marketing/fx-rates",
    access: Access::Manage,
};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    run_endpoint(app, &ENDPOINT, req, |ctx| put(app, ctx)).await
}

async fn put(app: &App, ctx: RequestCtx) -> Result<Reply, ApiError> {
    let caller = ctx.caller()?;
    let body: SetRatesRequest = ctx.json()?;
    let saved = set_rates(app.fx_rates.as_ref(), caller.tenant_id, &caller.user_id, body, ctx.now).await?;
    Reply::ok(&rates_json(&saved))
}

#[cfg(test)]
mod tests {
    use crm_shared::api::http::body_json;
    use crm_shared::domain::ids::TenantId;
    use crm_shared::domain::money::Currency;
    use crm_shared::store::fx_rates::FxRateStore;
    use crm_shared::testing::{caller_request, unit_app, unit_now};

    use super::*;

    const BODY: &str = r#"{"rates":[{"from":"USD","to":"ARS","rate":"1050.25","effective_from":"2026-11-01"}]}"#;

    #[tokio::test]
    async fn a_manager_sets_rates_exactly() {
        let (app, mem) = unit_app(&[]);
        let resp = handle(&app, caller_request("PUT", "/crm/marketing/fx-rates", 4, "marketing", BODY)).await;
        assert_eq!(resp.status(), 200);
        let body = body_json(&resp);
        assert_eq!(body["data"]["rates"][0]["rate"], "1050.25");
        assert_eq!(body["data"]["rates"][0]["rate_scaled"], 1_050_250_000_000_i64);
        let ars = Currency::parse("ARS").expect("ARS");
        let (stored, _) =
            mem.table.fx_rates(TenantId(4), Currency::USD, ars, unit_now().date_naive()).await.expect("read");
        assert_eq!(stored.len(), 1);
    }

    #[tokio::test]
    async fn bad_bodies_are_400_and_readers_403() {
        let (app, _) = unit_app(&[]);
        for bad in [
            r#"{"rates":[{"from":"USD","to":"ARS","rate":1050.25,"effective_from":"2026-11-01"}]}"#,
            r#"{"rates":[{"from":"USD","to":"ARS","rate":"abc","effective_from":"2026-11-01"}]}"#,
            r#"{"rates":[{"from":"USD","to":"ARS","rate":"1","effective_from":"01/11/2026"}]}"#,
            r#"{"rates":[]}"#,
        ] {
            let resp = handle(&app, caller_request("PUT", "/crm/marketing/fx-rates", 4, "admin", bad)).await;
            assert_eq!(resp.status(), 400, "{bad}");
            assert!(body_json(&resp)["detail"].as_str().is_some_and(|d| !d.is_empty()), "{bad}");
        }
        let resp = handle(&app, caller_request("PUT", "/crm/marketing/fx-rates", 4, "setter", BODY)).await;
        assert_eq!(resp.status(), 403);
    }
}
