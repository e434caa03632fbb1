//! The CRM-events flow: each event applied to its entity and the aggregates (idempotent), then
//! what follows it — its automated message scheduled, moved or cancelled, and for a lead the
//! events parked waiting for it redriven; malformed events dead-lettered; the schedule's sweep of
//! parked events ([`redrive`]). `functions/crm-events` is its entry point (failure paths there).

use crate::automation::scheduling::reconcile;
use crate::events::{apply_event, dead_letter, envelope_ids, parse_event, Applied, CrmEvent, CrmEventKind};
use crate::meta::conversions::{after_crm_event, QueuePorts};
use crate::store::StoreError;
use crate::App;
use serde::Serialize;
use serde_json::Value;

pub mod redrive;

/// What one invocation did, event by event.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub applied: u32,
    pub duplicate: u32,
    pub stale: u32,
    pub dead_lettered: u32,
    /// Early events parked until their lead arrives (counted when it does).
    pub parked: u32,
    /// Parked events applied now, their lead being there.
    pub redriven: u32,
    /// Parked events still waiting for their lead after a sweep looked at them.
    pub waiting: u32,
    /// Parked events whose lead never came within the limit: dead-lettered (and alarmed).
    pub expired: u32,
    /// Events that failed transiently (the invocation then fails so they are retried).
    pub retry: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum InvocationError {
    #[error("{failed} event(s) failed transiently and must be retried: {first}")]
    Retry { failed: u32, first: String },
    #[error("cannot dead-letter a malformed event: {0}")]
    DeadLetter(#[from] StoreError),
}

/// One invocation's tally, and its first transient failure.
#[derive(Debug, Default)]
pub struct Run {
    pub summary: Summary,
    pub first_failure: Option<String>,
}

impl Run {
    /// Records a transient failure of `what`: the invocation will fail so it is retried.
    pub fn fail(&mut self, what: &str, why: &str) {
        self.summary.retry += 1;
        self.first_failure.get_or_insert_with(|| format!("{what}: {why}"));
    }

    fn finish(self) -> Result<Summary, InvocationError> {
        match self.first_failure {
            Some(first) => Err(InvocationError::Retry { failed: self.summary.retry, first }),
            None => Ok(self.summary),
        }
    }
}

/// Splits the payload into EventBridge events.
pub fn events_of(payload: Value) -> Vec<Value> {
    match payload {
        Value::Array(items) => items,
        Value::Object(ref o) if o.get("Records").is_some_and(Value::is_array) => o
            .get("Records")
            .and_then(Value::as_array)
            .map(|records| {
                records
                    .iter()
                    .map(|r| {
                        r.get("body")
                            .and_then(Value::as_str)
                            .and_then(|b| serde_json::from_str(b).ok())
                            .unwrap_or_else(|| r.clone())
                    })
                    .collect()
            })
            .unwrap_or_default(),
        other => vec![other],
    }
}

pub async fn handle_event(app: &App, payload: Value) -> Result<Summary, InvocationError> {
    let mut run = Run::default();
    for raw in events_of(payload) {
        let now = app.clock.now();
        if redrive::is_sweep(&raw) {
            redrive::sweep(app, now, &mut run).await;
            continue;
        }
        let (event_id, detail_type, tenant) = envelope_ids(&raw);
        let event = match parse_event(&raw) {
            Ok(e) => e,
            Err(reason) => {
                tracing::error!(event_id = ?event_id, detail_type = ?detail_type, tenant_id = ?tenant, reason = %reason, "malformed CRM event dead-lettered");
                dead_letter(app.events.as_ref(), &raw, &reason.0, now).await?;
                run.summary.dead_lettered += 1;
                continue;
            }
        };
        apply_one(app, &event, &mut run).await;
    }
    run.finish()
}

/// What follows an applied event, whatever path applied it (delivery or redrive): its automated
/// message scheduled, moved or cancelled; the stage it reaches queued for Meta's Conversions API.
pub async fn follow_ons(app: &App, event: &CrmEvent, now: chrono::DateTime<chrono::Utc>) -> Result<(), String> {
    reconcile(app.into(), event, now).await.map_err(|e| format!("automation scheduling: {e}"))?;
    let ports = QueuePorts { events: app.events.as_ref(), conversions: app.conversions.as_ref() };
    after_crm_event(ports, event, now).await.map_err(|e| format!("conversions queue: {e}"))?;
    Ok(())
}

/// Applies one event, then what follows: its automated message, and for a lead the events that
/// were parked waiting for it.
async fn apply_one(app: &App, event: &CrmEvent, run: &mut Run) {
    let now = app.clock.now();
    let outcome = match apply_event(app.events.as_ref(), event, now).await {
        Ok(outcome) => outcome,
        Err(e) => {
            tracing::error!(event_id = event.event_id.as_str(), error = %e, "CRM event failed; will be retried");
            return run.fail(event.event_id.as_str(), &e.to_string());
        }
    };
    tracing::info!(event_id = event.event_id.as_str(), detail_type = event.kind.detail_type(), tenant_id = event.tenant_id.0, outcome = ?outcome, "CRM event");
    match outcome {
        Applied::Applied => run.summary.applied += 1,
        Applied::Duplicate => run.summary.duplicate += 1,
        Applied::Stale => run.summary.stale += 1,
        // Nothing applied yet: its automation is scheduled when it is redriven.
        Applied::Parked => return run.summary.parked += 1,
    }
    // Schedule, move or cancel the entity's automated WhatsApp message, and queue the stage it
    // reaches for Meta. Both idempotent, so they also run for duplicates: a failure here fails the
    // invocation, and the retried event (then a duplicate) does them again.
    if let Err(e) = follow_ons(app, event, now).await {
        tracing::error!(event_id = event.event_id.as_str(), error = %e, "CRM event follow-ons failed; will be retried");
        run.fail(event.event_id.as_str(), &e);
    }
    // Also after a duplicate or stale `lead.created`: a retried invocation finishes a redrive
    // that failed half-way.
    if let CrmEventKind::LeadCreated(lead) = &event.kind {
        redrive::after_lead(app, event.tenant_id, lead.id.as_str(), now, run).await;
    }
}
