//! `GET /crm/marketing/meta-datasets` (manage roles): the datasets (pixels) the tenant's selected
//! Meta ad accounts can send conversions to (`GET /{act}/adspixels` with the connection's user
//! token), each once, with the ad account it came from — what `PUT /crm/marketing/conversions`
//! chooses from. Meta not connected or expired → 409; see [`crm_shared::flows::conversions`].

use crm_shared::api::http::{run_read_endpoint, Endpoint, Reply, RequestCtx};
use crm_shared::api::wiring::Wiring;
use crm_shared::flows::conversions::datasets;
use crm_shared::platform::auth::Access;
use crm_shared::platform::secrets::{SecretName, SecretNeeds};
use crm_shared::{ApiError, App};
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};

/// The secrets this function resolves: the JWT key and admin token (callers), the app secret
/// (`appsecret_proof` on the Graph call).
pub const SECRETS: SecretNeeds = &[SecretName::JwtSecretKey, SecretName::AdminToken, SecretName::MetaAppSecret];

/// The AWS clients built besides DynamoDB and Secrets Manager (`crm_shared::api::wiring`; IAM
/// grants match). KMS opens the stored Meta token.
pub const WIRING: Wiring = Wiring { kms: true, bus: false };

pub const ENDPOINT: Endpoint = Endpoint {
    name: "meta-datasets",
    method: Method::GET,
    path: "/crm/marketing/meta-datasets",
    access: Access::Manage,
};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    run_read_endpoint(app, &ENDPOINT, req, |ctx| list(app, ctx)).await
}

async fn list(app: &App, ctx: RequestCtx) -> Result<Reply, ApiError> {
    let found = datasets(app, ctx.caller()?.tenant_id, ctx.now).await?;
    Reply::ok(&serde_json::json!({ "datasets": found }))
}

#[cfg(test)]
mod tests {
    use crm_shared::api::http::body_json;
    use crm_shared::testing::{caller_request, unit_app};

    use super::*;

    #[tokio::test]
    async fn only_managers_list_and_an_unconnected_tenant_is_told_to_connect() {
        let (app, _) = unit_app(&[]);
        let resp = handle(&app, caller_request("GET", ENDPOINT.path, 7, "setter", "")).await;
        assert_eq!(resp.status(), 403);
        let resp = handle(&app, caller_request("GET", ENDPOINT.path, 7, "admin", "")).await;
        assert_eq!(resp.status(), 409);
        assert_eq!(body_json(&resp)["error"]["code"], "meta_not_connected", "{:?}", body_json(&resp));
    }
}
