//! A tenant's Facebook Pages: who owns a page's leads, the Page's own token, its `leadgen`
//! webhook subscription, and what a failure on a page edge does (to that page only).
//!
//! - **Claim** ([`register_managed_pages`]: the connect's follow-up job, the account selection
//!   and the token check): `GET /me/accounts?fields=id,name,access_token,tasks` with the user
//!   token lists the pages and their Page tokens. Each page is claimed in the page index
//!   ([`crate::store::pages`]) with its token encrypted under the tenant's KMS context, then this
//!   app is subscribed to its `leadgen` field (`POST /{page}/subscribed_apps`, Page token) and
//!   the subscription verified (`GET`): Meta delivers lead webhooks only for subscribed pages
//!   (FIELD-NOTES 26). A reconnect refreshes every token. A page the user no longer manages is
//!   released.
//! - **One owner**: the first tenant to connect a page claims it; another tenant's claim is
//!   refused (logged) while the owner still has a Meta connection, and takes the page over once
//!   the owner has disconnected — the old owner's token is replaced in the same write.
//! - **Disconnect** ([`release_tenant_pages`]): each page is unsubscribed with its own token (best
//!   effort) and its item, token included, deleted.
//! - **Errors have a scope** ([`page_failure`]): anything Meta answers on a page edge — even code
//!   190, which Meta also uses for "this needs a Page token" — marks that page (shown per page
//!   in token-status) and never the user connection (FIELD-NOTES 27).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::Serialize;

pub use crate::domain::ids::is_meta_id;
use crate::domain::ids::TenantId;
use crate::meta::graph::{FacebookPage, GraphClient, MetaError, PageToken};
use crate::platform::crypto::TokenCipher;
use crate::platform::secrets::SecretString;
pub use crate::store::pages::{PageIndex, PageOwner, PagePatch, PageProblem};
use crate::store::{MetaConnectionStore, StoreError};

/// What the page functions use (built by callers from their ports: `ports.into()`, see
/// [`super::ports`]).
#[derive(Clone, Copy)]
pub struct PageDeps<'a> {
    pub pages: &'a dyn PageIndex,
    pub connections: &'a dyn MetaConnectionStore,
    pub cipher: &'a dyn TokenCipher,
}

/// What a claim did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The page is (now) the tenant's.
    Claimed,
    /// Another tenant with a live Meta connection owns the page.
    OwnedByAnotherTenant,
}

/// Why a page claim failed (logged per page; never fails the caller's flow).
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("page token encryption failed: {0}")]
    Crypto(String),
}

/// Claims `page` for `tenant` with its Page token (see the module doc for who may). A re-claim of
/// one's own page keeps its marks (last lead, sweep) and refreshes name, token and tasks.
pub async fn claim_page(
    deps: PageDeps<'_>,
    tenant: TenantId,
    page: &FacebookPage,
    now: DateTime<Utc>,
) -> Result<Claim, PageError> {
    let current = deps.pages.owner_of(&page.id).await?;
    let expected = match &current {
        None => tenant,
        Some(c) if c.tenant_id == tenant => tenant,
        // Taken over only once that tenant no longer has a Meta connection.
        Some(c) if deps.connections.get_connection(c.tenant_id).await?.is_none() => c.tenant_id,
        Some(_) => return Ok(Claim::OwnedByAnotherTenant),
    };
    let mut owner = match current.filter(|c| c.tenant_id == tenant) {
        Some(mine) => PageOwner { page_name: page.name.clone(), ..mine },
        None => PageOwner::new(&page.id, tenant, &page.name, now),
    };
    owner.tasks = page.tasks.clone();
    owner.token_ciphertext_b64 = match &page.access_token {
        Some(t) => {
            let sealed = deps.cipher.encrypt(tenant, t.secret()).await.map_err(|e| PageError::Crypto(e.to_string()))?;
            Some(B64.encode(sealed))
        }
        None => None,
    };
    if owner.token_ciphertext_b64.is_none() {
        owner.problem = Some(PageProblem { code: "page_token_missing".into(), at: now });
    } else if owner.problem.as_ref().is_some_and(|p| p.code.starts_with("page_token")) {
        owner.problem = None;
    }
    Ok(if deps.pages.put_if_owner(&owner, expected).await? { Claim::Claimed } else { Claim::OwnedByAnotherTenant })
}

