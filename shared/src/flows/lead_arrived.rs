//! A Meta lead arrived (the webhook, a re-delivery, the sweep or a replay ingested it, now or
//! before): its automated follow-up (`lead_followup`) is scheduled — once for the lead, also
//! when the CRM's own `lead.created` with the same leadgen id came first (scheduling resolves the
//! alias to the one counted lead) — and it is handed to the CRM once (`meta.lead.received`,
//! [`crate::meta::leadgen::handoff`]). Both steps are idempotent, so a path that saw the lead
//! again just repeats them.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::automation::scheduling::reconcile_entity;
use crate::domain::hsm::TriggerKind;
use crate::domain::ids::TenantId;
use crate::meta::leadgen::handoff::{hand_off, resend_pending, HandedOff};
use crate::meta::leadgen::ArrivedLead;
use crate::App;

/// What the flow did for a batch of arrived leads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Arrivals {
    pub leads: usize,
    /// Hand-offs put on the bus now (the others were handed off before).
    pub handed_off: usize,
    /// Leads whose scheduling or hand-off failed (logged): the caller retries the lead.
    pub failed: usize,
}

/// Runs the flow for each of `leads`; failures are counted, never stop the others.
pub async fn meta_leads_arrived(app: &App, leads: &[ArrivedLead], now: DateTime<Utc>) -> Arrivals {
    let mut done = Arrivals { leads: leads.len(), ..Arrivals::default() };
    for lead in leads {
        let tenant = lead.tenant;
        if let Err(e) = reconcile_entity(app.into(), tenant, TriggerKind::LeadFollowup, &lead.lead_id, now).await {
            tracing::error!(tenant_id = tenant.0, leadgen_id = %lead.change.leadgen_id, error = %e, "follow-up of a Meta lead not scheduled");
            done.failed += 1;
            continue;
        }
        match hand_off(app.lead_handoffs.as_ref(), app.job_bus.as_ref(), lead, now).await {
            Ok(HandedOff::Sent) => done.handed_off += 1,
            Ok(HandedOff::AlreadyHandedOff) => {}
            Err(e) => {
                tracing::error!(tenant_id = tenant.0, leadgen_id = %lead.change.leadgen_id, error = %e, "Meta lead not handed to the CRM yet");
                done.failed += 1;
            }
        }
    }
    done
}

/// Re-sends `tenant`'s hand-offs a crash or an outage left pending (the spend sync's tenant run).
pub async fn resend_handoffs(app: &App, tenant: TenantId, now: DateTime<Utc>) -> usize {
    match resend_pending(app.lead_handoffs.as_ref(), app.job_bus.as_ref(), tenant, now).await {
        Ok(n) => n,
        Err(e) => {
            tracing::error!(tenant_id = tenant.0, error = %e, "pending Meta lead hand-offs not re-sent; the next run retries");
            0
        }
    }
}

#[cfg(test)]
mod tests;
