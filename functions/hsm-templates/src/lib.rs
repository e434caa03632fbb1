//! `GET /crm/marketing/hsm/templates`: the WhatsApp templates of the caller's tenant's WhatsApp
//! Business Account (its own connection, or the platform's account in a single-business
//! deployment; `data`: array of `{id, name, category, language, status, components}`; empty when
//! WhatsApp is not connected), cached in the container per WABA for [`CACHE_TTL`] so the rules
//! page can pick from it without hitting YCloud on every render. Paging stops at
//! [`crm_shared::automation::ycloud::TEMPLATES_BUDGET`] (inside the function's 10 s): the pages
//! read by then are answered (not cached), 503 `ycloud_unavailable` if none was.

use crm_shared::api::http::{run_endpoint, Endpoint, Reply, RequestCtx};
use crm_shared::api::wiring::Wiring;
use crm_shared::automation::rules::RulesError;
use crm_shared::automation::senders::{account_for, templates_listed};
use crm_shared::platform::auth::Access;
use crm_shared::platform::secrets::{SecretName, SecretNeeds};
use crm_shared::{ApiError, App};
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde_json::{json, Value};

/// The secrets this function resolves; nothing else is read. The JWT key and admin token (its
/// routes authenticate callers) and the YCloud API key.
pub const SECRETS: SecretNeeds = &[SecretName::JwtSecretKey, SecretName::AdminToken, SecretName::YcloudApiKey];

/// The AWS clients built besides DynamoDB and Secrets Manager (`crm_shared::api::wiring`; IAM
/// grants match). KMS opens the tenant's YCloud key.
pub const WIRING: Wiring = Wiring { kms: true, bus: false };

pub use crm_shared::automation::senders::TEMPLATE_CACHE_TTL as CACHE_TTL;

pub const ENDPOINT: Endpoint = Endpoint {
    name: "hsm-templates",
    method: Method::GET,
    path: "/crm/marketing/hsm/templates",
    access: Access::AnyRole,
};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    run_endpoint(app, &ENDPOINT, req, |ctx| list(app, ctx)).await
}

async fn list(app: &App, ctx: RequestCtx) -> Result<Reply, ApiError> {
    let tenant = ctx.caller()?.tenant_id;
    let Some(account) = account_for(app.into(), tenant).await? else {
        return Reply::ok(&Vec::<Value>::new());
    };
    let (templates, complete) = templates_listed(&account).await.map_err(RulesError::from)?;
    if !complete {
        tracing::warn!(tenant_id = tenant.0, read = templates.len(), "template list cut at its time budget");
    }
    let data: Vec<Value> = templates
        .iter()
        .map(|t| {
            json!({
                "id": format!("{}:{}", t.name, t.language), "name": t.name, "category": t.category,
                "language": t.language, "status": t.status, "components": t.components,
            })
        })
        .collect();
    Reply::ok(&data)
}
