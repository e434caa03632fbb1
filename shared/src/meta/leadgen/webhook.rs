//! The webhook's edge: Meta's subscription handshake, the `X-Hub-Signature-256` check over the
//! raw body (before anything is parsed; FIELD-NOTES 13), and parsing a delivery into its distinct
//! `leadgen` changes. Nothing here touches storage or Graph; its failures are [`WebhookError`]s.

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::Value;

use crate::domain::ids::is_meta_id;
use crate::platform::crypto::{constant_time_eq, hmac_sha256, verify_hmac_sha256_hex};
use crate::platform::error::{DomainError, Failure};
use crate::platform::metrics::{dims, names, MetricLine};
use crate::platform::secrets::SecretString;
use crate::platform::telemetry::peer_text;

/// Largest delivery accepted: Meta batches up to 1,000 changes (~250 B each) per delivery.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Header Meta signs deliveries with.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// Why a webhook call is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// Wrong mode or verify token (or none configured): 403.
    #[error("webhook verification failed")]
    VerificationFailed,
    #[error("hub.challenge is missing or not a plain token")]
    InvalidChallenge,
    #[error("the webhook signature is missing or does not match the body")]
    MissingSignature,
    #[error("the webhook signature is missing or does not match the body")]
    InvalidSignature,
    #[error("webhook body is not a Meta delivery: {0}")]
    InvalidJson(String),
    /// Leads still open after processing: a non-2xx answer makes Meta re-deliver them.
    #[error("{0} lead(s) could not be processed yet; re-deliver")]
    LeadsPending(usize),
}

impl WebhookError {
    /// Counts a refused request — wrong verify token or challenge, missing or forged signature,
    /// a body that is not a delivery — in `WebhookRejections{Source=meta}` (leads still pending
    /// are not a rejection), and returns the error.
    pub fn counted(self) -> Self {
        if !matches!(self, Self::LeadsPending(_)) {
            MetricLine::new().dimension(dims::SOURCE, "meta").count(names::WEBHOOK_REJECTIONS, 1).emit();
        }
        self
    }
}

impl DomainError for WebhookError {
    fn failure(&self) -> Failure {
        match self {
            Self::VerificationFailed => Failure::Forbidden,
            Self::InvalidChallenge | Self::InvalidJson(_) => Failure::BadRequest,
            Self::MissingSignature | Self::InvalidSignature => Failure::Unauthorized,
            Self::LeadsPending(_) => Failure::Unavailable { retry_after_secs: Some(60) },
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::VerificationFailed => "verification_failed",
            Self::InvalidChallenge => "invalid_challenge",
            Self::MissingSignature => "missing_signature",
            Self::InvalidSignature => "invalid_signature",
            Self::InvalidJson(_) => "invalid_json",
            Self::LeadsPending(_) => "leads_pending",
        }
    }
}

// ------------------------------------------------------------------------------------ handshake

/// The `GET` handshake: `hub.mode=subscribe` and a `hub.verify_token` equal (constant time) to
/// ours → the `hub.challenge` to echo; anything else → 403.
pub fn verify_subscription(
    query: &[(String, String)],
    expected: Option<&SecretString>,
) -> Result<String, WebhookError> {
    let param = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let Some(expected) = expected.filter(|e| !e.expose().is_empty()) else {
        tracing::error!("META_WEBHOOK_VERIFY_TOKEN is not configured; refusing the subscription handshake");
        return Err(WebhookError::VerificationFailed);
    };
    if param("hub.mode") != Some("subscribe") {
        return Err(WebhookError::VerificationFailed);
    }
    let token = param("hub.verify_token").unwrap_or("");
    if !constant_time_eq(token.as_bytes(), expected.expose().as_bytes()) {
        return Err(WebhookError::VerificationFailed);
    }
    // Meta's challenge is a number; anything else is not echoed back into a response body.
    let challenge = param("hub.challenge").unwrap_or("");
    if challenge.is_empty()
        || challenge.len() > 256
        || !challenge.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Err(WebhookError::InvalidChallenge);
    }
    Ok(challenge.to_string())
}

// ------------------------------------------------------------------------------------ signature

/// The hex digest of `X-Hub-Signature-256: sha256=<64 hex>`, or `None` when malformed.
pub fn parse_signature(header: &str) -> Option<&str> {
    let hex = header.trim().strip_prefix("sha256=")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

/// Whether `header` is Meta's signature of exactly `body` under the app secret (constant time).
pub fn signature_is_valid(app_secret: &SecretString, body: &[u8], header: Option<&str>) -> bool {
    match header.and_then(parse_signature) {
        Some(hex) => verify_hmac_sha256_hex(app_secret.expose().as_bytes(), body, hex),
        None => false,
    }
}

/// `sha256=<hex>` as Meta sends it (for the sandbox and tests).
pub fn sign(app_secret: &str, body: &[u8]) -> String {
    format!("sha256={}", hex::encode(hmac_sha256(app_secret.as_bytes(), body)))
}

/// Checks a delivery's signature header against its raw body: missing → `missing_signature`,
/// present but not ours → `invalid_signature` (both 401, nothing else looked at).
pub fn verify_signature(app_secret: &SecretString, body: &[u8], header: Option<&str>) -> Result<(), WebhookError> {
    match header {
        _ if signature_is_valid(app_secret, body, header) => Ok(()),
        Some(_) => Err(WebhookError::InvalidSignature),
        None => Err(WebhookError::MissingSignature),
    }
}

// -------------------------------------------------------------------------------------- payload

/// One `leadgen` change of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadgenChange {
    pub leadgen_id: String,
    pub page_id: String,
    pub form_id: Option<String>,
    pub ad_id: Option<String>,
    /// Epoch seconds Meta put in the change (used when the lead itself has no time).
    pub created_time: Option<i64>,
}

