//! `hsm-trigger-evaluator`: invoked every 5 minutes by a scheduled EventBridge rule (and locally by
//! `POST /__local/hsm-evaluate` / `make hsm-evaluate`). One run reads only the past-due automation
//! items and sends each WhatsApp template at most once ([`crm_shared::automation::evaluator`]);
//! it stops claiming new work 10 s before the Lambda deadline (the rest is the next run's).

use std::time::Instant;

use crm_shared::api::wiring::Wiring;
use crm_shared::automation::evaluator::{run_scheduled, EvalError};
use crm_shared::platform::secrets::{SecretName, SecretNeeds};
use crm_shared::App;
use serde_json::Value;

/// The secrets this function resolves; nothing else is read. The platform's YCloud API key (only
/// a single-business deployment sets it; tenants send with their own connections' keys); not an
/// HTTP function, so no caller auth.
pub const SECRETS: SecretNeeds = &[SecretName::YcloudApiKey];

pub use crm_shared::platform::clock::deadline_of;

/// The AWS clients built besides DynamoDB and Secrets Manager (`crm_shared::api::wiring`; IAM
/// grants match). KMS opens tenants' YCloud keys.
pub const WIRING: Wiring = Wiring { kms: true, bus: false };

/// One run; the answer is its summary (items, items read, outcomes).
pub async fn handle_event(app: &App, deadline: Option<Instant>) -> Result<Value, EvalError> {
    let summary = Box::pin(run_scheduled(app.into(), deadline)).await?;
    Ok(serde_json::to_value(&summary).unwrap_or(Value::Null))
}

#[cfg(test)]
mod tests {
    use crm_shared::testing::unit_app;

    use super::*;

    #[tokio::test]
    async fn without_a_platform_sender_a_run_still_serves_tenants_own_connections() {
        // No YCLOUD_API_KEY / YCLOUD_WHATSAPP_NUMBER: a multi-tenant deployment, where each tenant
        // sends through its own connection; nothing due here, so the run completes empty.
        let (app, _) = unit_app(&[]);
        let summary = handle_event(&app, None).await.expect("a run without a platform sender");
        assert_eq!(summary["items"], 0);
    }

    #[test]
    fn a_past_deadline_is_now() {
        assert!(deadline_of(0) <= Instant::now());
    }
}
