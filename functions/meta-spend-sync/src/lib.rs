//! `meta-spend-sync`: one function, two modes chosen by the event.
//!
//! - an EventBridge **Scheduled Event** (hourly rule) → *fan-out*: pages the connected-tenant
//!   index and puts one `spend-sync.requested` event per tenant on the product bus (batches of 10,
//!   refused entries retried);
//! - a **`spend-sync.requested`** event (bus rule) → *tenant* mode: syncs that tenant's selected
//!   ad accounts ([`crm_shared::meta::insights::sync_tenant`]).
//!
//! The summary is logged as one JSON line. A tenant Meta throttles, or whose sync failed, fails
//! the invocation so Lambda's async retries run it later and, when they are exhausted, the event
//! lands in the function's dead-letter queue (failed tenants stay visible). An expired token is
//! not retried (the connection is marked expired; token-status asks for a reconnect). A tenant
//! whose Meta usage headers reached the ceiling (`deferred`) stopped calling before the wall: the
//! invocation succeeds (no dead letter for a healthy tenant) and the next schedule syncs it.

use std::sync::Arc;

use crm_shared::automation::scheduling::reconcile_entity;
use crm_shared::domain::hsm::TriggerKind;
use crm_shared::domain::ids::TenantId;
use crm_shared::meta::insights::{
    fan_out, sync_tenant, FanOutSummary, TenantOutcome, TenantSync, SPEND_SYNC_REQUESTED,
};
use crm_shared::platform::retry::{Sleeper, TokioSleeper};
use crm_shared::platform::secrets::{SecretName, SecretNeeds};
use crm_shared::store::StoreError;
use crm_shared::App;
use serde::Serialize;
use serde_json::Value;

/// The secrets this function resolves; nothing else is read. The Meta app secret
/// (`appsecret_proof`); not an HTTP function, so no caller auth.
pub const SECRETS: SecretNeeds = &[SecretName::MetaAppSecret];

/// `detail-type` of the events EventBridge Scheduler rules send.
pub const SCHEDULED_EVENT: &str = "Scheduled Event";

/// What the event asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    FanOut,
    Tenant(TenantId),
    /// Not ours (logged, acknowledged: retrying would not help).
    Unrecognised(String),
}

/// Reads the mode from the EventBridge envelope.
pub fn invocation_of(payload: &Value) -> Invocation {
    match payload.get("detail-type").and_then(Value::as_str) {
        Some(SCHEDULED_EVENT) => Invocation::FanOut,
        Some(SPEND_SYNC_REQUESTED) => match payload.pointer("/detail/tenant_id").and_then(Value::as_i64) {
            Some(t) if t > 0 => Invocation::Tenant(TenantId(t)),
            _ => Invocation::Unrecognised("spend-sync.requested without an integer detail.tenant_id".into()),
        },
        Some(other) => {
            Invocation::Unrecognised(format!("detail-type {:?}", crm_shared::platform::telemetry::bounded(other, 64)))
        }
        None => Invocation::Unrecognised("no detail-type".into()),
    }
}

/// What one invocation did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum Summary {
    FanOut(FanOutSummary),
    Tenant(TenantSync),
    Ignored { reason: String },
}

