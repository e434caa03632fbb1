//! The automation log: `T#{tenant}` / `LOG#{ms}#{id}`, read newest first in pages (the cursor is
//! the last sort key returned; `automation` signs it before it leaves). A status only moves
//! forward ([`LogStatus::rank`]): `read` never reverts to `delivered`, whatever order YCloud's
//! webhooks arrive in. Also the YCloud webhook's event markers (`YCEVT#{id}`, TTL).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::s;
use crate::domain::hsm::{LogStatus, TriggerKind};
use crate::domain::ids::TenantId;
use crate::store::memory_table::MemoryTable;
use crate::store::{
    attr, condition_held, from_item, is_condition_failure, keys, retry_conflicts, to_item, Conflict, DynamoStore, Item,
    StoreError,
};

/// Webhook event markers outlive YCloud's 7 retries (up to ~2 h apart) by far.
pub const EVENT_MARKER_TTL_DAYS: i64 = 7;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChange {
    pub status: LogStatus,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    pub id: String,
    pub tenant_id: TenantId,
    pub trigger: TriggerKind,
    pub entity_id: String,
    #[serde(default)]
    pub lead_name: Option<String>,
    #[serde(default)]
    pub template: Option<String>,
    #[serde(default)]
    pub language: Option<String>,
    /// Masked (`+54•••••01`): the log never keeps the full number.
    #[serde(default)]
    pub phone_masked: Option<String>,
    pub status: LogStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub history: Vec<StatusChange>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub message_id: Option<String>,
    /// When an in-flight entry (`pending` / `retrying` / `unknown`) is tried next.
    #[serde(default)]
    pub next_attempt_at: Option<DateTime<Utc>>,
}

impl LogEntry {
    /// The entry's sort key (`LOG#{created_at ms}#{id}`).
    pub fn sort_key(&self) -> String {
        keys::automation_log(self.created_at.timestamp_millis(), &self.id)
    }
}

/// `entry` moved to `status` at `at`, or `None` if that would not move it forward.
pub fn advanced(entry: &LogEntry, status: LogStatus, at: DateTime<Utc>, reason: Option<&str>) -> Option<LogEntry> {
    if status.rank() <= entry.status.rank() {
        return None;
    }
    let mut next = entry.clone();
    next.status = status;
    next.updated_at = at;
    next.history.push(StatusChange { status, at });
    if let Some(r) = reason {
        next.reason = Some(r.to_string());
    }
    Some(next)
}

fn entry_item(e: &LogEntry) -> Result<Item, StoreError> {
    let mut item = to_item(keys::tenant(e.tenant_id), &e.sort_key(), e)?;
    item.insert("status_rank".into(), AttributeValue::N(e.status.rank().to_string()));
    Ok(item)
}

fn marker_item(tenant: TenantId, event_id: &str, at: DateTime<Utc>) -> Item {
    Item::from([
        (attr::PK.to_string(), s(&keys::tenant(tenant))),
        (attr::SK.to_string(), s(&keys::ycloud_event(event_id))),
        ("at".to_string(), s(&at.to_rfc3339())),
        (
            attr::TTL.to_string(),
            AttributeValue::N((at + Duration::days(EVENT_MARKER_TTL_DAYS)).timestamp().to_string()),
        ),
    ])
}

/// A page of entries, newest first, with the sort key to continue after (`None`: no more).
pub type LogPage = (Vec<LogEntry>, Option<String>);

#[async_trait]
pub trait AutomationLog: Send + Sync {
    async fn append(&self, entry: &LogEntry) -> Result<(), StoreError>;
    /// Writes `entry` over its key only while nothing is there or what is there is still in flight
    /// (`pending` / `retrying` / `unknown`): the evaluator's way to update its in-flight entry and
    /// to settle it, never overwriting what a status webhook already moved forward. `false`: left.
    async fn write_over_in_flight(&self, entry: &LogEntry) -> Result<bool, StoreError>;
    async fn entry(&self, tenant: TenantId, sort_key: &str) -> Result<Option<LogEntry>, StoreError>;
    /// Moves the entry to `status` if that is forward; the entry after the call (`None`: no entry).
    async fn advance(
        &self,
        tenant: TenantId,
        sort_key: &str,
        status: LogStatus,
        at: DateTime<Utc>,
        reason: Option<&str>,
    ) -> Result<Option<LogEntry>, StoreError>;
    /// Up to `limit` entries older than `after` (a sort key from an earlier page), newest first.
    async fn page(&self, tenant: TenantId, limit: usize, after: Option<&str>) -> Result<LogPage, StoreError>;
    /// Records a webhook event id; `false` if it was recorded before (a re-delivery).
    async fn first_delivery(&self, tenant: TenantId, event_id: &str, at: DateTime<Utc>) -> Result<bool, StoreError>;
}

#[async_trait]
impl AutomationLog for DynamoStore {
    async fn append(&self, entry: &LogEntry) -> Result<(), StoreError> {
        self.put_item(entry_item(entry)?).await
    }

