//! `GET /crm/marketing/whatsapp` (any role) shows the tenant's WhatsApp connection — number,
//! WABA, status, masked key, last verified; `PUT` (manage roles) with
//! `{"api_key", "phone_number", "waba_id", "stop_words"?}` connects the tenant's own YCloud
//! account after verifying it with YCloud (bad key, number not in that WABA → 400 with `detail`;
//! number connected by another tenant → 409; YCloud down → 503; nothing stored on any refusal);
//! `DELETE` (manage roles) disconnects. The key is stored KMS-encrypted under the tenant's context
//! and never answered. See [`crm_shared::automation::whatsapp_connection`].

use crm_shared::api::http::{run_endpoint, run_read_endpoint, Endpoint, Reply, RequestCtx};
use crm_shared::api::wiring::Wiring;
use crm_shared::automation::whatsapp_connection::{self, ConnectInput};
use crm_shared::platform::auth::Access;
use crm_shared::platform::secrets::{SecretName, SecretNeeds};
use crm_shared::{ApiError, App};
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};

/// The secrets this function resolves; nothing else is read. The JWT key and admin token (its
/// routes authenticate callers); the tenant's YCloud key comes from its connection, not a secret.
pub const SECRETS: SecretNeeds = &[SecretName::JwtSecretKey, SecretName::AdminToken];

/// The AWS clients built besides DynamoDB and Secrets Manager (`crm_shared::api::wiring`; IAM
/// grants match). KMS seals the tenant's YCloud key and webhook secret.
pub const WIRING: Wiring = Wiring { kms: true, bus: false };

const NAME: &str = "whatsapp-connection";
const PATH: &str = "/crm/marketing/whatsapp";

pub const READ_ENDPOINT: Endpoint = Endpoint { name: NAME, method: Method::GET, path: PATH, access: Access::AnyRole };
pub const CONNECT_ENDPOINT: Endpoint = Endpoint { name: NAME, method: Method::PUT, path: PATH, access: Access::Manage };
pub const DISCONNECT_ENDPOINT: Endpoint =
    Endpoint { name: NAME, method: Method::DELETE, path: PATH, access: Access::Manage };

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    match *req.method() {
        Method::PUT => run_endpoint(app, &CONNECT_ENDPOINT, req, |ctx| connect(app, ctx)).await,
        Method::DELETE => run_endpoint(app, &DISCONNECT_ENDPOINT, req, |ctx| disconnect(app, ctx)).await,
        _ => run_read_endpoint(app, &READ_ENDPOINT, req, |ctx| read(app, ctx)).await,
    }
}

async fn read(app: &App, ctx: RequestCtx) -> Result<Reply, ApiError> {
    let conn = app.whatsapp.whatsapp_connection(ctx.caller()?.tenant_id).await?;
    Reply::ok(&whatsapp_connection::view(conn.as_ref()))
}

async fn connect(app: &App, ctx: RequestCtx) -> Result<Reply, ApiError> {
    let caller = ctx.caller()?;
    let input: ConnectInput = ctx.json()?;
    Reply::ok(&whatsapp_connection::connect(app.into(), caller.tenant_id, &caller.user_id, input, ctx.now).await?)
}

async fn disconnect(app: &App, ctx: RequestCtx) -> Result<Reply, ApiError> {
    let tenant = ctx.caller()?.tenant_id;
    Reply::ok(&whatsapp_connection::disconnect(app.into(), tenant).await?)
}

#[cfg(test)]
mod tests {
    use crm_shared::api::http::body_json;
    use crm_shared::domain::ids::TenantId;
    use crm_shared::testing::{caller_request, unit_app};

    use super::*;

    #[tokio::test]
    async fn any_role_reads_only_manage_roles_change() {
        let (app, _) = unit_app(&[]);
        let resp = handle(&app, caller_request("GET", PATH, 7, "setter", "")).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(body_json(&resp)["data"]["status"], "not_connected");
        let body = r#"{"api_key":"k","phone_number":"+5491155550101","waba_id":"w1"}"#;
        assert_eq!(handle(&app, caller_request("PUT", PATH, 7, "setter", body)).await.status(), 403);
        assert_eq!(handle(&app, caller_request("DELETE", PATH, 7, "setter", "")).await.status(), 403);
    }

    #[tokio::test]
    async fn malformed_connections_are_refused_before_ycloud_with_nothing_stored() {
        let (app, _) = unit_app(&[]);
        for bad in [
            r#"{"api_key":"","phone_number":"+5491155550101","waba_id":"w1"}"#,
            r#"{"api_key":"k","phone_number":"5491155550101","waba_id":"w1"}"#,
            r#"{"api_key":"k","phone_number":"+5491155550101","waba_id":"w 1"}"#,
            r#"{"api_key":"k","phone_number":"+5491155550101","waba_id":"w1","stop_words":["!!"]}"#,
            r#"{"api_key":"k","phone_number":"+5491155550101","waba_id":"w1","extra":1}"#,
        ] {
            let resp = handle(&app, caller_request("PUT", PATH, 7, "admin", bad)).await;
            assert_eq!(resp.status(), 400, "{bad}");
            assert!(body_json(&resp)["detail"].as_str().is_some_and(|d| !d.is_empty()), "{bad}");
        }
        assert_eq!(app.whatsapp.whatsapp_connection(TenantId(7)).await.expect("read"), None);
    }
}
