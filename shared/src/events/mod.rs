//! CRM domain events (`source = "crm"` on the product's EventBridge bus): their schemas, and
//! applying one to the entity items and the tenant's aggregates **idempotently**.
//!
//! One event = one `TransactWriteItems`: the conditional put of the `EVT#{event_id}` marker, the
//! entity put(s) guarded by the revision read (optimistic lock), and `ADD` on the counters of the
//! affected `AGG#D#…`/`AGG#M#…` items. A re-delivered event fails the marker condition and changes
//! nothing; two concurrent deliveries race on the same marker and exactly one commits (the loser
//! re-reads, sees the marker and stops). Entities also guard on their own ids (a lead is counted
//! once, a sale once), so a producer that re-sends the same fact under a new event id is not
//! double-counted either.
//!
//! Ordering: `lead.updated` / `opportunity.updated` / `cart.updated` carry the entity's `version`
//! (increasing per entity in the CRM); an update older than what is stored is ignored, and an
//! update that arrives before its `*.created` leaves a stub the created event completes. Tenant
//! profiles order by `occurred_at`. Attribution is first touch: a lead's source / campaign / ad are
//! fixed by `lead.created`; opportunities and sales count for their lead's attribution on the local
//! day they happen (created / completed), in the tenant's reporting zone in force when applied.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::ids::TenantId;
use crate::domain::money::{Currency, MinorUnits};
use crate::domain::zone::{local_day, reporting_zone, Zone};
use crate::marketing::aggregates::{counter, Counters};
use crate::store::{
    attr, from_item, is_transaction_conflict, keys, retry_conflicts, to_item, Conflict, DynamoStore, Item, StoreError,
    TenantProfile,
};

/// The EventBridge `source` of CRM domain events.
pub const EVENT_SOURCE: &str = "crm";
/// Idempotency markers outlive EventBridge's 24 h of retries by far.
pub const MARKER_TTL_DAYS: i64 = 35;
/// Dead-lettered events are kept this long for inspection and replay.
pub const DEAD_LETTER_TTL_DAYS: i64 = 30;

/// Why an event cannot be applied, ever: it goes to the dead-letter path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed event: {0}")]
pub struct Malformed(pub String);

fn malformed(msg: impl Into<String>) -> Malformed {
    Malformed(msg.into())
}

/// Why an event could not be applied *now* (EventBridge / Lambda retry it; then the SQS DLQ).
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("{0}")]
    Store(#[from] StoreError),
    /// An opportunity or sale whose lead has not arrived yet (events are not ordered).
    #[error("lead {0} is not known yet")]
    LeadNotYetKnown(String),
    #[error("too many concurrent writers on the same items")]
    Contention,
}

/// What applying an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Applied {
    /// Entity and counters updated.
    Applied,
    /// The event id was applied before: nothing changed.
    Duplicate,
    /// Recorded, but older than the stored state (or a fact already counted): nothing else changed.
    Stale,
}

fn valid_token(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b))
}

