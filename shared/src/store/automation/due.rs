//! Due items: `T#{tenant}` / `DUE#{trigger}#{entity}`, one per scheduled automated message, in the
//! sparse GSI1 under the UTC hour of their due time (`GSI1PK = DUE#{yyyy-mm-ddThh}`, `GSI1SK =
//! {due_at}#{tenant}#…`). The evaluator queries the past hour buckets up to now; a deferred item
//! is moved to a later bucket, a settled one deleted — each only if it was not rescheduled since
//! it was read ([`DueStore::replace`]). The evaluator's watermark ([`DueStore::watermark`]) says
//! from which bucket on items may still wait, so an outage of any length loses none.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::{s, text};
use crate::domain::hsm::TriggerKind;
use crate::domain::ids::TenantId;
use crate::store::memory_table::MemoryTable;
use crate::store::{attr, from_item, is_condition_failure, keys, to_item, DynamoStore, Item, ReadCost, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DueItem {
    pub tenant_id: TenantId,
    pub trigger: TriggerKind,
    /// The lead, opportunity, sale or cart id.
    pub entity_id: String,
    pub due_at: DateTime<Utc>,
    /// Times the evaluator deferred it after a transient failure (retry budget).
    #[serde(default)]
    pub attempts: u32,
    /// Why it was last deferred.
    #[serde(default)]
    pub note: Option<String>,
}

impl DueItem {
    pub fn new(tenant: TenantId, trigger: TriggerKind, entity: &str, due_at: DateTime<Utc>) -> Self {
        Self { tenant_id: tenant, trigger, entity_id: entity.to_string(), due_at, attempts: 0, note: None }
    }

    fn sort_key(&self) -> String {
        keys::due(self.trigger.as_str(), &self.entity_id)
    }

    fn to_item(&self) -> Result<Item, StoreError> {
        let mut item = to_item(keys::tenant(self.tenant_id), &self.sort_key(), self)?;
        item.insert(attr::GSI1PK.into(), s(&keys::due_bucket(self.due_at)));
        item.insert(
            attr::GSI1SK.into(),
            s(&keys::due_index_sk(self.due_at, self.tenant_id, self.trigger.as_str(), &self.entity_id)),
        );
        item.insert("due_key".into(), s(&due_key(self.due_at)));
        Ok(item)
    }
}

/// The stored due time a conditional replace compares (millisecond RFC 3339).
fn due_key(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The hour buckets from `now - lookback` to `now`, oldest first.
pub fn buckets(now: DateTime<Utc>, lookback_hours: u32) -> Vec<String> {
    (0..=i64::from(lookback_hours)).rev().map(|h| keys::due_bucket(now - Duration::hours(h))).collect()
}

/// Upper bound of `GSI1SK` for items due at or before `now`.
fn upto(now: DateTime<Utc>) -> String {
    format!("{}#~", now.to_rfc3339_opts(SecondsFormat::Millis, true))
}

#[async_trait]
pub trait DueStore: Send + Sync {
    /// Puts the item (replacing any earlier schedule of the same trigger and entity).
    async fn schedule(&self, item: &DueItem) -> Result<(), StoreError>;
    /// Removes the item (condition no longer holds); `true` if there was one.
    async fn cancel(&self, tenant: TenantId, trigger: TriggerKind, entity: &str) -> Result<bool, StoreError>;
    async fn due_item(
        &self,
        tenant: TenantId,
        trigger: TriggerKind,
        entity: &str,
    ) -> Result<Option<DueItem>, StoreError>;
    /// Up to `limit` items due at or before `now` in the hour buckets of the last
    /// `lookback_hours`, oldest first, and what reading them cost (items read ∝ due items).
    async fn past_due(
        &self,
        now: DateTime<Utc>,
        lookback_hours: u32,
        limit: usize,
    ) -> Result<(Vec<DueItem>, ReadCost), StoreError>;
    /// Replaces `read` by `next` (`None`: deletes it) only if the stored item is still due at
    /// `read.due_at` (not rescheduled or cancelled meanwhile); `false` otherwise.
    async fn replace(&self, read: &DueItem, next: Option<&DueItem>) -> Result<bool, StoreError>;
    /// The hour from which due buckets may still hold items (`None` before the first run).
    async fn watermark(&self) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// Records the watermark (last writer wins: a slower run moving it back only costs reads).
    async fn set_watermark(&self, at: DateTime<Utc>) -> Result<(), StoreError>;
}

/// The stored watermark.
#[derive(Debug, Serialize, Deserialize)]
struct Watermark {
    at: DateTime<Utc>,
}

fn watermark_item(at: DateTime<Utc>) -> Result<Item, StoreError> {
    to_item(keys::HSM_WATERMARK_PK.to_string(), keys::HSM_WATERMARK_SK, &Watermark { at })
}

#[async_trait]
impl DueStore for DynamoStore {
    async fn schedule(&self, item: &DueItem) -> Result<(), StoreError> {
        self.put_item(item.to_item()?).await
    }

    async fn cancel(&self, tenant: TenantId, trigger: TriggerKind, entity: &str) -> Result<bool, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(attr::PK, s(&keys::tenant(tenant)))
            .key(attr::SK, s(&keys::due(trigger.as_str(), entity)))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }

    async fn due_item(
        &self,
        tenant: TenantId,
        trigger: TriggerKind,
        entity: &str,
    ) -> Result<Option<DueItem>, StoreError> {
        self.get_item(keys::tenant(tenant), &keys::due(trigger.as_str(), entity)).await?.map(from_item).transpose()
    }

    async fn past_due(
        &self,
        now: DateTime<Utc>,
        lookback_hours: u32,
        limit: usize,
    ) -> Result<(Vec<DueItem>, ReadCost), StoreError> {
        let mut out = Vec::new();
        let mut cost = ReadCost::default();
        for bucket in buckets(now, lookback_hours) {
            let mut start: Option<Item> = None;
            loop {
                if out.len() >= limit {
                    return Ok((out, cost));
                }
                let page = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name(attr::GSI1)
                    .key_condition_expression("#pk = :pk AND #sk <= :to")
                    .expression_attribute_names("#pk", attr::GSI1PK)
                    .expression_attribute_names("#sk", attr::GSI1SK)
                    .expression_attribute_values(":pk", s(&bucket))
                    .expression_attribute_values(":to", s(&upto(now)))
                    .limit(i32::try_from(limit - out.len()).unwrap_or(i32::MAX))
                    .set_exclusive_start_key(start.take())
                    .send()
                    .await
                    .map_err(StoreError::from_sdk)?;
                cost.requests += 1;
                cost.items_read += u64::try_from(page.scanned_count).unwrap_or(0);
                for item in page.items.unwrap_or_default() {
                    out.push(from_item(item)?);
                }
                match page.last_evaluated_key {
                    Some(k) if !k.is_empty() => start = Some(k),
                    _ => break,
                }
            }
        }
        Ok((out, cost))
    }

    async fn replace(&self, read: &DueItem, next: Option<&DueItem>) -> Result<bool, StoreError> {
        let (pk, sk) = (keys::tenant(read.tenant_id), read.sort_key());
        let cond = "#due = :due";
        let failed = match next {
            Some(n) => self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(n.to_item()?))
                .condition_expression(cond)
                .expression_attribute_names("#due", "due_key")
                .expression_attribute_values(":due", s(&due_key(read.due_at)))
                .send()
                .await
                .err()
                .map(|e| (is_condition_failure(&e), StoreError::from_sdk(e))),
            None => self
                .client
                .delete_item()
                .table_name(&self.table)
                .key(attr::PK, AttributeValue::S(pk))
                .key(attr::SK, AttributeValue::S(sk))
                .condition_expression(cond)
                .expression_attribute_names("#due", "due_key")
                .expression_attribute_values(":due", s(&due_key(read.due_at)))
                .send()
                .await
                .err()
                .map(|e| (is_condition_failure(&e), StoreError::from_sdk(e))),
        };
        match failed {
            None => Ok(true),
            Some((true, _)) => Ok(false),
            Some((false, e)) => Err(e),
        }
    }

    async fn watermark(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let item = self.get_item(keys::HSM_WATERMARK_PK.to_string(), keys::HSM_WATERMARK_SK).await?;
        Ok(item.map(from_item::<Watermark>).transpose()?.map(|w| w.at))
    }

    async fn set_watermark(&self, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.put_item(watermark_item(at)?).await
    }
}

