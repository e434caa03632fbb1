//! The lead-ads inbox: one item per lead Meta announced, `T#{tenant}` / `LEADGEN#{leadgen_id}`,
//! written before any Graph call so no lead is lost. While open (`pending`,
//! `awaiting_reconnect`) the item sits in the sparse GSI1 (`LEADGEN#OPEN#T#{tenant}`, oldest
//! first); settling it (`done`, `failed`) takes it out of the index and gives it a TTL. What to do
//! with an open lead is `meta::leadgen`'s.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::ids::{is_meta_id, TenantId};
use crate::store::{attr, is_condition_failure, keys, DynamoStore, Item, StoreError};

/// Settled inbox items are kept a while after Meta's 36 h of retries, then expire.
pub const SETTLED_TTL_DAYS: i64 = 35;

/// State of a lead's inbox item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InboxStatus {
    /// Received, not ingested yet (or a transient failure): the next delivery retries it.
    Pending,
    /// The tenant's token is expired/rejected or Meta is disconnected: retried after reconnect.
    AwaitingReconnect,
    /// Ingested (created, or found already counted).
    Done,
    /// Meta refused the lead for good (deleted, no permission): kept with the reason.
    Failed,
}

impl InboxStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::AwaitingReconnect => "awaiting_reconnect",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }

    /// The stored word; anything unknown reads as `pending` (retried, never lost).
    pub fn parse(s: &str) -> Self {
        match s {
            "awaiting_reconnect" => Self::AwaitingReconnect,
            "done" => Self::Done,
            "failed" => Self::Failed,
            _ => Self::Pending,
        }
    }

    /// Whether a delivery should (re)try the lead.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Pending | Self::AwaitingReconnect)
    }
}

/// What the inbox keeps of an announced lead: Meta's ids, nothing of the lead itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxLead {
    pub leadgen_id: String,
    pub page_id: String,
    pub form_id: Option<String>,
}

/// An inbox item as stored (for inspection: tests, support).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxItem {
    pub lead: InboxLead,
    pub status: InboxStatus,
    /// Deliveries that announced the lead.
    pub deliveries: u64,
    /// Attempts recorded by [`LeadInbox::settle`].
    pub attempts: u64,
    /// Why the last attempt did not settle it as `done`.
    pub last_error: Option<String>,
}

