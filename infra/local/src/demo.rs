//! The demo tenant `make dev` seeds, and a JWT for it.

use chrono::{DateTime, Duration, Utc};
use crm_shared::auth::sign_hs256;
use crm_shared::store::{TenantProfile, TenantProfileStore};
use crm_shared::tenant::TenantId;
use serde_json::json;

pub const DEMO_TENANT: TenantId = TenantId(1);

pub async fn seed(profiles: &dyn TenantProfileStore, now: DateTime<Utc>) -> Result<(), crm_shared::store::StoreError> {
    if profiles.get_profile(DEMO_TENANT).await?.is_some() {
        return Ok(());
    }
    profiles
        .put_profile(&TenantProfile {
            tenant_id: DEMO_TENANT,
            display_name: "Demo Clinic".into(),
            reporting_time_zone: None,
            currency: None,
            updated_at: now,
        })
        .await
}

/// A CRM-shaped JWT (HS256; `user_id`, `email`, `role`, integer `tenant_id`, `exp`).
pub fn jwt(key: &str, tenant: TenantId, role: &str, now: DateTime<Utc>, valid_for: Duration) -> String {
    sign_hs256(
        &json!({
            "user_id": "demo-admin",
            "email": "admin@demo.local",
            "role": role,
            "tenant_id": tenant.0,
            "exp": (now + valid_for).timestamp(),
        }),
        key.as_bytes(),
    )
}
