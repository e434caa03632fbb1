//! Lead reconciliation (the spend sync's tenant mode runs it after the accounts): leads whose
//! webhook never arrived are read back from Meta and ingested through the webhook's own path.
//!
//! 1. The tenant's pages as the page index holds them (claimed with their Page tokens at connect,
//!    account selection and token check); a page another tenant owns is never read for this one.
//! 2. For each page's lead forms (`/{page_id}/leadgen_forms`), the leads created after that page's
//!    last complete sweep (`/{form_id}/leads` with `filtering` on `time_created`, minus
//!    [`SWEEP_OVERLAP`]; a page's first sweep starts at its claim) — every call with the page's
//!    own token. Each lead becomes the CRM lead [`new_lead`] makes of a webhook's lead and goes
//!    through [`ingest_lead`] under event id `meta-leadgen:{leadgen_id}` — a lead the webhook
//!    already brought is a duplicate, never a second lead; an inbox item it may have is settled.
//! 3. A page's mark moves to the start of this run only when all of its forms were read.
//! 4. A page Meta refuses (its token, a permission, Leads Access Manager — even as code 190) is
//!    marked and skipped; the other pages and the user connection carry on. Only throttling stops
//!    the tenant's run (retried later).
//! 5. Inbox items still open after Meta's 36 h of webhook retries are fetched and ingested
//!    ([`replay_stale_leads`]).

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::inbox::{self, InboxStatus};
use super::ingest::{note_last_lead, replay_stale_leads, ArrivedLead};
use super::lead::{event_id, new_lead};
use super::webhook::LeadgenChange;
use crate::domain::ids::TenantId;
use crate::events::{ingest_lead, Applied};
use crate::meta::graph::{GraphClient, Leadgen, MetaError, PageToken};
use crate::meta::pages::{page_failure, page_token, PageOwner, PagePatch};
use crate::meta::ports::LeadPorts;
use crate::store::StoreError;

/// Each sweep re-reads this much before the last mark (leads Meta indexes late); re-reading is
/// free of effects (idempotent ingest).
pub const SWEEP_OVERLAP: Duration = Duration::hours(1);

/// What one tenant's reconciliation did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LeadReconciliation {
    pub pages: u32,
    /// Pages skipped: no token, or Meta refused them this run (marked on the page).
    pub pages_refused: u32,
    pub forms: u32,
    /// Leads Meta listed since the last sweep.
    pub listed: u32,
    /// Leads created now (their webhook never arrived).
    pub created: u32,
    /// Listed leads the webhook (or an earlier sweep) had already brought.
    pub already_known: u32,
    /// Listed leads that could not be mapped or ingested (logged; that page's mark does not move).
    pub failed: u32,
    /// Inbox items open past Meta's webhook retry window that were retried, and of those created.
    pub stale_retried: u32,
    pub stale_created: u32,
    /// Pages whose mark moved (all their forms were read).
    pub pages_swept: u32,
    /// The leads the sweep created or found ingested: what the spend sync hands to the
    /// lead-arrived flow (not part of the summary).
    #[serde(skip)]
    pub ingested: Vec<ArrivedLead>,
}

