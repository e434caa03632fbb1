//! Issued OAuth states waiting to be consumed (`OAUTH#{nonce}` / `OAUTH`, TTL): saved when the
//! login URL is made, taken exactly once by the callback (a conditional delete that also requires
//! the same tenant and user). Signing and verifying states is `meta::oauth_state`'s.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::ids::TenantId;
use crate::store::{attr, from_item, is_condition_failure, keys, to_item, DynamoStore, StoreError};

/// The stored half of a state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredState {
    pub nonce: String,
    pub tenant_id: TenantId,
    pub user_id: String,
    pub expires_at: DateTime<Utc>,
}

/// Where issued states wait to be consumed.
#[async_trait]
pub trait OAuthStateStore: Send + Sync {
    async fn save_state(&self, state: &StoredState) -> Result<(), StoreError>;
    /// Deletes the state if it exists for exactly this tenant and user; `None` otherwise
    /// (nothing deleted). Atomic: of two concurrent takes, one wins.
    async fn take_state(&self, nonce: &str, tenant: TenantId, user: &str) -> Result<Option<StoredState>, StoreError>;
}

#[async_trait]
impl OAuthStateStore for DynamoStore {
    async fn save_state(&self, state: &StoredState) -> Result<(), StoreError> {
        let mut item = to_item(keys::oauth_state(&state.nonce), keys::OAUTH_STATE_SK, state)?;
        item.insert(attr::TTL.into(), AttributeValue::N(state.expires_at.timestamp().to_string()));
        self.put_item(item).await
    }

    async fn take_state(&self, nonce: &str, tenant: TenantId, user: &str) -> Result<Option<StoredState>, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(attr::PK, AttributeValue::S(keys::oauth_state(nonce)))
            .key(attr::SK, AttributeValue::S(keys::OAUTH_STATE_SK.into()))
            .condition_expression("attribute_exists(#pk) AND tenant_id = :t AND user_id = :u")
            .expression_attribute_names("#pk", attr::PK)
            .expression_attribute_values(":t", AttributeValue::N(tenant.to_string()))
            .expression_attribute_values(":u", AttributeValue::S(user.to_string()))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match out {
            Ok(out) => out.attributes.map(from_item).transpose(),
            Err(e) if is_condition_failure(&e) => Ok(None),
            Err(e) => Err(StoreError::from_sdk(e)),
        }
    }
}

/// In-memory states, for unit tests.
#[cfg(any(test, feature = "test-support"))]
#[derive(Debug, Default)]
pub struct MemoryOAuthStates(pub std::sync::Mutex<std::collections::HashMap<String, StoredState>>);

#[cfg(any(test, feature = "test-support"))]
#[async_trait]
impl OAuthStateStore for MemoryOAuthStates {
    async fn save_state(&self, state: &StoredState) -> Result<(), StoreError> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(state.nonce.clone(), state.clone());
        Ok(())
    }
    async fn take_state(&self, nonce: &str, tenant: TenantId, user: &str) -> Result<Option<StoredState>, StoreError> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(nonce) {
            Some(s) if s.tenant_id == tenant && s.user_id == user => Ok(map.remove(nonce)),
            _ => Ok(None),
        }
    }
}
