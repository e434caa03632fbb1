//! `crm-events`: consumes CRM domain events from the product's EventBridge bus (rule
//! `source = ["crm"]`) and applies each to its entity item and the tenant's aggregates,
//! idempotently (see [`crm_shared::events`]).
//!
//! Failure paths:
//! - a **malformed** event (unknown type, missing/invalid field, unknown currency or zone) can never
//!   succeed: it is logged with its id, written to the dead-letter partition `DLQ#crm-events` in
//!   the table with the reason and payload, and acknowledged — it never fails the invocation nor
//!   blocks the other events of a batch, and nothing of it is applied;
//! - an **early** opportunity or sale (its lead has not arrived yet) is parked, not failed: when
//!   its lead is applied here it is redriven at once, and the schedule's sweep ([`redrive`])
//!   redrives what is left and expires — dead-letters, logs, counts for the alarm — what waited
//!   longer than `PARK_LIMIT_DAYS`;
//! - a **transient** failure (DynamoDB throttled/unavailable, persistent write contention) fails
//!   the invocation after the rest of the batch is processed: Lambda's async retries run it again
//!   (applying is idempotent) and, when they are exhausted, the event lands in the function's SQS
//!   dead-letter queue for redrive.
//!
//! The payload is one EventBridge event; an array of events or an SQS batch (`Records[].body`,
//! e.g. a redrive from the DLQ) is accepted too. A *Scheduled Event* (`source = aws.events`) runs
//! the sweep of parked events.

use crm_shared::automation::scheduling::reconcile;
use crm_shared::events::{apply_event, dead_letter, envelope_ids, parse_event, Applied, CrmEvent, CrmEventKind};
use crm_shared::platform::secrets::SecretNeeds;
use crm_shared::store::StoreError;
use crm_shared::App;
use serde::Serialize;
use serde_json::Value;

pub mod redrive;
/// The secrets this function resolves; nothing else is read. None: CRM events come from EventBridge
/// and call no peer.
pub const SECRETS: SecretNeeds = &[];

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
fn events_of(payload: Value) -> Vec<Value> {
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
    // Schedule, move or cancel the entity's automated WhatsApp message. Idempotent, so it also
    // runs for duplicates: a failure here fails the invocation, and the retried event (then a
    // duplicate) schedules again.
    if let Err(e) = reconcile(app, event, now).await {
        tracing::error!(event_id = event.event_id.as_str(), error = %e, "automation scheduling failed; will be retried");
        run.fail(event.event_id.as_str(), &e.to_string());
    }
    // Also after a duplicate or stale `lead.created`: a retried invocation finishes a redrive
    // that failed half-way.
    if let CrmEventKind::LeadCreated(lead) = &event.kind {
        redrive::after_lead(app, event.tenant_id, lead.id.as_str(), now, run).await;
    }
}

#[cfg(test)]
mod tests {
    use crm_shared::store::events::dead_letters;
    use crm_shared::testing::unit_app;
    use crm_shared::testing::unit_now;
    use serde_json::json;

    use super::*;

    fn event(detail_type: &str, event_id: &str, key: &str, body: Value) -> Value {
        json!({"source": "crm", "detail-type": detail_type, "detail": {
            "event_id": event_id, "tenant_id": 5, "occurred_at": "2026-11-20T10:00:00Z", key: body}})
    }

    /// The handler runs on the events port: the in-memory app applies, de-duplicates,
    /// dead-letters and asks for retries like the DynamoDB one (`tests/it/crm_events.rs`).
    #[tokio::test]
    async fn a_batch_is_applied_through_the_events_port() {
        let (app, mem) = unit_app(&[]);
        let lead = event(
            "lead.created",
            "e-1",
            "lead",
            json!({"id": "L-1", "created_at": "2026-11-20T10:00:00Z", "source": "WEBSITE"}),
        );
        let unknown = event("lead.deleted", "e-2", "lead", json!({"id": "L-1"}));
        let s = handle_event(&app, json!([lead.clone(), unknown, lead])).await.expect("batch");
        assert_eq!(s, Summary { applied: 1, duplicate: 1, dead_lettered: 1, ..Summary::default() });
        let dlq = dead_letters(mem.table.as_ref(), unit_now(), unit_now()).await.expect("dead letters");
        assert_eq!(dlq.len(), 1);
        assert!(dlq[0].reason.contains("lead.deleted"), "{}", dlq[0].reason);

        let early_sale = event(
            "sale.completed",
            "e-3",
            "sale",
            json!({"id": "S-1", "lead_id": "L-2", "amount_minor": 100, "currency": "USD", "completed_at": "2026-11-20T11:00:00Z"}),
        );
        let parked = handle_event(&app, early_sale).await.expect("parked, not failed");
        assert_eq!(parked, Summary { parked: 1, ..Summary::default() });
    }

    #[test]
    fn accepts_one_event_an_array_or_an_sqs_redrive_batch() {
        let ev = json!({"source": "crm", "detail-type": "lead.created", "detail": {}});
        assert_eq!(events_of(ev.clone()), vec![ev.clone()]);
        assert_eq!(events_of(json!([ev.clone(), ev.clone()])).len(), 2);
        let sqs =
            json!({"Records": [{"messageId": "m1", "body": ev.to_string()}, {"messageId": "m2", "body": "not json"}]});
        let out = events_of(sqs);
        assert_eq!(out[0], ev);
        // An unreadable record is passed on whole, to be dead-lettered with its reason.
        assert_eq!(out[1]["messageId"], "m2");
    }
}
