//! A live check of the tenant's stored Meta token, on demand (`GET /crm/auth/meta/debug/token`
//! and `/test-connection`): Graph's `debug_token` for the stored token — valid, scopes, expiry,
//! data-access expiry, app and user — and, for the connection test, one read of the primary ad
//! account with the token. The token (and its `appsecret_proof`) is never returned or logged.
//!
//! What a check writes, always through [`crate::meta::connection_writes`] (onto the same login
//! only: never over a newer login or a disconnect, which answer 409 `meta_connection_changed`):
//! - Meta says the token is invalid (`is_valid: false`, or code 190 on the account read): the
//!   connection is marked expired, so token-status says reconnect and nothing retries it;
//! - Meta reports other expiry dates or scopes than stored (a permission granted or removed, data
//!   access moving with the user's activity): the stored facts are refreshed (FIELD-NOTES 12).
//!
//! A valid token of another app (`app_id` mismatch) is reported invalid but not marked: that is a
//! deployment's `META_APP_ID` changing, not the user's login failing, and marking every tenant
//! expired on a config mistake would force every tenant to log in again.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::domain::connection::{token_status, TokenState};
use crate::domain::ids::{AdAccountId, TenantId};
use crate::meta::access::{graph_client, stored_token};
use crate::meta::connection_writes::{mark_expired, update_connection, SameLogin};
use crate::meta::error::MetaFlowError;
use crate::meta::graph::{GraphClient, MetaError, TokenInfo, OAUTH_SCOPES};
use crate::meta::insights::fetch::account_info;
use crate::meta::lead_ads_status::{lead_ads_status, LeadAdsStatus};
use crate::meta::pages::register_managed_pages;
use crate::meta::ports::ConnectionPorts;
use crate::platform::metrics::{self, names};
use crate::platform::secrets::SecretString;
use crate::store::{ConnectionStatus, MetaConnection, MetaConnectionStore};

/// Stored dates closer than this to Meta's are left as they are: data access moves with every
/// visit of the user, and one write per check for a few seconds' drift buys nothing.
const REFRESH_TOLERANCE_HOURS: i64 = 1;

/// `data` of `GET /crm/auth/meta/debug/token`: what Meta says about the stored token now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenCheck {
    /// Meta accepts the token and it was issued to this app.
    pub valid: bool,
    /// The connection's state after the check (as token-status reports it).
    pub status: TokenState,
    pub needs_reconnect: bool,
    pub checked_at: DateTime<Utc>,
    /// The app Meta says the token belongs to.
    pub app_id: Option<String>,
    pub app_id_matches: bool,
    /// The Meta (app-scoped) user id of the login, as Meta reports it.
    pub meta_user_id: Option<String>,
    pub scopes: Vec<String>,
    /// Permissions the product asks for that the token lacks.
    pub missing_scopes: Vec<String>,
    /// `None` = Meta reports no expiry (0).
    pub expires_at: Option<DateTime<Utc>>,
    pub data_access_expires_at: Option<DateTime<Utc>>,
    /// This check marked the stored connection expired.
    pub marked_expired: bool,
    /// The tenant's pages (claimed again by this check when the token is valid) and which
    /// features the scopes allow.
    pub lead_ads: Option<LeadAdsStatus>,
}

/// `data` of `GET /crm/auth/meta/test-connection`: does the connection work right now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectionTest {
    /// The connection is usable after the check (token-status `connected`).
    pub connected: bool,
    /// Meta accepts the token and it was issued to this app.
    pub valid: bool,
    pub status: TokenState,
    pub needs_reconnect: bool,
    pub checked_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub missing_scopes: Vec<String>,
    /// The primary selected ad account (`None` before one is selected).
    pub ad_account_id: Option<String>,
    /// Whether the token can still read it (`None`: not checked — no account, or token invalid).
    pub ad_account_reachable: Option<bool>,
    pub message: String,
    pub lead_ads: Option<LeadAdsStatus>,
}

