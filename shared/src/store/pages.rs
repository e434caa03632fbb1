//! The page → tenant index of the Meta lead-ads webhook: `META#PAGE#{page_id}` / `OWNER` → the
//! tenant whose Meta connection manages that Facebook Page. The port only reads an owner and
//! writes one conditionally; who may claim a page is `meta::pages`'.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::ids::{is_meta_id, TenantId};
use crate::store::{attr, from_item, is_condition_failure, keys, to_item, DynamoStore, StoreError};

/// `META#PAGE#{page_id}` / `OWNER`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageOwner {
    pub page_id: String,
    pub tenant_id: TenantId,
    #[serde(default)]
    pub page_name: String,
    pub registered_at: DateTime<Utc>,
}

/// Who owns which Facebook Page.
#[async_trait]
pub trait PageIndex: Send + Sync {
    /// The owner of `page_id`, if a tenant claimed it (`None` for ids that are not Meta ids).
    async fn owner_of(&self, page_id: &str) -> Result<Option<PageOwner>, StoreError>;
    /// Puts `owner` if the page has no owner yet or is still `expected`'s; `false` (nothing
    /// written) otherwise. Atomic: of two racing claims on a free page, one wins. A page id that is
    /// not a Meta id is refused with an error (it would shape the key).
    async fn put_if_owner(&self, owner: &PageOwner, expected: TenantId) -> Result<bool, StoreError>;
}

#[async_trait]
impl PageIndex for DynamoStore {
    async fn owner_of(&self, page_id: &str) -> Result<Option<PageOwner>, StoreError> {
        if !is_meta_id(page_id) {
            return Ok(None);
        }
        self.get_item(keys::page(page_id), keys::PAGE_OWNER_SK).await?.map(from_item).transpose()
    }

    async fn put_if_owner(&self, owner: &PageOwner, expected: TenantId) -> Result<bool, StoreError> {
        if !is_meta_id(&owner.page_id) {
            return Err(StoreError::Corrupt(format!("page id {:?} is not a Meta id", owner.page_id)));
        }
        let item = to_item(keys::page(&owner.page_id), keys::PAGE_OWNER_SK, owner)?;
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk) OR #tenant = :tenant")
            .expression_attribute_names("#pk", attr::PK)
            .expression_attribute_names("#tenant", "tenant_id")
            .expression_attribute_values(":tenant", AttributeValue::N(expected.0.to_string()))
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(StoreError::from_sdk(e)),
        }
    }
}

/// In-memory page index with the same semantics, for unit tests.
#[cfg(any(test, feature = "test-support"))]
#[derive(Debug, Default)]
pub struct MemoryPageIndex(pub std::sync::Mutex<std::collections::HashMap<String, PageOwner>>);

#[cfg(any(test, feature = "test-support"))]
#[async_trait]
impl PageIndex for MemoryPageIndex {
    async fn owner_of(&self, page_id: &str) -> Result<Option<PageOwner>, StoreError> {
        if !is_meta_id(page_id) {
            return Ok(None);
        }
        Ok(self.0.lock().unwrap_or_else(|p| p.into_inner()).get(page_id).cloned())
    }

    async fn put_if_owner(&self, owner: &PageOwner, expected: TenantId) -> Result<bool, StoreError> {
        if !is_meta_id(&owner.page_id) {
            return Err(StoreError::Corrupt(format!("page id {:?} is not a Meta id", owner.page_id)));
        }
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(&owner.page_id) {
            Some(current) if current.tenant_id != expected => Ok(false),
            _ => {
                map.insert(owner.page_id.clone(), owner.clone());
                Ok(true)
            }
        }
    }
}