#[async_trait]
pub trait LeadInbox: Send + Sync {
    /// Opens the lead's item (`pending`, in the open index) unless it exists; an existing one
    /// counts the delivery and keeps its status. Returns the item's status after the call.
    async fn open(&self, tenant: TenantId, lead: &InboxLead, now: DateTime<Utc>) -> Result<InboxStatus, StoreError>;
    /// Records an attempt's outcome. An open `status` never re-opens an item another delivery
    /// already settled; a settled one leaves the open index and expires after
    /// [`SETTLED_TTL_DAYS`]. An item that was never opened is left alone.
    async fn settle(
        &self,
        tenant: TenantId,
        leadgen_id: &str,
        status: InboxStatus,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Up to `limit` open items of `tenant`, oldest first (the sparse index; no Scan).
    async fn open_items(&self, tenant: TenantId, limit: usize) -> Result<Vec<InboxLead>, StoreError>;
    /// The lead's item, if any.
    async fn get(&self, tenant: TenantId, leadgen_id: &str) -> Result<Option<InboxItem>, StoreError>;
    /// Up to `limit` open items of `tenant` first received before `before`, oldest first (the
    /// sparse index, a key condition on its sort key; no Scan).
    async fn open_items_received_before(
        &self,
        tenant: TenantId,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<InboxLead>, StoreError>;
    /// Until when the lead reconciliation has read the tenant's lead forms (`None`: never).
    async fn lead_sweep(&self, tenant: TenantId) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// Records a complete reconciliation up to `until`; an older mark never replaces a newer one.
    async fn set_lead_sweep(&self, tenant: TenantId, until: DateTime<Utc>) -> Result<(), StoreError>;
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

fn text(item: &Item, k: &str) -> Option<String> {
    item.get(k).and_then(|v| v.as_s().ok()).cloned()
}

fn count(item: &Item, k: &str) -> u64 {
    item.get(k).and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok()).unwrap_or(0)
}

fn lead_of(item: &Item) -> Option<InboxLead> {
    Some(InboxLead {
        leadgen_id: text(item, "leadgen_id").filter(|id| is_meta_id(id))?,
        page_id: text(item, "page_id").unwrap_or_default(),
        form_id: text(item, "form_id"),
    })
}

/// The item a first delivery writes (keys, status, ids, times, open index).
fn new_item(tenant: TenantId, lead: &InboxLead, now: DateTime<Utc>) -> Item {
    let mut item: Item = HashMap::from([
        (attr::PK.to_string(), s(&keys::tenant(tenant))),
        (attr::SK.to_string(), s(&keys::leadgen_inbox(&lead.leadgen_id))),
        ("status".to_string(), s(InboxStatus::Pending.as_str())),
        ("leadgen_id".to_string(), s(&lead.leadgen_id)),
        ("page_id".to_string(), s(&lead.page_id)),
        ("received_at".to_string(), s(&now.to_rfc3339())),
        ("last_delivery_at".to_string(), s(&now.to_rfc3339())),
        ("deliveries".to_string(), AttributeValue::N("1".into())),
        (attr::GSI1PK.to_string(), s(&keys::leadgen_open_index(tenant))),
        (attr::GSI1SK.to_string(), s(&keys::leadgen_open_sk(now, &lead.leadgen_id))),
    ]);
    if let Some(form) = &lead.form_id {
        item.insert("form_id".into(), s(form));
    }
    item
}

#[async_trait]
impl LeadInbox for DynamoStore {
    async fn open(&self, tenant: TenantId, lead: &InboxLead, now: DateTime<Utc>) -> Result<InboxStatus, StoreError> {
        let created = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(new_item(tenant, lead, now)))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", attr::PK)
            .send()
            .await;
        match created {
            Ok(_) => return Ok(InboxStatus::Pending),
            Err(e) if is_condition_failure(&e) => {}
            Err(e) => return Err(StoreError::from_sdk(e)),
        }
        // Known lead (re-delivery or another delivery): count the delivery, read its status.
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(attr::PK, s(&keys::tenant(tenant)))
            .key(attr::SK, s(&keys::leadgen_inbox(&lead.leadgen_id)))
            .update_expression("SET last_delivery_at = :now ADD deliveries :one")
            .expression_attribute_values(":now", s(&now.to_rfc3339()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        let status = out.attributes().and_then(|a| text(a, "status"));
        Ok(InboxStatus::parse(status.as_deref().unwrap_or("pending")))
    }

    async fn settle(
        &self,
        tenant: TenantId,
        leadgen_id: &str,
        status: InboxStatus,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut upd = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(attr::PK, s(&keys::tenant(tenant)))
            .key(attr::SK, s(&keys::leadgen_inbox(leadgen_id)))
            .expression_attribute_names("#pk", attr::PK)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(status.as_str()))
            .expression_attribute_values(":now", s(&now.to_rfc3339()))
            .expression_attribute_values(":reason", reason.map_or(AttributeValue::Null(true), s))
            .expression_attribute_values(":one", AttributeValue::N("1".into()));
        let expr = if status.is_open() {
            // A concurrent delivery that already settled the lead is never re-opened.
            upd = upd
                .condition_expression("attribute_exists(#pk) AND #status <> :done AND #status <> :failed")
                .expression_attribute_values(":done", s(InboxStatus::Done.as_str()))
                .expression_attribute_values(":failed", s(InboxStatus::Failed.as_str()));
            "SET #status = :status, updated_at = :now, last_error = :reason ADD attempts :one"
        } else {
            upd = upd
                .condition_expression("attribute_exists(#pk)")
                .expression_attribute_names("#ttl", attr::TTL)
                .expression_attribute_names("#gpk", attr::GSI1PK)
                .expression_attribute_names("#gsk", attr::GSI1SK)
                .expression_attribute_values(
                    ":ttl",
                    AttributeValue::N((now + Duration::days(SETTLED_TTL_DAYS)).timestamp().to_string()),
                );
            "SET #status = :status, updated_at = :now, last_error = :reason, #ttl = :ttl REMOVE #gpk, #gsk ADD attempts :one"
        };
        match upd.update_expression(expr).send().await {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(StoreError::from_sdk(e)),
        }
    }

    async fn open_items(&self, tenant: TenantId, limit: usize) -> Result<Vec<InboxLead>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(attr::GSI1)
            .key_condition_expression("#gpk = :gpk")
            .expression_attribute_names("#gpk", attr::GSI1PK)
            .expression_attribute_values(":gpk", s(&keys::leadgen_open_index(tenant)))
            .limit(i32::try_from(limit.clamp(1, 1000)).unwrap_or(1000))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(out.items().iter().filter_map(lead_of).collect())
    }

    async fn get(&self, tenant: TenantId, leadgen_id: &str) -> Result<Option<InboxItem>, StoreError> {
        let Some(item) = self.get_item(keys::tenant(tenant), &keys::leadgen_inbox(leadgen_id)).await? else {
            return Ok(None);
        };
        let lead = lead_of(&item).ok_or_else(|| StoreError::Corrupt("inbox item without a leadgen id".into()))?;
        Ok(Some(InboxItem {
            lead,
            status: InboxStatus::parse(text(&item, "status").as_deref().unwrap_or("pending")),
            deliveries: count(&item, "deliveries"),
            attempts: count(&item, "attempts"),
            last_error: text(&item, "last_error"),
        }))
    }

    async fn open_items_received_before(
        &self,
        tenant: TenantId,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<InboxLead>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(attr::GSI1)
            .key_condition_expression("#gpk = :gpk AND #gsk < :before")
            .expression_attribute_names("#gpk", attr::GSI1PK)
            .expression_attribute_names("#gsk", attr::GSI1SK)
            .expression_attribute_values(":gpk", s(&keys::leadgen_open_index(tenant)))
            .expression_attribute_values(":before", s(&keys::leadgen_open_sk(before, "")))
            .limit(i32::try_from(limit.clamp(1, 1000)).unwrap_or(1000))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(out.items().iter().filter_map(lead_of).collect())
    }

    async fn lead_sweep(&self, tenant: TenantId) -> Result<Option<DateTime<Utc>>, StoreError> {
        let Some(item) = self.get_item(keys::tenant(tenant), keys::LEAD_SWEEP).await? else {
            return Ok(None);
        };
        let at = text(&item, "swept_until").ok_or_else(|| StoreError::Corrupt("lead sweep without a time".into()))?;
        DateTime::parse_from_rfc3339(&at)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| StoreError::Corrupt("lead sweep time unreadable".into()))
    }