#[derive(Debug, thiserror::Error)]
pub enum InvocationError {
    #[error("fan-out could not read the connected index: {0}")]
    FanOut(#[from] StoreError),
    #[error("tenant {tenant} is throttled by Meta; retry in about {retry_after_secs}s")]
    Throttled { tenant: i64, retry_after_secs: u64 },
    #[error("spend sync of tenant {0} failed; see its accounts in the log")]
    Failed(i64),
}

pub async fn handle_event(app: &App, payload: Value) -> Result<Summary, InvocationError> {
    handle_event_with(app, payload, Arc::new(TokioSleeper)).await
}

/// [`handle_event`] with the waits spent by `sleeper` (tests record them).
pub async fn handle_event_with(
    app: &App,
    payload: Value,
    sleeper: Arc<dyn Sleeper>,
) -> Result<Summary, InvocationError> {
    let summary = match invocation_of(&payload) {
        Invocation::FanOut => {
            Summary::FanOut(fan_out(app.connected_index.as_ref(), app.job_bus.as_ref(), sleeper.as_ref()).await?)
        }
        Invocation::Tenant(tenant) => {
            let sync = Box::pin(sync_tenant(app, tenant, sleeper)).await;
            schedule_followups(app, &sync).await;
            Summary::Tenant(sync)
        }
        Invocation::Unrecognised(reason) => Summary::Ignored { reason },
    };
    tracing::info!(summary = %serde_json::to_string(&summary).unwrap_or_default(), "meta-spend-sync");
    match &summary {
        Summary::Tenant(TenantSync { tenant_id, outcome: TenantOutcome::Throttled { retry_after_secs }, .. }) => {
            Err(InvocationError::Throttled { tenant: *tenant_id, retry_after_secs: *retry_after_secs })
        }
        Summary::Tenant(TenantSync { tenant_id, outcome: TenantOutcome::Failed, .. }) => {
            Err(InvocationError::Failed(*tenant_id))
        }
        _ => Ok(summary),
    }
}

/// Leads the reconciliation brought (their webhook never arrived) get their automated follow-up
/// scheduled, as the webhook does for its leads. Scheduling is idempotent; a failure is logged
/// (the lead itself is stored, and its due item is re-created by the lead's next CRM update).
async fn schedule_followups(app: &App, sync: &TenantSync) {
    let now = app.clock.now();
    for lead_id in sync.leads.iter().flat_map(|l| l.ingested.iter()) {
        if let Err(e) = reconcile_entity(app, TenantId(sync.tenant_id), TriggerKind::LeadFollowup, lead_id, now).await {
            tracing::error!(tenant_id = sync.tenant_id, error = %e, "follow-up of a reconciled lead not scheduled");
        }
    }
}

/// By hand (locally, where moto fires no schedules and delivers no bus events): the fan-out, then
/// the sync of every connected tenant in turn, as the bus rule would run them.
pub async fn run_by_hand(app: &App, sleeper: Arc<dyn Sleeper>) -> Result<(FanOutSummary, Vec<TenantSync>), StoreError> {
    let fanned = fan_out(app.connected_index.as_ref(), app.job_bus.as_ref(), sleeper.as_ref()).await?;
    let mut synced = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let (tenants, next) = app.connected_index.connected_page(cursor.as_deref(), 500).await?;
        for t in tenants {
            let sync = sync_tenant(app, t.tenant_id, sleeper.clone()).await;
            schedule_followups(app, &sync).await;
            synced.push(sync);
        }
        match next {
            Some(n) => cursor = Some(n),
            None => return Ok((fanned, synced)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use chrono::TimeZone;
    use crm_shared::platform::clock::ManualClock;
    use crm_shared::platform::config::Config;
    use crm_shared::store::connected_index::{ConnectedIndex, ConnectedTenant};
    use serde_json::json;

    use super::*;

    #[derive(Default)]
    struct RecordingSleeper(std::sync::Mutex<Vec<std::time::Duration>>);

    #[async_trait::async_trait]
    impl Sleeper for RecordingSleeper {
        async fn sleep(&self, d: std::time::Duration) {
            self.0.lock().unwrap_or_else(|p| p.into_inner()).push(d);
        }
    }

    fn app() -> (App, crm_shared::api::app::InMemory) {
        let config = Config::from_lookup_for(SECRETS, |k| match k {
            "TABLE_NAME" => Some("t".into()),
            _ => None,
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let now = chrono::Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).single().unwrap_or_default();
        App::in_memory(config, Arc::new(ManualClock::new(now)))
    }

    fn scheduled() -> Value {
        json!({"version": "0", "id": "e1", "detail-type": "Scheduled Event", "source": "aws.events",
               "account": "1", "time": "2026-11-24T12:00:00Z", "region": "us-east-1",
               "resources": ["arn:aws:events:us-east-1:1:rule/spend-sync"], "detail": {}})
    }

    fn sample(text: &str) -> Value {
        serde_json::from_str(text).unwrap_or_else(|e| panic!("sample: {e}"))
    }

    #[test]
    fn the_event_chooses_the_mode() {
        assert_eq!(invocation_of(&scheduled()), Invocation::FanOut);
        assert_eq!(
            invocation_of(&sample(include_str!("../../../events/spend-sync-scheduled.json"))),
            Invocation::FanOut
        );
        assert_eq!(
            invocation_of(&sample(include_str!("../../../events/spend-sync-requested.json"))),
            Invocation::Tenant(TenantId(1))
        );
        let req = json!({"detail-type": "spend-sync.requested", "source": "crm-marketing.spend-sync", "detail": {"tenant_id": 7}});
        assert_eq!(invocation_of(&req), Invocation::Tenant(TenantId(7)));
        for bad in [
            json!({"detail-type": "spend-sync.requested", "detail": {"tenant_id": "7"}}),
            json!({"detail-type": "spend-sync.requested", "detail": {}}),
            json!({"detail-type": "lead.created", "detail": {}}),
            json!({}),
        ] {
            assert!(matches!(invocation_of(&bad), Invocation::Unrecognised(_)), "{bad}");
        }
    }

    #[tokio::test]
    async fn fan_out_publishes_one_event_per_connected_tenant_in_batches_of_ten() {
        let (app, mem) = app();
        let at = app.clock.now();
        for t in 1..=23 {
            mem.connected_index
                .mark_connected(&ConnectedTenant { tenant_id: TenantId(t), connected_at: at })
                .await
                .ok();
        }
        let sleeper = Arc::new(RecordingSleeper::default());
        let summary = handle_event_with(&app, scheduled(), sleeper.clone()).await.expect("fan-out");
        assert_eq!(summary, Summary::FanOut(FanOutSummary { tenants: 23, published: 23, failed: 0, batches: 3 }));
        let mut tenants: Vec<i64> = mem
            .job_bus
            .published()
            .iter()
            .map(|e| {
                assert_eq!(
                    (e.source.as_str(), e.detail_type.as_str()),
                    ("crm-marketing.spend-sync", "spend-sync.requested")
                );
                serde_json::from_str::<Value>(&e.detail).ok().and_then(|d| d["tenant_id"].as_i64()).unwrap_or(0)
            })
            .collect();
        tenants.sort_unstable();
        assert_eq!(tenants, (1..=23).collect::<Vec<_>>());
        assert!(sleeper.0.lock().map(|w| w.is_empty()).unwrap_or(false), "nothing refused, nothing waited");
    }

    #[tokio::test]
    async fn refused_entries_are_retried_with_backoff_and_published_once() {
        let (app, mem) = app();
        let at = app.clock.now();
        for t in 1..=12 {
            mem.connected_index
                .mark_connected(&ConnectedTenant { tenant_id: TenantId(t), connected_at: at })
                .await
                .ok();
        }
        mem.job_bus.fail_next.store(3, Ordering::SeqCst);
        let sleeper = Arc::new(RecordingSleeper::default());
        let summary = handle_event_with(&app, scheduled(), sleeper.clone()).await.expect("fan-out");
        assert_eq!(summary, Summary::FanOut(FanOutSummary { tenants: 12, published: 12, failed: 0, batches: 3 }));
        assert_eq!(mem.job_bus.published().len(), 12, "each tenant exactly once");
        assert_eq!(sleeper.0.lock().map(|w| w.len()).unwrap_or(0), 1, "one backoff before the retry");
    }

    #[tokio::test]
    async fn a_tenant_without_a_connection_is_not_an_error() {
        let (app, _) = app();
        let req = json!({"detail-type": "spend-sync.requested", "detail": {"tenant_id": 42}});
        let summary = handle_event_with(&app, req, Arc::new(RecordingSleeper::default())).await.expect("ok");
        let Summary::Tenant(t) = summary else { panic!("tenant mode") };
        assert_eq!(t.outcome, TenantOutcome::NotConnected);
    }

    #[tokio::test]
    async fn an_unknown_event_is_acknowledged_not_retried() {
        let (app, _) = app();
        let summary = handle_event_with(&app, json!({"detail-type": "x"}), Arc::new(RecordingSleeper::default()))
            .await
            .expect("acknowledged");
        assert!(matches!(summary, Summary::Ignored { .. }));
    }
}
