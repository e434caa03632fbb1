//! Redriving parked events (`crate::events::early`): after a lead is applied, the events
//! parked for it; on the schedule (a *Scheduled Event*), every parked event — applied if its lead
//! exists by now, expired into the dead letters past the limit (metric `EarlyEventsExpired`).
//!
//! An applied one gets what follows any applied event (its automated message is scheduled) and
//! only then is released: a failure in between leaves it parked, and the retried invocation or
//! the next sweep applies it again as a duplicate and finishes the job.

use crate::automation::scheduling::reconcile;
use crate::domain::ids::TenantId;
use crate::events::{redrive, Applied, Redriven};
use crate::store::parked_events::ParkedEvent;
use crate::App;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::Run;

/// The most parked events one sweep looks at (soonest expiry first); the rest wait for the next.
pub const SWEEP_BATCH: usize = 500;

/// Whether `raw` is the schedule's invocation (EventBridge *Scheduled Event*), not a CRM event.
pub fn is_sweep(raw: &Value) -> bool {
    raw.get("source").and_then(Value::as_str) == Some("aws.events")
        && raw.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event")
}

/// Redrives one parked event; an error leaves it parked.
async fn redrive_one(app: &App, parked: &ParkedEvent, now: DateTime<Utc>, run: &mut Run) -> Result<(), String> {
    match redrive(app.events.as_ref(), parked, now).await.map_err(|e| e.to_string())? {
        Redriven::Applied(event, outcome) => {
            reconcile(app.into(), &event, now).await.map_err(|e| format!("automation scheduling: {e}"))?;
            app.events.release(parked).await.map_err(|e| e.to_string())?;
            tracing::info!(
                tenant_id = parked.tenant_id.0,
                event_id = %parked.event_id,
                detail_type = %parked.detail_type,
                lead_id = %parked.lead_id,
                outcome = ?outcome,
                "parked CRM event redriven"
            );
            if outcome == Applied::Applied {
                run.summary.redriven += 1;
            }
        }
        Redriven::Waiting => run.summary.waiting += 1,
        Redriven::Expired => run.summary.expired += 1,
        Redriven::Gone => {}
    }
    Ok(())
}

/// After `lead_id` was applied: redrives the events parked for it.
pub async fn after_lead(app: &App, tenant: TenantId, lead_id: &str, now: DateTime<Utc>, run: &mut Run) {
    let waiting = match app.events.waiting_for(tenant, lead_id).await {
        Ok(w) => w,
        Err(e) => return run.fail(&format!("lead {lead_id}"), &format!("parked events not read: {e}")),
    };
    for parked in &waiting {
        if let Err(e) = redrive_one(app, parked, now, run).await {
            tracing::error!(tenant_id = tenant.0, event_id = %parked.event_id, error = %e, "parked CRM event not redriven; will be retried");
            run.fail(&parked.event_id, &e);
        }
    }
}

/// The scheduled sweep over every parked event (up to [`SWEEP_BATCH`]).
pub async fn sweep(app: &App, now: DateTime<Utc>, run: &mut Run) {
    let parked = match app.events.parked_events(SWEEP_BATCH).await {
        Ok(p) => p,
        Err(e) => return run.fail("sweep", &format!("parked events not read: {e}")),
    };
    let before = run.summary.clone();
    for p in &parked {
        if let Err(e) = redrive_one(app, p, now, run).await {
            tracing::error!(tenant_id = p.tenant_id.0, event_id = %p.event_id, error = %e, "parked CRM event not redriven; the next sweep retries");
            run.fail(&p.event_id, &e);
        }
    }
    let s = &run.summary;
    tracing::info!(
        parked = parked.len(),
        redriven = s.redriven - before.redriven,
        expired = s.expired - before.expired,
        waiting = s.waiting - before.waiting,
        "early CRM events swept"
    );
}

#[cfg(test)]
mod tests {
    use crate::store::events::dead_letters;
    use crate::testing::{unit_app, unit_now};
    use serde_json::json;

    use super::super::{handle_event, Summary};
    use super::*;

    fn sale(event_id: &str, lead: &str) -> Value {
        json!({"source": "crm", "detail-type": "sale.completed", "detail": {
            "event_id": event_id, "tenant_id": 5, "occurred_at": "2026-11-20T10:00:00Z",
            "sale": {"id": event_id, "lead_id": lead, "amount_minor": 100, "currency": "USD", "completed_at": "2026-11-20T11:00:00Z"}}})
    }

    fn lead(lead: &str) -> Value {
        json!({"source": "crm", "detail-type": "lead.created", "detail": {
            "event_id": format!("e-{lead}"), "tenant_id": 5, "occurred_at": "2026-11-20T10:00:00Z",
            "lead": {"id": lead, "created_at": "2026-11-20T10:00:00Z", "source": "WEBSITE"}}})
    }

    fn schedule() -> Value {
        json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}})
    }

    #[tokio::test]
    async fn a_sale_in_the_same_batch_as_its_later_lead_is_counted() {
        let (app, _mem) = unit_app(&[]);
        let s = handle_event(&app, json!([sale("S-1", "L-1"), lead("L-1")])).await.expect("batch");
        assert_eq!(s, Summary { applied: 1, parked: 1, redriven: 1, ..Summary::default() });
        let again = handle_event(&app, sale("S-1", "L-1")).await.expect("re-delivery");
        assert_eq!(again.duplicate, 1);
    }

    #[tokio::test]
    async fn the_schedule_sweeps_and_expires_what_waited_too_long() {
        let (app, mem) = unit_app(&[]);
        assert_eq!(handle_event(&app, sale("S-1", "L-gone")).await.expect("park").parked, 1);
        assert!(is_sweep(&schedule()) && !is_sweep(&sale("S-1", "L-1")));
        assert_eq!(handle_event(&app, schedule()).await.expect("sweep").waiting, 1);
        let later = unit_now() + chrono::Duration::days(crate::events::PARK_LIMIT_DAYS);
        let mut run = Run::default();
        sweep(&app, later, &mut run).await;
        assert_eq!((run.summary.expired, run.first_failure), (1, None));
        let letters = dead_letters(mem.table.as_ref(), later, later).await.expect("letters");
        assert_eq!(letters.len(), 1);
    }
}
