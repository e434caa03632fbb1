//! Events that arrive before their lead (an opportunity or sale ahead of its `lead.created`):
//! instead of failing — and, after Lambda's retries, staying in the SQS dead-letter queue — they
//! are **parked** under the lead they wait for ([`ParkedEvents`]; [`apply_event`] answers
//! [`Applied::Parked`]) and **redriven** through the same exactly-once apply:
//!
//! - when `crm-events` applies a lead, it [`redrive`]s the events parked for it
//!   ([`ParkedEvents::waiting_for`]);
//! - a scheduled sweep [`redrive`]s every parked event ([`ParkedEvents::parked_events`]): those
//!   whose lead exists by now are applied (a lead that came another way, e.g. the Meta webhook,
//!   or a redrive cut short by a failure), and those still waiting [`PARK_LIMIT_DAYS`] after they
//!   arrived **expire**: moved to the dead letters (`DLQ#crm-events`, payload kept for replay),
//!   logged, and counted in the `EarlyEventsExpired` metric an alarm watches. Never silently parked.
//!
//! A redrive applies the stored event with [`apply_event`], so its marker makes it exactly once
//! whatever else delivers the same event meanwhile (a re-delivery, a second sweep). Parking and
//! expiring are tied to the lead item's revision, so a lead arriving at the same moment is never
//! missed (see [`crate::store::parked_events`]).

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::events::apply::apply_event;
use crate::events::dead_letter::letter_of;
use crate::events::schema::{parse_event, CrmEvent};
use crate::events::{Applied, ApplyError};
use crate::platform::metrics::{self, names};
use crate::store::events::EventStore;
use crate::store::parked_events::{Expiry, ParkedEvent, ParkedEvents};
use crate::store::{retry_conflicts, Conflict, Revision, StoreError};

mod park;

pub(crate) use park::park;
pub use park::{parked_of, PARK_LIMIT_DAYS};

/// What a redrive of a parked event did.
#[derive(Debug, Clone, PartialEq)]
pub enum Redriven {
    /// Its lead is there: the event was applied now (or had been). The caller runs what follows
    /// an applied event, then [`ParkedEvents::release`]s it.
    Applied(Box<CrmEvent>, Applied),
    /// Its lead is still missing; its limit has not passed.
    Waiting,
    /// Its limit passed (or it cannot be read back): dead-lettered, logged, counted.
    Expired,
    /// It was no longer parked (another run redrove or expired it).
    Gone,
}

/// Applies `parked` if its lead is there, expires it if its limit passed, else leaves it waiting.
pub async fn redrive<S: EventStore + ?Sized>(
    store: &S,
    parked: &ParkedEvent,
    now: DateTime<Utc>,
) -> Result<Redriven, ApplyError> {
    let event = serde_json::from_str::<Value>(&parked.payload)
        .map_err(|e| e.to_string())
        .and_then(|raw| parse_event(&raw).map_err(|e| e.to_string()));
    let event = &event;
    let redriven = retry_conflicts(|_| async move {
        // Re-read on each attempt: a conflict means the lead moved (it may have arrived).
        let lead = store.lead(parked.tenant_id, &parked.lead_id).await?;
        let counted = lead.value.as_ref().is_some_and(|l| l.counted);
        let reason = match event {
            Ok(ev) if counted => {
                // A counted lead stays counted, so this applies (or finds it applied).
                let outcome = apply_event(store, ev, now).await?;
                return Ok::<_, ApplyError>(Ok(match outcome {
                    Applied::Parked => Redriven::Waiting,
                    done => Redriven::Applied(Box::new(ev.clone()), done),
                }));
            }
            Ok(_) if now < parked.due => return Ok(Ok(Redriven::Waiting)),
            Ok(_) => format!("lead {} did not arrive within {PARK_LIMIT_DAYS} days", parked.lead_id),
            Err(e) => format!("parked event cannot be read back: {e}"),
        };
        Ok(expire(store, parked, lead.revision, &reason, now).await?)
    })
    .await?;
    redriven.ok_or(ApplyError::Contention)
}

/// Dead-letters `parked` (only while its lead is still at `lead`), then logs and counts it.
async fn expire<S: ParkedEvents + ?Sized>(
    store: &S,
    parked: &ParkedEvent,
    lead: Revision,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Result<Redriven, Conflict>, StoreError> {
    let raw = serde_json::from_str(&parked.payload).unwrap_or_else(|_| Value::String(parked.payload.clone()));
    let mut letter = letter_of(&raw, reason, now);
    letter.tenant_id = Some(parked.tenant_id.0);
    letter.event_id = Some(parked.event_id.clone());
    letter.id.clone_from(&parked.event_id);
    Ok(match store.expire(parked, lead, &letter).await? {
        Ok(Expiry::Expired) => {
            metrics::count(names::EARLY_EVENTS_EXPIRED, 1);
            tracing::warn!(
                tenant_id = parked.tenant_id.0,
                event_id = %parked.event_id,
                detail_type = %parked.detail_type,
                lead_id = %parked.lead_id,
                parked_at = %parked.parked_at.to_rfc3339(),
                reason,
                "early CRM event expired waiting for its lead; dead-lettered"
            );
            Ok(Redriven::Expired)
        }
        Ok(Expiry::Gone) => Ok(Redriven::Gone),
        Err(Conflict) => Err(Conflict),
    })
}

#[cfg(test)]
mod tests;