/// The stored token as Meta sees it now (see the module doc for what the check writes).
pub async fn check_token(
    ports: ConnectionPorts<'_>,
    tenant: TenantId,
    now: DateTime<Utc>,
) -> Result<TokenCheck, MetaFlowError> {
    let conn = ports.meta.connections.get_connection(tenant).await?.ok_or(MetaFlowError::NotConnected)?;
    Ok(check_connection(ports, &conn, now).await?.check)
}

/// [`check_token`], then one read of the primary ad account with the token when Meta accepts it.
pub async fn test_connection(
    ports: ConnectionPorts<'_>,
    tenant: TenantId,
    now: DateTime<Utc>,
) -> Result<ConnectionTest, MetaFlowError> {
    let conn = ports.meta.connections.get_connection(tenant).await?.ok_or(MetaFlowError::NotConnected)?;
    let Checked { check, conn, token, graph } = check_connection(ports, &conn, now).await?;
    let account = conn.ad_account_ids.first().and_then(|a| AdAccountId::parse(a).ok());
    let (check, reachable) = match account.as_ref().filter(|_| check.valid) {
        None => (check, None),
        Some(act) => match probe(account_info(&graph, &token, act.as_str()).await.map(|_| ())) {
            Ok(Probe::Reachable) => (check, Some(true)),
            Ok(Probe::Unreachable) => (check, Some(false)),
            Ok(Probe::TokenRejected) => {
                let (conn, marked) = expire(ports.meta.connections, &conn, now).await?;
                (check.rejected(&conn, marked, now), None)
            }
            Err(e) => return Err(MetaFlowError::Peer(e)),
        },
    };
    Ok(ConnectionTest::new(check, account, reachable))
}

/// A check's answer, the connection after its writes, and what the connection test reuses.
pub struct Checked {
    pub check: TokenCheck,
    pub conn: MetaConnection,
    token: SecretString,
    graph: GraphClient,
}

/// Asks `debug_token` about the token of `conn` (the connection as read) and records Meta's
/// answer. A newer login or a disconnect since `conn` was read is left alone: 409
/// `meta_connection_changed` when the answer would have been written.
pub async fn check_connection(
    ports: ConnectionPorts<'_>,
    conn: &MetaConnection,
    now: DateTime<Utc>,
) -> Result<Checked, MetaFlowError> {
    let token = stored_token(ports.meta, conn).await?;
    let graph = graph_client(ports.meta).await?;
    let info = graph.debug_token(&token).await.map_err(debug_token_failure)?;
    let (mut check, conn) = record_check(ports.meta.connections, conn, &info, &graph.settings().app_id, now).await?;
    if check.valid {
        // A token check claims the pages again: fresh Page tokens and subscriptions.
        register_managed_pages(ports.into(), &graph, &token, conn.tenant_id, now).await;
    }
    check.lead_ads = Some(lead_ads_status(ports.pages, conn.tenant_id, &check.scopes).await?);
    tracing::info!(
        tenant_id = conn.tenant_id.0,
        valid = check.valid,
        marked_expired = check.marked_expired,
        "Meta token checked"
    );
    Ok(Checked { check, conn, token, graph })
}

/// `debug_token` is asked with the app's own token: a 190 or a permission error is Meta refusing
/// our app credentials (`META_APP_ID` / `META_APP_SECRET`), not the tenant's login — our fault,
/// never a reason to mark the tenant's connection. Throttling and outages keep their 503/502.
fn debug_token_failure(e: MetaError) -> MetaFlowError {
    match e {
        MetaError::InvalidToken { .. } | MetaError::Permission { .. } => {
            MetaFlowError::internal(format!("Meta refused the app's credentials on debug_token: {e}"))
        }
        other => MetaFlowError::Peer(other),
    }
}

