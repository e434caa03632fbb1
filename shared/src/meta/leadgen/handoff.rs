//! Handing each Meta lead to the CRM: one `meta.lead.received` event on the product bus per lead,
//! whichever path saw it (webhook, re-delivery, sweep, replay), through the outbox of
//! [`crate::store::lead_handoffs`]: enqueue (conditional: the first path wins) → `PutEvents` →
//! mark sent. A crash or a bus outage between the two leaves the hand-off pending; the spend
//! sync's tenant run re-sends what has been pending longer than [`RESEND_AFTER`] (the same event,
//! with the same `handoff_id`, so a CRM that saw it already can tell).
//!
//! The event (`source` [`HANDOFF_SOURCE`], `detail-type` [`LEAD_RECEIVED`]) carries the tenant, the
//! leadgen id — the join key with the CRM's own `lead.created` (`leadgen_id` there: FIELD-NOTES
//! 29) — page, form, ad/ad set/campaign ids and names, the creation time, name/phone/email mapped
//! from `field_data`, and every raw field. Sample: `events/meta-lead-received.json`.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::ingest::ArrivedLead;
use super::lead::{answer, parse_meta_time, person_name};
use crate::domain::ids::TenantId;
use crate::meta::graph::LeadField;
use crate::store::job_bus::{JobBus, JobEvent};
use crate::store::lead_handoffs::{Handoff, LeadHandoffs};
use crate::store::StoreError;

/// `source` of the hand-off events (not `crm`: the CRM-events consumer never takes them back).
pub const HANDOFF_SOURCE: &str = "crm-marketing.meta-leads";
/// `detail-type` of a Meta lead handed to the CRM.
pub const LEAD_RECEIVED: &str = "meta.lead.received";
/// A pending hand-off younger than this is left to the path that enqueued it.
pub const RESEND_AFTER: Duration = Duration::minutes(5);
/// Most pending hand-offs one run re-sends.
pub const RESEND_BATCH: usize = 100;

/// The `detail` of `meta.lead.received`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeadReceived {
    /// Stable per (tenant, lead): `meta-lead:{tenant}:{leadgen_id}`.
    pub handoff_id: String,
    pub tenant_id: i64,
    pub leadgen_id: String,
    /// Our lead id (`meta:{leadgen_id}`).
    pub lead_id: String,
    pub page_id: String,
    pub form_id: Option<String>,
    pub ad_id: Option<String>,
    pub ad_name: Option<String>,
    pub adset_id: Option<String>,
    pub campaign_id: Option<String>,
    pub campaign_name: Option<String>,
    pub created_time: Option<DateTime<Utc>>,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    /// Every answer of the form, as Meta sent it.
    pub field_data: Vec<LeadField>,
}

impl LeadReceived {
    pub fn of(arrived: &ArrivedLead) -> Self {
        let (lead, change, fields) = (&arrived.lead, &arrived.change, &arrived.lead.field_data);
        let name = person_name(fields);
        Self {
            handoff_id: format!("meta-lead:{}:{}", arrived.tenant.0, change.leadgen_id),
            tenant_id: arrived.tenant.0,
            leadgen_id: change.leadgen_id.clone(),
            lead_id: arrived.lead_id.clone(),
            page_id: change.page_id.clone(),
            form_id: change.form_id.clone(),
            ad_id: lead.attribution.ad_id.clone().or_else(|| change.ad_id.clone()),
            ad_name: lead.attribution.ad_name.clone(),
            adset_id: lead.attribution.adset_id.clone(),
            campaign_id: lead.attribution.campaign_id.clone(),
            campaign_name: lead.attribution.campaign_name.clone(),
            created_time: parse_meta_time(&lead.created_time),
            name,
            phone: answer(fields, &["phone_number", "phone"]),
            email: answer(fields, &["email"]),
            field_data: fields.clone(),
        }
    }
}

/// What handing off did for one lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandedOff {
    /// Enqueued and put on the bus now.
    Sent,
    /// Another path enqueued it already (sent, or pending for the resend).
    AlreadyHandedOff,
}

/// Why a hand-off is not done yet (the lead's path is retried: the webhook answers 503, the
/// sweep's resend picks the pending item up).
#[derive(Debug, thiserror::Error)]
pub enum HandoffError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the bus refused the meta.lead.received event")]
    Refused,
}

