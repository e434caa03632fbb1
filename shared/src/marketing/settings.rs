//! `PATCH /crm/marketing/settings`: what a manager may change of the tenant's reporting settings —
//! the reporting currency (ISO 4217). Connecting Meta only ever defaults it; this is the explicit
//! switch. (The reporting time zone is not changeable here: CRM aggregates are already bucketed by
//! local day in it.)

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::domain::ids::TenantId;
use crate::domain::money::Currency;
use crate::marketing::SaveError;
use crate::store::{Conflict, TenantProfile, TenantProfileStore};

/// Body of `PATCH /crm/marketing/settings`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    #[serde(default)]
    pub reporting_currency: Option<String>,
}

/// Refused settings answer `400 invalid_settings`.
pub type SettingsError = SaveError;
const INVALID: &str = "invalid_settings";
const CONFLICT: &str =
    "the settings were changed by another save (or a CRM event) while this one was made; reload them and save again";

/// Applies the patch to the tenant's profile (created if missing) and returns the settings. The
/// write is conditioned on the revision read: a profile written since answers 409 `conflict`.
pub async fn update_settings(
    profiles: &dyn TenantProfileStore,
    tenant: TenantId,
    patch: SettingsPatch,
    now: DateTime<Utc>,
) -> Result<Value, SettingsError> {
    let Some(raw) = patch.reporting_currency else {
        return Err(SaveError::invalid(INVALID, "nothing to change: reporting_currency is required"));
    };
    let currency = Currency::parse(&raw).map_err(|_| {
        SaveError::invalid(
            INVALID,
            format!(
                "reporting_currency {:?} is not a known ISO 4217 currency code",
                raw.chars().take(16).collect::<String>()
            ),
        )
    })?;
    let (read, revision) = profiles.profile_at(tenant).await?;
    let mut profile = read.unwrap_or_else(|| TenantProfile::empty(tenant, now));
    let previous = profile.currency;
    profile.currency = Some(currency);
    profile.updated_at = now;
    profiles.save_profile(&profile, revision).await?.map_err(|Conflict| SaveError::Conflict(CONFLICT))?;
    tracing::info!(tenant_id = tenant.0, currency = %currency, "reporting currency set");
    Ok(json!({
        "reporting_currency": currency,
        "previous_reporting_currency": previous,
        "reporting_time_zone": profile.reporting_time_zone,
    }))
}
