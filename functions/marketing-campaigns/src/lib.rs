//! `GET /crm/marketing/campaigns?status=&time_range=&limit=&offset=`: campaign rows sorted by
//! spend — Meta's stored insights (spend, impressions, clicks, CTR, CPC, CPM, Meta-reported leads)
//! beside the CRM's leads, opportunities, revenue, ROI and CPA, and the gap between Meta-reported
//! and CRM leads; spend billed in another currency converted by day (`marketing::fx`). Reads stored
//! data only (`marketing::dashboard`'s load and rows); bad parameters → 400. `data` is the array
//! of rows (FRONTEND-CONTRACT); `total`, `next_offset`, currency, period, FX and freshness are
//! top-level keys beside it.

use crm_shared::api::http::{run_read_endpoint, Endpoint, Reply, RequestCtx};
use crm_shared::api::wiring::Wiring;
use crm_shared::marketing::campaigns::{list_params, DEFAULT_RANGE};
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
    name: "marketing-campaigns",
    method: Method::GET,
    path: "/crm/marketing/campaigns",
    access: Access::AnyRole,
};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    run_read_endpoint(app, &ENDPOINT, req, |ctx| list(app, ctx)).await
}

async fn list(app: &App, ctx: RequestCtx) -> Result<Reply, ApiError> {
    let tenant = ctx.caller()?.tenant_id;
    let (params, range) = list_params(&ctx.query)?;
    let dashboard = load_dashboard(app.into(), tenant, &range, DEFAULT_RANGE, ctx.now).await?;
    let page = dashboard.campaigns_list(&params);
    let reply = Reply::ok(&page.rows)?;
    Ok(page.about.into_iter().fold(reply, |reply, (key, value)| reply.with_top_level(&key, value)))
}

#[cfg(test)]
mod tests {
    use crm_shared::api::http::body_json;
    use crm_shared::testing::{caller_request, unit_app};

    use super::*;

    #[tokio::test]
    async fn bad_parameters_are_400() {
        let (app, _) = unit_app(&[]);
        for q in
            ["status=running", "status=with_issues", "limit=0", "limit=x", "offset=-1", "time_range=forever", "nope=1"]
        {
            let resp =
                handle(&app, caller_request("GET", &format!("/crm/marketing/campaigns?{q}"), 4, "setter", "")).await;
            assert_eq!(resp.status(), 400, "{q}");
        }
        let resp =
            handle(&app, caller_request("GET", "/crm/marketing/campaigns?status=active&limit=5", 4, "setter", ""))
                .await;
        assert_eq!(resp.status(), 200);
        let body = body_json(&resp);
        assert_eq!(body["data"], serde_json::json!([]), "data is the array of rows");
        assert_eq!(
            (body["total"].clone(), body["next_offset"].clone()),
            (serde_json::json!(0), serde_json::Value::Null)
        );
        assert_eq!(body["status_filter"], "active");
    }
}