/// Declares a string newtype whose `parse`/`Deserialize` normalise and validate the input, so a
/// value of the type is always safe to use in keys and counter names.
macro_rules! validated_string {
    ($(#[$doc:meta])* $name:ident, $what:literal, $normalize:expr, $valid:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, Malformed> {
                let s: String = ($normalize)(raw);
                if ($valid)(s.as_str()) {
                    Ok(Self(s))
                } else {
                    Err(malformed(format!(concat!("invalid ", $what, " {:?}"), s)))
                }
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

validated_string!(
    /// An id the CRM gives an entity (`LEAD#{id}` etc.): 1–128 of `[A-Za-z0-9_.:-]`.
    EntityId, "id", |s: &str| s.to_string(), |s: &str| valid_token(s, 128)
);

validated_string!(
    /// A Meta campaign / ad id (used inside counter names): 1–64 safe characters.
    Tag, "tag", |s: &str| s.to_string(), |s: &str| valid_token(s, 64)
);

validated_string!(
    /// Lead source, upper-case (`META_ADS`, `WEBSITE`, `REFERRAL`, …).
    LeadSource, "lead source", |s: &str| s.trim().to_ascii_uppercase(),
    |s: &str| !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
);

impl LeadSource {
    pub fn meta_ads() -> Self {
        LeadSource(counter::META_SOURCE.into())
    }
}

validated_string!(
    /// A status word (`new`, `contacted`, `qualified`, `pending`, `won`, …): lower-case token.
    Status, "status", |s: &str| s.trim().to_ascii_lowercase(),
    |s: &str| !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
);

/// `lead.created` (also what the Meta lead-ads webhook ingests, with source `META_ADS`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewLead {
    pub id: EntityId,
    #[serde(default = "one")]
    pub version: u64,
    pub created_at: DateTime<Utc>,
    pub source: LeadSource,
    #[serde(default = "new_status")]
    pub status: Status,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub campaign_id: Option<Tag>,
    #[serde(default)]
    pub campaign_name: Option<String>,
    #[serde(default)]
    pub ad_id: Option<Tag>,
    #[serde(default)]
    pub ad_name: Option<String>,
    #[serde(default)]
    pub opted_out: bool,
}

fn one() -> u64 {
    1
}
fn new_status() -> Status {
    Status("new".into())
}

/// `lead.updated`: status changes and opt-out (attribution is fixed at creation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeadChange {
    pub id: EntityId,
    pub version: u64,
    #[serde(default)]
    pub status: Option<Status>,
    #[serde(default)]
    pub opted_out: Option<bool>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}

/// `opportunity.created`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewOpportunity {
    pub id: EntityId,
    #[serde(default = "one")]
    pub version: u64,
    pub lead_id: EntityId,
    pub created_at: DateTime<Utc>,
    #[serde(default = "pending_status")]
    pub status: Status,
    #[serde(default)]
    pub deadline: Option<DateTime<Utc>>,
    #[serde(default)]
    pub value_minor: Option<MinorUnits>,
    #[serde(default)]
    pub currency: Option<Currency>,
}

fn pending_status() -> Status {
    Status("pending".into())
}

/// `opportunity.updated`: status, deadline, value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpportunityChange {
    pub id: EntityId,
    pub version: u64,
    #[serde(default)]
    pub status: Option<Status>,
    #[serde(default)]
    pub deadline: Option<DateTime<Utc>>,
    #[serde(default)]
    pub value_minor: Option<MinorUnits>,
    #[serde(default)]
    pub currency: Option<Currency>,
}

/// `sale.completed`: amount in minor units of `currency`, for a lead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompletedSale {
    pub id: EntityId,
    pub lead_id: EntityId,
    #[serde(default)]
    pub opportunity_id: Option<EntityId>,
    pub amount_minor: MinorUnits,
    pub currency: Currency,
    pub completed_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CartLine {
    pub sku: String,
    pub quantity: u32,
    #[serde(default)]
    pub unit_price_minor: Option<MinorUnits>,
}

/// `cart.updated`: the cart's items and last activity (feeds the abandoned-cart automation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CartChange {
    pub id: EntityId,
    pub version: u64,
    #[serde(default)]
    pub lead_id: Option<EntityId>,
    pub items: Vec<CartLine>,
    #[serde(default)]
    pub currency: Option<Currency>,
    pub last_activity_at: DateTime<Utc>,
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
            if sale.amount_minor.0 < 0 {
                return Err(malformed("detail.sale.amount_minor must not be negative"));
            }
            CrmEventKind::SaleCompleted(sale)
        }
        "cart.updated" => CrmEventKind::CartUpdated(field(detail, "cart")?),
        "tenant.updated" => {
            let t: TenantChange = field(detail, "tenant")?;
            CrmEventKind::TenantUpdated(t)
        }
        other => return Err(malformed(format!("unknown detail-type {other:?}; known: {}", DETAIL_TYPES.join(", ")))),
    };
    Ok(CrmEvent { event_id: head.event_id, tenant_id: TenantId(head.tenant_id), occurred_at: head.occurred_at, kind })
}

