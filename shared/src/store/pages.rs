//! The page index of Meta lead ads: `META#PAGE#{page_id}` / `OWNER` → the tenant whose Meta
//! connection manages that Facebook Page, the Page's own access token (KMS ciphertext under that
//! tenant's encryption context), its `leadgen` subscription and what last went wrong on it.
//! The item also sits in GSI1 under `PAGES#T#{tenant}`, so a tenant's pages are one `Query`
//! (the sweep, token-status, disconnect). The port reads, claims conditionally, patches the
//! page's state and releases it; who may claim a page is `meta::pages`'.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::ids::{is_meta_id, TenantId};
use crate::store::{
    attr, condition_held, from_item, is_condition_failure, keys, to_item, DynamoStore, Item, StoreError,
};

/// What last went wrong on a page (shown per page; the user connection is not touched).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageProblem {
    /// `page_token_invalid`, `page_permission_missing`, `no_lead_access`, `page_token_missing`,
    /// `subscription_failed`.
    pub code: String,
    pub at: DateTime<Utc>,
}

/// `META#PAGE#{page_id}` / `OWNER`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageOwner {
    pub page_id: String,
    pub tenant_id: TenantId,
    #[serde(default)]
    pub page_name: String,
    pub registered_at: DateTime<Utc>,
    /// The Page token, KMS-encrypted under the owner's context (base64); never returned.
    #[serde(default)]
    pub token_ciphertext_b64: Option<String>,
    /// The connected user's tasks on the page (`ADVERTISE`, `MANAGE`, …).
    #[serde(default)]
    pub tasks: Vec<String>,
    /// Meta confirmed this app receives the page's `leadgen` webhooks.
    #[serde(default)]
    pub subscribed: bool,
    #[serde(default)]
    pub subscription_checked_at: Option<DateTime<Utc>>,
    /// `Some(false)`: Meta refused the leads (Leads Access Manager, page task); `None`: not known yet.
    #[serde(default)]
    pub lead_access: Option<bool>,
    #[serde(default)]
    pub problem: Option<PageProblem>,
    /// Creation time of the newest lead read from this page.
    #[serde(default)]
    pub last_lead_at: Option<DateTime<Utc>>,
    /// Leads created before this were read back by the sweep (its per-page mark).
    #[serde(default)]
    pub leads_swept_at: Option<DateTime<Utc>>,
}

impl PageOwner {
    /// A freshly claimed page (no token, not subscribed yet).
    pub fn new(page_id: &str, tenant_id: TenantId, page_name: &str, at: DateTime<Utc>) -> Self {
        Self {
            page_id: page_id.into(),
            tenant_id,
            page_name: page_name.into(),
            registered_at: at,
            token_ciphertext_b64: None,
            tasks: Vec::new(),
            subscribed: false,
            subscription_checked_at: None,
            lead_access: None,
            problem: None,
            last_lead_at: None,
            leads_swept_at: None,
        }
    }
}

/// A change to a page's state; `None` fields are left as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PagePatch {
    /// `Some(None)` clears the problem.
    pub problem: Option<Option<PageProblem>>,
    pub lead_access: Option<bool>,
    pub subscribed: Option<bool>,
    pub subscription_checked_at: Option<DateTime<Utc>>,
    /// Kept only if newer than the stored one.
    pub last_lead_at: Option<DateTime<Utc>>,
    pub leads_swept_at: Option<DateTime<Utc>>,
}

impl PagePatch {
    /// Applies the patch to `page` (the in-memory twin, and callers keeping a copy in step).
    pub fn apply(&self, page: &mut PageOwner) {
        if let Some(p) = &self.problem {
            page.problem = p.clone();
        }
        if let Some(a) = self.lead_access {
            page.lead_access = Some(a);
        }
        if let Some(s) = self.subscribed {
            page.subscribed = s;
        }
        if let Some(at) = self.subscription_checked_at {
            page.subscription_checked_at = Some(at);
        }
        if let Some(at) = self.last_lead_at {
            page.last_lead_at = Some(page.last_lead_at.map_or(at, |old| old.max(at)));
        }
        if let Some(at) = self.leads_swept_at {
            page.leads_swept_at = Some(at);
        }
    }
}