/// A parsed delivery: the distinct leadgen changes, and how many changes were not usable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    pub changes: Vec<LeadgenChange>,
    /// Changes of other fields (not `leadgen`), ignored.
    pub other_fields: usize,
    /// `leadgen` changes with missing/non-numeric ids or whose `page_id` is not the entry's.
    pub invalid: usize,
}

#[derive(Deserialize)]
struct RawDelivery {
    object: String,
    #[serde(default)]
    entry: Vec<RawEntry>,
}

#[derive(Deserialize)]
struct RawEntry {
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    changes: Vec<RawChange>,
}

#[derive(Deserialize)]
struct RawChange {
    #[serde(default)]
    field: String,
    #[serde(default)]
    value: Value,
}

/// Meta sends ids as strings (and as numbers in its dashboard's test deliveries).
fn id_of(v: Option<&Value>) -> Option<String> {
    let s = match v? {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.as_u64()?.to_string(),
        _ => return None,
    };
    is_meta_id(&s).then_some(s)
}

/// Parses a delivery's JSON. Malformed JSON or a body that is not a delivery → 400; changes that
/// are unusable one by one are counted and skipped; the same leadgen id twice is kept once.
pub fn parse_delivery(body: &[u8]) -> Result<Delivery, WebhookError> {
    let raw: RawDelivery =
        serde_json::from_slice(body).map_err(|e| WebhookError::InvalidJson(peer_text(&e.to_string())))?;
    let mut out = Delivery::default();
    if raw.object != "page" {
        out.other_fields = raw.entry.iter().map(|e| e.changes.len()).sum();
        return Ok(out);
    }
    let mut seen = BTreeSet::new();
    for entry in raw.entry {
        let entry_page = id_of(entry.id.as_ref());
        for change in entry.changes {
            if change.field != "leadgen" {
                out.other_fields += 1;
                continue;
            }
            let v = &change.value;
            let (Some(leadgen_id), Some(page_id)) = (id_of(v.get("leadgen_id")), id_of(v.get("page_id"))) else {
                out.invalid += 1;
                continue;
            };
            // The entry is the page the delivery is about; a change naming another page is not trusted.
            if entry_page.as_deref() != Some(page_id.as_str()) {
                out.invalid += 1;
                continue;
            }
            if !seen.insert(leadgen_id.clone()) {
                continue;
            }
            out.changes.push(LeadgenChange {
                leadgen_id,
                page_id,
                form_id: id_of(v.get("form_id")),
                ad_id: id_of(v.get("ad_id")),
                created_time: v.get("created_time").and_then(Value::as_i64),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::platform::error::ApiError;

    fn status(e: WebhookError) -> u16 {
        ApiError::from(e).status().as_u16()
    }

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn handshake_echoes_the_challenge_only_for_subscribe_with_our_token() {
        let ours = SecretString::new("verify-me");
        let ok = q(&[("hub.mode", "subscribe"), ("hub.verify_token", "verify-me"), ("hub.challenge", "1158201444")]);
        assert_eq!(verify_subscription(&ok, Some(&ours)).expect("ok"), "1158201444");
        let wrong = q(&[("hub.mode", "subscribe"), ("hub.verify_token", "nope"), ("hub.challenge", "1")]);
        assert_eq!(status(verify_subscription(&wrong, Some(&ours)).expect_err("403")), 403);
        let mode = q(&[("hub.mode", "unsubscribe"), ("hub.verify_token", "verify-me"), ("hub.challenge", "1")]);
        assert_eq!(status(verify_subscription(&mode, Some(&ours)).expect_err("403")), 403);
        assert_eq!(status(verify_subscription(&ok, None).expect_err("unset")), 403);
        let html = q(&[("hub.mode", "subscribe"), ("hub.verify_token", "verify-me"), ("hub.challenge", "<script>")]);
        assert_eq!(status(verify_subscription(&html, Some(&ours)).expect_err("400")), 400);
    }

    #[test]
    fn signature_header_must_be_sha256_and_64_hex() {
        let hex = "a".repeat(64);
        assert_eq!(parse_signature(&format!("sha256={hex}")), Some(hex.as_str()));
        assert_eq!(parse_signature(&format!("sha1={hex}")), None);
        assert_eq!(parse_signature("sha256=abc"), None);
        assert_eq!(parse_signature(&format!("sha256={}", "z".repeat(64))), None);
        assert_eq!(parse_signature(""), None);
    }

    #[test]
    fn signature_covers_the_exact_raw_body() {
        let secret = SecretString::new("app-secret");
        let body = br#"{"object":"page","entry":[]}"#;
        let sig = sign("app-secret", body);
        assert!(signature_is_valid(&secret, body, Some(&sig)));
        assert!(!signature_is_valid(&secret, br#"{"object":"page","entry":[] }"#, Some(&sig)));
        assert!(!signature_is_valid(&SecretString::new("other"), body, Some(&sig)));
        assert!(!signature_is_valid(&secret, body, None));
        assert!(!signature_is_valid(&secret, body, Some(sig.trim_start_matches("sha256="))));
    }

    fn change(leadgen: Value, page: Value) -> Value {
        json!({"field": "leadgen", "value": {"leadgen_id": leadgen, "page_id": page, "form_id": "77", "ad_id": "55", "adgroup_id": "66", "created_time": 1_795_000_000}})
    }

    #[test]
    fn delivery_keeps_distinct_leadgen_changes_of_their_own_page() {
        let body = json!({"object": "page", "entry": [
            {"id": "100", "time": 1, "changes": [change(json!("1"), json!("100")), change(json!(2), json!(100)), change(json!("1"), json!("100"))]},
            {"id": "100", "time": 1, "changes": [change(json!("3"), json!("999")), {"field": "feed", "value": {}}, change(json!("x1"), json!("100"))]},
        ]});
        let d = parse_delivery(body.to_string().as_bytes()).expect("parses");
        let ids: Vec<&str> = d.changes.iter().map(|c| c.leadgen_id.as_str()).collect();
        assert_eq!(ids, vec!["1", "2"]);
        assert_eq!((d.invalid, d.other_fields), (2, 1));
        assert_eq!(d.changes[0].form_id.as_deref(), Some("77"));
        assert_eq!(d.changes[0].created_time, Some(1_795_000_000));
    }

    #[test]
    fn a_full_delivery_of_1000_changes_fits_the_body_limit_and_parses() {
        let changes: Vec<Value> = (0..1000u64)
            .map(|i| change(json!((1_100_000_000_000_000u64 + i).to_string()), json!("1080000000000001")))
            .collect();
        let body =
            json!({"object": "page", "entry": [{"id": "1080000000000001", "time": 1_795_000_000, "changes": changes}]})
                .to_string();
        assert!(body.len() < MAX_BODY_BYTES / 2, "{} bytes", body.len());
        assert!(body.len() > 65_536, "the default MAX_BODY_BYTES would refuse it");
        assert_eq!(parse_delivery(body.as_bytes()).expect("parses").changes.len(), 1000);
    }

    #[test]
    fn malformed_or_foreign_bodies() {
        assert_eq!(status(parse_delivery(b"{not json").expect_err("400")), 400);
        assert_eq!(status(parse_delivery(b"[]").expect_err("400")), 400);
        let other = parse_delivery(
            br#"{"object":"instagram","entry":[{"id":"1","changes":[{"field":"comments","value":{}}]}]}"#,
        )
        .expect("ok");
        assert!(other.changes.is_empty());
    }

    #[test]
    fn refusals_keep_their_status_and_code() {
        let sig = sign("app-secret", b"{}");
        let secret = SecretString::new("app-secret");
        assert_eq!(verify_signature(&secret, b"{}", Some(&sig)), Ok(()));
        assert_eq!(verify_signature(&secret, b"{}", None), Err(WebhookError::MissingSignature));
        assert_eq!(verify_signature(&secret, b"{ }", Some(&sig)), Err(WebhookError::InvalidSignature));
        for (e, code) in [
            (WebhookError::MissingSignature, "missing_signature"),
            (WebhookError::InvalidSignature, "invalid_signature"),
        ] {
            let api = ApiError::from(e);
            assert_eq!((api.status().as_u16(), api.code()), (401, code));
        }
        let pending = ApiError::from(WebhookError::LeadsPending(2));
        assert_eq!(
            (pending.status().as_u16(), pending.code(), pending.retry_after()),
            (503, "leads_pending", Some(60))
        );
        assert_eq!(pending.body()["detail"], "2 lead(s) could not be processed yet; re-deliver");
    }

    #[test]
    fn a_malformed_delivery_error_never_carries_the_whole_peer_value() {
        use crate::platform::telemetry::PEER_TEXT_MAX_CHARS;
        let body = json!({"object": "page", "entry": "x".repeat(500_000)}).to_string();
        let Err(WebhookError::InvalidJson(message)) = parse_delivery(body.as_bytes()) else {
            panic!("a string entry is not a delivery");
        };
        assert!(message.chars().count() <= PEER_TEXT_MAX_CHARS + 1, "{} chars", message.len());
    }
}
