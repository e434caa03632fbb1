//! The outbox of Meta leads handed to the CRM (`meta.lead.received` on the product bus):
//! `T#{tenant}` / `HANDOFF#{leadgen_id}` holds the event's detail, `pending` until the bus took
//! it, then `sent`. While pending the item sits in GSI1 under `HANDOFF#PENDING#T#{tenant}`
//! (sparse), so what a crash or a bus outage left behind is found and re-sent without Meta.
//!
//! Once per lead: [`LeadHandoffs::enqueue`] is a conditional put, so of every path that sees the
//! same lead (webhook, re-delivery, sweep, replay) exactly one enqueues and publishes it.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use crate::domain::ids::TenantId;
use crate::store::{attr, condition_held, is_condition_failure, keys, DynamoStore, Item, StoreError};

/// A hand-off as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handoff {
    pub tenant: TenantId,
    pub leadgen_id: String,
    /// The event's `detail` (JSON text).
    pub detail: String,
    pub created_at: DateTime<Utc>,
    /// `None` while pending.
    pub sent_at: Option<DateTime<Utc>>,
}

#[async_trait]
pub trait LeadHandoffs: Send + Sync {
    /// Stores `h` as pending unless this lead has a hand-off already; whether it was stored now.
    async fn enqueue(&self, h: &Handoff) -> Result<bool, StoreError>;
    /// Marks it sent (leaves the pending index).
    async fn mark_sent(&self, tenant: TenantId, leadgen_id: &str, at: DateTime<Utc>) -> Result<(), StoreError>;
    /// The tenant's pending hand-offs created before `before`, oldest first, at most `limit`.
    async fn pending(&self, tenant: TenantId, before: DateTime<Utc>, limit: usize) -> Result<Vec<Handoff>, StoreError>;
    async fn get(&self, tenant: TenantId, leadgen_id: &str) -> Result<Option<Handoff>, StoreError>;
}

fn pending_index(tenant: TenantId) -> String {
    format!("HANDOFF#PENDING#{}", keys::tenant(tenant))
}

fn pending_sk(at: DateTime<Utc>, leadgen_id: &str) -> String {
    format!("{}#{leadgen_id}", at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

fn text(item: &Item, k: &str) -> Option<String> {
    item.get(k).and_then(|v| v.as_s().ok()).cloned()
}

fn time(item: &Item, k: &str) -> Option<DateTime<Utc>> {
    text(item, k).and_then(|t| DateTime::parse_from_rfc3339(&t).ok()).map(|t| t.with_timezone(&Utc))
}

fn handoff_of(tenant: TenantId, item: &Item) -> Result<Handoff, StoreError> {
    let corrupt = || StoreError::Corrupt("hand-off item incomplete".into());
    Ok(Handoff {
        tenant,
        leadgen_id: text(item, "leadgen_id").ok_or_else(corrupt)?,
        detail: text(item, "detail").ok_or_else(corrupt)?,
        created_at: time(item, "created_at").ok_or_else(corrupt)?,
        sent_at: time(item, "sent_at"),
    })
}

#[async_trait]
impl LeadHandoffs for DynamoStore {
    async fn enqueue(&self, h: &Handoff) -> Result<bool, StoreError> {
        let item: Item = [
            (attr::PK, s(&keys::tenant(h.tenant))),
            (attr::SK, s(&keys::lead_handoff(&h.leadgen_id))),
            ("leadgen_id", s(&h.leadgen_id)),
            ("detail", s(&h.detail)),
            ("created_at", s(&h.created_at.to_rfc3339())),
            (attr::GSI1PK, s(&pending_index(h.tenant))),
            (attr::GSI1SK, s(&pending_sk(h.created_at, &h.leadgen_id))),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", attr::PK)
            .send()
            .await;
        condition_held(res)
    }

    async fn mark_sent(&self, tenant: TenantId, leadgen_id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(attr::PK, s(&keys::tenant(tenant)))
            .key(attr::SK, s(&keys::lead_handoff(leadgen_id)))
            .update_expression("SET sent_at = :at REMOVE #gpk, #gsk")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", attr::PK)
            .expression_attribute_names("#gpk", attr::GSI1PK)
            .expression_attribute_names("#gsk", attr::GSI1SK)
            .expression_attribute_values(":at", s(&at.to_rfc3339()))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Err(StoreError::Corrupt("hand-off to mark sent is missing".into())),
            Err(e) => Err(StoreError::from_sdk(e)),
        }
    }

    async fn pending(&self, tenant: TenantId, before: DateTime<Utc>, limit: usize) -> Result<Vec<Handoff>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(attr::GSI1)
            .key_condition_expression("#gpk = :gpk AND #gsk < :before")
            .expression_attribute_names("#gpk", attr::GSI1PK)
            .expression_attribute_names("#gsk", attr::GSI1SK)
            .expression_attribute_values(":gpk", s(&pending_index(tenant)))
            .expression_attribute_values(":before", s(&pending_sk(before, "")))
            .limit(i32::try_from(limit.clamp(1, 1000)).unwrap_or(1000))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        out.items().iter().map(|i| handoff_of(tenant, i)).collect()
    }

    async fn get(&self, tenant: TenantId, leadgen_id: &str) -> Result<Option<Handoff>, StoreError> {
        self.get_item(keys::tenant(tenant), &keys::lead_handoff(leadgen_id))
            .await?
            .map(|i| handoff_of(tenant, &i))
            .transpose()
    }
}

/// In-memory twin with the same semantics, for unit tests.
#[cfg(any(test, feature = "test-support"))]
#[derive(Debug, Default)]
pub struct MemoryLeadHandoffs(std::sync::Mutex<std::collections::BTreeMap<(i64, String), Handoff>>);

#[cfg(any(test, feature = "test-support"))]
#[async_trait]
impl LeadHandoffs for MemoryLeadHandoffs {
    async fn enqueue(&self, h: &Handoff) -> Result<bool, StoreError> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let key = (h.tenant.0, h.leadgen_id.clone());
        if map.contains_key(&key) {
            return Ok(false);
        }
        map.insert(key, Handoff { sent_at: None, ..h.clone() });
        Ok(true)
    }

    async fn mark_sent(&self, tenant: TenantId, leadgen_id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match map.get_mut(&(tenant.0, leadgen_id.to_string())) {
            Some(h) => {
                h.sent_at = Some(at);
                Ok(())
            }
            None => Err(StoreError::Corrupt("hand-off to mark sent is missing".into())),
        }
    }

    async fn pending(&self, tenant: TenantId, before: DateTime<Utc>, limit: usize) -> Result<Vec<Handoff>, StoreError> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<Handoff> = map
            .values()
            .filter(|h| h.tenant == tenant && h.sent_at.is_none() && h.created_at < before)
            .cloned()
            .collect();
        out.sort_by(|a, b| (a.created_at, &a.leadgen_id).cmp(&(b.created_at, &b.leadgen_id)));
        out.truncate(limit.clamp(1, 1000));
        Ok(out)
    }

    async fn get(&self, tenant: TenantId, leadgen_id: &str) -> Result<Option<Handoff>, StoreError> {
        Ok(self.0.lock().unwrap_or_else(|p| p.into_inner()).get(&(tenant.0, leadgen_id.to_string())).cloned())
    }
}
