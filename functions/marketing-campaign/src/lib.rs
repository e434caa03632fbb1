//! `GET /crm/marketing/campaigns/{id}?time_range=`: one campaign's status and performance (Meta's
//! stored insights beside the CRM's numbers, spend converted into the reporting currency by day).
//! Stored data only; a non-numeric id or bad range → 400, a campaign with no numbers → 404.

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
    name: "marketing-campaign",
    method: Method::GET,
    path: "/crm/marketing/campaigns/{id}",
    access: Access::AnyRole,
};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    run_read_endpoint(app, &ENDPOINT, req, |ctx| detail(app, ctx)).await
}

async fn detail(app: &App, ctx: RequestCtx) -> Result<Reply, ApiError> {
    let (tenant, id) = (ctx.caller()?.tenant_id, ctx.path_param(ENDPOINT.path, "id").unwrap_or_default());
    Reply::ok(&load_campaign(app.into(), tenant, &id, &ctx.query, CampaignView::Detail, ctx.now).await?)
}

#[cfg(test)]
mod tests {
    use crm_shared::testing::{caller_request, unit_app};

    use super::*;

    #[tokio::test]
    async fn bad_ids_are_400_and_unknown_campaigns_404() {
        let (app, _) = unit_app(&[]);
        let get = |p: &str| caller_request("GET", p, 4, "setter", "");
        assert_eq!(handle(&app, get("/crm/marketing/campaigns/abc")).await.status(), 400);
        assert_eq!(handle(&app, get("/crm/marketing/campaigns/1?limit=2")).await.status(), 400);
        assert_eq!(handle(&app, get("/crm/marketing/campaigns/1?time_range=x")).await.status(), 400);
        assert_eq!(handle(&app, get("/crm/marketing/campaigns/123")).await.status(), 404);
    }
}
