//! The port CRM events are applied through ([`EventStore`]): reads of the records an event
//! touches (with the revision each was read at) and of its idempotency marker, one atomic
//! [`EventStore::commit`] of everything an event writes, and the dead-letter write.
//!
//! A commit is all or nothing: the marker `T#{tenant}` / `EVT#{event_id}` is put only if absent,
//! each entity put only if the item is still at the revision read (optimistic lock,
//! [`Revision`]), and the aggregate items (`AGG#D#…` / `AGG#M#…`) get their counters `ADD`ed and
//! their names `SET`. If any condition fails nothing is written and the commit reports
//! [`Conflict`]: the caller re-reads and decides again (the events feature's apply loop).
//!
//! The DynamoDB implementation is one `TransactWriteItems`; the in-memory twin
//! (`MemoryEventStore`, tests only) checks the same conditions and writes the same items into the
//! [`MemoryTable`](crate::store::memory_table::MemoryTable) under its one lock. Reads and item
//! shapes are written once, over [`ItemReads`]. Both are held to `store::conformance::event_store`.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;

use crate::domain::ids::TenantId;
use crate::store::aggregates::{counter_update, Counters, Names, UpdateExpression};
use crate::store::dead_letters::dead_letter_item;
pub use crate::store::dead_letters::{dead_letters, DeadLetter};
use crate::store::parked_events::ParkedEvents;
use crate::store::records::{CartRecord, LeadRecord, LeadgenLink, OpportunityRecord, SaleRecord};
use crate::store::{
    attr, from_item, is_transaction_conflict, keys, to_item, Conflict, DynamoStore, Item, ItemReads, Revision,
    StoreError, TenantProfile,
};

/// A record as read, with the revision a guarded put of it must still find.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    /// `None`: not stored (yet).
    pub value: Option<T>,
    pub revision: Revision,
}

impl<T> Default for Versioned<T> {
    fn default() -> Self {
        Self { value: None, revision: Revision::ABSENT }
    }
}

impl<T> Versioned<T> {
    pub fn new(value: T, revision: Revision) -> Self {
        Self { value: Some(value), revision }
    }
}

/// An entity item an event writes; its sort key follows from its id.
#[derive(Debug, Clone, PartialEq)]
pub enum Entity {
    Lead(LeadRecord),
    LeadgenLink(LeadgenLink),
    Opportunity(OpportunityRecord),
    Sale(SaleRecord),
    Cart(CartRecord),
    Profile(TenantProfile),
}

impl Entity {
    pub fn sort_key(&self) -> String {
        match self {
            Entity::Lead(r) => keys::lead(&r.lead_id),
            Entity::LeadgenLink(l) => keys::leadgen_link(&l.leadgen_id),
            Entity::Opportunity(r) => keys::opportunity(&r.opportunity_id),
            Entity::Sale(r) => keys::sale(&r.sale_id),
            Entity::Cart(r) => keys::cart(&r.cart_id),
            Entity::Profile(_) => keys::TENANT_PROFILE.to_string(),
        }
    }

    /// The item as stored (without its revision).
    fn to_item(&self, pk: &str) -> Result<Item, StoreError> {
        let (pk, sk) = (pk.to_string(), self.sort_key());
        match self {
            Entity::Lead(r) => to_item(pk, &sk, r),
            Entity::LeadgenLink(l) => to_item(pk, &sk, l),
            Entity::Opportunity(r) => to_item(pk, &sk, r),
            Entity::Sale(r) => to_item(pk, &sk, r),
            Entity::Cart(r) => to_item(pk, &sk, r),
            Entity::Profile(p) => to_item(pk, &sk, p),
        }
    }
}

/// A put of `entity` that only succeeds while the stored item is still at `expected` (the
/// revision it was read at; [`Revision::ABSENT`]: it must still not exist).
#[derive(Debug, Clone, PartialEq)]
pub struct GuardedPut {
    pub entity: Entity,
    pub expected: Revision,
}

/// What a commit writes on one aggregate item: counters to `ADD`, display names to `SET`
/// ([`counter_update`]; read the items back through [`crate::store::aggregates::AggregateStore`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AggregateChange {
    pub counters: Counters,
    pub names: Names,
}

impl AggregateChange {
    /// Nothing to write (a commit skips such items).
    pub fn is_empty(&self) -> bool {
        self.counters.is_empty() && self.names.is_empty()
    }
}