#[async_trait]
impl DueStore for MemoryTable {
    async fn schedule(&self, item: &DueItem) -> Result<(), StoreError> {
        self.lock().put(item.to_item()?);
        Ok(())
    }

    async fn cancel(&self, tenant: TenantId, trigger: TriggerKind, entity: &str) -> Result<bool, StoreError> {
        Ok(self.lock().remove(&keys::tenant(tenant), &keys::due(trigger.as_str(), entity)).is_some())
    }

    async fn due_item(
        &self,
        tenant: TenantId,
        trigger: TriggerKind,
        entity: &str,
    ) -> Result<Option<DueItem>, StoreError> {
        self.lock().get(&keys::tenant(tenant), &keys::due(trigger.as_str(), entity)).map(from_item).transpose()
    }

    async fn past_due(
        &self,
        now: DateTime<Utc>,
        lookback_hours: u32,
        limit: usize,
    ) -> Result<(Vec<DueItem>, ReadCost), StoreError> {
        let table = self.lock();
        let mut out = Vec::new();
        let mut cost = ReadCost::default();
        for bucket in buckets(now, lookback_hours) {
            let items = table.gsi1_upto(&bucket, &upto(now));
            cost.requests += 1;
            for item in items.into_iter().take(limit - out.len()) {
                cost.items_read += 1;
                out.push(from_item(item)?);
            }
            if out.len() >= limit {
                break;
            }
        }
        Ok((out, cost))
    }

    async fn replace(&self, read: &DueItem, next: Option<&DueItem>) -> Result<bool, StoreError> {
        let mut table = self.lock();
        let (pk, sk) = (keys::tenant(read.tenant_id), read.sort_key());
        let current = table.get(&pk, &sk).and_then(|i| text(&i, "due_key"));
        if current.as_deref() != Some(due_key(read.due_at).as_str()) {
            return Ok(false);
        }
        match next {
            Some(n) => table.put(n.to_item()?),
            None => {
                table.remove(&pk, &sk);
            }
        }
        Ok(true)
    }

    async fn watermark(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let item = self.lock().get(keys::HSM_WATERMARK_PK, keys::HSM_WATERMARK_SK);
        Ok(item.map(from_item::<Watermark>).transpose()?.map(|w| w.at))
    }

    async fn set_watermark(&self, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.lock().put(watermark_item(at)?);
        Ok(())
    }
}
