//! Parked CRM events (the [`ParkedEvents`] port): an opportunity or sale that arrives before its
//! lead waits at `T#{tenant}` / `WAIT#{lead_id}#{event_id}` — keyed under the lead it waits for,
//! with its idempotency key, the whole event, when it expires (`due`) and a TTL — and in the
//! sparse GSI1 under [`keys::PARKED_INDEX`] for the redrive sweep.
//!
//! Why nothing is lost when the lead arrives while its child parks: a park is one transaction
//! with a check that the lead item is still at the revision the child read (absent, or an
//! uncounted stub), and counting the lead changes that revision. Transactions are serializable,
//! so either the park commits first — and the lead's apply, which reads the lead's parked events
//! *after* its own commit, sees it — or the lead commits first and the park fails: the child
//! re-reads, finds its lead and is applied at once. Expiry is tied to the lead the same way.
//!
//! The DynamoDB side is a few `TransactWriteItems`; the in-memory twin (the events twin,
//! `MemoryEventStore`, on its table) checks the same conditions under the table's one lock. Both
//! are held to `store::conformance::parked_events`.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::ids::TenantId;
use crate::store::dead_letters::{dead_letter_item, DeadLetter};
use crate::store::{
    attr, from_item, is_transaction_conflict, keys, to_item, Conflict, DynamoStore, Item, Revision, StoreError,
};

/// A parked item outlives its `due` by this much, so the sweep always expires it (alarmed)
/// before DynamoDB's TTL could remove it silently; the TTL only collects what a broken sweep left.
pub const PARKED_TTL_GRACE_DAYS: i64 = 30;

/// An event waiting for its lead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParkedEvent {
    pub tenant_id: TenantId,
    /// The lead it waits for.
    pub lead_id: String,
    /// The event's idempotency key (`detail.event_id`).
    pub event_id: String,
    pub detail_type: String,
    /// The event as EventBridge delivers it (JSON), applied as is once its lead is there.
    pub payload: String,
    pub parked_at: DateTime<Utc>,
    /// When it expires if its lead has still not arrived.
    pub due: DateTime<Utc>,
}

impl ParkedEvent {
    pub fn sort_key(&self) -> String {
        keys::parked_event(&self.lead_id, &self.event_id)
    }

    /// When DynamoDB's TTL may remove the item.
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.due + Duration::days(PARKED_TTL_GRACE_DAYS)
    }

    /// The item as stored (also by the in-memory twin, `store::events::memory`).
    pub(crate) fn to_item(&self) -> Result<Item, StoreError> {
        let s = |v: String| AttributeValue::S(v);
        let mut item = to_item(keys::tenant(self.tenant_id), &self.sort_key(), self)?;
        item.insert(attr::GSI1PK.into(), s(keys::PARKED_INDEX.into()));
        item.insert(
            attr::GSI1SK.into(),
            s(keys::parked_index_sk(self.due, self.tenant_id, &self.lead_id, &self.event_id)),
        );
        item.insert(attr::TTL.into(), AttributeValue::N(self.expires_at().timestamp().to_string()));
        Ok(item)
    }
}

/// What a park did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parking {
    Parked,
    /// The same event was parked before (a re-delivery): the first park and its `due` stand.
    AlreadyParked,
}

/// What an expiry did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Moved to the dead letters.
    Expired,
    /// It was no longer parked (redriven or expired by another run): nothing written.
    Gone,
}

/// See the module docs.
#[async_trait]
pub trait ParkedEvents: Send + Sync {
    /// Parks `event` only while the item `LEAD#{lead_id}` is still at `lead` (the revision read
    /// when the event found its lead missing or uncounted). `AlreadyParked` when an event is
    /// parked under the same key; `Conflict` when the lead item moved (re-read: it may be there).
    async fn park(&self, event: &ParkedEvent, lead: Revision) -> Result<Result<Parking, Conflict>, StoreError>;
    /// The events parked for `lead_id` (strongly consistent), in event-id order.
    async fn waiting_for(&self, tenant: TenantId, lead_id: &str) -> Result<Vec<ParkedEvent>, StoreError>;
    /// Up to `limit` parked events of every tenant, soonest `due` first (GSI1, eventually consistent).
    async fn parked_events(&self, limit: usize) -> Result<Vec<ParkedEvent>, StoreError>;
    /// Removes it (once applied). Removing what is gone is not an error.
    async fn release(&self, event: &ParkedEvent) -> Result<(), StoreError>;
    /// Deletes the parked item and stores `letter` in one transaction, only while the lead item
    /// is still at `lead`: `Gone` when it is no longer parked, `Conflict` when the lead moved.
    async fn expire(
        &self,
        event: &ParkedEvent,
        lead: Revision,
        letter: &DeadLetter,
    ) -> Result<Result<Expiry, Conflict>, StoreError>;
}