/// The idempotency marker of an applied event (`EVT#{event_id}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventMarker {
    pub event_id: String,
    pub detail_type: String,
    pub applied_at: DateTime<Utc>,
    /// The event changed nothing but its marker (older than the stored state, or a fact already counted).
    pub stale: bool,
    /// Who committed it: a call that finds its own marker knows its commit went through even if
    /// the answer was lost.
    pub writer: String,
    /// TTL: markers outlive EventBridge's retries, then expire.
    pub expires_at: DateTime<Utc>,
}

/// A marker as found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundMarker {
    pub writer: Option<String>,
    pub stale: bool,
}

/// Everything one event writes, committed atomically by [`EventStore::commit`].
#[derive(Debug, Clone, PartialEq)]
pub struct EventCommit {
    pub tenant: TenantId,
    /// Put only if no marker of this event exists.
    pub marker: EventMarker,
    pub puts: Vec<GuardedPut>,
    /// By sort key ([`keys::agg_day`] / [`keys::agg_month`]).
    pub aggregates: BTreeMap<String, AggregateChange>,
    /// The 1-based attempt of the caller's retry loop: retries of one attempt (e.g. by the SDK
    /// after a timeout) are recognised as the same commit.
    pub attempt: u32,
}

/// Where CRM events are applied: see the module docs. An event whose lead has not arrived is
/// parked through the same port ([`ParkedEvents`]), tied to the lead item it found missing.
#[async_trait]
pub trait EventStore: ParkedEvents + Send + Sync {
    async fn marker(&self, tenant: TenantId, event_id: &str) -> Result<Option<FoundMarker>, StoreError>;
    async fn lead(&self, tenant: TenantId, id: &str) -> Result<Versioned<LeadRecord>, StoreError>;
    /// The lead holding Meta leadgen id `leadgen_id`, if any lead has it.
    async fn leadgen_link(&self, tenant: TenantId, leadgen_id: &str) -> Result<Versioned<LeadgenLink>, StoreError>;
    async fn opportunity(&self, tenant: TenantId, id: &str) -> Result<Versioned<OpportunityRecord>, StoreError>;
    async fn sale(&self, tenant: TenantId, id: &str) -> Result<Versioned<SaleRecord>, StoreError>;
    async fn cart(&self, tenant: TenantId, id: &str) -> Result<Versioned<CartRecord>, StoreError>;
    async fn profile(&self, tenant: TenantId) -> Result<Versioned<TenantProfile>, StoreError>;
    /// Writes all of `commit` or nothing; `Ok(Err(Conflict))` when the marker exists already or
    /// a guarded put finds another revision.
    async fn commit(&self, commit: &EventCommit) -> Result<Result<(), Conflict>, StoreError>;
    /// Stores `letter`; returns its sort key.
    async fn dead_letter(&self, letter: &DeadLetter) -> Result<String, StoreError>;
}

// ------------------------------------------------------------- reads and items, written once

async fn read_versioned<T: DeserializeOwned, R: ItemReads + ?Sized>(
    r: &R,
    tenant: TenantId,
    sk: &str,
) -> Result<Versioned<T>, StoreError> {
    match r.item(keys::tenant(tenant), sk).await? {
        Some(item) => {
            let revision = Revision::of(Some(&item));
            Ok(Versioned::new(from_item(item)?, revision))
        }
        None => Ok(Versioned::default()),
    }
}

async fn read_marker<R: ItemReads + ?Sized>(
    r: &R,
    tenant: TenantId,
    event_id: &str,
) -> Result<Option<FoundMarker>, StoreError> {
    let found = r.item(keys::tenant(tenant), &keys::event_marker(event_id)).await?;
    Ok(found.map(|m| FoundMarker {
        writer: m.get("writer").and_then(|v| v.as_s().ok()).cloned(),
        stale: m.get("stale").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false),
    }))
}

