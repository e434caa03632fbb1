//! The Meta spend sync's Graph side and its job: daily insights at campaign and ad level for each
//! selected ad account over a trailing window, campaign/ad effective status, grouped per
//! account-day into `store::spend::DailySpend` and upserted (re-run-safe, restated days
//! overwrite); the fan-out over connected tenants.
//!
//! Files: [`wire`] (Graph's shapes, spend → minor units, Meta leads), [`fetch`] (the Graph calls,
//! range halving on "reduce the amount of data"), [`sync`] (fan-out, one tenant's sync).

pub mod fetch;
pub mod sync;
pub mod wire;

pub use sync::{
    fan_out, request_event, sync_tenant, AccountSync, FanOutSummary, TenantOutcome, TenantSync, SPEND_SYNC_REQUESTED,
    SPEND_SYNC_SOURCE, USAGE_CEILING_PCT,
};

use crate::meta::graph::MetaError;
use crate::platform::error::{DomainError, Failure};
use crate::store::StoreError;

/// Why one ad account's sync failed.
#[derive(Debug, thiserror::Error)]
pub enum SpendSyncError {
    #[error(transparent)]
    Meta(#[from] MetaError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    BadNumber(#[from] wire::BadNumber),
    /// Meta reports something for the account we cannot report on (never replaced by a default).
    #[error("Meta reports {what} for the ad account; it cannot be synced")]
    AccountUnusable { what: String },
    #[error("Meta sent an unreadable insights row: {0}")]
    BadRow(String),
}

impl DomainError for SpendSyncError {
    fn failure(&self) -> Failure {
        match self {
            Self::Meta(MetaError::InvalidToken { .. }) => Failure::Conflict,
            Self::Meta(MetaError::Throttled { retry_after, .. }) => {
                Failure::Unavailable { retry_after_secs: Some(retry_after.map_or(60, |d| d.as_secs().max(1))) }
            }
            Self::Meta(MetaError::NearLimit { retry_after, .. }) => {
                Failure::Unavailable { retry_after_secs: Some(retry_after.as_secs().max(1)) }
            }
            Self::Meta(MetaError::Transient { .. } | MetaError::Timeout | MetaError::Unreachable) => {
                Failure::Unavailable { retry_after_secs: Some(5) }
            }
            Self::Meta(_) | Self::BadNumber(_) | Self::AccountUnusable { .. } | Self::BadRow(_) => Failure::BadGateway,
            Self::Store(e) => e.failure(),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Meta(MetaError::InvalidToken { .. }) => "meta_token_expired",
            Self::Meta(MetaError::Throttled { .. } | MetaError::NearLimit { .. }) => "meta_throttled",
            Self::Meta(MetaError::Transient { .. } | MetaError::Timeout | MetaError::Unreachable) => "meta_unavailable",
            Self::Meta(_) | Self::BadRow(_) | Self::BadNumber(_) => "meta_error",
            Self::AccountUnusable { .. } => "meta_account_unusable",
            Self::Store(e) => e.code(),
        }
    }
}
