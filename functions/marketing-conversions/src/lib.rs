//! `GET /crm/marketing/conversions` (any role) shows the tenant's Conversions API for CRM settings
//! — enabled, dataset, stage map, test event code — with whether events flow now (and if not,
//! why), counts per stage over 7 days and Meta's answer to the last batch; `PUT` (manage roles)
//! with `{"enabled", "dataset_id"?, "stages"?, "test_event_code"?, "lead_event_source"?}` saves
//! them after Meta confirms the dataset belongs to a selected ad account (400 otherwise; 409 when
//! Meta is not connected or another save came first; nothing stored on any refusal). See
//! [`crm_shared::meta::conversions`].

use crm_shared::api::http::{run_endpoint, run_read_endpoint, Endpoint, Reply, RequestCtx};
use crm_shared::api::wiring::Wiring;
use crm_shared::flows::conversions::{read_settings, save_settings};
use crm_shared::meta::conversions::settings::SettingsInput;
use crm_shared::platform::auth::Access;
use crm_shared::platform::secrets::{SecretName, SecretNeeds};
use crm_shared::{ApiError, App};
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};

/// The secrets this function resolves: the JWT key and admin token (callers), the app secret
/// (`appsecret_proof` on the dataset check).
pub const SECRETS: SecretNeeds = &[SecretName::JwtSecretKey, SecretName::AdminToken, SecretName::MetaAppSecret];

/// The AWS clients built besides DynamoDB and Secrets Manager (`crm_shared::api::wiring`; IAM
/// grants match). KMS opens the stored Meta token (the dataset check).
pub const WIRING: Wiring = Wiring { kms: true, bus: false };

const NAME: &str = "marketing-conversions";
const PATH: &str = "/crm/marketing/conversions";

pub const READ_ENDPOINT: Endpoint = Endpoint { name: NAME, method: Method::GET, path: PATH, access: Access::AnyRole };
pub const SAVE_ENDPOINT: Endpoint = Endpoint { name: NAME, method: Method::PUT, path: PATH, access: Access::Manage };

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    match *req.method() {
        Method::PUT => run_endpoint(app, &SAVE_ENDPOINT, req, |ctx| save(app, ctx)).await,
        _ => run_read_endpoint(app, &READ_ENDPOINT, req, |ctx| read(app, ctx)).await,
    }
}

async fn read(app: &App, ctx: RequestCtx) -> Result<Reply, ApiError> {
    Reply::ok(&read_settings(app, ctx.caller()?.tenant_id, ctx.now).await?)
}

async fn save(app: &App, ctx: RequestCtx) -> Result<Reply, ApiError> {
    let caller = ctx.caller()?;
    let input: SettingsInput = ctx.json()?;
    Reply::ok(&save_settings(app, caller.tenant_id, &caller.user_id, input, ctx.now).await?)
}

#[cfg(test)]
mod tests {
    use crm_shared::api::http::body_json;
    use crm_shared::domain::ids::TenantId;
    use crm_shared::testing::{caller_request, unit_app};

    use super::*;

    #[tokio::test]
    async fn any_role_reads_defaults_only_managers_save() {
        let (app, _) = unit_app(&[]);
        let resp = handle(&app, caller_request("GET", PATH, 7, "setter", "")).await;
        assert_eq!(resp.status(), 200);
        let data = &body_json(&resp)["data"];
        assert_eq!((data["enabled"].as_bool(), data["reason"].as_str()), (Some(false), Some("disabled")));
        assert_eq!(data["stages"]["sale_completed"], "Converted");
        let resp = handle(&app, caller_request("PUT", PATH, 7, "setter", r#"{"enabled":true}"#)).await;
        assert_eq!(resp.status(), 403);
    }

    #[tokio::test]
    async fn bad_settings_are_refused_before_meta_with_nothing_stored() {
        let (app, _) = unit_app(&[]);
        for bad in [
            r#"{"enabled":"yes"}"#,
            r#"{"enabled":true,"dataset_id":"12ab"}"#,
            r#"{"enabled":true,"test_event_code":"TEST 1"}"#,
            r#"{"enabled":true,"stages":{"sale_completed":""}}"#,
            r#"{"enabled":true,"stages":{"lead_status":{"Qualified!":"Qualified"}}}"#,
            r#"{"enabled":true,"stages":{"opportunity_created":"Converted"}}"#,
            r#"{"enabled":true,"extra":1}"#,
        ] {
            let resp = handle(&app, caller_request("PUT", PATH, 7, "admin", bad)).await;
            assert_eq!(resp.status(), 400, "{bad}: {:?}", body_json(&resp));
        }
        assert_eq!(app.conversions.settings_at(TenantId(7)).await.expect("read").0, None);
        // Valid, without a dataset: saved (nothing to check with Meta), and says why nothing flows.
        let resp = handle(&app, caller_request("PUT", PATH, 7, "admin", r#"{"enabled":true}"#)).await;
        assert_eq!(resp.status(), 200, "{:?}", body_json(&resp));
        assert_eq!(body_json(&resp)["data"]["reason"], "no_dataset");
    }
}