fn marker_item(pk: &str, m: &EventMarker) -> Item {
    let s = |v: &str| AttributeValue::S(v.to_string());
    [
        (attr::PK, s(pk)),
        (attr::SK, s(&keys::event_marker(&m.event_id))),
        ("detail_type", s(&m.detail_type)),
        ("applied_at", s(&m.applied_at.to_rfc3339())),
        ("stale", AttributeValue::Bool(m.stale)),
        ("writer", s(&m.writer)),
        (attr::TTL, AttributeValue::N(m.expires_at.timestamp().to_string())),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

// ------------------------------------------------------------------------------------ DynamoDB

impl DynamoStore {
    fn marker_put(&self, pk: &str, m: &EventMarker) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(marker_item(pk, m)))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", attr::PK)
            .build()
            .map_err(|e| StoreError::Dynamo(e.to_string()))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// `ADD` of the counters and `SET` of the names of one aggregate item.
    fn aggregate_update(&self, pk: &str, sk: &str, a: &AggregateChange) -> Result<TransactWriteItem, StoreError> {
        let UpdateExpression { expression, names, values } = counter_update(&a.counters, &a.names);
        let mut upd = Update::builder()
            .table_name(&self.table)
            .key(attr::PK, AttributeValue::S(pk.to_string()))
            .key(attr::SK, AttributeValue::S(sk.to_string()))
            .update_expression(expression);
        for (k, v) in names {
            upd = upd.expression_attribute_names(k, v);
        }
        for (k, v) in values {
            upd = upd.expression_attribute_values(k, v);
        }
        let upd = upd.build().map_err(|e| StoreError::Dynamo(e.to_string()))?;
        Ok(TransactWriteItem::builder().update(upd).build())
    }
}

#[async_trait]
impl EventStore for DynamoStore {
    async fn marker(&self, tenant: TenantId, event_id: &str) -> Result<Option<FoundMarker>, StoreError> {
        read_marker(self, tenant, event_id).await
    }

    async fn lead(&self, tenant: TenantId, id: &str) -> Result<Versioned<LeadRecord>, StoreError> {
        read_versioned(self, tenant, &keys::lead(id)).await
    }

    async fn leadgen_link(&self, tenant: TenantId, leadgen_id: &str) -> Result<Versioned<LeadgenLink>, StoreError> {
        read_versioned(self, tenant, &keys::leadgen_link(leadgen_id)).await
    }

    async fn opportunity(&self, tenant: TenantId, id: &str) -> Result<Versioned<OpportunityRecord>, StoreError> {
        read_versioned(self, tenant, &keys::opportunity(id)).await
    }

    async fn sale(&self, tenant: TenantId, id: &str) -> Result<Versioned<SaleRecord>, StoreError> {
        read_versioned(self, tenant, &keys::sale(id)).await
    }

    async fn cart(&self, tenant: TenantId, id: &str) -> Result<Versioned<CartRecord>, StoreError> {
        read_versioned(self, tenant, &keys::cart(id)).await
    }

    async fn profile(&self, tenant: TenantId) -> Result<Versioned<TenantProfile>, StoreError> {
        read_versioned(self, tenant, keys::TENANT_PROFILE).await
    }

    async fn commit(&self, commit: &EventCommit) -> Result<Result<(), Conflict>, StoreError> {
        let pk = keys::tenant(commit.tenant);
        // The request token makes the SDK's own retries of this attempt idempotent at DynamoDB.
        let mut tx = self
            .client
            .transact_write_items()
            .client_request_token(format!("{}-{}", commit.marker.writer, commit.attempt))
            .transact_items(self.marker_put(&pk, &commit.marker)?);
        for p in &commit.puts {
            tx = tx.transact_items(p.expected.guarded_put(&self.table, p.entity.to_item(&pk)?)?);
        }
        for (sk, a) in commit.aggregates.iter().filter(|(_, a)| !a.is_empty()) {
            tx = tx.transact_items(self.aggregate_update(&pk, sk, a)?);
        }
        match tx.send().await {
            Ok(_) => Ok(Ok(())),
            Err(e) if is_transaction_conflict(&e) => Ok(Err(Conflict)),
            Err(e) => Err(StoreError::from_sdk(e)),
        }
    }

    async fn dead_letter(&self, letter: &DeadLetter) -> Result<String, StoreError> {
        self.put_item(dead_letter_item(letter)).await?;
        Ok(letter.sort_key())
    }
}

// ------------------------------------------------------------------------------------ in memory

#[cfg(any(test, feature = "test-support"))]
pub use memory::MemoryEventStore;

#[cfg(any(test, feature = "test-support"))]
mod memory;
