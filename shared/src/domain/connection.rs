//! The tenant's Meta connection: the stored record (`T#{tenant}` / `META#CONN`) and what it says
//! to the user — connected / expired / missing.
//!
//! Long-lived user tokens last ~60 days and cannot be refreshed once expired; data access lapses
//! ~90 days after the user was last active (FIELD-NOTES 12). So "expires soon" is surfaced a week
//! ahead and a token Meta rejected with code 190 is expired for good.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::ids::TenantId;

/// Whether the stored Meta token still works as far as we know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    Active,
    /// Meta answered code 190 for it: needs a new login, never retried.
    Invalid,
}

/// `T#{tenant}` / `META#CONN`: the tenant's Meta connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetaConnection {
    pub tenant_id: TenantId,
    /// KMS ciphertext (base64) of the long-lived token; context = tenant.
    pub token_ciphertext_b64: String,
    pub status: ConnectionStatus,
    #[serde(default)]
    pub meta_user_id: Option<String>,
    /// `None` for tokens that never expire (system-user tokens).
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub data_access_expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub business_id: Option<String>,
    #[serde(default)]
    pub business_name: Option<String>,
    #[serde(default)]
    pub ad_account_ids: Vec<String>,
    #[serde(default)]
    pub ad_account_name: Option<String>,
    pub connected_at: DateTime<Utc>,
    pub connected_by: String,
    pub updated_at: DateTime<Utc>,
    /// The optimistic-lock revision of the stored item this record was read from, and so the one
    /// a write of it expects to replace: `None` = nothing stored (a write creates the connection).
    /// Set by the store on reads; not an attribute of the record (the item keeps it as `rev`).
    /// Connection writes are conditional on it, so a stale writer (a webhook marking an old token
    /// expired, a slow OAuth callback) never overwrites a newer connection or revives a deleted one.
    #[serde(skip)]
    pub revision: Option<u64>,
}

/// Warn this long before expiry.
pub const EXPIRES_SOON: i64 = 7;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenState {
    Connected,
    Expired,
    Missing,
}

/// `reason` of a connected connection with no ad account chosen (a login whose wizard was
/// abandoned): nothing to sync or report until an account is selected.
pub const NO_AD_ACCOUNT_SELECTED: &str = "no_ad_account_selected";
const NO_AD_ACCOUNT_SELECTED_MESSAGE: &str =
    "Meta is connected but no ad account is selected yet: choose one to see spend and ROI";

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenStatus {
    pub status: TokenState,
    pub connected: bool,
    pub expires_at: Option<DateTime<Utc>>,
    pub expires_soon: bool,
    pub days_left: Option<i64>,
    pub data_access_expires_at: Option<DateTime<Utc>>,
    pub needs_reconnect: bool,
    pub scopes: Vec<String>,
    pub business_id: Option<String>,
    pub business_name: Option<String>,
    pub ad_account_ids: Vec<String>,
    pub ad_account_name: Option<String>,
    pub connected_at: Option<DateTime<Utc>>,
    /// Whether at least one ad account is chosen.
    pub ad_account_selected: bool,
    /// Why a `connected` connection does not work yet ([`NO_AD_ACCOUNT_SELECTED`]); `None` when it
    /// does, or when `status` already says it (expired, missing).
    pub reason: Option<&'static str>,
    /// `reason` for a person.
    pub message: Option<&'static str>,
}

