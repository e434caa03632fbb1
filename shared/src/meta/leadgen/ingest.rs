//! Processing a verified delivery: route its changes to tenants, open their inbox items, then
//! fetch each open lead from Graph — with its page's own token — with bounded concurrency inside a
//! time budget and ingest it through [`crate::events::ingest_lead`], settling its inbox item with
//! the outcome. Also the replay of a tenant's open leads when it reconnects (Meta does not
//! re-deliver what we answered 200 for). The module doc of [`crate::meta::leadgen`] has the
//! guarantees.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::inbox::{self, InboxStatus, LeadInbox};
use super::lead::{event_id, new_lead, parse_meta_time};
use super::webhook::{Delivery, LeadgenChange, WebhookError};
use crate::domain::ids::TenantId;
use crate::events::{ingest_lead, Applied, EntityId, NewLead};
use crate::meta::access::graph_client;
use crate::meta::error::MetaFlowError;
use crate::meta::graph::{GraphClient, Leadgen, MetaError, PageToken};
use crate::meta::pages::{page_failure, page_token, PageIndex, PagePatch};
use crate::meta::ports::LeadPorts;
use crate::platform::crypto::TokenCipher;
use crate::store::events::EventStore;

/// Graph fetches in flight at once per delivery.
pub const FETCH_CONCURRENCY: usize = 16;
/// No new fetch starts after this long; what is left stays open for Meta's re-delivery.
pub const PROCESSING_BUDGET: Duration = Duration::from_secs(8);
/// Most open leads one replay looks at.
pub const REPLAY_BATCH: usize = 200;
/// Time a replay may spend (the connect's follow-up job and the reconciliation run it; what it does
/// not reach stays open for the next replay, Meta's re-delivery or the reconciliation).
pub const REPLAY_BUDGET: Duration = Duration::from_secs(5);

/// A Meta lead that is in the CRM's numbers now (created by this call or before): what the
/// lead-arrived flow schedules and hands to the CRM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArrivedLead {
    pub tenant: TenantId,
    /// `meta:{leadgen_id}`.
    pub lead_id: String,
    pub change: LeadgenChange,
    pub lead: Leadgen,
}

/// What a delivery did, change by change (the `data` of the webhook's answer).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryReport {
    /// Distinct leadgen changes in the delivery.
    pub received: usize,
    pub created: usize,
    /// Already ingested (re-delivery, or the same lead in another delivery).
    pub duplicates: usize,
    /// Pages no tenant owns (logged by page id, skipped).
    pub unknown_page: usize,
    pub invalid: usize,
    /// Waiting for the page's token or lead access to be fixed (a reconnect replays them).
    pub awaiting_reconnect: usize,
    pub failed: usize,
    /// Still open after this delivery (transient failure or out of time): Meta must re-deliver.
    pub pending: usize,
    /// The leads created or found already ingested: what the webhook hands to the lead-arrived
    /// flow (not part of the answer).
    #[serde(skip)]
    pub ingested: Vec<ArrivedLead>,
}

impl DeliveryReport {
    /// The webhook's answer: the report when every lead is settled or parked, else
    /// [`WebhookError::LeadsPending`] (503), so Meta re-delivers; settled leads are not fetched
    /// again.
    pub fn into_answer(self) -> Result<Self, WebhookError> {
        match self.pending {
            0 => Ok(self),
            n => Err(WebhookError::LeadsPending(n)),
        }
    }
}

/// How much work one delivery may do before answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Graph fetches (and inbox writes) in flight at once.
    pub concurrency: usize,
    /// No new fetch starts after this long.
    pub budget: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self { concurrency: FETCH_CONCURRENCY, budget: PROCESSING_BUDGET }
    }
}

/// What fetching and ingesting leads uses, shared by a delivery's tasks.
#[derive(Clone)]
struct Ingest {
    inbox: Arc<dyn LeadInbox>,
    pages: Arc<dyn PageIndex>,
    cipher: Arc<dyn TokenCipher>,
    graph: Arc<GraphClient>,
    events: Arc<dyn EventStore>,
}

impl Ingest {
    fn new(ports: LeadPorts<'_>, graph: Arc<GraphClient>) -> Self {
        Self {
            inbox: ports.lead_inbox.shared(),
            pages: ports.pages.shared(),
            cipher: ports.meta.cipher.clone(),
            graph,
            events: ports.events.shared(),
        }
    }
}