    async fn set_lead_sweep(&self, tenant: TenantId, until: DateTime<Utc>) -> Result<(), StoreError> {
        // Fixed-width UTC text compares in time order, so the condition keeps the newest mark.
        let at = until.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(attr::PK, s(&keys::tenant(tenant)))
            .item(attr::SK, s(keys::LEAD_SWEEP))
            .item("swept_until", s(&at))
            .condition_expression("attribute_not_exists(swept_until) OR swept_until < :at")
            .expression_attribute_values(":at", s(&at))
            .send()
            .await;
        match put {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(StoreError::from_sdk(e)),
        }
    }
}

/// In-memory inbox with the same semantics (conditional open, no re-opening of settled items,
/// the open index ordered by first receipt), for unit tests.
#[cfg(any(test, feature = "test-support"))]
#[derive(Debug, Default)]
pub struct MemoryLeadInbox(
    std::sync::Mutex<std::collections::BTreeMap<(TenantId, String), MemoryInboxItem>>,
    std::sync::Mutex<HashMap<TenantId, DateTime<Utc>>>,
);

#[cfg(any(test, feature = "test-support"))]
#[derive(Debug, Clone)]
struct MemoryInboxItem {
    item: InboxItem,
    /// `GSI1SK` while open; `None` once settled.
    open_sk: Option<String>,
}

