//! The OAuth `state` of the Meta login: unguessable, signed, bound to tenant + user, short-lived
//! and single-use (replacing the seed's predictable `tenant_{id}`).
//!
//! Wire form: `{nonce}.{tenant}.{user_b64url}.{expires_unix}.{sig_b64url}` where `nonce` is 32
//! random bytes and `sig = HMAC-SHA256(key, "v1\n{nonce}\n{tenant}\n{user}\n{expires}")`, the key
//! being derived from the Meta app secret with a domain label. The signature is checked before any
//! database access; the stored item `OAUTH#{nonce}` / `OAUTH` (with TTL) is then consumed by a
//! conditional delete that also requires the same tenant and user, so a state works once.
//! DynamoDB TTL deletes lazily (and moto never), so the expiry is always checked by us too.

use base64::Engine;
use chrono::{DateTime, Duration, TimeZone, Utc};
use rand::RngCore;

use crate::domain::ids::TenantId;
use crate::platform::auth::B64URL;
use crate::platform::crypto::{constant_time_eq, hmac_sha256};
use crate::platform::secrets::SecretString;
pub use crate::store::oauth_states::{OAuthStateStore, StoredState};

/// A state is valid this long (Meta's dialog plus the user's thinking time).
pub const STATE_TTL_SECS: i64 = 600;

const DOMAIN: &[u8] = b"crm-marketing/meta-oauth-state/v1";

/// The signing key, derived so the app secret is never used raw for a second purpose.
#[derive(Clone)]
pub struct StateKey([u8; 32]);

impl std::fmt::Debug for StateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateKey(<redacted>)")
    }
}

impl StateKey {
    pub fn derive(secret: &SecretString) -> Self {
        Self(hmac_sha256(secret.expose().as_bytes(), DOMAIN))
    }
}

/// What a valid state proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateClaims {
    pub nonce: String,
    pub tenant_id: TenantId,
    pub user_id: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("state is malformed")]
    Malformed,
    #[error("state signature is invalid")]
    BadSignature,
    #[error("state has expired")]
    Expired,
    /// Unknown nonce, already used, or bound to another tenant/user.
    #[error("state was already used or is unknown")]
    NotFound,
}

fn signature(key: &StateKey, nonce: &str, tenant: TenantId, user: &str, expires: i64) -> [u8; 32] {
    hmac_sha256(&key.0, format!("v1\n{nonce}\n{tenant}\n{user}\n{expires}").as_bytes())
}

/// Signs claims into the wire form (the nonce is the caller's: see [`issue`]).
pub fn sign(key: &StateKey, claims: &StateClaims) -> String {
    let exp = claims.expires_at.timestamp();
    let sig = signature(key, &claims.nonce, claims.tenant_id, &claims.user_id, exp);
    format!(
        "{}.{}.{}.{}.{}",
        claims.nonce,
        claims.tenant_id,
        B64URL.encode(claims.user_id.as_bytes()),
        exp,
        B64URL.encode(sig)
    )
}

/// A fresh state for `tenant`/`user`, valid [`STATE_TTL_SECS`] from `now`.
pub fn issue(key: &StateKey, tenant: TenantId, user: &str, now: DateTime<Utc>) -> (String, StateClaims) {
    let mut nonce = [0u8; 32];
    rand::rng().fill_bytes(&mut nonce);
    let claims = StateClaims {
        nonce: B64URL.encode(nonce),
        tenant_id: tenant,
        user_id: user.to_string(),
        expires_at: now + Duration::seconds(STATE_TTL_SECS),
    };
    (sign(key, &claims), claims)
}

