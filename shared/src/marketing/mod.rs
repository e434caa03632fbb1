//! The marketing numbers: ROI/CPA/ROAS formulas, the aggregate read model the CRM events feed,
//! and the dashboard views. Campaign views and FX conversion will join here (`marketing/spend/`
//! for what the spend sync writes).

pub mod aggregates;
pub mod campaigns;
pub mod dashboard;
pub mod formulas;
pub mod fx;
pub mod settings;

use crate::platform::error::{DomainError, Failure};
use crate::store::StoreError;

/// What saving a tenant's marketing settings can end in (the manual FX rates, the reporting
/// settings): input refused with the endpoint's own code (`400`), or the store's failure.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    /// Another write landed between this save's read and its write (409 `conflict`).
    #[error("{0}")]
    Conflict(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SaveError {
    /// Input refused with `code`.
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        SaveError::Invalid { code, message: message.into() }
    }
}

impl DomainError for SaveError {
    fn failure(&self) -> Failure {
        match self {
            SaveError::Invalid { .. } => Failure::BadRequest,
            SaveError::Conflict(_) => Failure::Conflict,
            SaveError::Store(e) => e.failure(),
        }
    }
    fn code(&self) -> &'static str {
        match self {
            SaveError::Invalid { code, .. } => code,
            SaveError::Conflict(_) => "conflict",
            SaveError::Store(e) => e.code(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::TenantId;
    use crate::marketing::fx::{set_rates, RateInput, SetRatesRequest};
    use crate::marketing::settings::{update_settings, SettingsPatch};

    #[tokio::test]
    async fn refused_settings_and_rates_are_400s_with_their_own_code_and_nothing_written() {
        let (app, _) = crate::testing::unit_app(&[]);
        let (t, now) = (TenantId(1), crate::testing::unit_now());
        let patch = SettingsPatch { reporting_currency: Some("XYZ".into()) };
        let err = update_settings(app.profiles.as_ref(), t, patch, now).await.expect_err("unknown currency");
        assert_eq!((err.failure(), err.code()), (Failure::BadRequest, "invalid_settings"));
        assert!(err.to_string().contains("XYZ"), "{err}");
        let rate =
            RateInput { from: "USD".into(), to: "USD".into(), rate: "1".into(), effective_from: "2026-11-01".into() };
        let err = set_rates(app.fx_rates.as_ref(), t, "u", SetRatesRequest { rates: vec![rate] }, now)
            .await
            .expect_err("same currency");
        assert_eq!((err.failure(), err.code()), (Failure::BadRequest, "invalid_fx_rate"));
        assert_eq!(err.to_string(), "rates[0]: from and to are the same currency");
        assert!(app.profiles.get_profile(t).await.expect("read").is_none());
        let err = SaveError::from(StoreError::Throttled);
        assert_eq!(err.code(), StoreError::Throttled.code(), "the store's failure stays the store's");
    }
}
