//! The spend-sync job router: what `meta-spend-sync` does with each event it is handed — the
//! hourly fan-out (with the provider FX rates beside it), one tenant's sync (then the lead-arrived
//! flow for the leads its sweep brought, and the re-send of pending hand-offs), a tenant's
//! `meta.connected` follow-up — and the by-hand run of all of it for the local stack. The
//! function crate is its entry point and a few lines; the modes are documented there.

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use crate::domain::ids::TenantId;
use crate::flows::lead_arrived::{meta_leads_arrived, resend_handoffs};
use crate::marketing::fx::provider::{refresh_configured, ProviderOutcome};
use crate::meta::follow_up::{self, FollowUp, META_CONNECTED};
use crate::meta::insights::{fan_out, sync_tenant, FanOutSummary, TenantOutcome, TenantSync, SPEND_SYNC_REQUESTED};
use crate::platform::metrics::{names, MetricLine, Unit};
use crate::platform::retry::{Sleeper, TokioSleeper};
use crate::store::StoreError;
use crate::App;

/// `detail-type` of the events EventBridge Scheduler rules send.
pub const SCHEDULED_EVENT: &str = "Scheduled Event";

/// What the event asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    FanOut,
    Tenant(TenantId),
    /// A tenant's Meta connect follow-up.
    Connected(TenantId),
    /// Not ours (logged, acknowledged: retrying would not help).
    Unrecognised(String),
}

/// Reads the mode from the EventBridge envelope.
pub fn invocation_of(payload: &Value) -> Invocation {
    match payload.get("detail-type").and_then(Value::as_str) {
        Some(SCHEDULED_EVENT) => Invocation::FanOut,
        Some(kind @ (SPEND_SYNC_REQUESTED | META_CONNECTED)) => {
            match payload.pointer("/detail/tenant_id").and_then(Value::as_i64) {
                Some(t) if t > 0 && kind == META_CONNECTED => Invocation::Connected(TenantId(t)),
                Some(t) if t > 0 => Invocation::Tenant(TenantId(t)),
                _ => Invocation::Unrecognised(format!("{kind} without an integer detail.tenant_id")),
            }
        }
        Some(other) => {
            Invocation::Unrecognised(format!("detail-type {:?}", crate::platform::telemetry::bounded(other, 64)))
        }
        None => Invocation::Unrecognised("no detail-type".into()),
    }
}

/// What one invocation did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum Summary {
    FanOut {
        #[serde(flatten)]
        fan_out: FanOutSummary,
        fx_provider: ProviderOutcome,
    },
    Tenant(TenantSync),
    Connected(FollowUp),
    Ignored {
        reason: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum InvocationError {
    #[error("fan-out could not read the connected index: {0}")]
    FanOut(#[from] StoreError),
    #[error("tenant {tenant} is throttled by Meta; retry in about {retry_after_secs}s")]
    Throttled { tenant: i64, retry_after_secs: u64 },
    #[error("spend sync of tenant {0} failed; see its accounts in the log")]
    Failed(i64),
    #[error("Meta connect follow-up of tenant {tenant} failed: {reason}")]
    FollowUp { tenant: i64, reason: String },
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
            let (fx_provider, fanned) = tokio::join!(
                refresh_configured(app.into()),
                fan_out(app.connected_index.as_ref(), app.job_bus.as_ref(), sleeper.as_ref())
            );
            if let Some(line) = provider_metrics(&fx_provider) {
                line.emit();
            }
            Summary::FanOut { fan_out: fanned?, fx_provider }
        }
        Invocation::Tenant(tenant) => {
            let sync = Box::pin(sync_tenant(app.into(), tenant, sleeper)).await;
            lead_arrivals(app, &sync).await;
            tenant_metrics(&sync, app.clock.now()).emit();
            Summary::Tenant(sync)
        }
        Invocation::Connected(tenant) => {
            let done = Box::pin(follow_up::run(app.into(), tenant, app.clock.now()))
                .await
                .map_err(|e| InvocationError::FollowUp { tenant: tenant.0, reason: e.to_string() })?;
            meta_leads_arrived(app, &done.leads.ingested, app.clock.now()).await;
            Summary::Connected(done)
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

/// The metrics of one tenant-mode invocation (see the module doc).
pub fn tenant_metrics(sync: &TenantSync, now: chrono::DateTime<chrono::Utc>) -> MetricLine {
    let (ok, failed) = match sync.outcome {
        TenantOutcome::Synced => (1, 0),
        TenantOutcome::Failed | TenantOutcome::TokenExpired | TenantOutcome::Throttled { .. } => (0, 1),
        TenantOutcome::NotConnected | TenantOutcome::Deferred { .. } => (0, 0),
    };
    let line =
        MetricLine::new().count(names::SPEND_SYNC_TENANTS_OK, ok).count(names::SPEND_SYNC_TENANTS_FAILED, failed);
    match sync.previous_synced_at {
        // Whole seconds; i64 → f64 is exact for any lag we could see.
        Some(at) => line.value(names::SPEND_SYNC_LAG_SECONDS, Unit::Seconds, (now - at).num_seconds().max(0) as f64),
        None => line,
    }
}

/// The fan-out's provider metric: `FxProviderFailures` 1 or 0, nothing when disabled.
pub fn provider_metrics(outcome: &ProviderOutcome) -> Option<MetricLine> {
    match outcome {
        ProviderOutcome::Disabled => None,
        ProviderOutcome::Refreshed(_) => Some(MetricLine::new().count(names::FX_PROVIDER_FAILURES, 0)),
        ProviderOutcome::Failed { .. } => Some(MetricLine::new().count(names::FX_PROVIDER_FAILURES, 1)),
    }
}

/// Leads the reconciliation brought (their webhook never arrived) get the lead-arrived flow, as
/// the webhook's do, and hand-offs left pending by a crash or an outage are re-sent. Both are
/// idempotent; a failure is logged (the lead itself is stored; the next run re-sends a pending
/// hand-off, and the lead's next CRM update re-creates its due item).
async fn lead_arrivals(app: &App, sync: &TenantSync) {
    let now = app.clock.now();
    if let Some(leads) = &sync.leads {
        meta_leads_arrived(app, &leads.ingested, now).await;
    }
    if matches!(sync.outcome, TenantOutcome::Synced | TenantOutcome::Failed) {
        resend_handoffs(app, TenantId(sync.tenant_id), now).await;
    }
}

/// What [`run_by_hand`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ByHand {
    pub fan_out: FanOutSummary,
    pub fx_provider: ProviderOutcome,
    pub tenants: Vec<TenantSync>,
}

/// By hand (locally, where moto fires no schedules and delivers no bus events): the fan-out and
/// the provider rates, then the sync of every connected tenant in turn, as the bus rule would run them.
pub async fn run_by_hand(app: &App, sleeper: Arc<dyn Sleeper>) -> Result<ByHand, StoreError> {
    let fx_provider = refresh_configured(app.into()).await;
    let fanned = fan_out(app.connected_index.as_ref(), app.job_bus.as_ref(), sleeper.as_ref()).await?;
    let mut synced = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let (tenants, next) = app.connected_index.connected_page(cursor.as_deref(), 500).await?;
        for t in tenants {
            let sync = sync_tenant(app.into(), t.tenant_id, sleeper.clone()).await;
            lead_arrivals(app, &sync).await;
            synced.push(sync);
        }
        match next {
            Some(n) => cursor = Some(n),
            None => return Ok(ByHand { fan_out: fanned, fx_provider, tenants: synced }),
        }
    }
}