#[cfg(any(test, feature = "test-support"))]
impl MemoryLeadInbox {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::BTreeMap<(TenantId, String), MemoryInboxItem>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(any(test, feature = "test-support"))]
#[async_trait]
impl LeadInbox for MemoryLeadInbox {
    async fn open(&self, tenant: TenantId, lead: &InboxLead, now: DateTime<Utc>) -> Result<InboxStatus, StoreError> {
        let mut map = self.lock();
        let entry = map.entry((tenant, lead.leadgen_id.clone())).or_insert_with(|| MemoryInboxItem {
            item: InboxItem {
                lead: lead.clone(),
                status: InboxStatus::Pending,
                deliveries: 0,
                attempts: 0,
                last_error: None,
            },
            open_sk: Some(keys::leadgen_open_sk(now, &lead.leadgen_id)),
        });
        entry.item.deliveries += 1;
        Ok(entry.item.status)
    }

    async fn settle(
        &self,
        tenant: TenantId,
        leadgen_id: &str,
        status: InboxStatus,
        reason: Option<&str>,
        _now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut map = self.lock();
        let Some(entry) = map.get_mut(&(tenant, leadgen_id.to_string())) else {
            return Ok(());
        };
        if status.is_open() && !entry.item.status.is_open() {
            return Ok(());
        }
        entry.item.status = status;
        entry.item.last_error = reason.map(str::to_string);
        entry.item.attempts += 1;
        if !status.is_open() {
            entry.open_sk = None;
        }
        Ok(())
    }

    async fn open_items(&self, tenant: TenantId, limit: usize) -> Result<Vec<InboxLead>, StoreError> {
        let map = self.lock();
        let mut open: Vec<(&String, &InboxLead)> = map
            .iter()
            .filter(|((t, _), e)| *t == tenant && is_meta_id(&e.item.lead.leadgen_id))
            .filter_map(|(_, e)| e.open_sk.as_ref().map(|sk| (sk, &e.item.lead)))
            .collect();
        open.sort_by(|a, b| a.0.cmp(b.0));
        Ok(open.into_iter().take(limit.clamp(1, 1000)).map(|(_, l)| l.clone()).collect())
    }

    async fn get(&self, tenant: TenantId, leadgen_id: &str) -> Result<Option<InboxItem>, StoreError> {
        Ok(self.lock().get(&(tenant, leadgen_id.to_string())).map(|e| e.item.clone()))
    }

    async fn open_items_received_before(
        &self,
        tenant: TenantId,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<InboxLead>, StoreError> {
        let bound = keys::leadgen_open_sk(before, "");
        let map = self.lock();
        let mut open: Vec<(&String, &InboxLead)> = map
            .iter()
            .filter(|((t, _), e)| *t == tenant && is_meta_id(&e.item.lead.leadgen_id))
            .filter_map(|(_, e)| e.open_sk.as_ref().filter(|sk| **sk < bound).map(|sk| (sk, &e.item.lead)))
            .collect();
        open.sort_by(|a, b| a.0.cmp(b.0));
        Ok(open.into_iter().take(limit.clamp(1, 1000)).map(|(_, l)| l.clone()).collect())
    }

    async fn lead_sweep(&self, tenant: TenantId) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(self.1.lock().unwrap_or_else(|p| p.into_inner()).get(&tenant).copied())
    }

    async fn set_lead_sweep(&self, tenant: TenantId, until: DateTime<Utc>) -> Result<(), StoreError> {
        let mut marks = self.1.lock().unwrap_or_else(|p| p.into_inner());
        let mark = marks.entry(tenant).or_insert(until);
        *mark = (*mark).max(until);
        Ok(())
    }
}
