//! The connected index: `META#CONNECTED` / `T#{tenant}`, one item per tenant with a Meta
//! connection. The spend sync pages this partition to fan out (no Scan anywhere).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::ids::TenantId;
use aws_sdk_dynamodb::types::AttributeValue;

use crate::store::{attr, from_item, keys, to_item, DynamoStore, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectedTenant {
    pub tenant_id: TenantId,
    pub connected_at: DateTime<Utc>,
}

#[async_trait]
pub trait ConnectedIndex: Send + Sync {
    async fn mark_connected(&self, entry: &ConnectedTenant) -> Result<(), StoreError>;
    async fn mark_disconnected(&self, tenant: TenantId) -> Result<(), StoreError>;
    /// Up to `limit` connected tenants after `cursor` (`None` = from the start), and the cursor of
    /// the next page (`None` = that was the last).
    async fn connected_page(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<ConnectedTenant>, Option<String>), StoreError>;
}

#[async_trait]
impl ConnectedIndex for DynamoStore {
    async fn mark_connected(&self, entry: &ConnectedTenant) -> Result<(), StoreError> {
        self.put_item(to_item(keys::CONNECTED_INDEX_PK.to_string(), &keys::tenant(entry.tenant_id), entry)?).await
    }

    async fn mark_disconnected(&self, tenant: TenantId) -> Result<(), StoreError> {
        self.delete_item(keys::CONNECTED_INDEX_PK.to_string(), &keys::tenant(tenant)).await
    }

    async fn connected_page(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<ConnectedTenant>, Option<String>), StoreError> {
        let limit = limit.clamp(1, 1000);
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND #sk > :after")
            .expression_attribute_names("#pk", attr::PK)
            .expression_attribute_names("#sk", attr::SK)
            .expression_attribute_values(":pk", AttributeValue::S(keys::CONNECTED_INDEX_PK.into()))
            .expression_attribute_values(":after", AttributeValue::S(cursor.unwrap_or("T#").to_string()))
            .limit(i32::try_from(limit).unwrap_or(1000))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        let items = out.items.unwrap_or_default();
        let next = if items.len() == limit {
            items.last().and_then(|i| i.get(attr::SK)).and_then(|v| v.as_s().ok()).cloned()
        } else {
            None
        };
        let tenants = items.into_iter().map(from_item).collect::<Result<Vec<ConnectedTenant>, _>>()?;
        Ok((tenants, next))
    }
}

/// In-memory index, for unit tests (ordered by sort key, as DynamoDB orders the partition).
#[cfg(any(test, feature = "test-support"))]
#[derive(Debug, Default)]
pub struct MemoryConnectedIndex(pub std::sync::Mutex<std::collections::BTreeMap<String, ConnectedTenant>>);

#[cfg(any(test, feature = "test-support"))]
#[async_trait]
impl ConnectedIndex for MemoryConnectedIndex {
    async fn mark_connected(&self, entry: &ConnectedTenant) -> Result<(), StoreError> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(keys::tenant(entry.tenant_id), entry.clone());
        Ok(())
    }
    async fn mark_disconnected(&self, tenant: TenantId) -> Result<(), StoreError> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(&keys::tenant(tenant));
        Ok(())
    }
    async fn connected_page(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<ConnectedTenant>, Option<String>), StoreError> {
        let limit = limit.clamp(1, 1000);
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let after = cursor.unwrap_or("T#").to_string();
        let page: Vec<(&String, &ConnectedTenant)> = map
            .range::<String, _>((std::ops::Bound::Excluded(&after), std::ops::Bound::Unbounded))
            .take(limit)
            .collect();
        let next = (page.len() == limit).then(|| page.last().map(|(k, _)| (*k).clone())).flatten();
        Ok((page.into_iter().map(|(_, v)| v.clone()).collect(), next))
    }
}
