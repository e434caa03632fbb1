//! `POST /crm/marketing/connect`: `{account_id, account_name}` (the frontend's wizard) or
//! `{business_id, ad_account_ids}`. The ids must be among the accounts the stored token can see
//! (else 400 with `detail`); the tenant's reporting time zone and currency default to the primary
//! account's.

use crm_shared::api::http::{run_endpoint, Endpoint, Reply, RequestCtx};
use crm_shared::api::wiring::Wiring;
use crm_shared::meta::connect as connect_flow;
use crm_shared::meta::connect::ConnectRequest;
use crm_shared::platform::auth::Access;
use crm_shared::platform::secrets::{SecretName, SecretNeeds};
use crm_shared::{ApiError, App};
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};

/// The secrets this function resolves; nothing else is read. The JWT key and admin token (its
/// routes authenticate callers) and the Meta app secret (Graph calls).
pub const SECRETS: SecretNeeds = &[SecretName::JwtSecretKey, SecretName::AdminToken, SecretName::MetaAppSecret];

/// The AWS clients built besides DynamoDB and Secrets Manager (`crm_shared::api::wiring`; IAM
/// grants match). KMS opens the stored token and seals the claimed pages' tokens.
pub const WIRING: Wiring = Wiring { kms: true, bus: false };

pub const ENDPOINT: Endpoint =
    Endpoint { name: "meta-connect", method: Method::POST, path: "/crm/marketing/connect", access: Access::Manage };

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    run_endpoint(app, &ENDPOINT, req, |ctx| connect(app, ctx)).await
}

async fn connect(app: &App, ctx: RequestCtx) -> Result<Reply, ApiError> {
    let caller = ctx.caller()?;
    let body: ConnectRequest = ctx.json()?;
    Reply::ok(&connect_flow::select_accounts(app.into(), caller.tenant_id, body, ctx.now).await?)
}
