//! The inbox side of lead ads, over the [`LeadInbox`] and [`PageIndex`] ports: which tenant a
//! change belongs to (its page's owner; nothing in a payload is trusted), opening one inbox item
//! per lead before any Graph call (bounded concurrency), settling items after an attempt, and
//! reading a tenant's open leads back for a replay.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::webhook::LeadgenChange;
use crate::domain::ids::TenantId;
use crate::meta::error::MetaFlowError;
pub use crate::store::leadgen_inbox::{InboxLead, InboxStatus, LeadInbox, SETTLED_TTL_DAYS};
use crate::store::pages::PageIndex;
use crate::store::StoreError;

impl From<&LeadgenChange> for InboxLead {
    fn from(c: &LeadgenChange) -> Self {
        Self { leadgen_id: c.leadgen_id.clone(), page_id: c.page_id.clone(), form_id: c.form_id.clone() }
    }
}

impl From<InboxLead> for LeadgenChange {
    fn from(l: InboxLead) -> Self {
        Self { leadgen_id: l.leadgen_id, page_id: l.page_id, form_id: l.form_id, ad_id: None, created_time: None }
    }
}

/// Changes grouped by the tenant that owns their page; changes of pages no tenant owns are
/// counted (and logged by page id), never processed.
#[derive(Debug, Default)]
pub struct Routed {
    pub by_tenant: BTreeMap<TenantId, Vec<LeadgenChange>>,
    pub unknown_page: usize,
}

/// Looks each distinct page up once and groups the changes by owner.
pub async fn route_by_page(pages: &dyn PageIndex, changes: Vec<LeadgenChange>) -> Result<Routed, StoreError> {
    let mut owners: HashMap<String, Option<TenantId>> = HashMap::new();
    for page in changes.iter().map(|c| c.page_id.clone()).collect::<BTreeSet<_>>() {
        let owner = pages.owner_of(&page).await?.map(|o| o.tenant_id);
        if owner.is_none() {
            tracing::info!(page_id = %page, "lead-ads changes for a page no tenant owns; skipped");
        }
        owners.insert(page, owner);
    }
    let mut routed = Routed::default();
    for change in changes {
        match owners.get(&change.page_id).copied().flatten() {
            Some(t) => routed.by_tenant.entry(t).or_default().push(change),
            None => routed.unknown_page += 1,
        }
    }
    Ok(routed)
}

/// What opening a delivery's leads found.
#[derive(Debug, Default)]
pub struct Opened {
    /// Leads to attempt now (new, or left open by an earlier delivery).
    pub open: Vec<(TenantId, LeadgenChange)>,
    /// Leads an earlier delivery already settled.
    pub already_settled: usize,
}

/// Opens (or finds) the inbox item of every routed change, `concurrency` writes at a time.
/// `Err` when storage fails: nothing was fetched yet, and Meta re-delivers the whole delivery.
pub async fn open_all(
    inbox: Arc<dyn LeadInbox>,
    by_tenant: BTreeMap<TenantId, Vec<LeadgenChange>>,
    now: DateTime<Utc>,
    concurrency: usize,
) -> Result<Opened, MetaFlowError> {
    let concurrency = concurrency.max(1);
    let mut opened = Opened::default();
    for (tenant, changes) in by_tenant {
        let mut set = tokio::task::JoinSet::new();
        for change in changes {
            let inbox = inbox.clone();
            set.spawn(async move {
                let status = inbox.open(tenant, &InboxLead::from(&change), now).await;
                (change, status)
            });
            while set.len() >= concurrency {
                if let Some(joined) = set.join_next().await {
                    collect(joined, tenant, &mut opened)?;
                }
            }
        }
        while let Some(joined) = set.join_next().await {
            collect(joined, tenant, &mut opened)?;
        }
    }
    Ok(opened)
}