pub fn token_status(conn: Option<&MetaConnection>, now: DateTime<Utc>) -> TokenStatus {
    let Some(c) = conn else {
        return TokenStatus {
            status: TokenState::Missing,
            connected: false,
            expires_at: None,
            expires_soon: false,
            days_left: None,
            data_access_expires_at: None,
            needs_reconnect: false,
            scopes: vec![],
            business_id: None,
            business_name: None,
            ad_account_ids: vec![],
            ad_account_name: None,
            connected_at: None,
            ad_account_selected: false,
            reason: None,
            message: None,
        };
    };
    let past = |t: Option<DateTime<Utc>>| t.is_some_and(|t| t <= now);
    let expired = c.status == ConnectionStatus::Invalid || past(c.expires_at) || past(c.data_access_expires_at);
    // The earliest of the two deadlines is the one that will break the dashboard.
    let deadline = match (c.expires_at, c.data_access_expires_at) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let days_left = if expired { Some(0) } else { deadline.map(|d| (d - now).num_days()) };
    let expires_soon = !expired && deadline.is_some_and(|d| d - now < Duration::days(EXPIRES_SOON));
    let ad_account_selected = !c.ad_account_ids.is_empty();
    let unselected = !expired && !ad_account_selected;
    TokenStatus {
        status: if expired { TokenState::Expired } else { TokenState::Connected },
        connected: !expired,
        expires_at: c.expires_at,
        expires_soon,
        days_left,
        data_access_expires_at: c.data_access_expires_at,
        needs_reconnect: expired || expires_soon,
        scopes: c.scopes.clone(),
        business_id: c.business_id.clone(),
        business_name: c.business_name.clone(),
        ad_account_ids: c.ad_account_ids.clone(),
        ad_account_name: c.ad_account_name.clone(),
        connected_at: Some(c.connected_at),
        ad_account_selected,
        reason: unselected.then_some(NO_AD_ACCOUNT_SELECTED),
        message: unselected.then_some(NO_AD_ACCOUNT_SELECTED_MESSAGE),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::ids::TenantId;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).single().expect("date")
    }

    fn conn(expires_in_days: Option<i64>) -> MetaConnection {
        MetaConnection {
            tenant_id: TenantId(1),
            token_ciphertext_b64: "x".into(),
            status: ConnectionStatus::Active,
            meta_user_id: None,
            expires_at: expires_in_days.map(|d| now() + Duration::days(d)),
            data_access_expires_at: None,
            scopes: vec!["ads_read".into()],
            business_id: None,
            business_name: None,
            ad_account_ids: vec!["act_1".into()],
            ad_account_name: None,
            connected_at: now() - Duration::days(1),
            connected_by: "u".into(),
            updated_at: now(),
            revision: None,
        }
    }

    #[test]
    fn missing_without_connection() {
        let s = token_status(None, now());
        assert_eq!(s.status, TokenState::Missing);
        assert!(!s.needs_reconnect);
    }

    #[test]
    fn connected_with_days_left() {
        let s = token_status(Some(&conn(Some(50))), now());
        assert_eq!(
            (s.status, s.days_left, s.expires_soon, s.needs_reconnect),
            (TokenState::Connected, Some(50), false, false)
        );
    }

    #[test]
    fn expires_soon_under_seven_days() {
        let s = token_status(Some(&conn(Some(3))), now());
        assert_eq!((s.status, s.expires_soon, s.needs_reconnect), (TokenState::Connected, true, true));
    }

    #[test]
    fn expired_after_expiry_or_after_190() {
        assert_eq!(token_status(Some(&conn(Some(-1))), now()).status, TokenState::Expired);
        let mut c = conn(Some(30));
        c.status = ConnectionStatus::Invalid;
        let s = token_status(Some(&c), now());
        assert_eq!((s.status, s.needs_reconnect, s.days_left), (TokenState::Expired, true, Some(0)));
    }

    #[test]
    fn never_expiring_system_user_token_is_connected() {
        let s = token_status(Some(&conn(None)), now());
        assert_eq!((s.status, s.days_left, s.expires_soon), (TokenState::Connected, None, false));
    }

    #[test]
    fn data_access_expiry_counts() {
        let mut c = conn(Some(50));
        c.data_access_expires_at = Some(now() + Duration::days(2));
        let s = token_status(Some(&c), now());
        assert_eq!((s.days_left, s.expires_soon), (Some(2), true));
        c.data_access_expires_at = Some(now() - Duration::days(1));
        assert_eq!(token_status(Some(&c), now()).status, TokenState::Expired);
    }

    #[test]
    fn connected_without_an_ad_account_says_so() {
        let s = token_status(Some(&conn(Some(50))), now());
        assert_eq!((s.ad_account_selected, s.reason, s.message), (true, None, None));
        let mut c = conn(Some(50));
        c.ad_account_ids.clear();
        let s = token_status(Some(&c), now());
        assert_eq!((s.status, s.connected, s.needs_reconnect), (TokenState::Connected, true, false));
        assert_eq!((s.ad_account_selected, s.reason), (false, Some(NO_AD_ACCOUNT_SELECTED)));
        assert!(s.message.is_some_and(|m| m.contains("ad account")));
        // Expired or missing: `status` says it, no second reason.
        c.status = ConnectionStatus::Invalid;
        let s = token_status(Some(&c), now());
        assert_eq!((s.status, s.ad_account_selected, s.reason), (TokenState::Expired, false, None));
        let s = token_status(None, now());
        assert_eq!((s.ad_account_selected, s.reason), (false, None));
    }
}