/// Stored lead (`T#{tenant}` / `LEAD#{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct LeadRecord {
    pub lead_id: String,
    /// Highest entity version applied.
    pub version: u64,
    /// Whether `lead.created` was applied (and the lead counted). A stub left by an early
    /// `lead.updated` is not counted yet and has no attribution.
    pub counted: bool,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub campaign_id: Option<String>,
    #[serde(default)]
    pub campaign_name: Option<String>,
    #[serde(default)]
    pub ad_id: Option<String>,
    #[serde(default)]
    pub ad_name: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub opted_out: bool,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    /// Earliest completed sale seen: the day the lead became a paying customer.
    #[serde(default)]
    pub first_sale_at: Option<DateTime<Utc>>,
}

/// Stored opportunity (`OPP#{id}`), with its lead's attribution copied when counted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct OpportunityRecord {
    pub opportunity_id: String,
    pub version: u64,
    pub counted: bool,
    #[serde(default)]
    pub lead_id: Option<String>,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub deadline: Option<DateTime<Utc>>,
    #[serde(default)]
    pub value_minor: Option<MinorUnits>,
    #[serde(default)]
    pub currency: Option<Currency>,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub campaign_id: Option<String>,
    #[serde(default)]
    pub ad_id: Option<String>,
}

/// Stored sale (`SALE#{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SaleRecord {
    pub sale_id: String,
    pub lead_id: String,
    #[serde(default)]
    pub opportunity_id: Option<String>,
    pub amount_minor: MinorUnits,
    pub currency: Currency,
    pub completed_at: DateTime<Utc>,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub campaign_id: Option<String>,
    #[serde(default)]
    pub ad_id: Option<String>,
}

/// Stored cart (`CART#{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CartRecord {
    pub cart_id: String,
    pub version: u64,
    #[serde(default)]
    pub lead_id: Option<String>,
    pub items: Vec<CartLine>,
    #[serde(default)]
    pub currency: Option<Currency>,
    pub last_activity_at: DateTime<Utc>,
}

/// A lead's first-touch attribution, as counters see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribution {
    pub source: String,
    pub campaign_id: Option<String>,
    pub ad_id: Option<String>,
}

impl Attribution {
    fn of(lead: &LeadRecord) -> Option<Self> {
        lead.counted.then(|| Attribution {
            source: lead.source.clone().unwrap_or_else(|| "UNKNOWN".into()),
            campaign_id: lead.campaign_id.clone(),
            ad_id: lead.ad_id.clone(),
        })
    }
}

/// Counter deltas per aggregate item (sort key → counters), and display names to `SET` on it
/// (sort key → attribute → value); one `Update` per item.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Deltas(pub BTreeMap<String, Counters>, pub BTreeMap<String, Names>);

/// Display-name attributes of one aggregate item.
pub type Names = BTreeMap<String, String>;

impl Deltas {
    /// Adds `n` to `metric` (total, per source, campaign, ad) on the local day of `at` and its month.
    pub fn bump(&mut self, metric: &str, attribution: &Attribution, at: DateTime<Utc>, zone: Tz, n: i64) {
        let day = local_day(at, zone);
        for key in [keys::agg_day(day), keys::agg_month(day)] {
            let c = self.0.entry(key).or_default();
            let mut add = |name: String| *c.entry(name).or_insert(0) += n;
            add(metric.to_string());
            add(counter::by_source(metric, &attribution.source));
            // Campaign and ad rows are Meta's: only Meta-attributed leads (lead_source = META_ADS)
            // count there, so the rows add up to the Meta totals beside them.
            if attribution.source != counter::META_SOURCE {
                continue;
            }
            if let Some(camp) = &attribution.campaign_id {
                add(counter::by_campaign(metric, camp));
            }
            if let Some(ad) = &attribution.ad_id {
                add(counter::by_ad(metric, ad));
            }
        }
    }

    /// Records the campaign / ad names a lead arrived with on its day and month items, so rows of
    /// campaigns without synced spend still have names ([`counter::campaign_name`] etc.).
    pub fn name(&mut self, new: &NewLead, at: DateTime<Utc>, zone: Tz) {
        let day = local_day(at, zone);
        let clip = |s: &String| s.chars().take(256).collect::<String>();
        for key in [keys::agg_day(day), keys::agg_month(day)] {
            let n = self.1.entry(key).or_default();
            if let (Some(id), Some(name)) = (&new.campaign_id, &new.campaign_name) {
                n.insert(counter::campaign_name(id.as_str()), clip(name));
            }
            if let (Some(id), Some(name)) = (&new.ad_id, &new.ad_name) {
                n.insert(counter::ad_name(id.as_str()), clip(name));
            }
            if let (Some(ad), Some(camp)) = (&new.ad_id, &new.campaign_id) {
                n.insert(counter::ad_campaign(ad.as_str()), camp.as_str().to_string());
            }
        }
        self.1.retain(|_, n| !n.is_empty());
    }

