//! Which outbox items a CRM event makes (pure): the stage it reaches under the tenant's map, the
//! earlier default stages filled in before it, and the rules that skip a stage (FIELD-NOTES 36).

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

use crate::domain::conversions::{ConversionItem, ConversionSettings, ConversionState, StageKind, StageMap};
use crate::domain::ids::TenantId;
use crate::events::{CrmEvent, CrmEventKind};
use crate::store::records::LeadRecord;

/// The stage a CRM event reaches, before the tenant's lead is looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageHit {
    pub kind: StageKind,
    pub stage: String,
    pub event_name: String,
    /// The lead the event names (an alias resolves to its lead later).
    pub lead_ref: String,
    pub value_minor: Option<i64>,
    pub currency: Option<String>,
}

/// Whether `kind` can reach a stage under some map (read the settings only for these).
pub fn may_reach_stage(kind: &CrmEventKind) -> bool {
    match kind {
        CrmEventKind::LeadCreated(_) | CrmEventKind::OpportunityCreated(_) | CrmEventKind::SaleCompleted(_) => true,
        CrmEventKind::LeadUpdated(ch) => ch.status.is_some(),
        _ => false,
    }
}

/// The stage `event` reaches under `map`, if it is mapped.
pub fn stage_of(event: &CrmEvent, map: &StageMap) -> Option<StageHit> {
    let hit = |kind, stage: String, name: &Option<String>, lead: &str| {
        name.as_ref().map(|n| StageHit {
            kind,
            stage,
            event_name: n.clone(),
            lead_ref: lead.to_string(),
            value_minor: None,
            currency: None,
        })
    };
    match &event.kind {
        CrmEventKind::LeadCreated(l) => {
            hit(StageKind::LeadCreated, "lead_created".into(), &map.lead_created, l.id.as_str())
        }
        CrmEventKind::LeadUpdated(ch) => {
            let status = ch.status.as_ref()?.as_str();
            let name = map.lead_status.get(status).cloned();
            hit(StageKind::LeadStatus, format!("status_{status}"), &name, ch.id.as_str())
        }
        CrmEventKind::OpportunityCreated(o) => hit(
            StageKind::OpportunityCreated,
            "opportunity_created".into(),
            &map.opportunity_created,
            o.lead_id.as_str(),
        ),
        CrmEventKind::SaleCompleted(sale) => {
            hit(StageKind::SaleCompleted, "sale_completed".into(), &map.sale_completed, sale.lead_id.as_str()).map(
                |h| StageHit {
                    value_minor: Some(sale.payment.amount_minor.0),
                    currency: Some(sale.payment.currency.code().to_string()),
                    ..h
                },
            )
        }
        _ => None,
    }
}

/// `event_id` sent to Meta: stable per (tenant, CRM event, stage) — the same on every retry and
/// re-delivery, different for every other stage.
pub fn event_id_of(tenant: TenantId, source_event: &str, stage: &str) -> String {
    let digest = Sha256::digest(format!("{tenant}\u{1f}{source_event}\u{1f}{stage}").as_bytes());
    hex::encode(&digest[..16])
}

/// What planning decided for one CRM event.
#[derive(Debug, Clone, PartialEq)]
pub enum Planned {
    /// The lead is not from Meta lead ads (no leadgen id): nothing to send.
    NotMetaLead,
    /// The lead reached this stage before: nothing new.
    AlreadyReached,
    /// Items to create (the stage, and earlier stages filled in before it).
    Items(Vec<ConversionItem>),
}

/// Plans the items of `hit` for `lead` (the lead holding the leadgen id), given the lead's
/// stage items so far.
pub fn plan(
    settings: &ConversionSettings,
    event: &CrmEvent,
    hit: &StageHit,
    lead: &LeadRecord,
    existing: &[ConversionItem],
    now: DateTime<Utc>,
) -> Planned {
    let Some(leadgen_id) = lead.leadgen_id.clone() else { return Planned::NotMetaLead };
    if existing.iter().any(|c| c.stage == hit.stage) {
        return Planned::AlreadyReached;
    }
    let base = ConversionItem {
        tenant_id: event.tenant_id,
        lead_id: lead.lead_id.clone(),
        leadgen_id,
        kind: hit.kind,
        stage: hit.stage.clone(),
        event_name: hit.event_name.clone(),
        event_id: event_id_of(event.tenant_id, event.event_id.as_str(), &hit.stage),
        source_event: event.event_id.as_str().to_string(),
        event_time: event.occurred_at,
        lead_created_at: lead.created_at,
        value_minor: hit.value_minor,
        currency: hit.currency.clone(),
        queued_at: now,
        state: ConversionState::Pending,
        reason: None,
        attempts: 0,
        settled_at: None,
    };
    let skip = |reason: &str| ConversionItem {
        state: ConversionState::Skipped,
        reason: Some(reason.into()),
        settled_at: Some(now),
        ..base.clone()
    };
    if existing.iter().any(|c| c.rank() > hit.kind.rank()) {
        // Meta takes a lead's stages in funnel order: one after a later stage is not sent.
        return Planned::Items(vec![skip("after_later_stage")]);
    }
    if lead.created_at.is_some_and(|created| event.occurred_at < created) {
        return Planned::Items(vec![skip("before_lead_created")]);
    }
    let mut items = fills(settings, event, &base, existing);
    items.push(base);
    Planned::Items(items)
}

/// The earlier default stages (initial lead, opportunity) the lead never reached, filled in so
/// Meta gets them first: the initial lead at the lead's creation, an opportunity a second before
/// the stage that implies it.
fn fills(
    settings: &ConversionSettings,
    event: &CrmEvent,
    base: &ConversionItem,
    existing: &[ConversionItem],
) -> Vec<ConversionItem> {
    let map = &settings.stages;
    let earlier = [
        (StageKind::LeadCreated, "lead_created", &map.lead_created),
        (StageKind::OpportunityCreated, "opportunity_created", &map.opportunity_created),
    ];
    earlier
        .into_iter()
        .filter(|(kind, stage, _)| kind.rank() < base.kind.rank() && !existing.iter().any(|c| c.stage == *stage))
        .filter_map(|(kind, stage, name)| {
            let name = name.clone()?;
            let at = match kind {
                StageKind::LeadCreated => base.lead_created_at.unwrap_or(base.event_time),
                _ => (base.event_time - Duration::seconds(1)).max(base.lead_created_at.unwrap_or(base.event_time)),
            };
            let source = format!("fill:{}", event.event_id.as_str());
            Some(ConversionItem {
                kind,
                stage: stage.to_string(),
                event_name: name,
                event_id: event_id_of(event.tenant_id, &source, stage),
                source_event: source,
                event_time: at.min(base.event_time),
                value_minor: None,
                currency: None,
                ..base.clone()
            })
        })
        .collect()
}
