//! The page → tenant index of the Meta lead-ads webhook: `META#PAGE#{page_id}` / `OWNER` →
//! the tenant whose Meta connection manages that Facebook Page.
//!
//! Lead-ads webhooks name a page, never a tenant, and nothing in a payload is trusted
//! (FIELD-NOTES 23): a change is processed only for a page this index maps to a tenant. The index
//! is written when a tenant connects Meta (OAuth callback) and again when it selects its ad
//! accounts: the pages its token can see through `GET /me/accounts` (permission
//! `pages_show_list`, part of the login's scopes) are claimed for it.
//!
//! A page belongs to one tenant at a time: the first tenant to connect it claims it; another
//! tenant's claim is refused (logged) while the owner still has a Meta connection, and takes the
//! page over once the owner has disconnected. Re-claiming one's own page refreshes its name.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::api::app::App;
use crate::domain::ids::TenantId;
use crate::meta::graph::FacebookPage;
use crate::store::{attr, from_item, is_condition_failure, keys, to_item, DynamoStore, StoreError};

/// Whether `id` looks like a Meta object id (digits only, so it can never shape another key).
pub fn is_meta_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_digit())
}

/// `META#PAGE#{page_id}` / `OWNER`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageOwner {
    pub page_id: String,
    pub tenant_id: TenantId,
    #[serde(default)]
    pub page_name: String,
    pub registered_at: DateTime<Utc>,
}

/// What a claim did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The page is (now) the tenant's.
    Claimed,
    /// Another tenant with a live Meta connection owns the page.
    OwnedByAnotherTenant,
}

/// The owner of `page_id`, if any tenant claimed it.
pub async fn owner_of(store: &DynamoStore, page_id: &str) -> Result<Option<PageOwner>, StoreError> {
    if !is_meta_id(page_id) {
        return Ok(None);
    }
    store.get_item(keys::page(page_id), keys::PAGE_OWNER_SK).await?.map(from_item).transpose()
}

/// Puts `owner` if the page is free or already `expected`'s.
async fn put_if_owner(store: &DynamoStore, owner: &PageOwner, expected: TenantId) -> Result<bool, StoreError> {
    let item = to_item(keys::page(&owner.page_id), keys::PAGE_OWNER_SK, owner)?;
    let res = store
        .client
        .put_item()
        .table_name(&store.table)
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

/// Claims `page` for `tenant` (see the module doc for the rules).
pub async fn claim_page(
    app: &App,
    store: &DynamoStore,
    tenant: TenantId,
    page: &FacebookPage,
    now: DateTime<Utc>,
) -> Result<Claim, StoreError> {
    let owner =
        PageOwner { page_id: page.id.clone(), tenant_id: tenant, page_name: page.name.clone(), registered_at: now };
    if put_if_owner(store, &owner, tenant).await? {
        return Ok(Claim::Claimed);
    }
    // Owned by someone else: take it over only when that tenant no longer has a Meta connection.
    let Some(current) = owner_of(store, &page.id).await? else {
        return Ok(if put_if_owner(store, &owner, tenant).await? {
            Claim::Claimed
        } else {
            Claim::OwnedByAnotherTenant
        });
    };
    if current.tenant_id != tenant
        && app.connections.get_connection(current.tenant_id).await?.is_none()
        && put_if_owner(store, &owner, current.tenant_id).await?
    {
        return Ok(Claim::Claimed);
    }
    Ok(Claim::OwnedByAnotherTenant)
}

/// Claims every page the tenant's token can see. Best effort: a failure is logged, never fails the
/// caller's flow (the next connect or account selection registers again). Returns pages claimed.
pub async fn register_managed_pages(
    app: &App,
    graph: &crate::meta::graph::GraphClient,
    token: &crate::platform::secrets::SecretString,
    tenant: TenantId,
    now: DateTime<Utc>,
) -> usize {
    let Some(store) = app.dynamo.as_ref() else {
        return 0;
    };
    let pages = match graph.managed_pages(token).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(tenant_id = tenant.0, error = %e, "Facebook pages could not be listed; lead-ads webhooks for them are not mapped yet");
            return 0;
        }
    };
    let mut claimed = 0;
    for page in pages.iter().filter(|p| is_meta_id(&p.id)) {
        match claim_page(app, store, tenant, page, now).await {
            Ok(Claim::Claimed) => claimed += 1,
            Ok(Claim::OwnedByAnotherTenant) => {
                tracing::warn!(tenant_id = tenant.0, page_id = %page.id, "page already belongs to another connected tenant; not claimed");
            }
            Err(e) => {
                tracing::warn!(tenant_id = tenant.0, page_id = %page.id, error = %e, "page could not be registered")
            }
        }
    }
    tracing::info!(
        tenant_id = tenant.0,
        pages = pages.len(),
        claimed,
        "Facebook pages registered for lead-ads webhooks"
    );
    claimed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_numeric_ids_make_page_keys() {
        assert!(is_meta_id("1080000000000001"));
        for bad in ["", "12a", "1#2", "../x", "123456789012345678901234567890123"] {
            assert!(!is_meta_id(bad), "{bad}");
        }
        assert_eq!(keys::page("42"), "META#PAGE#42");
    }
}