    async fn write_over_in_flight(&self, entry: &LogEntry) -> Result<bool, StoreError> {
        let out = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(entry_item(entry)?))
            .condition_expression("attribute_not_exists(#pk) OR #rank = :in_flight")
            .expression_attribute_names("#pk", attr::PK)
            .expression_attribute_names("#rank", "status_rank")
            .expression_attribute_values(":in_flight", AttributeValue::N("0".into()))
            .send()
            .await;
        condition_held(out)
    }

    async fn entry(&self, tenant: TenantId, sort_key: &str) -> Result<Option<LogEntry>, StoreError> {
        if !sort_key.starts_with(keys::AUTOMATION_LOG_PREFIX) {
            return Ok(None);
        }
        self.get_item(keys::tenant(tenant), sort_key).await?.map(from_item).transpose()
    }

    async fn advance(
        &self,
        tenant: TenantId,
        sort_key: &str,
        status: LogStatus,
        at: DateTime<Utc>,
        reason: Option<&str>,
    ) -> Result<Option<LogEntry>, StoreError> {
        let done = retry_conflicts(|_| async move {
            let Some(current) = self.entry(tenant, sort_key).await? else {
                return Ok::<_, StoreError>(Ok(None));
            };
            let Some(next) = advanced(&current, status, at, reason) else {
                return Ok(Ok(Some(current)));
            };
            let out = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(entry_item(&next)?))
                .condition_expression("#rank = :rank")
                .expression_attribute_names("#rank", "status_rank")
                .expression_attribute_values(":rank", AttributeValue::N(current.status.rank().to_string()))
                .send()
                .await;
            match out {
                Ok(_) => Ok(Ok(Some(next))),
                Err(e) if is_condition_failure(&e) => Ok(Err(Conflict)),
                Err(e) => Err(StoreError::from_sdk(e)),
            }
        })
        .await?;
        done.ok_or(StoreError::Throttled)
    }

    async fn page(&self, tenant: TenantId, limit: usize, after: Option<&str>) -> Result<LogPage, StoreError> {
        let pk = keys::tenant(tenant);
        let start = after.map(|sk| {
            Item::from([(attr::PK.to_string(), s(&pk)), (attr::SK.to_string(), AttributeValue::S(sk.to_string()))])
        });
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :log)")
            .expression_attribute_names("#pk", attr::PK)
            .expression_attribute_names("#sk", attr::SK)
            .expression_attribute_values(":pk", s(&pk))
            .expression_attribute_values(":log", s(keys::AUTOMATION_LOG_PREFIX))
            .scan_index_forward(false)
            .limit(i32::try_from(limit.max(1)).unwrap_or(100))
            .set_exclusive_start_key(start)
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        let entries = out.items.unwrap_or_default().into_iter().map(from_item).collect::<Result<Vec<_>, _>>()?;
        let next = out.last_evaluated_key.and_then(|k| k.get(attr::SK).and_then(|v| v.as_s().ok()).cloned());
        Ok((entries, next))
    }

    async fn first_delivery(&self, tenant: TenantId, event_id: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let out = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(marker_item(tenant, event_id, at)))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", attr::PK)
            .send()
            .await;
        condition_held(out)
    }
}

#[async_trait]
impl AutomationLog for MemoryTable {
    async fn append(&self, entry: &LogEntry) -> Result<(), StoreError> {
        self.lock().put(entry_item(entry)?);
        Ok(())
    }

    async fn write_over_in_flight(&self, entry: &LogEntry) -> Result<bool, StoreError> {
        let mut table = self.lock();
        let current = table.get(&keys::tenant(entry.tenant_id), &entry.sort_key()).map(from_item::<LogEntry>);
        if current.transpose()?.is_some_and(|c| !c.status.in_flight()) {
            return Ok(false);
        }
        table.put(entry_item(entry)?);
        Ok(true)
    }

    async fn entry(&self, tenant: TenantId, sort_key: &str) -> Result<Option<LogEntry>, StoreError> {
        if !sort_key.starts_with(keys::AUTOMATION_LOG_PREFIX) {
            return Ok(None);
        }
        self.lock().get(&keys::tenant(tenant), sort_key).map(from_item).transpose()
    }

    async fn advance(
        &self,
        tenant: TenantId,
        sort_key: &str,
        status: LogStatus,
        at: DateTime<Utc>,
        reason: Option<&str>,
    ) -> Result<Option<LogEntry>, StoreError> {
        let mut table = self.lock();
        let Some(current) = table.get(&keys::tenant(tenant), sort_key).map(from_item::<LogEntry>).transpose()? else {
            return Ok(None);
        };
        match advanced(&current, status, at, reason) {
            Some(next) => {
                table.put(entry_item(&next)?);
                Ok(Some(next))
            }
            None => Ok(Some(current)),
        }
    }

    async fn page(&self, tenant: TenantId, limit: usize, after: Option<&str>) -> Result<LogPage, StoreError> {
        let limit = limit.max(1);
        let upper = after.map_or_else(|| "LOG$".to_string(), str::to_string);
        let mut items: Vec<Item> = self.lock().between(&keys::tenant(tenant), keys::AUTOMATION_LOG_PREFIX, &upper);
        items.retain(|i| after.is_none_or(|a| i.get(attr::SK).and_then(|v| v.as_s().ok()).is_some_and(|sk| sk != a)));
        items.reverse();
        items.truncate(limit);
        let next = if items.len() == limit {
            items.last().and_then(|i| i.get(attr::SK)).and_then(|v| v.as_s().ok()).cloned()
        } else {
            None
        };
        Ok((items.into_iter().map(from_item).collect::<Result<Vec<_>, _>>()?, next))
    }

    async fn first_delivery(&self, tenant: TenantId, event_id: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut table = self.lock();
        if table.get(&keys::tenant(tenant), &keys::ycloud_event(event_id)).is_some() {
            return Ok(false);
        }
        table.put(marker_item(tenant, event_id, at));
        Ok(true)
    }
}