// ------------------------------------------------------------------------------------ DynamoDB

impl DynamoStore {
    fn lead_check(&self, event: &ParkedEvent, lead: Revision) -> Result<TransactWriteItem, StoreError> {
        lead.condition_check(&self.table, keys::tenant(event.tenant_id), keys::lead(&event.lead_id))
    }

    /// After a cancelled transaction on `event`'s item: is it still parked?
    async fn still_parked(&self, event: &ParkedEvent) -> Result<bool, StoreError> {
        Ok(self.get_item(keys::tenant(event.tenant_id), &event.sort_key()).await?.is_some())
    }
}

fn built<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, StoreError> {
    r.map_err(|e| StoreError::Dynamo(e.to_string()))
}

#[async_trait]
impl ParkedEvents for DynamoStore {
    async fn park(&self, event: &ParkedEvent, lead: Revision) -> Result<Result<Parking, Conflict>, StoreError> {
        let put = built(
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(event.to_item()?))
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", attr::PK)
                .build(),
        )?;
        let tx = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(self.lead_check(event, lead)?);
        match tx.send().await {
            Ok(_) => Ok(Ok(Parking::Parked)),
            // Which condition failed is not told reliably: the parked item decides (a lost answer
            // of our own commit, retried by the SDK, also lands here and finds it).
            Err(e) if is_transaction_conflict(&e) => {
                Ok(if self.still_parked(event).await? { Ok(Parking::AlreadyParked) } else { Err(Conflict) })
            }
            Err(e) => Err(StoreError::from_sdk(e)),
        }
    }

    async fn waiting_for(&self, tenant: TenantId, lead_id: &str) -> Result<Vec<ParkedEvent>, StoreError> {
        let (from, to) = keys::parked_for_lead(lead_id);
        let (items, _) = self.query_between_consistent(keys::tenant(tenant), from, to).await?;
        items.into_iter().map(from_item).collect()
    }

    async fn parked_events(&self, limit: usize) -> Result<Vec<ParkedEvent>, StoreError> {
        self.query_index(keys::PARKED_INDEX, limit).await?.into_iter().map(from_item).collect()
    }

    async fn release(&self, event: &ParkedEvent) -> Result<(), StoreError> {
        self.delete_item(keys::tenant(event.tenant_id), &event.sort_key()).await
    }

    async fn expire(
        &self,
        event: &ParkedEvent,
        lead: Revision,
        letter: &DeadLetter,
    ) -> Result<Result<Expiry, Conflict>, StoreError> {
        let delete = built(
            Delete::builder()
                .table_name(&self.table)
                .key(attr::PK, AttributeValue::S(keys::tenant(event.tenant_id)))
                .key(attr::SK, AttributeValue::S(event.sort_key()))
                .condition_expression("attribute_exists(#pk)")
                .expression_attribute_names("#pk", attr::PK)
                .build(),
        )?;
        let put = built(Put::builder().table_name(&self.table).set_item(Some(dead_letter_item(letter))).build())?;
        let tx = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().delete(delete).build())
            .transact_items(self.lead_check(event, lead)?)
            .transact_items(TransactWriteItem::builder().put(put).build());
        match tx.send().await {
            Ok(_) => Ok(Ok(Expiry::Expired)),
            Err(e) if is_transaction_conflict(&e) => {
                Ok(if self.still_parked(event).await? { Err(Conflict) } else { Ok(Expiry::Gone) })
            }
            Err(e) => Err(StoreError::from_sdk(e)),
        }
    }
}
