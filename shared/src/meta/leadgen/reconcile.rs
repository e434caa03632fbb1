//! Lead reconciliation (the spend sync's tenant mode runs it after the accounts): leads whose
//! webhook never arrived are read back from Meta and ingested through the webhook's own path.
//!
//! 1. The tenant's pages: those its token manages (`/me/accounts`) that the page index says the
//!    tenant owns (a page another tenant owns is never read for this one).
//! 2. For each page's lead forms (`/{page_id}/leadgen_forms`), the leads created after the last
//!    complete sweep (`/{form_id}/leads` with `filtering` on `time_created`, minus
//!    [`SWEEP_OVERLAP`]; the first sweep starts at the connection). Each becomes the CRM lead
//!    [`new_lead`] makes of a webhook's lead and goes through [`ingest_lead`] under event id
//!    `meta-leadgen:{leadgen_id}` — a lead the webhook already brought is a duplicate, never a
//!    second lead; an inbox item it may have is settled `done`.
//! 3. The sweep mark moves to the start of this run only when every page and form was read.
//! 4. Inbox items still open after Meta's 36 h of webhook retries are fetched and ingested
//!    ([`replay_stale_leads`]).

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::inbox::{self, InboxStatus};
use super::ingest::replay_stale_leads;
use super::lead::{event_id, new_lead};
use super::webhook::LeadgenChange;
use crate::api::app::App;
use crate::domain::ids::TenantId;
use crate::events::{ingest_lead, Applied};
use crate::meta::graph::{GraphClient, Leadgen, MetaError};
use crate::platform::secrets::SecretString;
use crate::store::{MetaConnection, StoreError};

/// Each sweep re-reads this much before the last mark (leads Meta indexes late); re-reading is
/// free of effects (idempotent ingest).
pub const SWEEP_OVERLAP: Duration = Duration::hours(1);

/// What one tenant's reconciliation did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LeadReconciliation {
    pub pages: u32,
    pub forms: u32,
    /// Leads Meta listed since the last sweep.
    pub listed: u32,
    /// Leads created now (their webhook never arrived).
    pub created: u32,
    /// Listed leads the webhook (or an earlier sweep) had already brought.
    pub already_known: u32,
    /// Listed leads that could not be mapped or ingested (logged; the mark does not move).
    pub failed: u32,
    /// Inbox items open past Meta's webhook retry window that were retried, and of those created.
    pub stale_retried: u32,
    pub stale_created: u32,
    /// The sweep mark moved (every page and form was read).
    pub swept: bool,
    /// CRM lead ids (`meta:{leadgen_id}`) the sweep created or found ingested: what the function
    /// hands to the automation's scheduling, as the webhook does (not part of the summary).
    #[serde(skip)]
    pub ingested: Vec<String>,
}

/// Why the reconciliation stopped (the rest waits for the next run).
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Meta(#[from] MetaError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reconciles the connection's tenant (see the module doc). `Err` only when Meta or storage
/// failed so that nothing can be trusted (190, throttling, storage down): what was ingested
/// stays ingested, the mark stays where it was.
pub async fn reconcile_leads(
    app: &App,
    graph: &GraphClient,
    conn: &MetaConnection,
    token: &SecretString,
    now: DateTime<Utc>,
) -> Result<LeadReconciliation, ReconcileError> {
    let tenant = conn.tenant_id;
    let mut done = LeadReconciliation::default();
    let since = app.lead_inbox.lead_sweep(tenant).await?.unwrap_or(conn.connected_at) - SWEEP_OVERLAP;
    let mut complete = true;
    for page in graph.managed_pages(token).await? {
        match app.pages.owner_of(&page.id).await? {
            Some(owner) if owner.tenant_id == tenant => {}
            _ => continue,
        }
        done.pages += 1;
        for form in graph.lead_forms(token, &page.id).await? {
            done.forms += 1;
            for lead in graph.form_leads(token, &form.id, since).await? {
                done.listed += 1;
                let ingested = ingest_listed(app, tenant, &page.id, &form.id, &lead, now).await;
                if ingested.is_ok() {
                    done.ingested.push(format!("meta:{}", lead.id));
                }
                match ingested {
                    Ok(Applied::Applied) => done.created += 1,
                    Ok(_) => done.already_known += 1,
                    Err(e) => {
                        tracing::error!(tenant_id = tenant.0, leadgen_id = %lead.id, error = %e, "reconciled lead not ingested; the next sweep retries");
                        done.failed += 1;
                        complete = false;
                    }
                }
            }
        }
    }
    if complete {
        app.lead_inbox.set_lead_sweep(tenant, now).await?;
        done.swept = true;
    }
    let stale = replay_stale_leads(app, graph, conn, token, now).await?;
    done.stale_retried = stale.received as u32;
    done.stale_created = stale.created as u32;
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

/// One listed lead through the webhook's mapping and ingest; settles an inbox item it may have.
async fn ingest_listed(
    app: &App,
    tenant: TenantId,
    page_id: &str,
    form_id: &str,
    lead: &Leadgen,
    now: DateTime<Utc>,
) -> Result<Applied, String> {
    let change = LeadgenChange {
        leadgen_id: lead.id.clone(),
        page_id: page_id.to_string(),
        form_id: Some(form_id.to_string()),
        ad_id: lead.attribution.ad_id.clone(),
        created_time: None,
    };
    let new = new_lead(&change, lead, now).map_err(|e| format!("lead unmappable: {e}"))?;
    let event = event_id(&lead.id).map_err(|e| format!("leadgen id unusable: {e}"))?;
    let applied = ingest_lead(app.events.as_ref(), tenant, event, new, now).await.map_err(|e| e.to_string())?;
    inbox::settle(app.lead_inbox.as_ref(), tenant, &lead.id, InboxStatus::Done, None, now).await;
    Ok(applied)
}