/// The page's token, decrypted under its owner's context; `None` when none was stored.
pub async fn page_token(cipher: &dyn TokenCipher, owner: &PageOwner) -> Result<Option<PageToken>, String> {
    let Some(b64) = &owner.token_ciphertext_b64 else {
        return Ok(None);
    };
    let sealed = B64.decode(b64).map_err(|e| format!("stored page token is not base64: {e}"))?;
    let token = cipher.decrypt(owner.tenant_id, &sealed).await.map_err(|e| e.to_string())?;
    Ok(Some(PageToken::new(token)))
}

/// What registering a tenant's pages did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PagesRegistered {
    /// Pages `/me/accounts` listed.
    pub listed: usize,
    pub claimed: usize,
    /// Claimed pages whose `leadgen` subscription Meta confirmed.
    pub subscribed: usize,
    /// Pages the tenant owned that the user no longer manages, released.
    pub released: usize,
}

/// Claims every page the tenant's user token can see, subscribes each to `leadgen`, and releases
/// the tenant's pages the user no longer manages. Best effort: a failure is logged (a page's is
/// stored on the page), never fails the caller's flow — the next connect, selection or token
/// check registers again.
pub async fn register_managed_pages(
    deps: PageDeps<'_>,
    graph: &GraphClient,
    user_token: &SecretString,
    tenant: TenantId,
    now: DateTime<Utc>,
) -> PagesRegistered {
    let managed = match graph.managed_pages(user_token).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(tenant_id = tenant.0, error = %e, "Facebook pages could not be listed; lead-ads webhooks for them are not mapped yet");
            return PagesRegistered::default();
        }
    };
    let mut done = PagesRegistered { listed: managed.len(), ..Default::default() };
    for page in managed.iter().filter(|p| is_meta_id(&p.id)) {
        match claim_page(deps, tenant, page, now).await {
            Ok(Claim::Claimed) => done.claimed += 1,
            Ok(Claim::OwnedByAnotherTenant) => {
                tracing::warn!(tenant_id = tenant.0, page_id = %page.id, "page already belongs to another connected tenant; not claimed");
                continue;
            }
            Err(e) => {
                tracing::warn!(tenant_id = tenant.0, page_id = %page.id, error = %e, "page could not be registered");
                continue;
            }
        }
        if let Some(token) = &page.access_token {
            if subscribe(deps.pages, graph, tenant, &page.id, token, now).await {
                done.subscribed += 1;
            }
        }
    }
    done.released = release_unmanaged(deps, graph, tenant, &managed).await;
    tracing::info!(
        tenant_id = tenant.0,
        listed = done.listed,
        claimed = done.claimed,
        subscribed = done.subscribed,
        released = done.released,
        "Facebook pages registered for lead ads"
    );
    done
}

/// Subscribes the app to the page's `leadgen` field and verifies it; the outcome is stored on
/// the page. Whether Meta confirmed the subscription.
pub async fn subscribe(
    pages: &dyn PageIndex,
    graph: &GraphClient,
    tenant: TenantId,
    page_id: &str,
    token: &PageToken,
    now: DateTime<Utc>,
) -> bool {
    let outcome = match graph.subscribe_leadgen(token, page_id).await {
        Ok(()) => graph.leadgen_subscribed(token, page_id).await,
        Err(e) => Err(e),
    };
    let patch = match &outcome {
        Ok(subscribed) => PagePatch {
            subscribed: Some(*subscribed),
            subscription_checked_at: Some(now),
            problem: Some((!subscribed).then(|| PageProblem { code: "subscription_failed".into(), at: now })),
            ..PagePatch::default()
        },
        Err(e) => {
            tracing::warn!(tenant_id = tenant.0, page_id, error = %e, "leadgen subscription failed; this page's webhooks will not arrive");
            PagePatch {
                subscribed: Some(false),
                subscription_checked_at: Some(now),
                problem: Some(Some(PageProblem { code: page_problem_code(e, "subscription_failed").into(), at: now })),
                ..PagePatch::default()
            }
        }
    };
    if let Err(e) = pages.patch(page_id, tenant, &patch).await {
        tracing::warn!(tenant_id = tenant.0, page_id, error = %e, "page subscription state not stored");
    }
    matches!(outcome, Ok(true))
}

