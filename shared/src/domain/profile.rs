//! The tenant's profile (`T#{tenant}` / `PROFILE`): display name and reporting settings.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::ids::TenantId;
use crate::domain::money::Currency;
use crate::domain::zone::Zone;

/// `T#{tenant}` / `PROFILE`: display name and reporting settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantProfile {
    pub tenant_id: TenantId,
    pub display_name: String,
    /// Defaults to the primary Meta ad account's zone once connected.
    #[serde(default)]
    pub reporting_time_zone: Option<Zone>,
    /// The reporting currency.
    #[serde(default)]
    pub currency: Option<Currency>,
    pub updated_at: DateTime<Utc>,
}

impl TenantProfile {
    /// A tenant's profile before anything set it: no name, zone or currency yet.
    pub fn empty(tenant_id: TenantId, at: DateTime<Utc>) -> Self {
        TenantProfile {
            tenant_id,
            display_name: String::new(),
            reporting_time_zone: None,
            currency: None,
            updated_at: at,
        }
    }
}
