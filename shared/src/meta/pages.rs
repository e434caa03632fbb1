//! Who owns a Facebook Page's leads: the rules of claiming a page in the page index
//! ([`crate::store::pages`]: `META#PAGE#{page_id}` / `OWNER` → tenant).
//!
//! Lead-ads webhooks name a page, never a tenant, and nothing in a payload is trusted
//! (FIELD-NOTES 23): a change is processed only for a page the index maps to a tenant. The index
//! is written when a tenant connects Meta (the `meta.connected` job after the OAuth callback) and
//! again when it selects its ad accounts: the pages its token can see through `GET /me/accounts`
//! (permission `pages_show_list`, part of the login's scopes) are claimed for it.
//!
//! A page belongs to one tenant at a time: the first tenant to connect it claims it; another
//! tenant's claim is refused (logged) while the owner still has a Meta connection, and takes the
//! page over once the owner has disconnected. Re-claiming one's own page refreshes its name.

use chrono::{DateTime, Utc};

pub use crate::domain::ids::is_meta_id;
use crate::domain::ids::TenantId;
use crate::meta::graph::{FacebookPage, GraphClient};
use crate::platform::secrets::SecretString;
pub use crate::store::pages::{PageIndex, PageOwner};
use crate::store::{MetaConnectionStore, StoreError};

/// What a claim did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The page is (now) the tenant's.
    Claimed,
    /// Another tenant with a live Meta connection owns the page.
    OwnedByAnotherTenant,
}

/// Claims `page` for `tenant` (see the module doc for the rules).
pub async fn claim_page(
    pages: &dyn PageIndex,
    connections: &dyn MetaConnectionStore,
    tenant: TenantId,
    page: &FacebookPage,
    now: DateTime<Utc>,
) -> Result<Claim, StoreError> {
    let owner =
        PageOwner { page_id: page.id.clone(), tenant_id: tenant, page_name: page.name.clone(), registered_at: now };
    if pages.put_if_owner(&owner, tenant).await? {
        return Ok(Claim::Claimed);
    }
    // Owned by someone else: take it over only when that tenant no longer has a Meta connection.
    let Some(current) = pages.owner_of(&page.id).await? else {
        return Ok(if pages.put_if_owner(&owner, tenant).await? {
            Claim::Claimed
        } else {
            Claim::OwnedByAnotherTenant
        });
    };
    if current.tenant_id != tenant
        && connections.get_connection(current.tenant_id).await?.is_none()
        && pages.put_if_owner(&owner, current.tenant_id).await?
    {
        return Ok(Claim::Claimed);
    }
    Ok(Claim::OwnedByAnotherTenant)
}

/// Claims every page the tenant's token can see. Best effort: a failure is logged, never fails the
/// caller's flow (the next connect or account selection registers again). Returns pages claimed.
pub async fn register_managed_pages(
    pages: &dyn PageIndex,
    connections: &dyn MetaConnectionStore,
    graph: &GraphClient,
    token: &SecretString,
    tenant: TenantId,
    now: DateTime<Utc>,
) -> usize {
    let managed = match graph.managed_pages(token).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(tenant_id = tenant.0, error = %e, "Facebook pages could not be listed; lead-ads webhooks for them are not mapped yet");
            return 0;
        }
    };
    claim_all(pages, connections, tenant, &managed, now).await
}

/// Claims each of `managed` (ids that are not Meta ids are skipped); returns pages claimed.
async fn claim_all(
    pages: &dyn PageIndex,
    connections: &dyn MetaConnectionStore,
    tenant: TenantId,
    managed: &[FacebookPage],
    now: DateTime<Utc>,
) -> usize {
    let mut claimed = 0;
    for page in managed.iter().filter(|p| is_meta_id(&p.id)) {
        match claim_page(pages, connections, tenant, page, now).await {
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
        pages = managed.len(),
        claimed,
        "Facebook pages registered for lead-ads webhooks"
    );
    claimed
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::store::memory::MemoryStore;
    use crate::store::pages::MemoryPageIndex;
    use crate::store::MetaConnection;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).single().expect("date")
    }

    fn connection(tenant: TenantId) -> MetaConnection {
        crate::testing::active_connection(tenant, now())
    }

    fn page(id: &str, name: &str) -> FacebookPage {
        FacebookPage { id: id.into(), name: name.into() }
    }

    async fn owner(pages: &MemoryPageIndex, id: &str) -> Option<(i64, String)> {
        pages.owner_of(id).await.expect("owner").map(|o| (o.tenant_id.0, o.page_name))
    }

    #[tokio::test]
    async fn a_page_stays_with_a_connected_owner_and_moves_once_it_disconnects() {
        let (pages, conns) = (MemoryPageIndex::default(), MemoryStore::default());
        let (t1, t2) = (TenantId(1), TenantId(2));
        conns.put_connection(&connection(t1)).await.expect("connect 1").expect("created");
        conns.put_connection(&connection(t2)).await.expect("connect 2").expect("created");
        let p = page("100", "Clinic");
        assert_eq!(claim_page(&pages, &conns, t1, &p, now()).await.expect("claim"), Claim::Claimed);
        assert_eq!(claim_page(&pages, &conns, t2, &p, now()).await.expect("claim"), Claim::OwnedByAnotherTenant);
        assert_eq!(owner(&pages, "100").await, Some((1, "Clinic".into())));
        let renamed = page("100", "Clinic Norte");
        assert_eq!(claim_page(&pages, &conns, t1, &renamed, now()).await.expect("re-claim"), Claim::Claimed);
        assert_eq!(owner(&pages, "100").await, Some((1, "Clinic Norte".into())));

        let live = conns.get_connection(t1).await.expect("read").expect("live");
        conns.delete_connection(&live, now()).await.expect("disconnect 1").expect("deleted");
        assert_eq!(claim_page(&pages, &conns, t2, &p, now()).await.expect("take over"), Claim::Claimed);
        assert_eq!(owner(&pages, "100").await, Some((2, "Clinic".into())));
    }

    #[tokio::test]
    async fn only_meta_page_ids_are_claimed() {
        let (pages, conns) = (MemoryPageIndex::default(), MemoryStore::default());
        let managed = [page("100", "A"), page("../x", "B"), page("1#2", "C"), page("200", "D")];
        assert_eq!(claim_all(&pages, &conns, TenantId(1), &managed, now()).await, 2);
        assert_eq!(owner(&pages, "200").await, Some((1, "D".into())));
        assert_eq!(owner(&pages, "../x").await, None);
    }
}