    fn compact(&mut self) {
        for c in self.0.values_mut() {
            c.retain(|_, v| *v != 0);
        }
        self.0.retain(|_, c| !c.is_empty());
    }

    /// Every aggregate item touched, with its counters and names.
    fn items(&self) -> Vec<(&String, Option<&Counters>, Option<&Names>)> {
        let keys: std::collections::BTreeSet<&String> = self.0.keys().chain(self.1.keys()).collect();
        keys.into_iter().map(|k| (k, self.0.get(k), self.1.get(k))).collect()
    }
}

/// One entity put, guarded by what was read.
struct GuardedPut {
    item: Item,
    /// The item as read (`None` = it must still not exist).
    prev: Option<Item>,
}

/// What an event writes besides its marker.
#[derive(Default)]
struct WritePlan {
    puts: Vec<GuardedPut>,
    deltas: Deltas,
    stale: bool,
}

fn add_counters(
    table: &str,
    pk: &str,
    key: &str,
    counters: Option<&Counters>,
    names: Option<&Names>,
) -> Result<TransactWriteItem, StoreError> {
    let mut upd = Update::builder()
        .table_name(table)
        .key(attr::PK, AttributeValue::S(pk.to_string()))
        .key(attr::SK, AttributeValue::S(key.to_string()));
    let mut clauses = Vec::new();
    if let Some(counters) = counters.filter(|c| !c.is_empty()) {
        let mut parts = Vec::new();
        for (i, (name, n)) in counters.iter().enumerate() {
            parts.push(format!("#c{i} :c{i}"));
            upd = upd
                .expression_attribute_names(format!("#c{i}"), name)
                .expression_attribute_values(format!(":c{i}"), AttributeValue::N(n.to_string()));
        }
        clauses.push(format!("ADD {}", parts.join(", ")));
    }
    if let Some(names) = names.filter(|n| !n.is_empty()) {
        let mut parts = Vec::new();
        for (i, (name, value)) in names.iter().enumerate() {
            parts.push(format!("#n{i} = :n{i}"));
            upd = upd
                .expression_attribute_names(format!("#n{i}"), name)
                .expression_attribute_values(format!(":n{i}"), AttributeValue::S(value.clone()));
        }
        clauses.push(format!("SET {}", parts.join(", ")));
    }
    let upd = upd.update_expression(clauses.join(" ")).build().map_err(|e| StoreError::Dynamo(e.to_string()))?;
    Ok(TransactWriteItem::builder().update(upd).build())
}

fn put_of<T: Serialize>(pk: &str, key: &str, value: &T, prev: Option<Item>) -> Result<GuardedPut, StoreError> {
    Ok(GuardedPut { item: to_item(pk.to_string(), key, value)?, prev })
}

