//! The automation log as the API serves it (`GET /crm/marketing/automation-logs`): newest first,
//! `limit` ≤ 100, and an opaque, tamper-evident cursor — the last sort key read, HMAC-signed
//! together with the tenant (a cursor cannot be edited, nor replayed by another tenant) under a
//! [`CursorKey`] derived from the JWT key, never the JWT key itself (nothing signed with one can
//! pass for something signed with the other). `offset`
//! (the frontend client's) is accepted too, up to [`MAX_OFFSET`].

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;

use crate::domain::ids::TenantId;
use crate::platform::crypto::{constant_time_eq, hmac_sha256};
use crate::platform::error::{DomainError, Failure};
use crate::store::automation::log::{AutomationLog, LogEntry};
use crate::store::StoreError;

/// Entries a page holds without `limit` (the original design's default; the frontend's HSM page
/// computes its cards from the rows it gets).
pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 100;
pub const MAX_OFFSET: usize = 1_000;

#[derive(Debug, thiserror::Error)]
pub enum LogsError {
    #[error("{0}")]
    Invalid(String),
    #[error("cursor is invalid or was not issued for this tenant")]
    BadCursor,
    #[error("{0}")]
    Store(#[from] StoreError),
}

impl DomainError for LogsError {
    fn failure(&self) -> Failure {
        match self {
            Self::Invalid(_) | Self::BadCursor => Failure::BadRequest,
            Self::Store(e) => e.failure(),
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid_parameter",
            Self::BadCursor => "invalid_cursor",
            Self::Store(e) => e.code(),
        }
    }
}

/// The label the cursor key is derived under; a new version means a new key (old cursors refused).
const CURSOR_KEY_LABEL: &[u8] = b"automation-log-cursor/v1";

/// The key cursors are signed with: HMAC-SHA256(JWT key, [`CURSOR_KEY_LABEL`]), so the JWT key
/// itself never signs a cursor and a cursor never verifies under the JWT key.
pub struct CursorKey([u8; 32]);

impl CursorKey {
    pub fn derive(jwt_key: &[u8]) -> Self {
        Self(hmac_sha256(jwt_key, CURSOR_KEY_LABEL))
    }
}

fn mac(key: &CursorKey, tenant: TenantId, sk: &str) -> [u8; 32] {
    hmac_sha256(&key.0, format!("automation-log-cursor|{tenant}|{sk}").as_bytes())
}

/// The cursor after sort key `sk` for `tenant`.
pub fn encode_cursor(key: &CursorKey, tenant: TenantId, sk: &str) -> String {
    format!("{}.{}", URL_SAFE_NO_PAD.encode(sk), URL_SAFE_NO_PAD.encode(mac(key, tenant, sk)))
}

/// The sort key a cursor carries, if it is intact and `tenant`'s.
pub fn decode_cursor(key: &CursorKey, tenant: TenantId, cursor: &str) -> Result<String, LogsError> {
    let (sk, sig) = cursor.split_once('.').ok_or(LogsError::BadCursor)?;
    let sk = String::from_utf8(URL_SAFE_NO_PAD.decode(sk).map_err(|_| LogsError::BadCursor)?)
        .map_err(|_| LogsError::BadCursor)?;
    let sig = URL_SAFE_NO_PAD.decode(sig).map_err(|_| LogsError::BadCursor)?;
    if !constant_time_eq(&sig, &mac(key, tenant, &sk)) || !sk.starts_with(crate::store::keys::AUTOMATION_LOG_PREFIX) {
        return Err(LogsError::BadCursor);
    }
    Ok(sk)
}

/// One log entry in the frontend's shape (plus ours).
#[derive(Debug, Clone, Serialize)]
pub struct LogView {
    pub id: String,
    pub lead_name: Option<String>,
    pub trigger_type: String,
    pub status: String,
    pub created_at: String,
    pub updated_at: String,
    pub template_name: Option<String>,
    pub language: Option<String>,
    pub entity_id: String,
    pub phone: Option<String>,
    pub error: Option<String>,
    pub message_id: Option<String>,
    /// When an in-flight entry (`pending` / `retrying` / `unknown`) is tried next.
    pub next_attempt_at: Option<String>,
    pub status_history: Vec<serde_json::Value>,
}

impl From<LogEntry> for LogView {
    fn from(e: LogEntry) -> Self {
        Self {
            id: e.id,
            lead_name: e.lead_name,
            trigger_type: e.trigger.as_str().into(),
            status: e.status.as_str().into(),
            created_at: e.created_at.to_rfc3339(),
            updated_at: e.updated_at.to_rfc3339(),
            template_name: e.template,
            language: e.language,
            entity_id: e.entity_id,
            phone: e.phone_masked,
            error: e.reason,
            message_id: e.message_id,
            next_attempt_at: e.next_attempt_at.map(|t| t.to_rfc3339()),
            status_history: e
                .history
                .iter()
                .map(|h| serde_json::json!({"status": h.status.as_str(), "at": h.at.to_rfc3339()}))
                .collect(),
        }
    }
}

/// A page of the log and the cursor to the next (`None`: the end).
#[derive(Debug, Clone)]
pub struct LogsPage {
    pub entries: Vec<LogView>,
    pub next_cursor: Option<String>,
}

fn parse_usize(name: &str, v: Option<&str>) -> Result<Option<usize>, LogsError> {
    v.map(|s| s.parse::<usize>().map_err(|_| LogsError::Invalid(format!("{name} must be a non-negative integer"))))
        .transpose()
}

/// Reads a page for `tenant` (`limit`, `cursor`, `offset` as the query gave them).
pub async fn list(
    log: &dyn AutomationLog,
    cursor_key: &CursorKey,
    tenant: TenantId,
    limit: Option<&str>,
    cursor: Option<&str>,
    offset: Option<&str>,
) -> Result<LogsPage, LogsError> {
    let limit = parse_usize("limit", limit)?.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(LogsError::Invalid(format!("limit must be between 1 and {MAX_LIMIT}")));
    }
    let offset = parse_usize("offset", offset)?.unwrap_or(0);
    if offset > MAX_OFFSET {
        return Err(LogsError::Invalid(format!("offset must be at most {MAX_OFFSET}; use the cursor")));
    }
    let mut after = cursor.filter(|c| !c.is_empty()).map(|c| decode_cursor(cursor_key, tenant, c)).transpose()?;
    // Skip `offset` entries (bounded), then read the page.
    let mut to_skip = offset;
    while to_skip > 0 {
        let (skipped, next) = log.page(tenant, to_skip.min(MAX_LIMIT), after.as_deref()).await?;
        to_skip -= skipped.len().min(to_skip);
        match (next, skipped.is_empty()) {
            (Some(n), false) => after = Some(n),
            _ => return Ok(LogsPage { entries: vec![], next_cursor: None }),
        }
    }
    let (entries, next) = log.page(tenant, limit, after.as_deref()).await?;
    Ok(LogsPage {
        next_cursor: next.filter(|_| entries.len() == limit).map(|sk| encode_cursor(cursor_key, tenant, &sk)),
        entries: entries.into_iter().map(LogView::from).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_tamper_evident_and_bound_to_the_tenant() {
        let key = &CursorKey::derive(b"k");
        let c = encode_cursor(key, TenantId(1), "LOG#0000000000001#a");
        assert_eq!(decode_cursor(key, TenantId(1), &c).ok().as_deref(), Some("LOG#0000000000001#a"));
        assert!(decode_cursor(key, TenantId(2), &c).is_err(), "another tenant");
        assert!(decode_cursor(&CursorKey::derive(b"other"), TenantId(1), &c).is_err(), "another key");
        let forged = format!("{}.{}", URL_SAFE_NO_PAD.encode("LOG#9"), c.split_once('.').map_or("", |x| x.1));
        assert!(decode_cursor(key, TenantId(1), &forged).is_err());
        assert!(decode_cursor(key, TenantId(1), "garbage").is_err());
        let not_log = encode_cursor(key, TenantId(1), "HSM#RULES");
        assert!(decode_cursor(key, TenantId(1), &not_log).is_err());
    }

    #[test]
    fn a_cursor_signed_with_the_raw_jwt_key_is_refused() {
        let jwt = b"unit-jwt-key-at-least-32-bytes-long";
        let sk = "LOG#0000000000001#a";
        let raw_mac = hmac_sha256(jwt, format!("automation-log-cursor|{}|{sk}", TenantId(1)).as_bytes());
        let raw = format!("{}.{}", URL_SAFE_NO_PAD.encode(sk), URL_SAFE_NO_PAD.encode(raw_mac));
        let key = CursorKey::derive(jwt);
        assert!(matches!(decode_cursor(&key, TenantId(1), &raw), Err(LogsError::BadCursor)));
        assert_ne!(encode_cursor(&key, TenantId(1), sk), raw, "the derived key is not the JWT key");
    }
}
