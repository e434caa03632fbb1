//! Applying an event: read what it touches → [`decide`] → commit through the [`EventStore`] port,
//! retried with [`retry_conflicts`] (re-reading and deciding again) when a commit loses a race to
//! a concurrent delivery or to another event on the same items. An opportunity or sale whose
//! lead is not there yet is parked instead (`events::early`).
//!
//! The marker names its writer (one id per call): if a commit of this call went through but its
//! answer was lost (a timeout the SDK retried), the marker then found is our own, and the event
//! was applied by this call, not by someone else.

use chrono::{DateTime, Duration, Utc};

use crate::domain::ids::{EntityId, TenantId};
use crate::events::decide::{decide, Seen};
use crate::events::early::park;
use crate::events::schema::{CrmEvent, CrmEventKind, NewLead};
use crate::events::{Applied, ApplyError};
use crate::store::events::{EventCommit, EventMarker, EventStore, Versioned};
use crate::store::records::LeadRecord;
use crate::store::{retry_conflicts, StoreError};

/// Idempotency markers outlive EventBridge's 24 h of retries by far.
pub const MARKER_TTL_DAYS: i64 = 35;

/// The lead `id` names: the lead itself, or the lead it is another name of (same Meta leadgen
/// id, [`LeadRecord::alias_of`]) — one hop; an alias never points at an alias.
pub async fn lead_of<S: EventStore + ?Sized>(
    store: &S,
    tenant: TenantId,
    id: &str,
) -> Result<Versioned<LeadRecord>, StoreError> {
    let lead = store.lead(tenant, id).await?;
    match lead.value.as_ref().and_then(|l| l.alias_of.clone()) {
        Some(target) => store.lead(tenant, &target).await,
        None => Ok(lead),
    }
}

/// Reads the records `event` touches.
pub async fn read_seen<S: EventStore + ?Sized>(store: &S, event: &CrmEvent) -> Result<Seen, StoreError> {
    let t = event.tenant_id;
    let mut seen = Seen::default();
    match &event.kind {
        CrmEventKind::LeadCreated(new) => {
            seen.lead = store.lead(t, new.id.as_str()).await?;
            if let Some(leadgen) = &new.leadgen_id {
                seen.link = store.leadgen_link(t, leadgen.as_str()).await?;
            }
            seen.profile = store.profile(t).await?;
        }
        CrmEventKind::LeadUpdated(ch) => seen.lead = lead_of(store, t, ch.id.as_str()).await?,
        CrmEventKind::OpportunityCreated(new) => {
            seen.opportunity = store.opportunity(t, new.id.as_str()).await?;
            seen.lead = lead_of(store, t, new.lead_id.as_str()).await?;
            seen.profile = store.profile(t).await?;
        }
        CrmEventKind::OpportunityUpdated(ch) => seen.opportunity = store.opportunity(t, ch.id.as_str()).await?,
        CrmEventKind::SaleCompleted(sale) => {
            seen.sale = store.sale(t, sale.id.as_str()).await?;
            seen.lead = lead_of(store, t, sale.lead_id.as_str()).await?;
            seen.profile = store.profile(t).await?;
        }
        CrmEventKind::CartUpdated(ch) => seen.cart = store.cart(t, ch.id.as_str()).await?,
        CrmEventKind::TenantUpdated(_) => seen.profile = store.profile(t).await?,
    }
    Ok(seen)
}

/// Applies `event` once. Safe to call any number of times, concurrently, in any order. An
/// opportunity or sale whose lead is not counted yet is parked ([`Applied::Parked`]) until the
/// lead's arrival or the sweep redrives it (`events::early::redrive`).
pub async fn apply_event<S: EventStore + ?Sized>(
    store: &S,
    event: &CrmEvent,
    now: DateTime<Utc>,
) -> Result<Applied, ApplyError> {
    let writer = uuid::Uuid::new_v4().simple().to_string();
    let writer = &writer;
    let applied = retry_conflicts(|attempt| async move {
        // Each attempt re-reads: a conflict means a concurrent delivery of this event or another
        // event on the same aggregate items won the race.
        if let Some(found) = store.marker(event.tenant_id, event.event_id.as_str()).await? {
            let ours = found.writer.as_deref() == Some(writer.as_str());
            return Ok::<_, ApplyError>(Ok(match (ours, found.stale) {
                (true, true) => Applied::Stale,
                (true, false) => Applied::Applied,
                (false, _) => Applied::Duplicate,
            }));
        }
        let seen = read_seen(store, event).await?;
        let decision = match decide(event, &seen) {
            Ok(decision) => decision,
            // Parked against the lead as read: if the lead arrived since, this conflicts and the
            // next attempt applies the event.
            Err(ApplyError::LeadNotYetKnown(lead)) => {
                let parked = park(store, event, &lead, seen.lead.revision, now).await?;
                return Ok(parked.map(|_| Applied::Parked));
            }
            Err(e) => return Err(e),
        };
        let stale = decision.stale;
        let commit = EventCommit {
            tenant: event.tenant_id,
            marker: EventMarker {
                event_id: event.event_id.as_str().to_string(),
                detail_type: event.kind.detail_type().to_string(),
                applied_at: now,
                stale,
                writer: writer.clone(),
                expires_at: now + Duration::days(MARKER_TTL_DAYS),
            },
            puts: decision.puts,
            aggregates: decision.deltas.into_aggregates(),
            attempt,
        };
        Ok(store.commit(&commit).await?.map(|()| if stale { Applied::Stale } else { Applied::Applied }))
    })
    .await?;
    applied.ok_or(ApplyError::Contention)
}

/// The one "create a lead" path: CRM `lead.created` events and the Meta lead-ads webhook both land
/// here. Idempotent on `event_id` and on the lead id (e.g. `meta:{leadgen_id}` with event id
/// `meta-leadgen:{leadgen_id}`): a lead is counted once however often it is ingested.
pub async fn ingest_lead<S: EventStore + ?Sized>(
    store: &S,
    tenant: TenantId,
    event_id: EntityId,
    lead: NewLead,
    now: DateTime<Utc>,
) -> Result<Applied, ApplyError> {
    let event =
        CrmEvent { event_id, tenant_id: tenant, occurred_at: lead.created_at, kind: CrmEventKind::LeadCreated(lead) };
    apply_event(store, &event, now).await
}

#[cfg(test)]
mod tests;