/// Records what `debug_token` said about the login read as `read`: marks it expired when Meta
/// says the token is invalid, refreshes its dates and scopes when Meta reports others. Returns
/// the answer and the connection as stored after it.
pub async fn record_check(
    connections: &dyn MetaConnectionStore,
    read: &MetaConnection,
    info: &TokenInfo,
    app_id: &str,
    now: DateTime<Utc>,
) -> Result<(TokenCheck, MetaConnection), MetaFlowError> {
    let app_id_matches = info.app_id.as_deref() == Some(app_id);
    let (conn, marked_expired) = if !info.is_valid {
        expire(connections, read, now).await?
    } else if !app_id_matches {
        tracing::warn!(tenant_id = read.tenant_id.0, "the stored Meta token belongs to another app; not marked");
        (read.clone(), false)
    } else {
        (refresh(connections, read, info, now).await?, false)
    };
    let status = token_status(Some(&conn), now);
    let check = TokenCheck {
        valid: info.is_valid && app_id_matches,
        status: status.status,
        needs_reconnect: status.needs_reconnect,
        checked_at: now,
        app_id: info.app_id.clone(),
        app_id_matches,
        meta_user_id: info.user_id.clone(),
        scopes: info.scopes.clone(),
        missing_scopes: missing_scopes(&info.scopes),
        expires_at: info.expires_at,
        data_access_expires_at: info.data_access_expires_at,
        marked_expired,
        lead_ads: None,
    };
    Ok((check, conn))
}

/// Marks the login read as `read` expired (unless it is already); the connection after, and
/// whether this call marked it.
async fn expire(
    connections: &dyn MetaConnectionStore,
    read: &MetaConnection,
    now: DateTime<Utc>,
) -> Result<(MetaConnection, bool), MetaFlowError> {
    if read.status == ConnectionStatus::Invalid {
        return Ok((read.clone(), false));
    }
    match mark_expired(connections, read, now).await? {
        SameLogin::Written(conn) => {
            metrics::count(names::META_TOKEN_EXPIRED, 1);
            tracing::warn!(tenant_id = read.tenant_id.0, "Meta reports the stored token invalid; marked expired");
            Ok((conn, true))
        }
        SameLogin::Superseded => Err(MetaFlowError::ConnectionChanged),
    }
}

/// Stores Meta's dates and scopes where they moved (a date Meta does not report is kept: Meta
/// answers 0 for some tokens that do expire, and the login then stored `expires_in`'s date).
async fn refresh(
    connections: &dyn MetaConnectionStore,
    read: &MetaConnection,
    info: &TokenInfo,
    now: DateTime<Utc>,
) -> Result<MetaConnection, MetaFlowError> {
    let moved = |new: Option<DateTime<Utc>>, old: Option<DateTime<Utc>>| {
        new.filter(|n| old.is_none_or(|o| (*n - o).abs() >= Duration::hours(REFRESH_TOLERANCE_HOURS)))
    };
    let expires_at = moved(info.expires_at, read.expires_at);
    let data_access = moved(info.data_access_expires_at, read.data_access_expires_at);
    let scopes = Some(&info.scopes).filter(|s| !s.is_empty() && !same_set(s, &read.scopes));
    if expires_at.is_none() && data_access.is_none() && scopes.is_none() {
        return Ok(read.clone());
    }
    let written = update_connection(connections, read, |c| {
        c.expires_at = expires_at.or(c.expires_at);
        c.data_access_expires_at = data_access.or(c.data_access_expires_at);
        if let Some(s) = scopes {
            c.scopes = s.clone();
        }
        c.updated_at = now;
    })
    .await?;
    match written {
        SameLogin::Written(conn) => Ok(conn),
        SameLogin::Superseded => Err(MetaFlowError::ConnectionChanged),
    }
}

fn same_set(a: &[String], b: &[String]) -> bool {
    a.iter().all(|x| b.contains(x)) && b.iter().all(|x| a.contains(x))
}

/// The product's scopes ([`OAUTH_SCOPES`]) not among `granted`.
pub fn missing_scopes(granted: &[String]) -> Vec<String> {
    OAUTH_SCOPES.iter().filter(|s| !granted.iter().any(|g| g == *s)).map(|s| s.to_string()).collect()
}

/// What one read of the primary ad account says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    Reachable,
    /// The token lacks permission for it, or Meta says it does not exist for this user (code 100,
    /// subcode 33: "does not exist, cannot be loaded due to missing permissions").
    Unreachable,
    /// Code 190 after all: the token died since `debug_token` answered.
    TokenRejected,
}

