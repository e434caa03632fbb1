//! `GET /crm/marketing/campaigns/{id}/insights?time_range=`: one campaign's rows per day (per
//! month for ranges longer than the daily series): Meta's stored insights beside the CRM's numbers
//! of the same day, spend converted at that day's rate. Stored data only; bad parameters → 400,
//! a campaign with no numbers in the period → 404.

use crm_shared::api::http::{run_read_endpoint, Endpoint, Reply, RequestCtx};
use crm_shared::api::wiring::Wiring;
use crm_shared::marketing::campaigns::{load_campaign, CampaignView};
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
    name: "marketing-campaign-insights",
    method: Method::GET,
    path: "/crm/marketing/campaigns/{id}/insights",
    access: Access::AnyRole,
};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    run_read_endpoint(app, &ENDPOINT, req, |ctx| insights(app, ctx)).await
}

async fn insights(app: &App, ctx: RequestCtx) -> Result<Reply, ApiError> {
    let (tenant, id) = (ctx.caller()?.tenant_id, ctx.path_param(ENDPOINT.path, "id").unwrap_or_default());
    Reply::ok(&load_campaign(app.into(), tenant, &id, &ctx.query, CampaignView::Insights, ctx.now).await?)
}

#[cfg(test)]
mod tests {
    use crm_shared::testing::{caller_request, unit_app};

    use super::*;

    #[tokio::test]
    async fn bad_parameters_are_400() {
        let (app, _) = unit_app(&[]);
        let get = |p: &str| caller_request("GET", p, 4, "setter", "");
        assert_eq!(handle(&app, get("/crm/marketing/campaigns/x1/insights")).await.status(), 400);
        assert_eq!(handle(&app, get("/crm/marketing/campaigns/1/insights?status=active")).await.status(), 400);
        assert_eq!(handle(&app, get("/crm/marketing/campaigns/1/insights?time_range=1y")).await.status(), 400);
        assert_eq!(handle(&app, get("/crm/marketing/campaigns/1/insights")).await.status(), 404);
    }
}
