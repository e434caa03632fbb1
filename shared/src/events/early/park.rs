//! Parking an event whose lead is not there yet (called by the apply step, which found it
//! missing): what is stored, and the park through the [`ParkedEvents`] port.

use chrono::{DateTime, Duration, Utc};

use crate::events::schema::CrmEvent;
use crate::store::parked_events::{ParkedEvent, ParkedEvents, Parking};
use crate::store::{Conflict, Revision, StoreError};

/// How long a parked event waits for its lead before it expires.
pub const PARK_LIMIT_DAYS: i64 = 7;

/// `event`, waiting for `lead_id` from `now` on.
pub fn parked_of(event: &CrmEvent, lead_id: &str, now: DateTime<Utc>) -> Result<ParkedEvent, StoreError> {
    let payload = event.to_envelope().map_err(|e| StoreError::Corrupt(format!("event not serializable: {e}")))?;
    Ok(ParkedEvent {
        tenant_id: event.tenant_id,
        lead_id: lead_id.to_string(),
        event_id: event.event_id.as_str().to_string(),
        detail_type: event.kind.detail_type().to_string(),
        payload: payload.to_string(),
        parked_at: now,
        due: now + Duration::days(PARK_LIMIT_DAYS),
    })
}

/// Parks `event` while `lead_id`'s item is still at `lead` (as read by the apply that found it
/// missing); `Conflict`: the lead moved, read and decide again.
pub(crate) async fn park<S: ParkedEvents + ?Sized>(
    store: &S,
    event: &CrmEvent,
    lead_id: &str,
    lead: Revision,
    now: DateTime<Utc>,
) -> Result<Result<Parking, Conflict>, StoreError> {
    let parked = parked_of(event, lead_id, now)?;
    let outcome = store.park(&parked, lead).await?;
    if let Ok(how) = outcome {
        tracing::info!(
            tenant_id = event.tenant_id.0,
            event_id = event.event_id.as_str(),
            detail_type = event.kind.detail_type(),
            lead_id,
            parking = ?how,
            "CRM event parked until its lead arrives"
        );
    }
    Ok(outcome)
}