/// One page's Graph access for this delivery.
struct PageAccess {
    tenant: TenantId,
    /// `None` = no usable Page token stored: its leads wait for a reconnect.
    token: Option<PageToken>,
    /// Set once Meta refused this page's token or its leads during this delivery.
    refused: AtomicBool,
}

/// One tenant's ingest lock: a tenant's leads of one delivery mostly land on the same day/month
/// aggregate items, and concurrent transactions on them only conflict and retry. (Fetches stay
/// concurrent; they are the slow part.)
type TenantLocks = BTreeMap<TenantId, Arc<tokio::sync::Mutex<()>>>;

/// How one lead's attempt ended (its inbox item is settled accordingly).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Attempt {
    Created(Box<Leadgen>),
    Duplicate(Box<Leadgen>),
    AwaitingReconnect,
    Failed,
    Pending,
}

/// Processes a verified, parsed delivery (see the module doc) with the default [`Limits`].
pub async fn process_delivery(
    ports: LeadPorts<'_>,
    delivery: Delivery,
    now: DateTime<Utc>,
) -> Result<DeliveryReport, MetaFlowError> {
    process_delivery_with(ports, delivery, now, Limits::default()).await
}

/// [`process_delivery`] with explicit limits. `Err` only for failures before any lead was fetched
/// (storage or secrets down): Meta then re-delivers the whole delivery.
pub async fn process_delivery_with(
    ports: LeadPorts<'_>,
    delivery: Delivery,
    now: DateTime<Utc>,
    limits: Limits,
) -> Result<DeliveryReport, MetaFlowError> {
    let started = tokio::time::Instant::now();
    let mut report =
        DeliveryReport { received: delivery.changes.len(), invalid: delivery.invalid, ..Default::default() };
    let routed = inbox::route_by_page(ports.pages.as_ref(), delivery.changes).await?;
    report.unknown_page = routed.unknown_page;
    if routed.by_tenant.is_empty() {
        return Ok(report);
    }
    // Durable first: every lead has an inbox item before any Graph call.
    let opened = inbox::open_all(ports.lead_inbox.shared(), routed.by_tenant, now, limits.concurrency).await?;
    report.duplicates += opened.already_settled;
    if opened.open.is_empty() {
        return Ok(report);
    }
    let graph = Arc::new(graph_client(ports.meta).await?);
    let deps = Ingest::new(ports, graph);
    fetch_and_ingest(&deps, opened.open, now, limits, started, &mut report).await;
    Ok(report)
}

/// Processes `tenant`'s open leads (parked while its page tokens were missing or refused, or left
/// pending) with the page tokens it just connected with. Run by the connect's follow-up job
/// (`crate::meta::follow_up`, after the OAuth callback's redirect, once the pages are claimed
/// again): Meta does not re-deliver a lead we answered 200 for, so a reconnect is what brings
/// parked leads in. Reads only open items (sparse index); what the batch/budget does not reach
/// stays open for the next replay or re-delivery.
pub async fn replay_open_leads(
    ports: LeadPorts<'_>,
    graph: &GraphClient,
    tenant: TenantId,
    now: DateTime<Utc>,
) -> Result<DeliveryReport, MetaFlowError> {
    let open = inbox::open_leads(ports.lead_inbox.as_ref(), tenant, REPLAY_BATCH).await?;
    let report = replay(ports, graph, tenant, open, now).await;
    tracing::info!(
        tenant_id = tenant.0,
        replayed = report.received,
        created = report.created,
        still_open = report.pending + report.awaiting_reconnect,
        "open lead-ads leads replayed after connect"
    );
    Ok(report)
}

/// Meta re-delivers an unanswered lead for up to 36 h; an inbox item still open after that will
/// not be delivered again.
pub const WEBHOOK_RETRY_WINDOW: chrono::Duration = chrono::Duration::hours(36);

/// Retries `tenant`'s inbox items still open [`WEBHOOK_RETRY_WINDOW`] after their first receipt
/// (Meta has given up re-delivering them), at most [`REPLAY_BATCH`] per call, oldest first —
/// run by the lead reconciliation. Younger open items are left to Meta's re-delivery.
pub async fn replay_stale_leads(
    ports: LeadPorts<'_>,
    graph: &GraphClient,
    tenant: TenantId,
    now: DateTime<Utc>,
) -> Result<DeliveryReport, crate::store::StoreError> {
    let stale = ports
        .lead_inbox
        .open_items_received_before(tenant, now - WEBHOOK_RETRY_WINDOW, REPLAY_BATCH)
        .await?
        .into_iter()
        .map(LeadgenChange::from)
        .collect();
    Ok(replay(ports, graph, tenant, stale, now).await)
}

