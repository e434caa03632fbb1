//! The wire schema of CRM events: the EventBridge envelope (`source`, `detail-type`, `detail`),
//! the typed [`CrmEvent`] it parses into, one body struct per `detail-type`, and [`Malformed`]
//! (why an event can never be applied). Parsing validates everything once: ids, sources,
//! statuses, currencies and zones are typed values from here on.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::crm::{AdAttribution, CartContents, Contact, OpportunityTerms, Payment};
use crate::domain::ids::{EntityId, InvalidId, LeadSource, LeadgenId, Status, Tag, TenantId};
use crate::domain::money::Currency;
use crate::domain::zone::Zone;

/// The EventBridge `source` of CRM domain events.
pub const EVENT_SOURCE: &str = "crm";

/// Why an event cannot be applied, ever: it goes to the dead-letter path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed event: {0}")]
pub struct Malformed(pub String);

fn malformed(msg: impl Into<String>) -> Malformed {
    Malformed(msg.into())
}

impl From<InvalidId> for Malformed {
    fn from(e: InvalidId) -> Self {
        Malformed(e.to_string())
    }
}

/// `lead.created` (also what the Meta lead-ads webhook ingests, with source `META_ADS`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewLead {
    pub id: EntityId,
    #[serde(default = "one")]
    pub version: u64,
    pub created_at: DateTime<Utc>,
    pub source: LeadSource,
    #[serde(default = "Status::new_lead")]
    pub status: Status,
    #[serde(flatten)]
    pub contact: Contact,
    #[serde(flatten)]
    pub attribution: AdAttribution<Tag>,
    #[serde(default)]
    pub opted_out: bool,
    /// The Meta lead-ads lead this lead is (the CRM's own lead-ads handler sets it; the Meta
    /// paths always do): every lead with the same leadgen id is one lead — counted once, one
    /// follow-up — whichever arrived first.
    #[serde(default)]
    pub leadgen_id: Option<LeadgenId>,
}

fn one() -> u64 {
    1
}

/// `lead.updated`: status changes, opt-out and contact fields (attribution is fixed at creation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeadChange {
    pub id: EntityId,
    pub version: u64,
    #[serde(default)]
    pub status: Option<Status>,
    #[serde(default)]
    pub opted_out: Option<bool>,
    #[serde(flatten)]
    pub contact: Contact,
}

/// `opportunity.created`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewOpportunity {
    pub id: EntityId,
    #[serde(default = "one")]
    pub version: u64,
    pub lead_id: EntityId,
    pub created_at: DateTime<Utc>,
    #[serde(default = "Status::pending")]
    pub status: Status,
    #[serde(flatten)]
    pub terms: OpportunityTerms,
}

/// `opportunity.updated`: status, deadline, value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpportunityChange {
    pub id: EntityId,
    pub version: u64,
    #[serde(default)]
    pub status: Option<Status>,
    #[serde(flatten)]
    pub terms: OpportunityTerms,
}

/// `sale.completed`: amount in minor units of `currency`, for a lead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompletedSale {
    pub id: EntityId,
    pub lead_id: EntityId,
    #[serde(default)]
    pub opportunity_id: Option<EntityId>,
    #[serde(flatten)]
    pub payment: Payment,
}

/// `cart.updated`: the cart's items and last activity (feeds the abandoned-cart automation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CartChange {
    pub id: EntityId,
    pub version: u64,
    #[serde(default)]
    pub lead_id: Option<EntityId>,
    #[serde(flatten)]
    pub contents: CartContents,
}

/// `tenant.updated`: display name, reporting time zone (IANA), currency (ISO 4217).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantChange {
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub reporting_time_zone: Option<Zone>,
    #[serde(default)]
    pub currency: Option<Currency>,
}

/// The typed body of a CRM event (by `detail-type`).
#[derive(Debug, Clone, PartialEq)]
pub enum CrmEventKind {
    LeadCreated(NewLead),
    LeadUpdated(LeadChange),
    OpportunityCreated(NewOpportunity),
    OpportunityUpdated(OpportunityChange),
    SaleCompleted(CompletedSale),
    CartUpdated(CartChange),
    TenantUpdated(TenantChange),
}