/// Subcode of Meta's "object does not exist or cannot be loaded" (code 100).
const UNSUPPORTED_GET: i64 = 33;

fn probe(read: Result<(), MetaError>) -> Result<Probe, MetaError> {
    match read {
        Ok(()) => Ok(Probe::Reachable),
        Err(MetaError::InvalidToken { .. }) => Ok(Probe::TokenRejected),
        Err(MetaError::Permission { .. } | MetaError::Request { code: 100, subcode: Some(UNSUPPORTED_GET), .. }) => {
            Ok(Probe::Unreachable)
        }
        Err(other) => Err(other),
    }
}

impl TokenCheck {
    /// This check after Meta rejected the token on a later call (code 190).
    fn rejected(self, conn: &MetaConnection, marked: bool, now: DateTime<Utc>) -> Self {
        let status = token_status(Some(conn), now);
        Self {
            valid: false,
            status: status.status,
            needs_reconnect: status.needs_reconnect,
            marked_expired: self.marked_expired || marked,
            ..self
        }
    }
}

impl ConnectionTest {
    fn new(check: TokenCheck, account: Option<AdAccountId>, reachable: Option<bool>) -> Self {
        let account = account.map(|a| a.as_str().to_string());
        let message = test_message(&check, account.as_deref(), reachable);
        Self {
            connected: check.status == TokenState::Connected,
            valid: check.valid,
            status: check.status,
            needs_reconnect: check.needs_reconnect,
            checked_at: check.checked_at,
            expires_at: check.expires_at,
            missing_scopes: check.missing_scopes,
            ad_account_id: account,
            ad_account_reachable: reachable,
            message,
            lead_ads: check.lead_ads,
        }
    }
}