/// Checks form, signature and expiry (no database access).
pub fn verify(key: &StateKey, state: &str, now: DateTime<Utc>) -> Result<StateClaims, StateError> {
    if state.len() > 512 {
        return Err(StateError::Malformed);
    }
    let parts: Vec<&str> = state.split('.').collect();
    let [nonce, tenant, user_b64, exp, sig] = parts.as_slice() else {
        return Err(StateError::Malformed);
    };
    let nonce_ok = B64URL.decode(nonce).is_ok_and(|n| n.len() == 32);
    let tenant: TenantId = tenant.parse().map_err(|_| StateError::Malformed)?;
    let user = B64URL.decode(user_b64).ok().and_then(|u| String::from_utf8(u).ok()).ok_or(StateError::Malformed)?;
    let exp: i64 = exp.parse().map_err(|_| StateError::Malformed)?;
    let sig = B64URL.decode(sig).map_err(|_| StateError::Malformed)?;
    if !nonce_ok {
        return Err(StateError::Malformed);
    }
    if !constant_time_eq(&signature(key, nonce, tenant, &user, exp), &sig) {
        return Err(StateError::BadSignature);
    }
    let expires_at = Utc.timestamp_opt(exp, 0).single().ok_or(StateError::Malformed)?;
    if expires_at <= now {
        return Err(StateError::Expired);
    }
    Ok(StateClaims { nonce: nonce.to_string(), tenant_id: tenant, user_id: user, expires_at })
}

impl From<&StateClaims> for StoredState {
    fn from(c: &StateClaims) -> Self {
        Self { nonce: c.nonce.clone(), tenant_id: c.tenant_id, user_id: c.user_id.clone(), expires_at: c.expires_at }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).single().expect("date")
    }

    fn key() -> StateKey {
        StateKey::derive(&SecretString::new("app-secret"))
    }

    #[test]
    fn issued_state_verifies_and_carries_its_binding() {
        let (state, claims) = issue(&key(), TenantId(7), "user.with.dots@x", now());
        let back = verify(&key(), &state, now() + Duration::seconds(599)).expect("valid");
        assert_eq!(back, claims);
        assert_eq!((back.tenant_id, back.user_id.as_str()), (TenantId(7), "user.with.dots@x"));
        assert_eq!(back.expires_at, now() + Duration::seconds(STATE_TTL_SECS));
    }

    #[test]
    fn two_states_never_share_a_nonce() {
        let (a, ca) = issue(&key(), TenantId(1), "u", now());
        let (b, cb) = issue(&key(), TenantId(1), "u", now());
        assert_ne!(a, b);
        assert_ne!(ca.nonce, cb.nonce);
        assert!(!a.contains("tenant_"), "not the seed's predictable state");
    }

    #[test]
    fn rejects_expired_oauth_state() {
        let (state, _) = issue(&key(), TenantId(1), "u", now());
        assert_eq!(verify(&key(), &state, now() + Duration::seconds(STATE_TTL_SECS)), Err(StateError::Expired));
    }

    #[test]
    fn rejects_state_rebound_to_another_tenant_or_user() {
        let (state, _) = issue(&key(), TenantId(1), "u", now());
        let mut parts: Vec<String> = state.split('.').map(String::from).collect();
        parts[1] = "2".into();
        assert_eq!(verify(&key(), &parts.join("."), now()), Err(StateError::BadSignature));
        let mut parts: Vec<String> = state.split('.').map(String::from).collect();
        parts[2] = B64URL.encode("admin");
        assert_eq!(verify(&key(), &parts.join("."), now()), Err(StateError::BadSignature));
        let mut parts: Vec<String> = state.split('.').map(String::from).collect();
        parts[3] = (now() + Duration::days(1)).timestamp().to_string();
        assert_eq!(verify(&key(), &parts.join("."), now()), Err(StateError::BadSignature));
    }

    #[test]
    fn rejects_state_signed_with_another_key() {
        let (state, _) = issue(&StateKey::derive(&SecretString::new("other")), TenantId(1), "u", now());
        assert_eq!(verify(&key(), &state, now()), Err(StateError::BadSignature));
    }

    #[test]
    fn rejects_malformed_states() {
        for bad in ["", "tenant_1", "a.b.c.d.e", "a.1.dQ.1.x.extra", &"x".repeat(600)] {
            assert_eq!(verify(&key(), bad, now()), Err(StateError::Malformed), "{bad}");
        }
    }
}