impl CrmEventKind {
    pub fn detail_type(&self) -> &'static str {
        match self {
            Self::LeadCreated(_) => "lead.created",
            Self::LeadUpdated(_) => "lead.updated",
            Self::OpportunityCreated(_) => "opportunity.created",
            Self::OpportunityUpdated(_) => "opportunity.updated",
            Self::SaleCompleted(_) => "sale.completed",
            Self::CartUpdated(_) => "cart.updated",
            Self::TenantUpdated(_) => "tenant.updated",
        }
    }
}

pub const DETAIL_TYPES: &[&str] = &[
    "lead.created",
    "lead.updated",
    "opportunity.created",
    "opportunity.updated",
    "sale.completed",
    "cart.updated",
    "tenant.updated",
];

/// A parsed CRM event: the producer's idempotency key, the tenant, when it happened, the body.
#[derive(Debug, Clone, PartialEq)]
pub struct CrmEvent {
    /// `detail.event_id`: the producer's id of the fact (EventBridge's envelope `id` changes when
    /// a producer re-puts the same event, so it cannot be the idempotency key).
    pub event_id: EntityId,
    pub tenant_id: TenantId,
    pub occurred_at: DateTime<Utc>,
    pub kind: CrmEventKind,
}

impl CrmEvent {
    /// The event as EventBridge delivers it, in the canonical shape [`parse_event`] reads back to
    /// this same event (how an early event is kept while it waits for its lead).
    pub fn to_envelope(&self) -> Result<Value, serde_json::Error> {
        let (key, body) = match &self.kind {
            CrmEventKind::LeadCreated(b) => ("lead", serde_json::to_value(b)?),
            CrmEventKind::LeadUpdated(b) => ("lead", serde_json::to_value(b)?),
            CrmEventKind::OpportunityCreated(b) => ("opportunity", serde_json::to_value(b)?),
            CrmEventKind::OpportunityUpdated(b) => ("opportunity", serde_json::to_value(b)?),
            CrmEventKind::SaleCompleted(b) => ("sale", serde_json::to_value(b)?),
            CrmEventKind::CartUpdated(b) => ("cart", serde_json::to_value(b)?),
            CrmEventKind::TenantUpdated(b) => ("tenant", serde_json::to_value(b)?),
        };
        Ok(serde_json::json!({
            "source": EVENT_SOURCE,
            "detail-type": self.kind.detail_type(),
            "detail": {
                "event_id": self.event_id,
                "tenant_id": self.tenant_id.0,
                "occurred_at": self.occurred_at,
                key: body,
            },
        }))
    }
}

#[derive(Deserialize)]
struct DetailHead {
    event_id: EntityId,
    tenant_id: i64,
    occurred_at: DateTime<Utc>,
}

fn field<T: serde::de::DeserializeOwned>(detail: &Value, name: &str) -> Result<T, Malformed> {
    let v = detail.get(name).ok_or_else(|| malformed(format!("detail.{name} is missing")))?;
    serde_json::from_value(v.clone()).map_err(|e| malformed(format!("detail.{name}: {e}")))
}

/// The envelope's ids, for logging and dead-lettering even when the rest is malformed.
pub fn envelope_ids(raw: &Value) -> (Option<String>, Option<String>, Option<i64>) {
    let s = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let detail = raw.get("detail");
    let event_id = s(detail.and_then(|d| d.get("event_id"))).or_else(|| s(raw.get("id")));
    (event_id, s(raw.get("detail-type")), detail.and_then(|d| d.get("tenant_id")).and_then(Value::as_i64))
}

