//! `POST /crm/webhooks/ycloud`: YCloud's webhook (no JWT: the `YCloud-Signature` authenticates
//! YCloud). The signature (HMAC-SHA256 of `"{t}.{raw body}"`, constant time, ≤ 5 minutes old) is
//! checked before anything is acted on — forged, stale or missing → 401 and nothing written but the
//! audit record. The secret is the one of the tenant whose number the delivery names, when it set
//! one for its own YCloud account's webhook endpoint, else the platform's
//! ([`crm_shared::automation::inbound::signing_secret`]). Message statuses move the automation log forward only (duplicates and
//! out-of-order deliveries change nothing backwards); an inbound stop word opts the contact out.
//! See [`crm_shared::automation::webhook`]. It answers at once (no call to YCloud), well inside
//! YCloud's few seconds.

use crm_shared::api::http::{run_public_endpoint, Endpoint, Reply, RequestCtx};
use crm_shared::api::wiring::Wiring;
use crm_shared::automation::inbound::signing_secret;
use crm_shared::automation::webhook::{self, WebhookError, SIGNATURE_HEADER};
use crm_shared::platform::auth::Access;
use crm_shared::platform::secrets::{SecretName, SecretNeeds};
use crm_shared::{ApiError, App};
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};

/// The secrets this function resolves; nothing else is read. Public (YCloud calls it; deliveries
/// are signed): only the platform's signing secret (tenants' own come from their connections).
pub const SECRETS: SecretNeeds = &[SecretName::YcloudWebhookSecret];

/// The AWS clients built besides DynamoDB and Secrets Manager (`crm_shared::api::wiring`; IAM
/// grants match). KMS opens tenants' webhook signing secrets.
pub const WIRING: Wiring = Wiring { kms: true, bus: false };

pub const ENDPOINT: Endpoint =
    Endpoint { name: "ycloud-webhook", method: Method::POST, path: "/crm/webhooks/ycloud", access: Access::Public };

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    run_public_endpoint(app, &ENDPOINT, app.config.max_body_bytes, req, |ctx| receive(app, ctx)).await
}

async fn receive(app: &App, ctx: RequestCtx) -> Result<Reply, ApiError> {
    let secret = match signing_secret(app.into(), &ctx.body).await? {
        Some(tenant_secret) => tenant_secret,
        None => match app.secrets().await?.get(SecretName::YcloudWebhookSecret) {
            Some(platform) => platform.clone(),
            None => return Err(WebhookError::BadSignature.counted().into()),
        },
    };
    let header = ctx.headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    webhook::verify_signature(secret.expose(), header, &ctx.body, ctx.now).map_err(WebhookError::counted)?;
    let outcome = webhook::process(app.into(), &ctx.body, ctx.now).await.map_err(WebhookError::counted)?;
    tracing::info!(event_type = %outcome.event_type, duplicate = outcome.duplicate, status = ?outcome.status, "YCloud delivery");
    Reply::ok(&outcome)
}

#[cfg(test)]
mod tests {
    use crm_shared::api::http::body_json;
    use crm_shared::testing::{unit_app, unit_request};

    use super::*;

    #[tokio::test]
    async fn forged_and_missing_signatures_are_401_with_nothing_written() {
        let (app, mem) = unit_app(&[("YCLOUD_WEBHOOK_SECRET", "s")]);
        let body = r#"{"id":"evt_1","type":"whatsapp.inbound_message.received","whatsappInboundMessage":{"from":"+5491155550101","text":{"body":"STOP"}}}"#;
        for headers in [vec![], vec![("ycloud-signature", "t=1,s=00")]] {
            let mut h = vec![("content-type", "application/json")];
            h.extend(headers);
            let resp = handle(&app, unit_request("POST", "/crm/webhooks/ycloud", &h, body)).await;
            assert_eq!(resp.status(), 401, "{}", body_json(&resp));
        }
        assert!(!app
            .contacts
            .is_opted_out(crm_shared::domain::ids::TenantId(1), "+5491155550101")
            .await
            .expect("read"));
        assert_eq!(mem.audit.entries().len(), 2, "only the audit records");
    }

    #[tokio::test]
    async fn forged_stale_and_malformed_deliveries_are_counted_as_rejections() {
        crm_shared::platform::metrics::start_capture();
        let (app, _) = unit_app(&[("YCLOUD_WEBHOOK_SECRET", "s")]);
        let now = app.clock.now().timestamp();
        let sign = |t: i64, body: &str| {
            let mac = crm_shared::platform::crypto::hmac_sha256(b"s", format!("{t}.{body}").as_bytes());
            format!("t={t},s={}", mac.iter().map(|b| format!("{b:02x}")).collect::<String>())
        };
        let (stale, malformed) = (sign(now - 3_600, "{}"), sign(now, "[1]"));
        let cases =
            [(None, "{}"), (Some("t=1,s=00"), "{}"), (Some(stale.as_str()), "{}"), (Some(malformed.as_str()), "[1]")];
        for (sig, body) in cases {
            let mut h = vec![("content-type", "application/json")];
            h.extend(sig.map(|s| ("ycloud-signature", s)));
            let resp = handle(&app, unit_request("POST", "/crm/webhooks/ycloud", &h, body)).await;
            assert!(resp.status().is_client_error(), "{sig:?}: {}", body_json(&resp));
        }
        let lines: Vec<serde_json::Value> = crm_shared::platform::metrics::captured()
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .filter(|v: &serde_json::Value| v["Source"] == "ycloud" && v["WebhookRejections"] == 1.0)
            .collect();
        assert!(lines.len() >= 4, "one line per refused delivery: {lines:?}");
    }
}
