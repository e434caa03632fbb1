//! Scheduling from CRM events: after `crm-events` applied an event, the entity it touched is read
//! as stored and its due item is put, moved or cancelled — so the evaluator only ever reads what
//! is due (never all leads). Idempotent: a re-delivered event computes the same item, and a
//! (trigger, entity) whose send is already claimed (`sent`, `failed`, in flight) is never
//! scheduled again. A tenant without the trigger's rule enabled gets no due items.

use chrono::{DateTime, Duration, Utc};

use crate::automation::ports::SchedulePorts;
use crate::automation::triggers::{check, due_at, Check, Watched};
use crate::domain::hsm::TriggerKind;
use crate::domain::ids::TenantId;
use crate::events::{CrmEvent, CrmEventKind};
use crate::store::automation::due::DueItem;
use crate::store::StoreError;

/// What scheduling did for one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheduled {
    Put,
    Kept,
    Cancelled,
    /// Nothing to do (no trigger for this event, rule off, already claimed).
    Nothing,
}

/// The (trigger, entity) an event may change.
pub fn watched_by(event: &CrmEvent) -> Option<(TriggerKind, String)> {
    Some(match &event.kind {
        CrmEventKind::LeadCreated(l) => (TriggerKind::LeadFollowup, l.id.as_str().to_string()),
        CrmEventKind::LeadUpdated(l) => (TriggerKind::LeadFollowup, l.id.as_str().to_string()),
        CrmEventKind::OpportunityCreated(o) => (TriggerKind::OpportunityReminder, o.id.as_str().to_string()),
        CrmEventKind::OpportunityUpdated(o) => (TriggerKind::OpportunityReminder, o.id.as_str().to_string()),
        CrmEventKind::SaleCompleted(s) => (TriggerKind::PostSaleFeedback, s.id.as_str().to_string()),
        CrmEventKind::CartUpdated(c) => (TriggerKind::AbandonedCart, c.id.as_str().to_string()),
        CrmEventKind::TenantUpdated(_) => return None,
    })
}

/// Puts, keeps or cancels the due item of what `event` touched (call after applying it).
pub async fn reconcile(
    ports: SchedulePorts<'_>,
    event: &CrmEvent,
    now: DateTime<Utc>,
) -> Result<Scheduled, StoreError> {
    let Some((trigger, entity)) = watched_by(event) else {
        return Ok(Scheduled::Nothing);
    };
    reconcile_entity(ports, event.tenant_id, trigger, &entity, now).await
}

/// [`reconcile`] for one (trigger, entity).
pub async fn reconcile_entity(
    ports: SchedulePorts<'_>,
    tenant: TenantId,
    trigger: TriggerKind,
    entity: &str,
    now: DateTime<Utc>,
) -> Result<Scheduled, StoreError> {
    // Another name of a lead (the CRM's copy of a Meta lead, or the other way round) schedules
    // the one lead it names: one follow-up per person.
    let canonical;
    let entity = match trigger {
        TriggerKind::LeadFollowup => {
            let alias = ports.events.lead(tenant, entity).await?.value.and_then(|l| l.alias_of);
            canonical = alias.unwrap_or_else(|| entity.to_string());
            canonical.as_str()
        }
        _ => entity,
    };
    let rule = ports.automation_rules.rules(tenant).await?.and_then(|set| set.rule(trigger).cloned());
    let existing = ports.due.due_item(tenant, trigger, entity).await?;
    let Some(rule) = rule.filter(|r| r.enabled) else {
        return Ok(if existing.is_some() && ports.due.cancel(tenant, trigger, entity).await? {
            Scheduled::Cancelled
        } else {
            Scheduled::Nothing
        });
    };
    if ports.send_claims.get_claim(tenant, trigger, entity).await?.is_some() {
        // Claimed once: never scheduled again (a re-delivered event, an update after the send).
        return Ok(Scheduled::Nothing);
    }
    let ev = &ports.events;
    let watched = match trigger {
        TriggerKind::LeadFollowup => ev.lead(tenant, entity).await?.value.map(Watched::Lead),
        TriggerKind::OpportunityReminder => ev.opportunity(tenant, entity).await?.value.map(Watched::Opportunity),
        TriggerKind::PostSaleFeedback => ev.sale(tenant, entity).await?.value.map(Watched::Sale),
        TriggerKind::AbandonedCart => ev.cart(tenant, entity).await?.value.map(Watched::Cart),
    };
    let delay = rule.delay_minutes.map(Duration::minutes);
    let due = watched.as_ref().and_then(|w| due_at(trigger, w, delay));
    // The condition as of the due time (a lead that is `new` now may be due later).
    let holds = match check(trigger, watched.as_ref(), delay, due.unwrap_or(now).max(now)) {
        Check::Stopped(_) => None,
        Check::Holds | Check::NotYet(_) => due.map(|d| d.max(now)),
    };
    match (holds, existing) {
        (None, Some(_)) => {
            ports.due.cancel(tenant, trigger, entity).await?;
            Ok(Scheduled::Cancelled)
        }
        (None, None) => Ok(Scheduled::Nothing),
        // A deferred item (attempts, quiet hours) keeps its own later time.
        (Some(at), Some(e)) if e.due_at >= at && (e.attempts > 0 || e.note.is_some() || e.due_at == at) => {
            Ok(Scheduled::Kept)
        }
        (Some(at), _) => {
            // Already past due (a late event, a rule enabled after the fact): due now, so it lands
            // in the current hour bucket the evaluator reads — never in one behind its lookback.
            ports.due.schedule(&DueItem::new(tenant, trigger, entity, at.max(now))).await?;
            Ok(Scheduled::Put)
        }
    }
}
