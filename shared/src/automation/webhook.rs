//! YCloud's webhook (`POST /crm/webhooks/ycloud`, FIELD-NOTES 15–16, 21):
//!
//! - `YCloud-Signature: t=<unix>,s=<hex>` = HMAC-SHA256 of `"{t}.{raw body}"` with the webhook
//!   secret, checked in constant time before anything is parsed; a timestamp more than 5 minutes
//!   away is refused — forged, stale or missing → 401 and nothing written (but the audit record);
//! - `whatsapp.message.updated`: the status moves the send's log entry forward only (found through
//!   the `externalId` → `SENT#` claim → `LOG#` entry, all under the tenant in the signed id);
//!   out-of-order and repeated deliveries change nothing backwards; each event id is recorded once;
//! - `whatsapp.inbound_message.received` that asks to stop (a text, button or interactive reply;
//!   `automation::stop_words`) opts the phone out in the tenant whose number it reached
//!   (`automation::inbound`), or — sent to the platform's shared number — in every tenant without
//!   its own number that messaged it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::automation::external_id::parse_external_id;
use crate::automation::ports::SendPorts;
use crate::domain::hsm::{LogStatus, Phone};
use crate::platform::crypto::verify_hmac_sha256_hex;
use crate::platform::error::{DomainError, Failure};
use crate::platform::metrics::{dims, names, MetricLine};
use crate::platform::telemetry::{bounded, peer_text};
use crate::store::automation::claims::ClaimState;
use crate::store::StoreError;

pub const SIGNATURE_HEADER: &str = "ycloud-signature";
/// Oldest (or furthest in the future) signature timestamp accepted.
pub const MAX_SKEW_SECS: i64 = 300;

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("missing or invalid YCloud-Signature")]
    BadSignature,
    #[error("YCloud-Signature timestamp is too old or in the future")]
    Stale,
    #[error("body is not a YCloud event: {0}")]
    Malformed(String),
    /// A status for a send not recorded yet (its claim is being settled): YCloud retries.
    #[error("the message's send is not recorded yet")]
    NotYetKnown,
    #[error("{0}")]
    Store(#[from] StoreError),
}

impl WebhookError {
    /// Counts a refused request — missing, forged or stale signature, a body that is not a YCloud
    /// event — in `WebhookRejections{Source=ycloud}`, and returns the error.
    pub fn counted(self) -> Self {
        if matches!(self, Self::BadSignature | Self::Stale | Self::Malformed(_)) {
            MetricLine::new().dimension(dims::SOURCE, "ycloud").count(names::WEBHOOK_REJECTIONS, 1).emit();
        }
        self
    }
}

impl DomainError for WebhookError {
    fn failure(&self) -> Failure {
        match self {
            Self::BadSignature | Self::Stale => Failure::Unauthorized,
            Self::Malformed(_) => Failure::BadRequest,
            Self::NotYetKnown => Failure::Unavailable { retry_after_secs: Some(10) },
            Self::Store(e) => e.failure(),
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::BadSignature => "invalid_signature",
            Self::Stale => "stale_signature",
            Self::Malformed(_) => "invalid_event",
            Self::NotYetKnown => "not_yet_known",
            Self::Store(e) => e.code(),
        }
    }
}

/// Checks `header` against `body` at `now`.
pub fn verify_signature(
    secret: &str,
    header: Option<&str>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), WebhookError> {
    let header = header.ok_or(WebhookError::BadSignature)?;
    let (mut t, mut sig) = (None, None);
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.trim().parse::<i64>().ok(),
            Some(("s", v)) => sig = Some(v.trim()),
            _ => {}
        }
    }
    let (t, sig) = (t.ok_or(WebhookError::BadSignature)?, sig.ok_or(WebhookError::BadSignature)?);
    let mut signed = format!("{t}.").into_bytes();
    signed.extend_from_slice(body);
    if !verify_hmac_sha256_hex(secret.as_bytes(), &signed, sig) {
        return Err(WebhookError::BadSignature);
    }
    if (now.timestamp() - t).abs() > MAX_SKEW_SECS {
        return Err(WebhookError::Stale);
    }
    Ok(())
}

/// What one delivery did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct WebhookOutcome {
    pub event_type: String,
    pub duplicate: bool,
    /// The log entry's status after the event (message updates).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Tenants in which the phone was opted out (inbound stop words).
    pub opted_out_tenants: usize,
}

