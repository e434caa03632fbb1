//! Conversions back to Meta, end to end: the datasets a tenant can choose, its settings (read, and
//! saved after Meta confirms the dataset), and the sender — per tenant under a lease, with the
//! connection's token; for every tenant with pending conversions on the schedule (`meta-conversions`)
//! or by hand (`make conversions-flush`). The domain is `meta::conversions`.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::{stream, StreamExt};
use serde::Serialize;
use serde_json::Value;

use crate::domain::connection::{token_status, TokenState};
use crate::domain::conversions::ConversionSettings;
use crate::domain::ids::{AdAccountId, TenantId};
use crate::meta::access::{graph_client, meta_failure, usable_token};
use crate::meta::conversions::send::{send_pending, skip_pending, TenantSend};
use crate::meta::conversions::settings::{check_dataset, view, ConversionsError, DatasetView, SettingsInput};
use crate::meta::error::MetaFlowError;
use crate::meta::graph::{Dataset, MetaError};
use crate::store::conversions::PendingMark;
use crate::store::StoreError;
use crate::App;

/// How long one tenant's sender holds its lease (longer than a run can take).
pub const LEASE: Duration = Duration::from_secs(300);
/// One scheduled run's time for sending (the function's timeout is 60 s).
pub const RUN_BUDGET: Duration = Duration::from_secs(45);
/// Tenants sent for at once.
pub const TENANT_CONCURRENCY: usize = 4;
/// A tenant's pending mark younger than this is kept even when its queue read empty (the index
/// may not show a just-queued item yet).
pub const MARK_SETTLE_SECS: i64 = 60;
/// Most tenants one run looks at (the rest stay marked for the next run).
pub const TENANTS_PER_RUN: usize = 2_000;

/// The datasets of the tenant's selected ad accounts (each once).
pub async fn datasets(app: &App, tenant: TenantId, now: DateTime<Utc>) -> Result<Vec<DatasetView>, MetaFlowError> {
    let (conn, token) = usable_token(app.into(), tenant, now).await?;
    let graph = graph_client(app.into()).await?;
    let mut out: Vec<DatasetView> = Vec::new();
    for raw in &conn.ad_account_ids {
        let account = AdAccountId::parse(raw)?;
        let found: Vec<Dataset> = match graph.ad_account_datasets(&token, &account).await {
            Ok(d) => d,
            Err(e) => return Err(meta_failure(app.connections.as_ref(), &conn, e, now).await),
        };
        for d in found {
            if !out.iter().any(|o| o.id == d.id) {
                out.push(DatasetView { id: d.id, name: d.name, ad_account_id: account.as_str().to_string() });
            }
        }
    }
    Ok(out)
}

/// The `data` of `GET /crm/marketing/conversions`.
pub async fn read_settings(app: &App, tenant: TenantId, now: DateTime<Utc>) -> Result<Value, ConversionsError> {
    let (settings, revision) = app.conversions.settings_at(tenant).await?;
    settings_view(app, tenant, settings.as_ref(), revision.read(), now).await
}

/// The view of `settings` at `revision`, with the connection's state, the 7-day counts and Meta's
/// last answer.
async fn settings_view(
    app: &App,
    tenant: TenantId,
    settings: Option<&ConversionSettings>,
    revision: Option<u64>,
    now: DateTime<Utc>,
) -> Result<Value, ConversionsError> {
    let conn = app.connections.get_connection(tenant).await?;
    let meta = match token_status(conn.as_ref(), now).status {
        TokenState::Connected => "connected",
        TokenState::Expired => "expired",
        TokenState::Missing => "missing",
    };
    let today = now.date_naive();
    let counts = app.conversions.counts(tenant, today - chrono::Duration::days(6), today).await?;
    let activity = app.conversions.activity(tenant).await?;
    Ok(view(settings, revision, Some(meta), &counts, &activity))
}

/// Saves the settings after checking the dataset with Meta; conditioned on the revision read, so
/// a concurrent save answers 409 instead of vanishing.
pub async fn save_settings(
    app: &App,
    tenant: TenantId,
    user: &str,
    input: SettingsInput,
    now: DateTime<Utc>,
) -> Result<Value, ConversionsError> {
    let mut settings = input.into_settings(tenant, user, now)?;
    let (_, revision) = app.conversions.settings_at(tenant).await?;
    if settings.dataset_id.is_some() {
        check_dataset(&mut settings, &datasets(app, tenant, now).await?)?;
    }
    match app.conversions.save_settings(&settings, revision).await? {
        Ok(written) => {
            tracing::info!(tenant_id = tenant.0, enabled = settings.enabled, "conversions settings saved");
            settings_view(app, tenant, Some(&settings), Some(written), now).await
        }
        Err(_) => Err(ConversionsError::Changed),
    }
}

/// One tenant's run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TenantFlush {
    pub tenant_id: i64,
    #[serde(flatten)]
    pub send: TenantSend,
    /// Another sender holds the tenant's lease.
    pub busy: bool,
    /// Why nothing could be sent (`meta_not_connected`, `meta_token_expired`, …), if so.
    pub blocked: Option<String>,
}