/// Who owns which Facebook Page, with the Page's token and state.
#[async_trait]
pub trait PageIndex: Send + Sync {
    /// The owner of `page_id`, if a tenant claimed it (`None` for ids that are not Meta ids).
    async fn owner_of(&self, page_id: &str) -> Result<Option<PageOwner>, StoreError>;
    /// Puts `owner` if the page has no owner yet or is still `expected`'s; `false` (nothing
    /// written) otherwise. Atomic: of two racing claims on a free page, one wins. A page id that is
    /// not a Meta id is refused with an error (it would shape the key).
    async fn put_if_owner(&self, owner: &PageOwner, expected: TenantId) -> Result<bool, StoreError>;
    /// Every page `tenant` owns.
    async fn pages_of(&self, tenant: TenantId) -> Result<Vec<PageOwner>, StoreError>;
    /// Changes the page's state while `tenant` still owns it; `false` (nothing written) otherwise.
    async fn patch(&self, page_id: &str, tenant: TenantId, patch: &PagePatch) -> Result<bool, StoreError>;
    /// Deletes the page's item (token included) while `tenant` still owns it.
    async fn release(&self, page_id: &str, tenant: TenantId) -> Result<bool, StoreError>;
}

fn refuse_non_meta(page_id: &str) -> Result<(), StoreError> {
    if is_meta_id(page_id) {
        Ok(())
    } else {
        Err(StoreError::Corrupt(format!("page id {page_id:?} is not a Meta id")))
    }
}

fn page_item(owner: &PageOwner) -> Result<Item, StoreError> {
    let mut item = to_item(keys::page(&owner.page_id), keys::PAGE_OWNER_SK, owner)?;
    item.insert(attr::GSI1PK.into(), AttributeValue::S(keys::tenant_pages_index(owner.tenant_id)));
    item.insert(attr::GSI1SK.into(), AttributeValue::S(owner.page_id.clone()));
    Ok(item)
}

fn dynamo_value<T: Serialize>(v: &T) -> Result<AttributeValue, StoreError> {
    serde_dynamo::to_attribute_value(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// `SET`/`REMOVE` clauses and their values for a patch.
fn patch_expression(patch: &PagePatch) -> Result<(String, Vec<(String, AttributeValue)>), StoreError> {
    let mut sets = Vec::new();
    let mut removes = Vec::new();
    let mut values = Vec::new();
    let mut set = |name: &str, v: AttributeValue| {
        sets.push(format!("{name} = :{name}"));
        values.push((format!(":{name}"), v));
    };
    match &patch.problem {
        Some(Some(p)) => set("problem", dynamo_value(p)?),
        Some(None) => removes.push("problem"),
        None => {}
    }
    if let Some(a) = patch.lead_access {
        set("lead_access", AttributeValue::Bool(a));
    }
    if let Some(s) = patch.subscribed {
        set("subscribed", AttributeValue::Bool(s));
    }
    if let Some(at) = patch.subscription_checked_at {
        set("subscription_checked_at", dynamo_value(&at)?);
    }
    if let Some(at) = patch.leads_swept_at {
        set("leads_swept_at", dynamo_value(&at)?);
    }
    let mut expr = String::new();
    if !sets.is_empty() {
        expr = format!("SET {}", sets.join(", "));
    }
    if !removes.is_empty() {
        expr = format!("{expr} REMOVE {}", removes.join(", "));
    }
    Ok((expr.trim().to_string(), values))
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
        refuse_non_meta(&owner.page_id)?;
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(page_item(owner)?))
            .condition_expression("attribute_not_exists(#pk) OR #tenant = :tenant")
            .expression_attribute_names("#pk", attr::PK)
            .expression_attribute_names("#tenant", "tenant_id")
            .expression_attribute_values(":tenant", AttributeValue::N(expected.0.to_string()))
            .send()
            .await;
        condition_held(res)
    }

    async fn pages_of(&self, tenant: TenantId) -> Result<Vec<PageOwner>, StoreError> {
        let items = self.query_index(&keys::tenant_pages_index(tenant), usize::MAX).await?;
        let mut pages: Vec<PageOwner> = items.into_iter().map(from_item).collect::<Result<_, _>>()?;
        // The index is eventually consistent: keep only what is still the tenant's.
        pages.retain(|p| p.tenant_id == tenant);
        Ok(pages)
    }

    async fn patch(&self, page_id: &str, tenant: TenantId, patch: &PagePatch) -> Result<bool, StoreError> {
        refuse_non_meta(page_id)?;
        let (mut expr, mut values) = patch_expression(patch)?;
        let mut condition = "#tenant = :tenant".to_string();
        if let Some(at) = patch.last_lead_at {
            // Only ever forward: `SET` it alone under its own condition would need a second
            // request, so the newer-only rule is folded into the one update.
            expr = if expr.starts_with("SET") {
                expr.replacen("SET ", "SET last_lead_at = :last_lead_at, ", 1)
            } else {
                format!("SET last_lead_at = :last_lead_at {expr}")
            };
            values.push((":last_lead_at".into(), dynamo_value(&at)?));
            // Never set is stored as NULL (`Option::None`) or absent.
            condition.push_str(
                " AND (attribute_not_exists(last_lead_at) OR attribute_type(last_lead_at, :null_type) OR last_lead_at < :last_lead_at)",
            );
            values.push((":null_type".into(), AttributeValue::S("NULL".into())));
        }
        if expr.trim().is_empty() {
            return Ok(true);
        }
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(attr::PK, AttributeValue::S(keys::page(page_id)))
            .key(attr::SK, AttributeValue::S(keys::PAGE_OWNER_SK.into()))
            .update_expression(expr.trim())
            .condition_expression(condition)
            .expression_attribute_names("#tenant", "tenant_id")
            .expression_attribute_values(":tenant", AttributeValue::N(tenant.0.to_string()));
        for (k, v) in values {
            req = req.expression_attribute_values(k, v);
        }
        match req.send().await {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => {
                // A newer last lead (or another owner): apply the rest without the lead time.
                if patch.last_lead_at.is_some() && self.owner_of(page_id).await?.is_some_and(|p| p.tenant_id == tenant)
                {
                    let rest = PagePatch { last_lead_at: None, ..patch.clone() };
                    return self.patch(page_id, tenant, &rest).await;
                }
                Ok(false)
            }
            Err(e) => Err(StoreError::from_sdk(e)),
        }
    }

    async fn release(&self, page_id: &str, tenant: TenantId) -> Result<bool, StoreError> {
        refuse_non_meta(page_id)?;
        let res = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(attr::PK, AttributeValue::S(keys::page(page_id)))
            .key(attr::SK, AttributeValue::S(keys::PAGE_OWNER_SK.into()))
            .condition_expression("#tenant = :tenant")
            .expression_attribute_names("#tenant", "tenant_id")
            .expression_attribute_values(":tenant", AttributeValue::N(tenant.0.to_string()))
            .send()
            .await;
        condition_held(res)
    }
}