/// Fetches and ingests `open` leads of `tenant` with its pages' tokens.
async fn replay(
    ports: LeadPorts<'_>,
    graph: &GraphClient,
    tenant: TenantId,
    open: Vec<LeadgenChange>,
    now: DateTime<Utc>,
) -> DeliveryReport {
    let started = tokio::time::Instant::now();
    let open: Vec<(TenantId, LeadgenChange)> = open.into_iter().map(|c| (tenant, c)).collect();
    let mut report = DeliveryReport { received: open.len(), ..Default::default() };
    if open.is_empty() {
        return report;
    }
    let deps = Ingest::new(ports, Arc::new(graph.clone()));
    let limits = Limits { concurrency: FETCH_CONCURRENCY, budget: REPLAY_BUDGET };
    fetch_and_ingest(&deps, open, now, limits, started, &mut report).await;
    report
}

/// Each page's token for these leads (read from the page index, decrypted under its owner's
/// context). A page whose item or token cannot be read now gets no entry: its leads stay pending
/// for the re-delivery; a page without a token, or owned by another tenant by now, gets an entry
/// without one (its leads wait for a reconnect).
async fn pages_access(
    deps: &Ingest,
    open: &[(TenantId, LeadgenChange)],
) -> BTreeMap<(TenantId, String), Arc<PageAccess>> {
    let mut access = BTreeMap::new();
    let wanted: BTreeSet<(TenantId, String)> = open.iter().map(|(t, c)| (*t, c.page_id.clone())).collect();
    for (tenant, page_id) in wanted {
        let token = match deps.pages.owner_of(&page_id).await {
            Ok(Some(owner)) if owner.tenant_id == tenant => match page_token(deps.cipher.as_ref(), &owner).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::error!(tenant_id = tenant.0, page_id = %page_id, error = %e, "page token unreadable; its leads stay open");
                    continue;
                }
            },
            Ok(_) => None,
            Err(e) => {
                tracing::error!(tenant_id = tenant.0, page_id = %page_id, error = %e, "page unreadable; its leads stay open");
                continue;
            }
        };
        let page = PageAccess { tenant, token, refused: AtomicBool::new(false) };
        access.insert((tenant, page_id), Arc::new(page));
    }
    access
}

/// Fetches and ingests `open` leads with bounded concurrency until the budget (counted from
/// `started`) is spent; what was not reached is counted `pending` (its inbox item stays open).
async fn fetch_and_ingest(
    deps: &Ingest,
    open: Vec<(TenantId, LeadgenChange)>,
    now: DateTime<Utc>,
    limits: Limits,
    started: tokio::time::Instant,
    report: &mut DeliveryReport,
) {
    let access = pages_access(deps, &open).await;
    let locks: TenantLocks = open.iter().map(|(t, _)| (*t, Arc::default())).collect();
    let concurrency = limits.concurrency.max(1);
    let mut set = tokio::task::JoinSet::new();
    let mut queue = open.into_iter();
    loop {
        while set.len() < concurrency && started.elapsed() < limits.budget {
            let Some((tenant, change)) = queue.next() else { break };
            let (Some(page), Some(lock)) =
                (access.get(&(tenant, change.page_id.clone())).cloned(), locks.get(&tenant).cloned())
            else {
                report.pending += 1;
                continue;
            };
            let deps = deps.clone();
            set.spawn(async move {
                let outcome = attempt_lead(&deps, &page, &lock, &change, now).await;
                (tenant, change, outcome)
            });
        }
        match set.join_next().await {
            Some(Ok((tenant, change, outcome))) => tally(report, tenant, change, outcome),
            Some(Err(e)) => {
                tracing::error!(error = %e, "lead task failed; left open");
                report.pending += 1;
            }
            None => break,
        }
    }
    // Not reached within the budget: still pending in the inbox.
    let left = queue.count();
    if left > 0 {
        tracing::warn!(left, "processing budget spent; the rest stays open for a re-delivery or replay");
        report.pending += left;
    }
}