fn collect(
    joined: Result<(LeadgenChange, Result<InboxStatus, StoreError>), tokio::task::JoinError>,
    tenant: TenantId,
    opened: &mut Opened,
) -> Result<(), MetaFlowError> {
    let (change, status) = joined.map_err(MetaFlowError::internal)?;
    match status? {
        s if s.is_open() => opened.open.push((tenant, change)),
        _ => opened.already_settled += 1,
    }
    Ok(())
}

/// Records an attempt's outcome on the lead's item. Best effort: a failure is logged, and an item
/// left open is retried by the next delivery or replay.
pub async fn settle(
    inbox: &dyn LeadInbox,
    tenant: TenantId,
    leadgen_id: &str,
    status: InboxStatus,
    reason: Option<&str>,
    now: DateTime<Utc>,
) {
    if let Err(e) = inbox.settle(tenant, leadgen_id, status, reason, now).await {
        tracing::error!(tenant_id = tenant.0, leadgen_id = %leadgen_id, error = %e, "lead inbox item could not be updated");
    }
}

/// Up to `limit` open leads of `tenant`, oldest first.
pub async fn open_leads(
    inbox: &dyn LeadInbox,
    tenant: TenantId,
    limit: usize,
) -> Result<Vec<LeadgenChange>, StoreError> {
    Ok(inbox.open_items(tenant, limit).await?.into_iter().map(LeadgenChange::from).collect())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::store::leadgen_inbox::MemoryLeadInbox;
    use crate::store::pages::{MemoryPageIndex, PageOwner};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).single().expect("date")
    }

    fn change(leadgen: &str, page: &str) -> LeadgenChange {
        LeadgenChange {
            leadgen_id: leadgen.into(),
            page_id: page.into(),
            form_id: None,
            ad_id: Some("55".into()),
            created_time: None,
        }
    }

    #[tokio::test]
    async fn changes_go_to_their_pages_owner_or_are_counted_unknown() {
        let pages = MemoryPageIndex::default();
        let owner = PageOwner::new("100", TenantId(1), "", now());
        assert!(pages.put_if_owner(&owner, TenantId(1)).await.expect("claim"));
        let routed = route_by_page(&pages, vec![change("1", "100"), change("2", "999"), change("3", "100")])
            .await
            .expect("routed");
        let ids: Vec<&str> = routed.by_tenant[&TenantId(1)].iter().map(|c| c.leadgen_id.as_str()).collect();
        assert_eq!((ids, routed.unknown_page, routed.by_tenant.len()), (vec!["1", "3"], 1, 1));
    }

    #[tokio::test]
    async fn opening_twice_finds_settled_leads_and_keeps_open_ones_open() {
        let inbox: Arc<dyn LeadInbox> = Arc::new(MemoryLeadInbox::default());
        let t = TenantId(1);
        let batch = || BTreeMap::from([(t, (1..=5).map(|i| change(&i.to_string(), "100")).collect::<Vec<_>>())]);
        let first = open_all(inbox.clone(), batch(), now(), 2).await.expect("open");
        assert_eq!((first.open.len(), first.already_settled), (5, 0));
        settle(inbox.as_ref(), t, "1", InboxStatus::Done, None, now()).await;
        settle(inbox.as_ref(), t, "2", InboxStatus::Failed, Some("meta_refused"), now()).await;
        settle(inbox.as_ref(), t, "3", InboxStatus::AwaitingReconnect, Some("meta_token_rejected"), now()).await;
        let again = open_all(inbox.clone(), batch(), now(), 2).await.expect("open");
        let mut open: Vec<String> = again.open.into_iter().map(|(_, c)| c.leadgen_id).collect();
        open.sort();
        assert_eq!((open, again.already_settled), (vec!["3".to_string(), "4".into(), "5".into()], 2));
        let replay: Vec<String> =
            open_leads(inbox.as_ref(), t, 10).await.expect("open").into_iter().map(|c| c.leadgen_id).collect();
        assert_eq!(replay.len(), 3);
        assert_eq!(open_leads(inbox.as_ref(), TenantId(2), 10).await.expect("open").len(), 0);
    }
}