/// Applies `event` once. Safe to call any number of times, concurrently, in any order.
pub async fn apply_event(store: &DynamoStore, event: &CrmEvent, now: DateTime<Utc>) -> Result<Applied, ApplyError> {
    let pk = keys::tenant(event.tenant_id);
    let marker_sk = keys::event_marker(event.event_id.as_str());
    // Who writes the marker: if a transaction of ours succeeded but its answer was lost (a
    // timeout the SDK retried), the marker we then find is our own, and the event was applied by
    // this call, not by someone else.
    let writer = uuid::Uuid::new_v4().simple().to_string();
    let (pk, marker_sk, writer) = (&pk, &marker_sk, &writer);
    let applied = retry_conflicts(|attempt| async move {
        // Each attempt re-reads: a conflict means a concurrent delivery of this event or another
        // event on the same aggregate items won the race.
        if let Some(found) = store.get_item(pk.clone(), marker_sk).await? {
            let ours = found.get("writer").and_then(|v| v.as_s().ok()) == Some(writer);
            let stale = found.get("stale").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false);
            return Ok(Ok(match (ours, stale) {
                (true, true) => Applied::Stale,
                (true, false) => Applied::Applied,
                (false, _) => Applied::Duplicate,
            }));
        }
        let mut plan = plan_writes(store, event, pk).await?;
        plan.deltas.compact();

        let mut marker = Item::new();
        marker.insert(attr::PK.into(), AttributeValue::S(pk.clone()));
        marker.insert(attr::SK.into(), AttributeValue::S(marker_sk.clone()));
        marker.insert("detail_type".into(), AttributeValue::S(event.kind.detail_type().into()));
        marker.insert("applied_at".into(), AttributeValue::S(now.to_rfc3339()));
        marker.insert("stale".into(), AttributeValue::Bool(plan.stale));
        marker.insert("writer".into(), AttributeValue::S(writer.clone()));
        marker.insert(
            attr::TTL.into(),
            AttributeValue::N((now + Duration::days(MARKER_TTL_DAYS)).timestamp().to_string()),
        );
        let marker_put = Put::builder()
            .table_name(&store.table)
            .set_item(Some(marker))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", attr::PK)
            .build()
            .map_err(|e| StoreError::Dynamo(e.to_string()))?;
        // The request token makes the SDK's own retries of this attempt idempotent at DynamoDB.
        let mut tx = store
            .client
            .transact_write_items()
            .client_request_token(format!("{writer}-{attempt}"))
            .transact_items(TransactWriteItem::builder().put(marker_put).build());
        for p in plan.puts {
            tx = tx.transact_items(store.guarded_put(p.item, p.prev.as_ref())?);
        }
        for (key, counters, names) in plan.deltas.items() {
            tx = tx.transact_items(add_counters(&store.table, pk, key, counters, names)?);
        }
        match tx.send().await {
            Ok(_) => Ok(Ok(if plan.stale { Applied::Stale } else { Applied::Applied })),
            Err(e) if is_transaction_conflict(&e) => Ok(Err(Conflict)),
            Err(e) => Err(ApplyError::from(StoreError::from_sdk(e))),
        }
    })
    .await?;
    applied.ok_or(ApplyError::Contention)
}

async fn read<T: serde::de::DeserializeOwned>(
    store: &DynamoStore,
    pk: &str,
    key: &str,
) -> Result<(Option<T>, Option<Item>), StoreError> {
    match store.get_item(pk.to_string(), key).await? {
        Some(item) => Ok((Some(from_item(item.clone())?), Some(item))),
        None => Ok((None, None)),
    }
}

async fn tenant_zone(store: &DynamoStore, pk: &str) -> Result<Tz, StoreError> {
    let (profile, _) = read::<TenantProfile>(store, pk, keys::TENANT_PROFILE).await?;
    Ok(reporting_zone(profile.as_ref().and_then(|p| p.reporting_time_zone)))
}