/// In-memory page index with the same semantics, for unit tests.
#[cfg(any(test, feature = "test-support"))]
#[derive(Debug, Default)]
pub struct MemoryPageIndex(pub std::sync::Mutex<std::collections::HashMap<String, PageOwner>>);

#[cfg(any(test, feature = "test-support"))]
impl MemoryPageIndex {
    fn map(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, PageOwner>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(any(test, feature = "test-support"))]
#[async_trait]
impl PageIndex for MemoryPageIndex {
    async fn owner_of(&self, page_id: &str) -> Result<Option<PageOwner>, StoreError> {
        if !is_meta_id(page_id) {
            return Ok(None);
        }
        Ok(self.map().get(page_id).cloned())
    }

    async fn put_if_owner(&self, owner: &PageOwner, expected: TenantId) -> Result<bool, StoreError> {
        refuse_non_meta(&owner.page_id)?;
        let mut map = self.map();
        match map.get(&owner.page_id) {
            Some(current) if current.tenant_id != expected => Ok(false),
            _ => {
                map.insert(owner.page_id.clone(), owner.clone());
                Ok(true)
            }
        }
    }

    async fn pages_of(&self, tenant: TenantId) -> Result<Vec<PageOwner>, StoreError> {
        let mut pages: Vec<PageOwner> = self.map().values().filter(|p| p.tenant_id == tenant).cloned().collect();
        pages.sort_by(|a, b| a.page_id.cmp(&b.page_id));
        Ok(pages)
    }

    async fn patch(&self, page_id: &str, tenant: TenantId, patch: &PagePatch) -> Result<bool, StoreError> {
        refuse_non_meta(page_id)?;
        match self.map().get_mut(page_id) {
            Some(page) if page.tenant_id == tenant => {
                patch.apply(page);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn release(&self, page_id: &str, tenant: TenantId) -> Result<bool, StoreError> {
        refuse_non_meta(page_id)?;
        let mut map = self.map();
        if map.get(page_id).is_some_and(|p| p.tenant_id == tenant) {
            map.remove(page_id);
            return Ok(true);
        }
        Ok(false)
    }
}
