//! Dead letters of CRM events (`DLQ#crm-events` / `{received_at}#{id}`): an event that can never
//! be applied (malformed), or an early event whose lead never came, kept whole with the reason
//! for inspection and replay. Written by the events port (`EventStore::dead_letter`) and by the
//! parked events' expiry (`ParkedEvents::expire`); read by [`dead_letters`].

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, Utc};

use crate::store::{attr, keys, Item, ItemReads, StoreError};

/// A CRM event that can never be applied (malformed, or its lead never came), kept for
/// inspection and replay (`DLQ#crm-events` / [`keys::dead_letter`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub received_at: DateTime<Utc>,
    /// The event id, or a generated one when the event has none (part of the sort key).
    pub id: String,
    pub event_id: Option<String>,
    pub detail_type: Option<String>,
    pub tenant_id: Option<i64>,
    pub reason: String,
    /// The raw event (JSON), cut to a size an item can hold.
    pub payload: String,
    pub expires_at: DateTime<Utc>,
}

impl DeadLetter {
    pub fn sort_key(&self) -> String {
        keys::dead_letter(self.received_at, &self.id)
    }
}

pub(crate) fn dead_letter_item(l: &DeadLetter) -> Item {
    let s = |v: &str| AttributeValue::S(v.to_string());
    let mut item = Item::new();
    item.insert(attr::PK.into(), s(keys::DEAD_LETTER_CRM_EVENTS));
    item.insert(attr::SK.into(), s(&l.sort_key()));
    item.insert("reason".into(), s(&l.reason));
    item.insert("payload".into(), s(&l.payload));
    if let Some(e) = &l.event_id {
        item.insert("event_id".into(), s(e));
    }
    if let Some(t) = &l.detail_type {
        item.insert("detail_type".into(), s(t));
    }
    if let Some(t) = l.tenant_id {
        item.insert("tenant_id".into(), AttributeValue::N(t.to_string()));
    }
    item.insert("received_at".into(), s(&l.received_at.to_rfc3339()));
    item.insert(attr::TTL.into(), AttributeValue::N(l.expires_at.timestamp().to_string()));
    item
}

fn dead_letter_of(item: &Item) -> Result<DeadLetter, StoreError> {
    let s = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
    let n = |k: &str| item.get(k).and_then(|v| v.as_n().ok()).and_then(|n| n.parse::<i64>().ok());
    let corrupt = |what: &str| StoreError::Corrupt(format!("dead letter {what}"));
    let time = |k: &str| s(k).and_then(|t| DateTime::parse_from_rfc3339(&t).ok()).map(|t| t.with_timezone(&Utc));
    let sk = s(attr::SK).ok_or_else(|| corrupt("without a sort key"))?;
    Ok(DeadLetter {
        received_at: time("received_at").ok_or_else(|| corrupt("without received_at"))?,
        id: sk.split_once('#').map(|(_, id)| id.to_string()).ok_or_else(|| corrupt("sort key"))?,
        event_id: s("event_id"),
        detail_type: s("detail_type"),
        tenant_id: n("tenant_id"),
        reason: s("reason").unwrap_or_default(),
        payload: s("payload").unwrap_or_default(),
        expires_at: n(attr::TTL).and_then(|t| DateTime::from_timestamp(t, 0)).ok_or_else(|| corrupt("without ttl"))?,
    })
}

/// The dead letters received from `from` to `to` (millisecond precision), oldest first: for
/// inspection, replay and checks (applying events never reads them).
pub async fn dead_letters<R: ItemReads + ?Sized>(
    r: &R,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<DeadLetter>, StoreError> {
    let (lo, hi) = (keys::dead_letter(from, ""), keys::dead_letter(to + Duration::milliseconds(1), ""));
    let (items, _) = r.item_range(keys::DEAD_LETTER_CRM_EVENTS.to_string(), lo, hi).await?;
    items.iter().map(dead_letter_of).collect()
}