/// Reads what the event touches and decides every write (pure decisions on the records read).
async fn plan_writes(store: &DynamoStore, event: &CrmEvent, pk: &str) -> Result<WritePlan, ApplyError> {
    let mut plan = WritePlan::default();
    match &event.kind {
        CrmEventKind::LeadCreated(new) => {
            let key = keys::lead(new.id.as_str());
            let (rec, raw) = read::<LeadRecord>(store, pk, &key).await?;
            let mut rec = rec.unwrap_or_else(|| LeadRecord { lead_id: new.id.as_str().into(), ..Default::default() });
            if rec.counted {
                plan.stale = true;
                return Ok(plan);
            }
            let zone = tenant_zone(store, pk).await?;
            rec.counted = true;
            rec.created_at = Some(new.created_at);
            rec.source = Some(new.source.as_str().into());
            rec.campaign_id = new.campaign_id.as_ref().map(|t| t.as_str().into());
            rec.campaign_name.clone_from(&new.campaign_name);
            rec.ad_id = new.ad_id.as_ref().map(|t| t.as_str().into());
            rec.ad_name.clone_from(&new.ad_name);
            // A newer lead.updated may already be stored: keep its fields.
            if new.version > rec.version {
                rec.version = new.version;
                rec.status = Some(new.status.as_str().into());
                rec.opted_out = new.opted_out;
                rec.name.clone_from(&new.name);
                rec.phone.clone_from(&new.phone);
                rec.email.clone_from(&new.email);
            }
            if let Some(a) = Attribution::of(&rec) {
                plan.deltas.bump(counter::LEADS, &a, new.created_at, zone, 1);
            }
            plan.deltas.name(new, new.created_at, zone);
            plan.puts.push(put_of(pk, &key, &rec, raw)?);
        }
        CrmEventKind::LeadUpdated(ch) => {
            let key = keys::lead(ch.id.as_str());
            let (rec, raw) = read::<LeadRecord>(store, pk, &key).await?;
            let mut rec = rec.unwrap_or_else(|| LeadRecord { lead_id: ch.id.as_str().into(), ..Default::default() });
            if ch.version <= rec.version {
                plan.stale = true;
                return Ok(plan);
            }
            rec.version = ch.version;
            if let Some(s) = &ch.status {
                rec.status = Some(s.as_str().into());
            }
            if let Some(o) = ch.opted_out {
                rec.opted_out = o;
            }
            for (dst, src) in [(&mut rec.name, &ch.name), (&mut rec.phone, &ch.phone), (&mut rec.email, &ch.email)] {
                if src.is_some() {
                    dst.clone_from(src);
                }
            }
            plan.puts.push(put_of(pk, &key, &rec, raw)?);
        }
        CrmEventKind::OpportunityCreated(new) => {
            let key = keys::opportunity(new.id.as_str());
            let (rec, raw) = read::<OpportunityRecord>(store, pk, &key).await?;
            let mut rec = rec
                .unwrap_or_else(|| OpportunityRecord { opportunity_id: new.id.as_str().into(), ..Default::default() });
            if rec.counted {
                plan.stale = true;
                return Ok(plan);
            }
            let (lead, _) = read::<LeadRecord>(store, pk, &keys::lead(new.lead_id.as_str())).await?;
            let attribution = lead
                .as_ref()
                .and_then(Attribution::of)
                .ok_or_else(|| ApplyError::LeadNotYetKnown(new.lead_id.as_str().into()))?;
            let zone = tenant_zone(store, pk).await?;
            rec.counted = true;
            rec.lead_id = Some(new.lead_id.as_str().into());
            rec.created_at = Some(new.created_at);
            rec.source = Some(attribution.source.clone());
            rec.campaign_id.clone_from(&attribution.campaign_id);
            rec.ad_id.clone_from(&attribution.ad_id);
            if new.version > rec.version {
                rec.version = new.version;
                rec.status = Some(new.status.as_str().into());
                rec.deadline = new.deadline;
                rec.value_minor = new.value_minor;
                rec.currency = new.currency;
            }
            plan.deltas.bump(counter::OPPORTUNITIES, &attribution, new.created_at, zone, 1);
            plan.puts.push(put_of(pk, &key, &rec, raw)?);
        }
        CrmEventKind::OpportunityUpdated(ch) => {
            let key = keys::opportunity(ch.id.as_str());
            let (rec, raw) = read::<OpportunityRecord>(store, pk, &key).await?;
            let mut rec = rec
                .unwrap_or_else(|| OpportunityRecord { opportunity_id: ch.id.as_str().into(), ..Default::default() });
            if ch.version <= rec.version {
                plan.stale = true;
                return Ok(plan);
            }
            rec.version = ch.version;
            if let Some(s) = &ch.status {
                rec.status = Some(s.as_str().into());
            }
            if ch.deadline.is_some() {
                rec.deadline = ch.deadline;
            }
            if ch.value_minor.is_some() {
                rec.value_minor = ch.value_minor;
            }
            if ch.currency.is_some() {
                rec.currency = ch.currency;
            }
            plan.puts.push(put_of(pk, &key, &rec, raw)?);
        }
        CrmEventKind::SaleCompleted(sale) => {
            let key = keys::sale(sale.id.as_str());
            let (existing, _) = read::<SaleRecord>(store, pk, &key).await?;
            if existing.is_some() {
                plan.stale = true;
                return Ok(plan);
            }
            let lead_key = keys::lead(sale.lead_id.as_str());
            let (lead, lead_raw) = read::<LeadRecord>(store, pk, &lead_key).await?;
            let mut lead = lead.ok_or_else(|| ApplyError::LeadNotYetKnown(sale.lead_id.as_str().into()))?;
            let attribution =
                Attribution::of(&lead).ok_or_else(|| ApplyError::LeadNotYetKnown(sale.lead_id.as_str().into()))?;
            let zone = tenant_zone(store, pk).await?;
            let rec = SaleRecord {
                sale_id: sale.id.as_str().into(),
                lead_id: sale.lead_id.as_str().into(),
                opportunity_id: sale.opportunity_id.as_ref().map(|o| o.as_str().into()),
                amount_minor: sale.amount_minor,
                currency: sale.currency,
                completed_at: sale.completed_at,
                source: Some(attribution.source.clone()),
                campaign_id: attribution.campaign_id.clone(),
                ad_id: attribution.ad_id.clone(),
            };
            plan.deltas.bump(counter::SALES, &attribution, sale.completed_at, zone, 1);
            plan.deltas.bump(
                &counter::revenue(sale.currency.code()),
                &attribution,
                sale.completed_at,
                zone,
                sale.amount_minor.0,
            );
            // The lead becomes a paying customer on its earliest sale, whatever the arrival order.
            match lead.first_sale_at {
                None => {
                    plan.deltas.bump(counter::CUSTOMERS, &attribution, sale.completed_at, zone, 1);
                    lead.first_sale_at = Some(sale.completed_at);
                    plan.puts.push(put_of(pk, &lead_key, &lead, lead_raw)?);
                }
                Some(first) if sale.completed_at < first => {
                    plan.deltas.bump(counter::CUSTOMERS, &attribution, first, zone, -1);
                    plan.deltas.bump(counter::CUSTOMERS, &attribution, sale.completed_at, zone, 1);
                    lead.first_sale_at = Some(sale.completed_at);
                    plan.puts.push(put_of(pk, &lead_key, &lead, lead_raw)?);
                }
                Some(_) => {}
            }
            plan.puts.push(put_of(pk, &key, &rec, None)?);
        }
        CrmEventKind::CartUpdated(ch) => {
            let key = keys::cart(ch.id.as_str());
            let (rec, raw) = read::<CartRecord>(store, pk, &key).await?;
            if rec.as_ref().is_some_and(|r| ch.version <= r.version) {
                plan.stale = true;
                return Ok(plan);
            }
            let rec = CartRecord {
                cart_id: ch.id.as_str().into(),
                version: ch.version,
                lead_id: ch.lead_id.as_ref().map(|l| l.as_str().into()),
                items: ch.items.clone(),
                currency: ch.currency,
                last_activity_at: ch.last_activity_at,
            };
            plan.puts.push(put_of(pk, &key, &rec, raw)?);
        }
        CrmEventKind::TenantUpdated(ch) => {
            let (profile, raw) = read::<TenantProfile>(store, pk, keys::TENANT_PROFILE).await?;
            if profile.as_ref().is_some_and(|p| p.updated_at >= event.occurred_at) {
                plan.stale = true;
                return Ok(plan);
            }
            let mut p = profile.unwrap_or_else(|| TenantProfile {
                tenant_id: event.tenant_id,
                display_name: String::new(),
                reporting_time_zone: None,
                currency: None,
                updated_at: event.occurred_at,
            });
            if let Some(n) = &ch.display_name {
                p.display_name.clone_from(n);
            }
            if let Some(z) = ch.reporting_time_zone {
                p.reporting_time_zone = Some(z);
            }
            if let Some(c) = ch.currency {
                p.currency = Some(c);
            }
            p.updated_at = event.occurred_at;
            plan.puts.push(put_of(pk, keys::TENANT_PROFILE, &p, raw)?);
        }
    }
    Ok(plan)
}

