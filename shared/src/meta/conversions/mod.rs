//! Conversions back to Meta (Conversions API for CRM, "Conversion Leads"; FIELD-NOTES 35–38):
//! the CRM stages of each Meta lead-ads lead — initial lead, mapped statuses, opportunity,
//! converted with its value — sent to the tenant's dataset so Meta optimises for leads that buy.
//!
//! - **Queue** ([`after_crm_event`], called by the CRM-events flow after each applied event):
//!   the event's stage under the tenant's map ([`plan`]); one outbox item per (lead, stage),
//!   created once by a conditional transaction (re-deliveries and concurrent deliveries find it),
//!   with the earlier default stages the lead never reached filled in before it; a stage before
//!   the lead's creation, or after a later stage, is stored skipped and counted.
//! - **Send** ([`send::send_pending`], the scheduled `meta-conversions` job, or by hand): under
//!   the tenant's lease, pending items by lead and funnel rank, batches of up to 1,000 to
//!   `POST /{dataset}/events` ([`payload`]); items outside Meta's 7-day window are skipped and
//!   counted; a refused batch is split to find the refused events; throttling and outages leave
//!   the rest pending for the next run (the Graph client already retried with the shared
//!   backoff); a rejected token marks the connection expired (by the caller).
//! - **Settings** ([`settings`]): `GET/PUT /crm/marketing/conversions`, datasets from
//!   `GET /crm/marketing/meta-datasets`.

use chrono::{DateTime, Utc};

use crate::domain::conversions::ConversionSettings;
use crate::events::{lead_of, CrmEvent};
use crate::store::conversions::ConversionStore;
use crate::store::events::EventStore;
use crate::store::{retry_conflicts, StoreError};

pub mod payload;
pub mod plan;
pub mod send;
pub mod settings;
#[cfg(test)]
mod tests;

use plan::{may_reach_stage, stage_of, Planned};

/// The stores queueing reads and writes.
#[derive(Clone, Copy)]
pub struct QueuePorts<'a> {
    pub events: &'a dyn EventStore,
    pub conversions: &'a dyn ConversionStore,
}

/// What a CRM event did to the conversions queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queued {
    /// Not a mapped stage (or conversions are off for the tenant).
    Nothing,
    /// Conversions are on but no dataset is chosen: nothing is queued (settings say why).
    NoDataset,
    /// The lead did not come from Meta lead ads.
    NotMetaLead,
    /// The lead reached this stage before (a re-delivery, or another event of the same stage).
    AlreadyReached,
    Created {
        pending: usize,
        skipped: usize,
    },
}

/// The tenant's settings if conversions are on.
async fn enabled_settings(
    store: &dyn ConversionStore,
    event: &CrmEvent,
) -> Result<Option<ConversionSettings>, StoreError> {
    Ok(store.settings_at(event.tenant_id).await?.0.filter(|s| s.enabled))
}

/// Queues the stage `event` reaches for its lead, once. Idempotent: safe on every delivery.
pub async fn after_crm_event(
    ports: QueuePorts<'_>,
    event: &CrmEvent,
    now: DateTime<Utc>,
) -> Result<Queued, StoreError> {
    if !may_reach_stage(&event.kind) {
        return Ok(Queued::Nothing);
    }
    let Some(settings) = enabled_settings(ports.conversions, event).await? else { return Ok(Queued::Nothing) };
    let Some(hit) = stage_of(event, &settings.stages) else { return Ok(Queued::Nothing) };
    if settings.dataset_id.is_none() {
        tracing::info!(tenant_id = event.tenant_id.0, stage = %hit.stage, "conversions on but no dataset chosen; stage not queued");
        return Ok(Queued::NoDataset);
    }
    let tenant = event.tenant_id;
    let queued = retry_conflicts(|_| {
        let (hit, settings) = (&hit, &settings);
        async move {
            let Some(lead) = lead_of(ports.events, tenant, &hit.lead_ref).await?.value else {
                return Ok(Ok(Queued::NotMetaLead));
            };
            let existing = ports.conversions.lead_stages(tenant, &lead.lead_id).await?;
            let items = match plan::plan(settings, event, hit, &lead, &existing, now) {
                Planned::NotMetaLead => return Ok(Ok(Queued::NotMetaLead)),
                Planned::AlreadyReached => return Ok(Ok(Queued::AlreadyReached)),
                Planned::Items(items) => items,
            };
            let pending =
                items.iter().filter(|c| c.state == crate::domain::conversions::ConversionState::Pending).count();
            Ok(ports
                .conversions
                .enqueue(tenant, &items, now.date_naive())
                .await?
                .map(|()| Queued::Created { pending, skipped: items.len() - pending }))
        }
    })
    .await?;
    let queued = queued.ok_or(StoreError::Throttled)?;
    if let Queued::Created { pending, skipped } = queued {
        tracing::info!(tenant_id = tenant.0, event_id = event.event_id.as_str(), stage = %hit.stage, pending, skipped, "conversion queued");
    }
    Ok(queued)
}