/// Parses an EventBridge envelope (`source`, `detail-type`, `detail`) into a [`CrmEvent`].
pub fn parse_event(raw: &Value) -> Result<CrmEvent, Malformed> {
    let source = raw.get("source").and_then(Value::as_str).ok_or_else(|| malformed("source is missing"))?;
    if source != EVENT_SOURCE {
        return Err(malformed(format!("source {source:?} is not {EVENT_SOURCE:?}")));
    }
    let detail_type =
        raw.get("detail-type").and_then(Value::as_str).ok_or_else(|| malformed("detail-type is missing"))?;
    let detail = raw.get("detail").filter(|d| d.is_object()).ok_or_else(|| malformed("detail must be an object"))?;
    let head: DetailHead = serde_json::from_value(detail.clone()).map_err(|e| malformed(format!("detail: {e}")))?;
    if head.tenant_id <= 0 {
        return Err(malformed("detail.tenant_id must be a positive integer"));
    }
    let kind = match detail_type {
        "lead.created" => CrmEventKind::LeadCreated(field(detail, "lead")?),
        "lead.updated" => CrmEventKind::LeadUpdated(field(detail, "lead")?),
        "opportunity.created" => CrmEventKind::OpportunityCreated(field(detail, "opportunity")?),
        "opportunity.updated" => CrmEventKind::OpportunityUpdated(field(detail, "opportunity")?),
        "sale.completed" => {
            let sale: CompletedSale = field(detail, "sale")?;
            if sale.payment.amount_minor.0 < 0 {
                return Err(malformed("detail.sale.amount_minor must not be negative"));
            }
            CrmEventKind::SaleCompleted(sale)
        }
        "cart.updated" => CrmEventKind::CartUpdated(field(detail, "cart")?),
        "tenant.updated" => CrmEventKind::TenantUpdated(field(detail, "tenant")?),
        other => return Err(malformed(format!("unknown detail-type {other:?}; known: {}", DETAIL_TYPES.join(", ")))),
    };
    Ok(CrmEvent { event_id: head.event_id, tenant_id: TenantId(head.tenant_id), occurred_at: head.occurred_at, kind })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn envelope(detail_type: &str, detail: Value) -> Value {
        json!({"version": "0", "id": "eb-1", "detail-type": detail_type, "source": "crm", "time": "2026-11-24T12:00:00Z", "detail": detail})
    }

    #[test]
    fn parses_a_lead_created_event() {
        let ev = parse_event(&envelope(
            "lead.created",
            json!({"event_id": "e-1", "tenant_id": 7, "occurred_at": "2026-11-24T12:00:00Z",
                   "lead": {"id": "L-1", "created_at": "2026-11-24T12:00:00Z", "source": "meta_ads", "campaign_id": "c1"}}),
        ))
        .expect("parse");
        assert_eq!(ev.tenant_id, TenantId(7));
        match ev.kind {
            CrmEventKind::LeadCreated(l) => {
                assert_eq!((l.source.as_str(), l.status.as_str(), l.version), ("META_ADS", "new", 1));
                assert_eq!(l.attribution.campaign_id.as_ref().map(Tag::as_str), Some("c1"));
            }
            other => panic!("{other:?}"),
        }
    }

    /// Every sample payload in `events/` parses, with each field group filled from its top-level
    /// fields (the wire shape is unchanged by the groups).
    #[test]
    fn sample_events_fill_every_field_group() {
        let sample = |name: &str| -> CrmEvent {
            let path = format!("{}/../events/{name}", env!("CARGO_MANIFEST_DIR"));
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            parse_event(&serde_json::from_str(&text).expect("json")).unwrap_or_else(|e| panic!("{name}: {e}"))
        };
        let CrmEventKind::LeadCreated(lead) = sample("crm-lead-created.json").kind else { panic!("lead.created") };
        assert_eq!(lead.contact.name.as_deref(), Some("Ana Pérez"));
        assert_eq!(lead.contact.email.as_deref(), Some("ana@example.com"));
        assert_eq!(lead.attribution.campaign_name.as_deref(), Some("Black Friday - Leads"));
        assert_eq!(lead.attribution.ad_id.as_ref().map(Tag::as_str), Some("120210000000101"));
        assert_eq!(lead.attribution.ad_name.as_deref(), Some("Video 15s A"));
        let CrmEventKind::LeadUpdated(ch) = sample("crm-lead-updated.json").kind else { panic!("lead.updated") };
        assert_eq!(ch.status.as_ref().map(Status::as_str), Some("contacted"));
        let CrmEventKind::OpportunityUpdated(o) = sample("crm-opportunity-updated.json").kind else {
            panic!("opportunity.updated")
        };
        assert_eq!(o.terms.value_minor.map(|v| v.0), Some(120_000));
        let CrmEventKind::SaleCompleted(s) = sample("crm-sale-completed.json").kind else { panic!("sale") };
        assert_eq!((s.payment.amount_minor.0, s.payment.currency.code()), (120_000, "USD"));
        let CrmEventKind::CartUpdated(c) = sample("crm-cart-updated.json").kind else { panic!("cart") };
        assert_eq!((c.contents.items.len(), c.contents.items[1].quantity), (2, 2));
        assert!(matches!(sample("crm-opportunity-created.json").kind, CrmEventKind::OpportunityCreated(_)));
        assert!(matches!(sample("crm-tenant-updated.json").kind, CrmEventKind::TenantUpdated(_)));
    }

    /// Every sample reads back unchanged from its canonical envelope.
    #[test]
    fn envelopes_round_trip_through_the_parser() {
        for name in [
            "crm-lead-created.json",
            "crm-lead-updated.json",
            "crm-opportunity-created.json",
            "crm-opportunity-updated.json",
            "crm-sale-completed.json",
            "crm-cart-updated.json",
            "crm-tenant-updated.json",
        ] {
            let path = format!("{}/../events/{name}", env!("CARGO_MANIFEST_DIR"));
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            let event = parse_event(&serde_json::from_str(&text).expect("json")).expect("sample");
            let envelope = event.to_envelope().expect("envelope");
            assert_eq!(parse_event(&envelope).as_ref(), Ok(&event), "{name}");
        }
    }

    #[test]
    fn rejects_malformed_events_with_a_reason() {
        let ok_head = json!({"event_id": "e", "tenant_id": 1, "occurred_at": "2026-11-24T12:00:00Z"});
        let with = |k: &str, v: Value| {
            let mut d = ok_head.clone();
            d[k] = v;
            d
        };
        let cases = vec![
            json!({"source": "crm", "detail-type": "lead.created"}),
            envelope("lead.deleted", ok_head.clone()),
            envelope("lead.created", ok_head.clone()),
            envelope(
                "sale.completed",
                with(
                    "sale",
                    json!({"id": "s", "lead_id": "l", "amount_minor": 10, "currency": "XYZ", "completed_at": "2026-11-24T12:00:00Z"}),
                ),
            ),
            envelope(
                "sale.completed",
                with(
                    "sale",
                    json!({"id": "s", "lead_id": "l", "amount_minor": 10.5, "currency": "USD", "completed_at": "2026-11-24T12:00:00Z"}),
                ),
            ),
            envelope(
                "sale.completed",
                with(
                    "sale",
                    json!({"id": "s", "lead_id": "l", "amount_minor": -1, "currency": "USD", "completed_at": "2026-11-24T12:00:00Z"}),
                ),
            ),
            envelope("lead.created", with("tenant_id", json!("abc"))),
            envelope("lead.updated", with("lead", json!({"id": "bad id with spaces", "version": 2}))),
            envelope("tenant.updated", with("tenant", json!({"reporting_time_zone": "Mars/Olympus"}))),
            json!({"source": "other", "detail-type": "lead.created", "detail": ok_head}),
        ];
        for c in cases {
            assert!(parse_event(&c).is_err(), "{c}");
        }
        // Reasons name what is wrong, also inside a flattened field group.
        let bad_ad = envelope(
            "lead.created",
            with("lead", json!({"id": "L", "created_at": "2026-11-24T12:00:00Z", "source": "X", "ad_id": "a b"})),
        );
        assert!(parse_event(&bad_ad).expect_err("ad id").0.contains("invalid tag \"a b\""));
        let bad_currency = envelope(
            "sale.completed",
            with(
                "sale",
                json!({"id": "s", "lead_id": "l", "amount_minor": 10, "currency": "XYZ", "completed_at": "2026-11-24T12:00:00Z"}),
            ),
        );
        assert!(parse_event(&bad_currency).expect_err("currency").0.contains("currency"));
    }
}
