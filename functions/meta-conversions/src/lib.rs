//! `meta-conversions`: invoked every 5 minutes by a scheduled EventBridge rule (and locally by
//! `POST /__local/conversions-flush` / `make conversions-flush`). One run sends, for every tenant
//! with pending conversions, its Meta leads' CRM stages to its dataset (Conversions API for CRM),
//! batched, once each ([`crm_shared::flows::conversions::flush_all`]); it stops starting tenants
//! 10 s before the Lambda deadline (the rest stay marked for the next run).

use std::time::{Duration, Instant};

use crm_shared::api::wiring::Wiring;
use crm_shared::flows::conversions::{flush_all, RUN_BUDGET};
use crm_shared::platform::secrets::{SecretName, SecretNeeds};
use crm_shared::store::StoreError;
use crm_shared::App;
use serde_json::Value;

/// The secrets this function resolves: the Meta app secret (`appsecret_proof`). Not an HTTP
/// function, so no caller auth.
pub const SECRETS: SecretNeeds = &[SecretName::MetaAppSecret];

/// The AWS clients built besides DynamoDB and Secrets Manager (`crm_shared::api::wiring`; IAM
/// grants match). KMS opens each tenant's stored Meta token.
pub const WIRING: Wiring = Wiring { kms: true, bus: false };

/// Time kept back from the Lambda deadline.
const MARGIN: Duration = Duration::from_secs(10);

/// One run; the answer is its summary.
pub async fn handle_event(app: &App, deadline: Option<Instant>) -> Result<Value, StoreError> {
    let budget = deadline.map_or(RUN_BUDGET, |d| d.saturating_duration_since(Instant::now()).saturating_sub(MARGIN));
    let summary = flush_all(app, app.clock.now(), budget.min(RUN_BUDGET)).await?;
    tracing::info!(
        tenants = summary.tenants,
        sent = summary.sent,
        skipped = summary.skipped,
        failed = summary.failed,
        requests = summary.requests,
        "conversions run finished"
    );
    Ok(serde_json::to_value(&summary).unwrap_or(Value::Null))
}

#[cfg(test)]
mod tests {
    use crm_shared::testing::unit_app;

    use super::*;

    #[tokio::test]
    async fn a_run_with_nothing_pending_sends_nothing() {
        let (app, _) = unit_app(&[]);
        let summary = handle_event(&app, None).await.expect("run");
        assert_eq!((summary["tenants"].as_u64(), summary["requests"].as_u64()), (Some(0), Some(0)));
    }
}