/// Writes a malformed event to the dead-letter partition (`DLQ#crm-events`) with the reason.
pub async fn dead_letter(
    store: &DynamoStore,
    raw: &Value,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<String, StoreError> {
    let (event_id, detail_type, tenant) = envelope_ids(raw);
    let id = event_id.clone().unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let key = format!("{}#{id}", now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    let mut payload = raw.to_string();
    if payload.len() > 64 * 1024 {
        let mut cut = 64 * 1024;
        while !payload.is_char_boundary(cut) {
            cut -= 1;
        }
        payload.truncate(cut);
    }
    let mut item = Item::new();
    item.insert(attr::PK.into(), AttributeValue::S(keys::DEAD_LETTER_CRM_EVENTS.into()));
    item.insert(attr::SK.into(), AttributeValue::S(key.clone()));
    item.insert("reason".into(), AttributeValue::S(reason.to_string()));
    item.insert("payload".into(), AttributeValue::S(payload));
    if let Some(e) = event_id {
        item.insert("event_id".into(), AttributeValue::S(e));
    }
    if let Some(t) = detail_type {
        item.insert("detail_type".into(), AttributeValue::S(t));
    }
    if let Some(t) = tenant {
        item.insert("tenant_id".into(), AttributeValue::N(t.to_string()));
    }
    item.insert("received_at".into(), AttributeValue::S(now.to_rfc3339()));
    item.insert(
        attr::TTL.into(),
        AttributeValue::N((now + Duration::days(DEAD_LETTER_TTL_DAYS)).timestamp().to_string()),
    );
    store.put_item(item).await?;
    Ok(key)
}

/// The one "create a lead" path: CRM `lead.created` events and the Meta lead-ads webhook both land
/// here. Idempotent on `event_id` and on the lead id (e.g. `meta:{leadgen_id}` with event id
/// `meta-leadgen:{leadgen_id}`): a lead is counted once however often it is ingested.
pub async fn ingest_lead(
    store: &DynamoStore,
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
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;

    fn envelope(detail_type: &str, detail: Value) -> Value {
        json!({"version": "0", "id": "eb-1", "detail-type": detail_type, "source": "crm", "time": "2026-11-24T12:00:00Z", "detail": detail})
    }

    #[test]
    fn only_meta_leads_count_toward_campaign_and_ad_rows() {
        let at = Utc.with_ymd_and_hms(2026, 11, 24, 15, 0, 0).single().expect("date");
        let mut deltas = Deltas::default();
        let attr = |source: &str| Attribution {
            source: source.into(),
            campaign_id: Some("c1".into()),
            ad_id: Some("a1".into()),
        };
        deltas.bump("leads", &attr(counter::META_SOURCE), at, chrono_tz::UTC, 1);
        deltas.bump("leads", &attr("WEBSITE"), at, chrono_tz::UTC, 1);
        let day = &deltas.0[&keys::agg_day(local_day(at, chrono_tz::UTC))];
        assert_eq!(day.get("leads"), Some(&2));
        assert_eq!(day.get(&counter::by_source("leads", "WEBSITE")), Some(&1));
        assert_eq!(day.get(&counter::by_campaign("leads", "c1")), Some(&1));
        assert_eq!(day.get(&counter::by_ad("leads", "a1")), Some(&1));
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
            }
            other => panic!("{other:?}"),
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
    }

    #[test]
    fn deltas_count_totals_sources_campaigns_and_ads_per_local_day_and_month() {
        let mut d = Deltas::default();
        let a = Attribution { source: "META_ADS".into(), campaign_id: Some("c1".into()), ad_id: Some("a1".into()) };
        let tz = reporting_zone(Zone::parse("America/Bogota").ok());
        // 02:00 UTC on Dec 1st is 21:00 on Nov 30th in Bogotá.
        let at = Utc.with_ymd_and_hms(2026, 12, 1, 2, 0, 0).single().expect("t");
        d.bump("leads", &a, at, tz, 1);
        let day = &d.0["AGG#D#2026-11-30"];
        assert_eq!(day["leads"], 1);
        assert_eq!(day["leads__src__META_ADS"], 1);
        assert_eq!(day["leads__camp__c1"], 1);
        assert_eq!(day["leads__ad__a1"], 1);
        assert_eq!(d.0["AGG#M#2026-11"]["leads"], 1);
        assert!(!d.0.contains_key("AGG#D#2026-12-01"));
    }
}