/// Sends (or skips, when conversions are off) the tenant's pending conversions under its lease.
pub async fn flush_tenant(
    app: &App,
    tenant: TenantId,
    now: DateTime<Utc>,
    deadline: Instant,
) -> Result<TenantFlush, StoreError> {
    let holder = uuid::Uuid::new_v4().simple().to_string();
    let until = now + chrono::Duration::from_std(LEASE).unwrap_or_else(|_| chrono::Duration::minutes(5));
    let mut out = TenantFlush { tenant_id: tenant.0, ..Default::default() };
    if !app.conversions.take_lease(tenant, &holder, now, until).await? {
        out.busy = true;
        return Ok(out);
    }
    let result = flush_leased(app, tenant, now, deadline, &mut out).await;
    if let Err(e) = app.conversions.release_lease(tenant, &holder).await {
        tracing::warn!(tenant_id = tenant.0, error = %e, "conversions lease not released; it expires");
    }
    result.map(|()| out)
}

async fn flush_leased(
    app: &App,
    tenant: TenantId,
    now: DateTime<Utc>,
    deadline: Instant,
    out: &mut TenantFlush,
) -> Result<(), StoreError> {
    let store = app.conversions.as_ref();
    let settings = match store.settings_at(tenant).await?.0 {
        Some(s) if s.enabled && s.dataset_id.is_some() => s,
        Some(s) if s.enabled => {
            out.send = skip_pending(store, tenant, "no_dataset", now).await?;
            return Ok(());
        }
        _ => {
            out.send = skip_pending(store, tenant, "disabled", now).await?;
            return Ok(());
        }
    };
    let (conn, token, graph) = match usable_token(app.into(), tenant, now).await {
        Ok((conn, token)) => match graph_client(app.into()).await {
            Ok(graph) => (conn, token, graph),
            Err(e) => return Err(StoreError::Dynamo(format!("Graph client: {e}"))),
        },
        Err(e @ (MetaFlowError::NotConnected | MetaFlowError::ConnectionExpired)) => {
            // Left pending: a reconnect within Meta's window still sends them.
            out.blocked = Some(crate::platform::error::DomainError::code(&e).to_string());
            return Ok(());
        }
        Err(MetaFlowError::Store(e)) => return Err(e),
        Err(e) => return Err(StoreError::Dynamo(e.to_string())),
    };
    out.send = send_pending(store, &graph, &token, &settings, now, deadline).await?;
    if let Some(err @ MetaError::InvalidToken { .. }) = out.send.stopped.clone() {
        let flow = meta_failure(app.connections.as_ref(), &conn, err, now).await;
        out.blocked = Some(crate::platform::error::DomainError::code(&flow).to_string());
    } else if let Some(e) = &out.send.stopped {
        out.blocked = Some(e.to_string());
    }
    Ok(())
}

/// What one run over every tenant with pending conversions did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FlushSummary {
    pub tenants: u32,
    pub sent: u32,
    pub skipped: u32,
    pub failed: u32,
    pub requests: u32,
    pub busy: u32,
    pub blocked: u32,
    pub errors: u32,
}

/// Every tenant marked as having pending conversions, a few at a time, within the run's budget;
/// a tenant's mark is cleared when its queue was drained (unless an enqueue re-marked it).
pub async fn flush_all(app: &App, now: DateTime<Utc>, budget: Duration) -> Result<FlushSummary, StoreError> {
    let deadline = Instant::now() + budget;
    let marks = app.conversions.tenants_pending(TENANTS_PER_RUN).await?;
    let results: Vec<(PendingMark, Result<TenantFlush, StoreError>)> = stream::iter(marks)
        .map(|mark| async move {
            let r = flush_tenant(app, mark.tenant, now, deadline).await;
            (mark, r)
        })
        .buffer_unordered(TENANT_CONCURRENCY)
        .collect()
        .await;
    let mut sum = FlushSummary::default();
    for (mark, r) in results {
        sum.tenants += 1;
        match r {
            Ok(t) => {
                sum.sent += t.send.sent;
                sum.skipped += t.send.skipped;
                sum.failed += t.send.failed;
                sum.requests += t.send.requests;
                sum.busy += u32::from(t.busy);
                sum.blocked += u32::from(t.blocked.is_some());
                // The queue is read through an eventually consistent index: a mark set in the
                // last minute is kept, so an item the index did not show yet is found next run.
                let settled = mark.marked_at.is_some_and(|at| at <= now - chrono::Duration::seconds(MARK_SETTLE_SECS));
                if t.send.drained && settled {
                    app.conversions.clear_pending(&mark).await?;
                }
                tracing::info!(tenant_id = t.tenant_id, sent = t.send.sent, skipped = t.send.skipped, failed = t.send.failed, requests = t.send.requests, busy = t.busy, blocked = ?t.blocked, "conversions run");
            }
            Err(e) => {
                sum.errors += 1;
                tracing::error!(tenant_id = mark.tenant.0, error = %e, "conversions run failed for the tenant");
            }
        }
    }
    Ok(sum)
}