/// Applies a verified delivery.
pub async fn process(ports: SendPorts<'_>, body: &[u8], now: DateTime<Utc>) -> Result<WebhookOutcome, WebhookError> {
    let ev: Value = serde_json::from_slice(body).map_err(|e| WebhookError::Malformed(peer_text(&e.to_string())))?;
    let id = ev["id"].as_str().filter(|s| !s.is_empty()).ok_or_else(|| WebhookError::Malformed("no id".into()))?;
    let kind = ev["type"].as_str().unwrap_or_default().to_string();
    let mut out = WebhookOutcome { event_type: peer_text(&kind), ..Default::default() };
    match kind.as_str() {
        "whatsapp.message.updated" => {
            let m = &ev["whatsappMessage"];
            let Some((tenant, trigger, entity)) = m["externalId"].as_str().and_then(parse_external_id) else {
                tracing::info!(event_id = %peer_text(id), "status of a message that is not ours; ignored");
                return Ok(out);
            };
            let status = match m["status"].as_str().unwrap_or_default() {
                "sent" => LogStatus::Sent,
                "delivered" => LogStatus::Delivered,
                "read" => LogStatus::Read,
                "failed" | "undelivered" => LogStatus::Failed,
                _ => return Ok(out), // accepted, …
            };
            let claim = ports.send_claims.get_claim(tenant, trigger, &entity).await?;
            let Some(log_sk) = claim.as_ref().and_then(|c| c.log_sk.clone()) else {
                return Err(WebhookError::NotYetKnown);
            };
            if let (Some(ours), Some(theirs)) = (claim.as_ref().and_then(|c| c.message_id.as_deref()), m["id"].as_str())
            {
                if ours != theirs {
                    tracing::warn!(event_id = %peer_text(id), "status for another message under our externalId; ignored");
                    return Ok(out);
                }
            }
            // A message whose send's outcome was unknown (the claim at rest, in doubt): this status
            // proves YCloud has it, so it is settled as sent and never looked up or resent again.
            if let (Some(c), Some(theirs)) = (claim.as_ref(), m["id"].as_str()) {
                if c.state != ClaimState::Sent && ports.send_claims.confirm_sent(c, &bounded(theirs, 64), now).await? {
                    if let Some(due) = ports.due.due_item(tenant, trigger, &entity).await? {
                        ports.due.replace(&due, None).await?;
                    }
                    tracing::info!(event_id = %peer_text(id), "a send in doubt settled by its status webhook");
                }
            }
            out.duplicate = !ports.automation_log.first_delivery(tenant, id, now).await?;
            let reason = m["errorCode"]
                .as_str()
                .map(|c| format!("{}: {}", bounded(c, 32), bounded(m["errorMessage"].as_str().unwrap_or(""), 120)));
            let entry = ports.automation_log.advance(tenant, &log_sk, status, now, reason.as_deref()).await?;
            out.status = entry.map(|e| e.status.as_str().to_string());
        }
        "whatsapp.inbound_message.received" => {
            let m = &ev["whatsappInboundMessage"];
            let Some(phone) = m["from"].as_str().and_then(|p| Phone::parse(p).ok()) else {
                return Ok(out);
            };
            let (tenants, words) = crate::automation::inbound::recipients(ports, m, &phone).await?;
            if crate::automation::stop_words::is_stop(m, &words) {
                for tenant in tenants {
                    ports.contacts.opt_out(tenant, phone.as_str(), "inbound stop word", now).await?;
                    out.opted_out_tenants += 1;
                }
                tracing::info!(
                    event_id = %peer_text(id),
                    tenants = out.opted_out_tenants,
                    "contact opted out by an inbound stop word"
                );
            }
        }
        _ => {}
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn sign(secret: &str, t: i64, body: &[u8]) -> String {
        let mut signed = format!("{t}.").into_bytes();
        signed.extend_from_slice(body);
        format!("t={t},s={}", hex::encode(crate::platform::crypto::hmac_sha256(secret.as_bytes(), &signed)))
    }

    #[test]
    fn signatures_are_checked_with_their_timestamp() {
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).single().unwrap_or_default();
        let body = br#"{"id":"evt_1"}"#;
        let t = now.timestamp();
        assert!(verify_signature("k", Some(&sign("k", t, body)), body, now).is_ok());
        assert!(matches!(verify_signature("k", Some(&sign("x", t, body)), body, now), Err(WebhookError::BadSignature)));
        assert!(matches!(
            verify_signature("k", Some(&sign("k", t, body)), b"{}", now),
            Err(WebhookError::BadSignature)
        ));
        assert!(matches!(verify_signature("k", Some(&sign("k", t - 301, body)), body, now), Err(WebhookError::Stale)));
        assert!(matches!(verify_signature("k", None, body, now), Err(WebhookError::BadSignature)));
        assert!(matches!(verify_signature("k", Some("t=abc,s=00"), body, now), Err(WebhookError::BadSignature)));
        // The timestamp is part of what is signed: moving it breaks the signature.
        let moved = sign("k", t - 1000, body).replace(&(t - 1000).to_string(), &t.to_string());
        assert!(matches!(verify_signature("k", Some(&moved), body, now), Err(WebhookError::BadSignature)));
    }

    #[tokio::test]
    async fn peer_fields_of_a_delivery_are_bounded_before_logs_and_answers() {
        use crate::platform::telemetry::PEER_TEXT_MAX_CHARS;
        let (app, _) = crate::testing::unit_app(&[]);
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).single().unwrap_or_default();
        let body = serde_json::json!({
            "id": "e".repeat(50_000),
            "type": "t".repeat(50_000),
            "whatsappMessage": {"externalId": "not-ours", "status": "sent"},
        });
        let out = process((&app).into(), body.to_string().as_bytes(), now).await.expect("accepted");
        assert_eq!(out.event_type.chars().count(), PEER_TEXT_MAX_CHARS + 1, "bounded, with the cut marked");
    }
}
