//! Audit records: who, tenant, route, outcome, request id, time. Never headers, bodies or tokens.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use futures_util::future::try_join_all;
use serde::{Deserialize, Serialize};

use crate::domain::ids::TenantId;
use crate::store::{attr, from_item, keys, to_item, DynamoStore, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// 2xx/3xx.
    Success,
    /// Refused before the handler ran: auth, role, rate limit, bad input.
    Denied,
    /// The handler failed (4xx from validation or 5xx).
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: String,
    pub at: DateTime<Utc>,
    pub request_id: String,
    pub tenant_id: Option<TenantId>,
    pub user_id: Option<String>,
    pub role: Option<String>,
    /// The endpoint's name (`meta-token-status`), its method and route template (never the raw
    /// URL: query strings can carry codes and tokens).
    pub action: String,
    pub method: String,
    pub route: String,
    pub status: u16,
    pub outcome: Outcome,
    pub error_code: Option<String>,
}

#[async_trait]
pub trait AuditLog: Send + Sync {
    async fn record(&self, entry: &AuditEntry, retention_days: u32) -> Result<(), StoreError>;
    /// The tenant's newest audit records, newest first.
    async fn recent(&self, tenant: TenantId, limit: usize) -> Result<Vec<AuditEntry>, StoreError>;
    /// The newest audit records of `day` (UTC) of requests that never proved a tenant, newest
    /// first, across every shard.
    async fn unauthenticated(&self, day: NaiveDate, limit: usize) -> Result<Vec<AuditEntry>, StoreError>;
}

#[async_trait]
impl AuditLog for DynamoStore {
    async fn record(&self, entry: &AuditEntry, retention_days: u32) -> Result<(), StoreError> {
        let pk = match entry.tenant_id {
            Some(t) => keys::tenant(t),
            None => keys::unauthenticated_audit_pk(
                entry.at.date_naive(),
                keys::unauthenticated_audit_shard(&entry.request_id),
            ),
        };
        let mut item = to_item(pk, &keys::audit_sk(entry.at.timestamp_millis(), &entry.id), entry)?;
        let expires = entry.at + Duration::days(i64::from(retention_days));
        item.insert(attr::TTL.into(), AttributeValue::N(expires.timestamp().to_string()));
        self.put_item(item).await
    }

    async fn recent(&self, tenant: TenantId, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        self.audit_partition(keys::tenant(tenant), limit).await
    }

    async fn unauthenticated(&self, day: NaiveDate, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let shards = (0..keys::UNAUTH_AUDIT_SHARDS)
            .map(|shard| self.audit_partition(keys::unauthenticated_audit_pk(day, shard), limit));
        let mut all: Vec<AuditEntry> = try_join_all(shards).await?.into_iter().flatten().collect();
        newest_first(&mut all, limit);
        Ok(all)
    }
}

impl DynamoStore {
    /// The newest `limit` audit records of one partition, newest first.
    async fn audit_partition(&self, pk: String, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :audit)")
            .expression_attribute_names("#pk", attr::PK)
            .expression_attribute_names("#sk", attr::SK)
            .expression_attribute_values(":pk", AttributeValue::S(pk))
            .expression_attribute_values(":audit", AttributeValue::S("AUDIT#".into()))
            .scan_index_forward(false)
            .limit(i32::try_from(limit.clamp(1, 1000)).unwrap_or(1000))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        out.items.unwrap_or_default().into_iter().map(from_item).collect()
    }
}

/// Newest first (time, then id, as the sort key orders them), at most `limit` (1..=1000).
fn newest_first(entries: &mut Vec<AuditEntry>, limit: usize) {
    entries.sort_by(|a, b| (b.at, &b.id).cmp(&(a.at, &a.id)));
    entries.truncate(limit.clamp(1, 1000));
}

#[cfg(any(test, feature = "test-support"))]
#[derive(Debug, Default)]
pub struct MemoryAuditLog(pub std::sync::Mutex<Vec<AuditEntry>>);

#[cfg(any(test, feature = "test-support"))]
impl MemoryAuditLog {
    pub fn entries(&self) -> Vec<AuditEntry> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[cfg(any(test, feature = "test-support"))]
#[async_trait]
impl AuditLog for MemoryAuditLog {
    async fn record(&self, entry: &AuditEntry, _retention_days: u32) -> Result<(), StoreError> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(entry.clone());
        Ok(())
    }
    async fn recent(&self, tenant: TenantId, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let mut mine: Vec<AuditEntry> = self.entries().into_iter().filter(|e| e.tenant_id == Some(tenant)).collect();
        newest_first(&mut mine, limit);
        Ok(mine)
    }
    async fn unauthenticated(&self, day: NaiveDate, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let mut anon: Vec<AuditEntry> =
            self.entries().into_iter().filter(|e| e.tenant_id.is_none() && e.at.date_naive() == day).collect();
        newest_first(&mut anon, limit);
        Ok(anon)
    }
}