fn event(detail: &str) -> JobEvent {
    JobEvent { source: HANDOFF_SOURCE.into(), detail_type: LEAD_RECEIVED.into(), detail: detail.into() }
}

/// Hands `arrived` to the CRM once (see the module doc).
pub async fn hand_off(
    handoffs: &dyn LeadHandoffs,
    bus: &dyn JobBus,
    arrived: &ArrivedLead,
    now: DateTime<Utc>,
) -> Result<HandedOff, HandoffError> {
    let detail = serde_json::to_string(&LeadReceived::of(arrived))
        .map_err(|e| StoreError::Corrupt(format!("hand-off detail: {e}")))?;
    let h = Handoff {
        tenant: arrived.tenant,
        leadgen_id: arrived.change.leadgen_id.clone(),
        detail,
        created_at: now,
        sent_at: None,
    };
    if !handoffs.enqueue(&h).await? {
        return Ok(HandedOff::AlreadyHandedOff);
    }
    publish(handoffs, bus, &h, now).await?;
    Ok(HandedOff::Sent)
}

async fn publish(
    handoffs: &dyn LeadHandoffs,
    bus: &dyn JobBus,
    h: &Handoff,
    now: DateTime<Utc>,
) -> Result<(), HandoffError> {
    if !bus.put_events(&[event(&h.detail)]).await?.is_empty() {
        return Err(HandoffError::Refused);
    }
    handoffs.mark_sent(h.tenant, &h.leadgen_id, now).await?;
    Ok(())
}

/// Re-sends `tenant`'s hand-offs pending longer than [`RESEND_AFTER`]; how many went out.
pub async fn resend_pending(
    handoffs: &dyn LeadHandoffs,
    bus: &dyn JobBus,
    tenant: TenantId,
    now: DateTime<Utc>,
) -> Result<usize, HandoffError> {
    let mut sent = 0;
    for h in handoffs.pending(tenant, now - RESEND_AFTER, RESEND_BATCH).await? {
        publish(handoffs, bus, &h, now).await?;
        sent += 1;
    }
    if sent > 0 {
        tracing::info!(tenant_id = tenant.0, sent, "pending Meta lead hand-offs re-sent");
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::crm::AdAttribution;
    use crate::meta::graph::Leadgen;
    use crate::meta::leadgen::LeadgenChange;

    /// `events/meta-lead-received.json` is what the hand-off puts on the bus for the sandbox's
    /// first demo lead, field for field.
    #[test]
    fn the_sample_event_is_what_a_hand_off_sends() {
        let sample: serde_json::Value =
            serde_json::from_str(include_str!("../../../../events/meta-lead-received.json")).expect("sample");
        assert_eq!(
            (sample["source"].as_str(), sample["detail-type"].as_str()),
            (Some(HANDOFF_SOURCE), Some(LEAD_RECEIVED))
        );
        let field = |n: &str, v: &str| LeadField { name: n.into(), values: vec![v.into()] };
        let arrived = ArrivedLead {
            tenant: TenantId(1),
            lead_id: "meta:1100000000000001".into(),
            change: LeadgenChange {
                leadgen_id: "1100000000000001".into(),
                page_id: "1080000000000001".into(),
                form_id: Some("1090000000000001".into()),
                ad_id: None,
                created_time: None,
            },
            lead: Leadgen {
                id: "1100000000000001".into(),
                created_time: "2026-11-24T15:00:00+0000".into(),
                field_data: vec![
                    field("full_name", "Demo Lead 1"),
                    field("email", "demolead1@example.com"),
                    field("phone_number", "+5491100000000"),
                ],
                attribution: AdAttribution {
                    campaign_id: Some("120200000000000001".into()),
                    campaign_name: Some("Sandbox campaign 120200000000000001".into()),
                    ad_id: Some("120200000000001001".into()),
                    ad_name: Some("Sandbox ad 120200000000001001".into()),
                    adset_id: Some("120200000000000101".into()),
                },
            },
        };
        let sent = serde_json::to_value(LeadReceived::of(&arrived)).expect("json");
        assert_eq!(sent, sample["detail"]);
    }
}