/// The connection test's verdict in a sentence (the UI shows it as is).
fn test_message(check: &TokenCheck, account: Option<&str>, reachable: Option<bool>) -> String {
    if !check.valid {
        return if check.app_id_matches || check.app_id.is_none() {
            "Meta no longer accepts the stored token; reconnect the Meta account".into()
        } else {
            "the stored token belongs to another Meta app; reconnect the Meta account".into()
        };
    }
    let mut message = match (account, reachable) {
        (Some(a), Some(true)) => format!("Meta accepts the token; ad account {a} is reachable"),
        (Some(a), _) => format!(
            "Meta accepts the token, but ad account {a} is not reachable with it; reconnect with access to it or select another account"
        ),
        (None, _) => "Meta accepts the token; no ad account is selected yet".into(),
    };
    if !check.missing_scopes.is_empty() {
        message.push_str(&format!("; permissions not granted: {}", check.missing_scopes.join(", ")));
    }
    let hints = check.lead_ads.iter().flat_map(|l| l.features.iter()).filter_map(|f| f.message);
    for hint in hints {
        message.push_str("; ");
        message.push_str(hint);
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::error::DomainError;
    use crate::store::memory::MemoryStore;
    use crate::testing::{active_connection, unit_now};

    const APP: &str = "app-1";

    fn now() -> DateTime<Utc> {
        unit_now()
    }

    fn all_scopes() -> Vec<String> {
        OAUTH_SCOPES.iter().map(|s| s.to_string()).collect()
    }

    fn login(token: &str) -> MetaConnection {
        MetaConnection {
            token_ciphertext_b64: token.into(),
            meta_user_id: Some("42".into()),
            expires_at: Some(now() + Duration::days(50)),
            data_access_expires_at: Some(now() + Duration::days(80)),
            scopes: all_scopes(),
            ad_account_ids: vec!["act_1".into()],
            ..active_connection(TenantId(1), now())
        }
    }

    /// What `debug_token` says of `login("A")` while it is valid.
    fn info(valid: bool) -> TokenInfo {
        TokenInfo {
            is_valid: valid,
            app_id: Some(APP.into()),
            user_id: Some("42".into()),
            expires_at: Some(now() + Duration::days(50)),
            data_access_expires_at: Some(now() + Duration::days(80)),
            scopes: all_scopes(),
        }
    }

    async fn stored(s: &MemoryStore) -> MetaConnection {
        s.get_connection(TenantId(1)).await.expect("read").expect("stored")
    }

    async fn connected(token: &str) -> (MemoryStore, MetaConnection) {
        let s = MemoryStore::default();
        s.put_connection(&login(token)).await.expect("put").expect("created");
        let read = stored(&s).await;
        (s, read)
    }

    #[tokio::test]
    async fn a_valid_token_reports_metas_facts_and_writes_nothing() {
        let (s, read) = connected("A").await;
        let (check, conn) = record_check(&s, &read, &info(true), APP, now()).await.expect("check");
        assert!(check.valid && check.app_id_matches && !check.marked_expired);
        assert_eq!((check.status, check.needs_reconnect), (TokenState::Connected, false));
        assert_eq!((check.meta_user_id.as_deref(), check.scopes.len()), (Some("42"), OAUTH_SCOPES.len()));
        assert!(check.missing_scopes.is_empty());
        assert_eq!(check.expires_at, Some(now() + Duration::days(50)));
        assert_eq!(conn.revision, read.revision, "nothing moved, nothing written");
        assert_eq!(stored(&s).await.revision, read.revision);
    }

    #[tokio::test]
    async fn a_token_meta_calls_invalid_is_marked_expired_once() {
        let (s, read) = connected("A").await;
        let (check, conn) = record_check(&s, &read, &info(false), APP, now()).await.expect("check");
        assert!(!check.valid && check.marked_expired);
        assert_eq!((check.status, check.needs_reconnect), (TokenState::Expired, true));
        assert_eq!(conn.status, ConnectionStatus::Invalid);
        assert_eq!(token_status(Some(&stored(&s).await), now()).status, TokenState::Expired);
        // Checked again: still invalid, nothing more to mark.
        let (again, _) = record_check(&s, &stored(&s).await, &info(false), APP, now()).await.expect("again");
        assert!(!again.valid && !again.marked_expired);
        assert_eq!(again.status, TokenState::Expired);
    }

    #[tokio::test]
    async fn a_newer_login_is_never_marked_by_a_check_of_the_old_token() {
        let (s, old) = connected("A").await;
        // A new login (token B) lands while Meta answers about token A.
        let slot = s.read_connection(TenantId(1)).await.expect("slot");
        let b = crate::meta::connection_writes::store_login(&s, &slot, |_| login("B")).await.expect("login");
        assert!(matches!(b, SameLogin::Written(_)));
        let err = record_check(&s, &old, &info(false), APP, now()).await.expect_err("changed");
        assert_eq!(err.code(), "meta_connection_changed");
        let live = stored(&s).await;
        assert_eq!((live.token_ciphertext_b64.as_str(), live.status), ("B", ConnectionStatus::Active));
        // A refresh from the old read is dropped the same way.
        let moved = TokenInfo { scopes: vec!["ads_read".into()], ..info(true) };
        assert_eq!(
            record_check(&s, &old, &moved, APP, now()).await.expect_err("changed").code(),
            "meta_connection_changed"
        );
        assert_eq!(stored(&s).await.scopes, all_scopes());
    }

    #[tokio::test]
    async fn a_token_of_another_app_is_invalid_but_not_marked() {
        let (s, read) = connected("A").await;
        let foreign = TokenInfo { app_id: Some("other-app".into()), ..info(true) };
        let (check, _) = record_check(&s, &read, &foreign, APP, now()).await.expect("check");
        assert!(!check.valid && !check.app_id_matches && !check.marked_expired);
        assert_eq!(check.app_id.as_deref(), Some("other-app"));
        assert_eq!(stored(&s).await.status, ConnectionStatus::Active);
        assert_eq!(stored(&s).await.revision, read.revision);
    }

    #[tokio::test]
    async fn moved_dates_and_scopes_are_stored_but_an_unreported_expiry_is_kept() {
        let (s, read) = connected("A").await;
        let later = now() + Duration::days(89);
        let moved = TokenInfo {
            expires_at: None,
            data_access_expires_at: Some(later),
            scopes: vec!["ads_read".into(), "business_management".into()],
            ..info(true)
        };
        let (check, conn) = record_check(&s, &read, &moved, APP, now()).await.expect("check");
        assert!(check.valid);
        let lead_ads = [
            "leads_retrieval",
            "pages_show_list",
            "pages_read_engagement",
            "pages_manage_metadata",
            "pages_manage_ads",
            "ads_management",
        ];
        assert_eq!(check.missing_scopes, lead_ads);
        let live = stored(&s).await;
        assert_eq!(live, conn);
        assert_eq!(live.data_access_expires_at, Some(later));
        assert_eq!(live.expires_at, read.expires_at, "Meta's 0 never erases the stored expiry");
        assert_eq!(live.scopes, moved.scopes);
        // Drift under the tolerance is not a change worth a write.
        let drift = TokenInfo { data_access_expires_at: Some(later + Duration::minutes(10)), ..moved.clone() };
        let (_, after) = record_check(&s, &live, &drift, APP, now()).await.expect("check");
        assert_eq!(after.revision, live.revision);
    }

    #[test]
    fn the_account_read_tells_reachable_unreachable_and_rejected_apart() {
        assert_eq!(probe(Ok(())), Ok(Probe::Reachable));
        assert_eq!(probe(Err(MetaError::InvalidToken { subcode: Some(460) })), Ok(Probe::TokenRejected));
        assert_eq!(probe(Err(MetaError::Permission { code: 200 })), Ok(Probe::Unreachable));
        let gone = MetaError::Request { code: 100, subcode: Some(UNSUPPORTED_GET), message: "x".into() };
        assert_eq!(probe(Err(gone)), Ok(Probe::Unreachable));
        for peer in [
            MetaError::Throttled { code: 17, retry_after: None },
            MetaError::Timeout,
            MetaError::Request { code: 100, subcode: None, message: "bad field".into() },
        ] {
            assert_eq!(probe(Err(peer.clone())), Err(peer));
        }
    }

    #[test]
    fn debug_token_refusing_the_app_is_our_500_never_a_tenant_reconnect() {
        use crate::platform::error::ApiError;
        let code = |e: MetaError| {
            let api = ApiError::from(debug_token_failure(e));
            (api.status().as_u16(), api.code())
        };
        assert_eq!(code(MetaError::InvalidToken { subcode: None }), (500, "internal_error"));
        assert_eq!(code(MetaError::Permission { code: 10 }), (500, "internal_error"));
        assert_eq!(code(MetaError::Throttled { code: 4, retry_after: None }), (503, "meta_throttled"));
        assert_eq!(code(MetaError::Unreachable), (503, "meta_unavailable"));
        assert_eq!(code(MetaError::InvalidResponse), (502, "meta_error"));
    }

    #[test]
    fn the_test_message_says_what_to_do() {
        let check = |valid: bool, app: &str, missing: Vec<String>| TokenCheck {
            valid,
            status: TokenState::Connected,
            needs_reconnect: false,
            checked_at: now(),
            app_id: Some(app.into()),
            app_id_matches: app == APP,
            meta_user_id: None,
            scopes: vec![],
            missing_scopes: missing,
            expires_at: None,
            data_access_expires_at: None,
            marked_expired: false,
            lead_ads: None,
        };
        let ok = check(true, APP, vec![]);
        assert!(test_message(&ok, Some("act_1"), Some(true)).ends_with("act_1 is reachable"));
        assert!(test_message(&ok, Some("act_1"), Some(false)).contains("not reachable"));
        assert!(test_message(&ok, None, None).contains("no ad account is selected"));
        assert!(test_message(&check(false, APP, vec![]), None, None).contains("reconnect"));
        assert!(test_message(&check(false, "other", vec![]), None, None).contains("another Meta app"));
        let partial = check(true, APP, vec!["ads_read".into()]);
        assert!(test_message(&partial, None, None).ends_with("permissions not granted: ads_read"));
    }
}