fn tally(report: &mut DeliveryReport, tenant: TenantId, change: LeadgenChange, outcome: Attempt) {
    let arrived = |lead: Box<Leadgen>| ArrivedLead {
        tenant,
        lead_id: format!("meta:{}", change.leadgen_id),
        change: change.clone(),
        lead: *lead,
    };
    match outcome {
        Attempt::Created(lead) => {
            report.created += 1;
            report.ingested.push(arrived(lead));
        }
        Attempt::Duplicate(lead) => {
            report.duplicates += 1;
            report.ingested.push(arrived(lead));
        }
        Attempt::AwaitingReconnect => report.awaiting_reconnect += 1,
        Attempt::Failed => report.failed += 1,
        Attempt::Pending => report.pending += 1,
    }
}

/// Fetch → map → ingest one lead, settling its inbox item with the outcome.
async fn attempt_lead(
    deps: &Ingest,
    page: &PageAccess,
    lock: &tokio::sync::Mutex<()>,
    change: &LeadgenChange,
    now: DateTime<Utc>,
) -> Attempt {
    let lead = match fetch_lead(deps, page, change, now).await {
        Ok(lead) => lead,
        Err(settled) => return settled,
    };
    let (Ok(new), Ok(event)) = (new_lead(change, &lead, now), event_id(&change.leadgen_id)) else {
        inbox::settle(
            deps.inbox.as_ref(),
            page.tenant,
            &change.leadgen_id,
            InboxStatus::Failed,
            Some("lead_unmappable"),
            now,
        )
        .await;
        return Attempt::Failed;
    };
    note_last_lead(deps.pages.as_ref(), page.tenant, &change.page_id, &lead).await;
    ingest(deps, page.tenant, lock, change, new, event, lead, now).await
}

/// Keeps the page's "last lead seen" (best effort: token-status shows it).
pub(super) async fn note_last_lead(pages: &dyn PageIndex, tenant: TenantId, page_id: &str, lead: &Leadgen) {
    let Some(at) = parse_meta_time(&lead.created_time) else { return };
    let patch = PagePatch { last_lead_at: Some(at), ..PagePatch::default() };
    if let Err(e) = pages.patch(page_id, tenant, &patch).await {
        tracing::warn!(tenant_id = tenant.0, page_id, error = %e, "page's last lead not stored");
    }
}

/// The lead from Graph with its page's token, or the attempt's end: parked (no usable page
/// token, or Meta refused the page's token or its leads: the page is marked once per delivery,
/// never the user connection), left pending (Meta may recover) or failed (Meta refused the lead
/// itself for good).
async fn fetch_lead(
    deps: &Ingest,
    page: &PageAccess,
    change: &LeadgenChange,
    now: DateTime<Utc>,
) -> Result<Leadgen, Attempt> {
    let tenant = page.tenant;
    let settle = |status: InboxStatus, reason: &'static str| {
        inbox::settle(deps.inbox.as_ref(), tenant, &change.leadgen_id, status, Some(reason), now)
    };
    let Some(token) = page.token.as_ref().filter(|_| !page.refused.load(Ordering::Relaxed)) else {
        settle(InboxStatus::AwaitingReconnect, "page_token_missing_or_refused").await;
        return Err(Attempt::AwaitingReconnect);
    };
    match deps.graph.leadgen(token, &change.leadgen_id).await {
        Ok(l) => Ok(l),
        Err(err @ (MetaError::InvalidToken { .. } | MetaError::Permission { .. })) => {
            if !page.refused.swap(true, Ordering::Relaxed) {
                page_failure(deps.pages.as_ref(), tenant, &change.page_id, &err, true, now).await;
            }
            let reason =
                if matches!(err, MetaError::InvalidToken { .. }) { "page_token_rejected" } else { "no_lead_access" };
            settle(InboxStatus::AwaitingReconnect, reason).await;
            Err(Attempt::AwaitingReconnect)
        }
        Err(e) if e.is_retryable() => {
            tracing::warn!(tenant_id = tenant.0, leadgen_id = %change.leadgen_id, error = %e, "lead fetch failed; left open for Meta's re-delivery");
            settle(InboxStatus::Pending, "meta_unavailable").await;
            Err(Attempt::Pending)
        }
        Err(e) => {
            tracing::warn!(tenant_id = tenant.0, leadgen_id = %change.leadgen_id, error = %e, "Meta refused the lead");
            settle(InboxStatus::Failed, "meta_refused").await;
            Err(Attempt::Failed)
        }
    }
}