/// Why the reconciliation stopped (the rest waits for the next run).
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Meta(#[from] MetaError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reconciles `tenant` (see the module doc). `Err` only when Meta throttles or storage failed so
/// that nothing can be trusted: what was ingested stays ingested, the marks stay where they were.
pub async fn reconcile_leads(
    ports: LeadPorts<'_>,
    graph: &GraphClient,
    tenant: TenantId,
    now: DateTime<Utc>,
) -> Result<LeadReconciliation, ReconcileError> {
    let mut done = LeadReconciliation::default();
    for page in ports.pages.pages_of(tenant).await? {
        done.pages += 1;
        let token = match page_token(ports.meta.cipher.as_ref(), &page).await {
            Ok(Some(t)) => t,
            Ok(None) => {
                done.pages_refused += 1;
                continue;
            }
            Err(e) => {
                tracing::error!(tenant_id = tenant.0, page_id = %page.page_id, error = %e, "page token unreadable; page skipped");
                done.pages_refused += 1;
                continue;
            }
        };
        match sweep_page(ports, graph, &page, &token, now, &mut done).await {
            Ok(true) => {
                // Every form and lead read with the page's token: a token or lead-access problem
                // recorded before is over (a subscription problem is not this read's to clear).
                let lead_problem = page.problem.as_ref().is_some_and(|p| p.code != "subscription_failed");
                let mark = PagePatch {
                    leads_swept_at: Some(now),
                    lead_access: Some(true),
                    problem: lead_problem.then_some(None),
                    ..PagePatch::default()
                };
                ports.pages.patch(&page.page_id, tenant, &mark).await?;
                done.pages_swept += 1;
            }
            Ok(false) => {}
            Err(e @ (MetaError::Throttled { .. } | MetaError::NearLimit { .. })) => return Err(e.into()),
            Err(e) if e.is_retryable() => {
                tracing::warn!(tenant_id = tenant.0, page_id = %page.page_id, error = %e, "page sweep failed; the next run retries");
            }
            Err(e) => {
                page_failure(ports.pages.as_ref(), tenant, &page.page_id, &e, true, now).await;
                done.pages_refused += 1;
            }
        }
    }
    let stale = replay_stale_leads(ports, graph, tenant, now).await?;
    done.stale_retried = stale.received as u32;
    done.stale_created = stale.created as u32;
    done.ingested.extend(stale.ingested);
    if done.created + done.stale_created > 0 {
        tracing::info!(
            tenant_id = tenant.0,
            created = done.created,
            stale_created = done.stale_created,
            "lead-ads leads reconciled"
        );
    }
    Ok(done)
}

/// Reads back one page's leads since its mark; whether every form was read and ingested.
async fn sweep_page(
    ports: LeadPorts<'_>,
    graph: &GraphClient,
    page: &PageOwner,
    token: &PageToken,
    now: DateTime<Utc>,
    done: &mut LeadReconciliation,
) -> Result<bool, MetaError> {
    let tenant = page.tenant_id;
    let since = page.leads_swept_at.unwrap_or(page.registered_at) - SWEEP_OVERLAP;
    let mut complete = true;
    for form in graph.lead_forms(token, &page.page_id).await? {
        done.forms += 1;
        for lead in graph.form_leads(token, &form.id, since).await? {
            done.listed += 1;
            let change = LeadgenChange {
                leadgen_id: lead.id.clone(),
                page_id: page.page_id.clone(),
                form_id: Some(form.id.clone()),
                ad_id: lead.attribution.ad_id.clone(),
                created_time: None,
            };
            match ingest_listed(ports, tenant, &change, &lead, now).await {
                Ok(applied) => {
                    if applied == Applied::Applied {
                        done.created += 1;
                    } else {
                        done.already_known += 1;
                    }
                    note_last_lead(ports.pages.as_ref(), tenant, &page.page_id, &lead).await;
                    let lead_id = format!("meta:{}", lead.id);
                    done.ingested.push(ArrivedLead { tenant, lead_id, change, lead });
                }
                Err(e) => {
                    tracing::error!(tenant_id = tenant.0, leadgen_id = %lead.id, error = %e, "reconciled lead not ingested; the next sweep retries");
                    done.failed += 1;
                    complete = false;
                }
            }
        }
    }
    Ok(complete)
}

/// One listed lead through the webhook's mapping and ingest; settles an inbox item it may have.
async fn ingest_listed(
    ports: LeadPorts<'_>,
    tenant: TenantId,
    change: &LeadgenChange,
    lead: &Leadgen,
    now: DateTime<Utc>,
) -> Result<Applied, String> {
    let new = new_lead(change, lead, now).map_err(|e| format!("lead unmappable: {e}"))?;
    let event = event_id(&lead.id).map_err(|e| format!("leadgen id unusable: {e}"))?;
    let applied = ingest_lead(ports.events.as_ref(), tenant, event, new, now).await.map_err(|e| e.to_string())?;
    inbox::settle(ports.lead_inbox.as_ref(), tenant, &lead.id, InboxStatus::Done, None, now).await;
    Ok(applied)
}
