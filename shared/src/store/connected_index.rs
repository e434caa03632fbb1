//! The connected index: `META#CONNECTED` / `T#{tenant}`, one item per tenant with a Meta
//! connection. The spend sync pages this partition to fan out (no Scan anywhere).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::ids::TenantId;
use crate::store::{keys, to_item, DynamoStore, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectedTenant {
    pub tenant_id: TenantId,
    pub connected_at: DateTime<Utc>,
}

#[async_trait]
pub trait ConnectedIndex: Send + Sync {
    async fn mark_connected(&self, entry: &ConnectedTenant) -> Result<(), StoreError>;
    async fn mark_disconnected(&self, tenant: TenantId) -> Result<(), StoreError>;
}

#[async_trait]
impl ConnectedIndex for DynamoStore {
    async fn mark_connected(&self, entry: &ConnectedTenant) -> Result<(), StoreError> {
        self.put_item(to_item(keys::CONNECTED_INDEX_PK.to_string(), &keys::tenant(entry.tenant_id), entry)?).await
    }

    async fn mark_disconnected(&self, tenant: TenantId) -> Result<(), StoreError> {
        self.delete_item(keys::CONNECTED_INDEX_PK.to_string(), &keys::tenant(tenant)).await
    }
}

/// In-memory index, for unit tests.
#[cfg(any(test, feature = "test-support"))]
#[derive(Debug, Default)]
pub struct MemoryConnectedIndex(pub std::sync::Mutex<std::collections::BTreeMap<TenantId, ConnectedTenant>>);

#[cfg(any(test, feature = "test-support"))]
#[async_trait]
impl ConnectedIndex for MemoryConnectedIndex {
    async fn mark_connected(&self, entry: &ConnectedTenant) -> Result<(), StoreError> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(entry.tenant_id, entry.clone());
        Ok(())
    }
    async fn mark_disconnected(&self, tenant: TenantId) -> Result<(), StoreError> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(&tenant);
        Ok(())
    }
}