/// Ingests the mapped lead (one at a time per tenant) and settles its inbox item: `done` whether
/// it was created now or counted before; left `pending` when the ingest failed.
#[allow(clippy::too_many_arguments)]
async fn ingest(
    deps: &Ingest,
    tenant: TenantId,
    lock: &tokio::sync::Mutex<()>,
    change: &LeadgenChange,
    new: NewLead,
    event: EntityId,
    lead: Leadgen,
    now: DateTime<Utc>,
) -> Attempt {
    let ingested = {
        let _one_at_a_time = lock.lock().await;
        ingest_lead(deps.events.as_ref(), tenant, event, new, now).await.map_err(|e| e.to_string())
    };
    match ingested {
        Ok(applied) => {
            inbox::settle(deps.inbox.as_ref(), tenant, &change.leadgen_id, InboxStatus::Done, None, now).await;
            if applied == Applied::Applied {
                tracing::info!(tenant_id = tenant.0, leadgen_id = %change.leadgen_id, "lead-ads lead created");
                Attempt::Created(Box::new(lead))
            } else {
                Attempt::Duplicate(Box::new(lead))
            }
        }
        Err(e) => {
            tracing::error!(tenant_id = tenant.0, leadgen_id = %change.leadgen_id, error = %e, "lead could not be ingested; left open");
            inbox::settle(
                deps.inbox.as_ref(),
                tenant,
                &change.leadgen_id,
                InboxStatus::Pending,
                Some("ingest_failed"),
                now,
            )
            .await;
            Attempt::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::leadgen_inbox::InboxItem;
    use crate::store::pages::{PageIndex, PageOwner};
    use crate::testing::{unit_app, unit_now};

    fn delivery(ids: &[&str], page: &str) -> Delivery {
        let changes = ids
            .iter()
            .map(|id| LeadgenChange {
                leadgen_id: id.to_string(),
                page_id: page.into(),
                form_id: None,
                ad_id: None,
                created_time: None,
            })
            .collect();
        Delivery { changes, other_fields: 0, invalid: 1 }
    }

    #[tokio::test]
    async fn leads_of_a_tenant_without_meta_are_parked_and_unknown_pages_skipped_without_graph() {
        let (app, mem) = unit_app(&[("META_APP_ID", "app"), ("META_APP_SECRET", "s")]);
        let owner = PageOwner::new("100", TenantId(1), "", unit_now());
        assert!(mem.pages.put_if_owner(&owner, TenantId(1)).await.expect("claim"));

        let report =
            process_delivery((&app).into(), delivery(&["11", "12"], "100"), unit_now()).await.expect("processed");
        let parked = DeliveryReport { received: 2, invalid: 1, awaiting_reconnect: 2, ..Default::default() };
        assert_eq!(report, parked);
        let item: Option<InboxItem> = mem.lead_inbox.get(TenantId(1), "11").await.expect("get");
        assert_eq!(
            item.map(|i| (i.status, i.last_error)),
            Some((InboxStatus::AwaitingReconnect, Some("page_token_missing_or_refused".into())))
        );
        assert_eq!(report.clone().into_answer(), Ok(report), "parked leads are answered 200");

        let stray = process_delivery((&app).into(), delivery(&["13"], "999"), unit_now()).await.expect("processed");
        assert_eq!((stray.unknown_page, stray.awaiting_reconnect), (1, 0));
        assert_eq!(mem.lead_inbox.get(TenantId(1), "13").await.expect("get"), None, "nothing opened");
    }

    #[tokio::test]
    async fn leads_the_budget_did_not_reach_stay_pending_and_ask_for_a_redelivery() {
        let (app, mem) = unit_app(&[("META_APP_ID", "app"), ("META_APP_SECRET", "s")]);
        let owner = PageOwner::new("100", TenantId(1), "", unit_now());
        assert!(mem.pages.put_if_owner(&owner, TenantId(1)).await.expect("claim"));
        let out_of_time = Limits { concurrency: 2, budget: Duration::ZERO };
        let report =
            process_delivery_with((&app).into(), delivery(&["21", "22", "23"], "100"), unit_now(), out_of_time)
                .await
                .expect("processed");
        assert_eq!((report.pending, report.awaiting_reconnect), (3, 0));
        assert_eq!(mem.lead_inbox.open_items(TenantId(1), 10).await.expect("open").len(), 3);
        let answer = crate::platform::error::ApiError::from(report.into_answer().expect_err("503"));
        assert_eq!((answer.status().as_u16(), answer.code()), (503, "leads_pending"));
    }
}