/// The code a page-edge failure is stored under (`fallback` for what is not the token's or a
/// permission's).
pub fn page_problem_code(err: &MetaError, fallback: &'static str) -> &'static str {
    match err {
        MetaError::InvalidToken { .. } => "page_token_invalid",
        MetaError::Permission { .. } => "page_permission_missing",
        _ => fallback,
    }
}

/// Records a failure Meta gave on one of the page's edges on that page only (the user connection
/// is never touched: FIELD-NOTES 27); `lead_read` marks a refused lead read as no lead access
/// (Leads Access Manager or a missing page task). Transient failures are not stored.
pub async fn page_failure(
    pages: &dyn PageIndex,
    tenant: TenantId,
    page_id: &str,
    err: &MetaError,
    lead_read: bool,
    now: DateTime<Utc>,
) {
    if err.is_retryable() || matches!(err, MetaError::NearLimit { .. }) {
        return;
    }
    let code = match (err, lead_read) {
        (MetaError::Permission { .. }, true) => "no_lead_access",
        _ => page_problem_code(err, "page_request_refused"),
    };
    let patch = PagePatch {
        problem: Some(Some(PageProblem { code: code.into(), at: now })),
        lead_access: (code == "no_lead_access").then_some(false),
        ..PagePatch::default()
    };
    tracing::warn!(tenant_id = tenant.0, page_id, code, error = %err, "Meta refused a page edge; the page is marked (the connection is not)");
    if let Err(e) = pages.patch(page_id, tenant, &patch).await {
        tracing::warn!(tenant_id = tenant.0, page_id, error = %e, "page problem not stored");
    }
}

/// Releases the tenant's pages missing from `managed` (best effort unsubscribe first).
async fn release_unmanaged(
    deps: PageDeps<'_>,
    graph: &GraphClient,
    tenant: TenantId,
    managed: &[FacebookPage],
) -> usize {
    let owned = match deps.pages.pages_of(tenant).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(tenant_id = tenant.0, error = %e, "tenant's pages not listed; none released");
            return 0;
        }
    };
    let gone: Vec<PageOwner> = owned.into_iter().filter(|p| !managed.iter().any(|m| m.id == p.page_id)).collect();
    release_pages(deps, Some(graph), tenant, gone).await
}

/// Unsubscribes (best effort, with each page's own token) and releases every page of `tenant`:
/// the Meta disconnect. Returns the pages released.
pub async fn release_tenant_pages(deps: PageDeps<'_>, graph: Option<&GraphClient>, tenant: TenantId) -> usize {
    match deps.pages.pages_of(tenant).await {
        Ok(owned) => release_pages(deps, graph, tenant, owned).await,
        Err(e) => {
            tracing::warn!(tenant_id = tenant.0, error = %e, "tenant's pages not listed; none released");
            0
        }
    }
}

async fn release_pages(
    deps: PageDeps<'_>,
    graph: Option<&GraphClient>,
    tenant: TenantId,
    owned: Vec<PageOwner>,
) -> usize {
    let mut released = 0;
    for page in owned {
        if let (Some(graph), Ok(Some(token))) = (graph, page_token(deps.cipher, &page).await) {
            if let Err(e) = graph.unsubscribe(&token, &page.page_id).await {
                tracing::warn!(tenant_id = tenant.0, page_id = %page.page_id, error = %e, "page unsubscribe failed; released anyway");
            }
        }
        match deps.pages.release(&page.page_id, tenant).await {
            Ok(true) => released += 1,
            Ok(false) => {}
            Err(e) => tracing::warn!(tenant_id = tenant.0, page_id = %page.page_id, error = %e, "page not released"),
        }
    }
    released
}

#[cfg(test)]
mod tests;
