//! What a Meta connect still needs once the OAuth callback has stored the connection: the
//! Facebook Pages the new token manages are claimed for the tenant (lead-ads webhooks name a page,
//! never a tenant), and the tenant's lead-ads leads parked while its token was expired are
//! replayed (Meta does not re-deliver a lead we answered 200 for).
//!
//! Both are slow (Graph paging, one fetch per lead), so the callback does not wait for them: it
//! puts a `meta.connected` job on the product's bus ([`request`]) and redirects the browser;
//! `meta-spend-sync` runs the job ([`run`]) from its bus rule (with Lambda's retries and a
//! dead-letter queue), and locally the local stack's job runner does. A job that never got on
//! the bus is healed later: selecting ad accounts claims the pages again, and the spend sync's
//! lead reconciliation retries leads still open after Meta's re-delivery window.
//!
//! Idempotent: claims and lead ingests are, so a retried or duplicated job changes nothing. A job
//! for a tenant that has disconnected (or whose token expired) since does nothing.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::ids::TenantId;
use crate::meta::access::{graph_client, usable_token};
use crate::meta::error::MetaFlowError;
use crate::meta::leadgen::{replay_open_leads, DeliveryReport};
use crate::meta::pages::{register_managed_pages, PagesRegistered};
use crate::meta::ports::LeadPorts;
use crate::platform::error::DomainError;
use crate::store::job_bus::{JobBus, JobEvent};

/// `source` of the job's event.
pub const META_LOGIN_SOURCE: &str = "crm-marketing.meta-login";
/// `detail-type` of the job's event; detail `{"tenant_id": n}` (never a token).
pub const META_CONNECTED: &str = "meta.connected";

/// The event asking for `tenant`'s follow-up.
pub fn job(tenant: TenantId) -> JobEvent {
    JobEvent {
        source: META_LOGIN_SOURCE.into(),
        detail_type: META_CONNECTED.into(),
        detail: serde_json::json!({ "tenant_id": tenant.0 }).to_string(),
    }
}

/// Puts `tenant`'s follow-up on the bus (one attempt: the callback's time is short, and a lost
/// job is healed as the module doc says); whether the bus accepted it.
pub async fn request(bus: &dyn JobBus, tenant: TenantId) -> bool {
    match bus.put_events(&[job(tenant)]).await {
        Ok(refused) if refused.is_empty() => true,
        Ok(_) => {
            tracing::error!(tenant_id = tenant.0, "the bus refused the meta.connected job; pages and parked leads wait for the next selection or reconciliation");
            false
        }
        Err(e) => {
            tracing::error!(tenant_id = tenant.0, error = %e, "meta.connected job not queued; pages and parked leads wait for the next selection or reconciliation");
            false
        }
    }
}

/// What one follow-up did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FollowUp {
    pub tenant_id: i64,
    /// Why nothing was done (`meta_not_connected`, `meta_token_expired`), if so.
    pub skipped: Option<&'static str>,
    pub pages: PagesRegistered,
    /// The replay of the tenant's open lead-ads leads.
    pub leads: DeliveryReport,
}

/// Runs `tenant`'s follow-up with its current connection. `Err` for failures worth a retry
/// (storage, secrets, KMS); what Meta refuses is logged and left for the next chance.
pub async fn run(ports: LeadPorts<'_>, tenant: TenantId, now: DateTime<Utc>) -> Result<FollowUp, MetaFlowError> {
    let mut done = FollowUp { tenant_id: tenant.0, ..FollowUp::default() };
    let (conn, token) = match usable_token(ports.meta, tenant, now).await {
        Ok(t) => t,
        Err(e @ (MetaFlowError::NotConnected | MetaFlowError::ConnectionExpired)) => {
            tracing::info!(tenant_id = tenant.0, reason = e.code(), "Meta follow-up skipped");
            done.skipped = Some(e.code());
            return Ok(done);
        }
        Err(e) => return Err(e),
    };
    let graph = graph_client(ports.meta).await?;
    done.pages = register_managed_pages(ports.into(), &graph, &token, tenant, now).await;
    done.leads = replay_open_leads(ports, &graph, conn.tenant_id, now).await?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_job_names_the_tenant_only_and_is_skipped_without_a_connection() {
        let e = job(TenantId(7));
        assert_eq!((e.source.as_str(), e.detail_type.as_str()), (META_LOGIN_SOURCE, META_CONNECTED));
        assert_eq!(e.detail, r#"{"tenant_id":7}"#);
        let (app, mem) = crate::testing::unit_app(&[]);
        assert!(request(app.job_bus.as_ref(), TenantId(7)).await);
        assert_eq!(mem.job_bus.published(), vec![e]);
        let done = run((&app).into(), TenantId(7), crate::testing::unit_now()).await.expect("skipped");
        assert_eq!((done.skipped, done.pages.claimed), (Some("meta_not_connected"), 0));
        mem.job_bus.fail_next.store(1, std::sync::atomic::Ordering::SeqCst);
        assert!(!request(app.job_bus.as_ref(), TenantId(7)).await, "a refused entry is reported");
    }
}
