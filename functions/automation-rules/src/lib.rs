//! `GET /crm/marketing/automation/rules` (any role) and `POST`/`PUT` with `{"rules": [...]}`
//! (manage roles): the tenant's WhatsApp automation rules, every trigger listed with its counts.
//! A save is validated (unknown trigger, negative delay, empty template, template not found at
//! the tenant's WhatsApp account, a template variable without a CRM field → 400 with `detail`) and answers the saved rules;
//! a save that lost a race to another one since its read answers 409 `conflict` (nothing written). See [`crm_shared::automation::rules`].

use crm_shared::api::http::{run_endpoint, run_read_endpoint, Endpoint, Reply, RequestCtx};
use crm_shared::api::wiring::Wiring;
use crm_shared::automation::rules::{self, RulesInput};
use crm_shared::automation::senders::{account_for, templates_of};
use crm_shared::platform::auth::Access;
use crm_shared::platform::secrets::{SecretName, SecretNeeds};
use crm_shared::{ApiError, App};
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};

/// The secrets this function resolves; nothing else is read. The JWT key and admin token (its
/// routes authenticate callers) and the YCloud API key.
pub const SECRETS: SecretNeeds = &[SecretName::JwtSecretKey, SecretName::AdminToken, SecretName::YcloudApiKey];

/// The AWS clients built besides DynamoDB and Secrets Manager (`crm_shared::api::wiring`; IAM
/// grants match). KMS opens the tenant's YCloud key (the template check).
pub const WIRING: Wiring = Wiring { kms: true, bus: false };

const NAME: &str = "automation-rules";
const PATH: &str = "/crm/marketing/automation/rules";

pub const READ_ENDPOINT: Endpoint = Endpoint { name: NAME, method: Method::GET, path: PATH, access: Access::AnyRole };
pub const CREATE_ENDPOINT: Endpoint = Endpoint { name: NAME, method: Method::POST, path: PATH, access: Access::Manage };
pub const UPDATE_ENDPOINT: Endpoint = Endpoint { name: NAME, method: Method::PUT, path: PATH, access: Access::Manage };

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    match *req.method() {
        Method::POST => run_endpoint(app, &CREATE_ENDPOINT, req, |ctx| save(app, ctx)).await,
        Method::PUT => run_endpoint(app, &UPDATE_ENDPOINT, req, |ctx| save(app, ctx)).await,
        _ => run_read_endpoint(app, &READ_ENDPOINT, req, |ctx| read(app, ctx)).await,
    }
}

async fn read(app: &App, ctx: RequestCtx) -> Result<Reply, ApiError> {
    Reply::ok(&rules::read(app.automation_rules.as_ref(), ctx.caller()?.tenant_id).await?)
}

async fn save(app: &App, ctx: RequestCtx) -> Result<Reply, ApiError> {
    let caller = ctx.caller()?;
    let input: RulesInput = ctx.json()?;
    let Some(account) = account_for(app.into(), caller.tenant_id).await? else {
        return Err(rules::RulesError::Invalid("connect WhatsApp first (PUT /crm/marketing/whatsapp)".into()).into());
    };
    let templates = templates_of(&account).await.map_err(rules::RulesError::from)?;
    let store = app.automation_rules.as_ref();
    let read = store.rules_at(caller.tenant_id).await?;
    let set = rules::save(store, caller.tenant_id, read, input, &templates, &caller.user_id, ctx.now).await?;
    tracing::info!(tenant_id = caller.tenant_id.0, rules = set.rules.len(), "automation rules saved");
    Reply::ok(&rules::read(app.automation_rules.as_ref(), caller.tenant_id).await?)
}

#[cfg(test)]
mod tests {
    use crm_shared::testing::caller_request;

    use super::*;

    #[tokio::test]
    async fn any_role_reads_only_manage_roles_change() {
        let (app, _) = crm_shared::testing::unit_app(&[]);
        let resp = handle(&app, caller_request("GET", PATH, 7, "setter", "")).await;
        assert_eq!(resp.status(), 200);
        let body = r#"{"rules":[{"trigger_type":"lead_followup","template_name":"x"}]}"#;
        for method in ["POST", "PUT"] {
            let resp = handle(&app, caller_request(method, PATH, 7, "setter", body)).await;
            assert_eq!(resp.status(), 403, "{method}");
        }
    }
}
