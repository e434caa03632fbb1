//! Why a Meta flow failed, and the one table that says what each failure is for the API caller
//! (through [`DomainError`]; the HTTP mapping itself is `platform::error`'s). A Graph failure
//! ([`MetaError`]) that no flow handles better becomes [`MetaFlowError::Peer`]: 502/503 for peer
//! trouble, 409 for a token Meta rejected, never a 500 (it is not our bug).
//!
//! The OAuth callback answers with a redirect, never an error body: its outcomes are
//! [`LoginRefused`] codes (`?error=<code>`).

use crate::domain::ids::{AdAccountId, InvalidAdAccountId};
use crate::meta::graph::MetaError;
use crate::platform::config::ConfigError;
use crate::platform::crypto::CryptoError;
use crate::platform::error::{DomainError, Failure};
use crate::platform::secrets::SecretError;
use crate::store::StoreError;

/// A failed Meta flow: connect, account selection, listings, disconnect, deployment config, lead
/// processing.
#[derive(Debug, thiserror::Error)]
pub enum MetaFlowError {
    #[error("Meta is not connected for this account; connect it first")]
    NotConnected,
    /// The stored token is past its expiry (or Meta rejected it before).
    #[error("the Meta connection has expired; reconnect the Meta account")]
    ConnectionExpired,
    /// Meta failed; the message is the caller's, the Graph error is the source (logged).
    #[error("{}", peer(.0).2)]
    Peer(#[source] MetaError),
    #[error("{what} must be a numeric Meta id")]
    InvalidMetaId { what: &'static str },
    #[error(transparent)]
    InvalidAdAccountId(#[from] InvalidAdAccountId),
    #[error("account_id or ad_account_ids is required")]
    MissingAccount,
    #[error("reporting_currency {0:?} is not a known ISO 4217 currency code")]
    InvalidCurrency(String),
    #[error("at most {max} ad accounts can be selected")]
    TooManyAccounts { max: usize },
    #[error("the business is not visible to the connected Meta user")]
    BusinessNotVisible,
    #[error("ad account {0} is not among the accounts the connected Meta user can see")]
    AccountNotVisible(AdAccountId),
    /// Meta reports a currency or time zone we do not know for the account (502: Meta's answer
    /// is unusable; never replaced by a default).
    #[error("Meta reports {what} for ad account {account}; it cannot be reported on")]
    AccountUnusable { account: String, what: String },
    /// The connection was replaced (a new login) or disconnected while this request worked on it.
    #[error("the Meta connection changed meanwhile (reconnected or disconnected); reload and try again")]
    ConnectionChanged,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// Our bug or a broken dependency (500); the message is logged, never sent.
    #[error("{0}")]
    Internal(String),
}

impl MetaFlowError {
    pub fn internal(message: impl std::fmt::Display) -> Self {
        Self::Internal(message.to_string())
    }
}

/// A Graph failure's kind, code and message for the caller.
fn peer(err: &MetaError) -> (Failure, &'static str, &'static str) {
    match err {
        MetaError::InvalidToken { .. } => (
            Failure::Conflict,
            "meta_token_expired",
            "Meta no longer accepts the stored token; reconnect the Meta account",
        ),
        MetaError::Permission { .. } => (
            Failure::Forbidden,
            "meta_permission_denied",
            "the connected Meta user lacks permission for this; reconnect granting the requested permissions",
        ),
        MetaError::Throttled { retry_after, .. } => (
            Failure::Unavailable { retry_after_secs: Some(retry_after.map_or(60, |d| d.as_secs().max(1))) },
            "meta_throttled",
            "Meta is rate limiting this account; retry later",
        ),
        MetaError::NearLimit { retry_after, .. } => (
            Failure::Unavailable { retry_after_secs: Some(retry_after.as_secs().max(1)) },
            "meta_throttled",
            "Meta's usage limit for this account is nearly reached; retry later",
        ),
        MetaError::Transient { .. } | MetaError::Timeout | MetaError::Unreachable => (
            Failure::Unavailable { retry_after_secs: Some(5) },
            "meta_unavailable",
            "Meta is temporarily unavailable; retry shortly",
        ),
        MetaError::Request { .. } | MetaError::InvalidResponse | MetaError::ForeignPagingUrl => {
            (Failure::BadGateway, "meta_error", "Meta answered with an error")
        }
    }
}

impl DomainError for MetaFlowError {
    fn failure(&self) -> Failure {
        match self {
            Self::NotConnected | Self::ConnectionExpired | Self::ConnectionChanged => Failure::Conflict,
            Self::Peer(e) => peer(e).0,
            Self::InvalidMetaId { .. }
            | Self::InvalidAdAccountId(_)
            | Self::MissingAccount
            | Self::InvalidCurrency(_)
            | Self::TooManyAccounts { .. }
            | Self::BusinessNotVisible
            | Self::AccountNotVisible(_) => Failure::BadRequest,
            Self::AccountUnusable { .. } => Failure::BadGateway,
            Self::Store(e) => e.failure(),
            Self::Secret(_) | Self::Config(_) | Self::Crypto(_) | Self::Internal(_) => Failure::Internal,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::NotConnected => "meta_not_connected",
            Self::ConnectionExpired => "meta_token_expired",
            Self::Peer(e) => peer(e).1,
            Self::InvalidMetaId { .. } => "invalid_parameter",
            Self::InvalidAdAccountId(_) => "invalid_account_id",
            Self::MissingAccount => "missing_account",
            Self::InvalidCurrency(_) => "invalid_currency",
            Self::TooManyAccounts { .. } => "too_many_accounts",
            Self::BusinessNotVisible => "business_not_visible",
            Self::AccountNotVisible(_) => "account_not_visible",
            Self::AccountUnusable { .. } => "meta_account_unusable",
            Self::ConnectionChanged => "meta_connection_changed",
            Self::Store(e) => e.code(),
            Self::Secret(_) | Self::Config(_) | Self::Crypto(_) | Self::Internal(_) => "internal_error",
        }
    }
}

/// Why the OAuth callback did not connect: the `?error=<code>` of its redirect to the frontend
/// (the frontend knows these codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LoginRefused {
    /// Missing, forged, expired, reused or foreign `state`.
    #[error("the OAuth state is invalid")]
    InvalidState,
    /// Meta refused the code or the long-lived exchange.
    #[error("the token exchange with Meta failed")]
    TokenExchangeFailed,
    /// Anything else: not configured, storage down, a token Meta says is not ours.
    #[error("the Meta login failed")]
    AuthFailed,
    /// The user declined the dialog.
    #[error("the user declined the Meta login")]
    AccessDenied,
    #[error("too many attempts; retry in a minute")]
    RateLimited,
    /// The callback's time budget ran out (Meta slow or unreachable): the user starts again.
    #[error("Meta took too long to answer")]
    MetaTimeout,
    /// A newer login or a disconnect was stored while this callback waited on Meta; it wins.
    #[error("the Meta connection changed during the login")]
    ConnectionChanged,
}

impl LoginRefused {
    /// Every refusal, in declaration order.
    pub const ALL: [LoginRefused; 7] = [
        Self::InvalidState,
        Self::TokenExchangeFailed,
        Self::AuthFailed,
        Self::AccessDenied,
        Self::RateLimited,
        Self::MetaTimeout,
        Self::ConnectionChanged,
    ];

    /// The `error` value the frontend shows a message for. FRONTEND-CONTRACT lists the codes the
    /// UI knows (`auth_failed`, `token_exchange_failed`, `invalid_state`, `missing_tenant`, and
    /// `access_denied`); the finer outcomes are `auth_failed` there, with [`Self::code`] beside it
    /// as `reason`.
    pub fn frontend_code(self) -> &'static str {
        match self {
            Self::RateLimited | Self::MetaTimeout | Self::ConnectionChanged => "auth_failed",
            other => other.code(),
        }
    }

    /// The precise outcome (audit records, logs and the redirect's `reason`).
    pub fn code(self) -> &'static str {
        match self {
            Self::InvalidState => "invalid_state",
            Self::TokenExchangeFailed => "token_exchange_failed",
            Self::AuthFailed => "auth_failed",
            Self::AccessDenied => "access_denied",
            Self::RateLimited => "rate_limited",
            Self::MetaTimeout => "meta_timeout",
            Self::ConnectionChanged => "connection_changed",
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::platform::error::ApiError;

    fn api(e: MetaFlowError) -> ApiError {
        ApiError::from(e)
    }

    #[test]
    fn meta_failures_are_502_503_or_reconnect() {
        let expired = api(MetaFlowError::Peer(MetaError::InvalidToken { subcode: None }));
        assert_eq!((expired.status().as_u16(), expired.code()), (409, "meta_token_expired"));
        let t =
            api(MetaFlowError::Peer(MetaError::Throttled { code: 17, retry_after: Some(Duration::from_secs(300)) }));
        assert_eq!((t.status().as_u16(), t.code(), t.retry_after()), (503, "meta_throttled", Some(300)));
        let unknown_wait = api(MetaFlowError::Peer(MetaError::Throttled { code: 4, retry_after: None }));
        assert_eq!(unknown_wait.retry_after(), Some(60));
        for down in [MetaError::Unreachable, MetaError::Timeout, MetaError::Transient { code: 2 }] {
            let e = api(MetaFlowError::Peer(down));
            assert_eq!((e.status().as_u16(), e.code(), e.retry_after()), (503, "meta_unavailable", Some(5)));
        }
        assert_eq!(api(MetaFlowError::Peer(MetaError::InvalidResponse)).status().as_u16(), 502);
        let refused = api(MetaFlowError::Peer(MetaError::Request { code: 100, subcode: None, message: "x".into() }));
        assert_eq!((refused.status().as_u16(), refused.code()), (502, "meta_error"));
        assert!(!refused.body().to_string().contains("code 100"), "Meta's own message is for logs only");
        let denied = api(MetaFlowError::Peer(MetaError::Permission { code: 10 }));
        assert_eq!((denied.status().as_u16(), denied.code()), (403, "meta_permission_denied"));
    }

    #[test]
    fn flow_failures_keep_their_status_and_code() {
        let cases: Vec<(MetaFlowError, u16, &str)> = vec![
            (MetaFlowError::NotConnected, 409, "meta_not_connected"),
            (MetaFlowError::ConnectionExpired, 409, "meta_token_expired"),
            (MetaFlowError::InvalidMetaId { what: "portfolio_id" }, 400, "invalid_parameter"),
            (MetaFlowError::MissingAccount, 400, "missing_account"),
            (MetaFlowError::TooManyAccounts { max: 50 }, 400, "too_many_accounts"),
            (MetaFlowError::BusinessNotVisible, 400, "business_not_visible"),
            (
                MetaFlowError::AccountUnusable { account: "act_1".into(), what: "no currency".into() },
                502,
                "meta_account_unusable",
            ),
            (MetaFlowError::ConnectionChanged, 409, "meta_connection_changed"),
            (MetaFlowError::Store(StoreError::Throttled), 503, "storage_busy"),
            (MetaFlowError::Store(StoreError::Dynamo("t-1 gone".into())), 500, "internal_error"),
            (MetaFlowError::Secret(SecretError::NotConfigured { var: "META_APP_SECRET" }), 500, "internal_error"),
            (MetaFlowError::internal("boom"), 500, "internal_error"),
        ];
        for (err, status, code) in cases {
            let e = api(err);
            assert_eq!((e.status().as_u16(), e.code()), (status, code), "{e:?}");
        }
        let bad = api(MetaFlowError::InvalidAdAccountId(InvalidAdAccountId("act_x".into())));
        assert_eq!((bad.status().as_u16(), bad.code()), (400, "invalid_account_id"));
        assert_eq!(bad.body()["detail"], "\"act_x\" is not an ad account id (expected act_<digits>)");
        let hidden = api(MetaFlowError::Secret(SecretError::NotConfigured { var: "META_APP_SECRET" }));
        assert!(!hidden.body().to_string().contains("META_APP_SECRET"), "500s never carry internals");
    }

    #[test]
    fn login_refusals_are_the_frontends_codes() {
        let codes: Vec<&str> = LoginRefused::ALL.into_iter().map(LoginRefused::code).collect();
        assert_eq!(
            codes,
            [
                "invalid_state",
                "token_exchange_failed",
                "auth_failed",
                "access_denied",
                "rate_limited",
                "meta_timeout",
                "connection_changed"
            ]
        );
    }
}
