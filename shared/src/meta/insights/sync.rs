//! The spend sync: fan-out (one `spend-sync.requested` event per connected tenant on the bus) and
//! the sync of one tenant (each selected ad account's trailing window of daily insights, grouped
//! per account-day and upserted through [`SpendStore`]).
//!
//! Failure rules: a token Meta rejects (190) marks the connection expired and stops that tenant;
//! throttling that outlasts the Graph client's own backoff stops the tenant with
//! [`TenantOutcome::Throttled`] so it is retried later (the invocation fails: Lambda's async retry,
//! then the next schedule) — never a loop; other failures stop only their account.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::fetch::{account_info, daily_insights, statuses, DayRange, FetchCounts, Level};
use super::wire::{meta_leads, parse_count, parse_spend, row_status, Entity, InsightRow};
use super::SpendSyncError;
use crate::domain::connection::{token_status, TokenState};
use crate::domain::ids::TenantId;
use crate::domain::money::Currency;
use crate::domain::zone::Zone;
use crate::meta::access::{graph_client, meta_failure, stored_token};
use crate::meta::graph::{GraphClient, MetaError};
use crate::meta::leadgen::{reconcile_leads, LeadReconciliation, ReconcileError};
use crate::meta::ports::SyncPorts;
use crate::platform::retry::{Jitter, RetryPolicy, Sleeper};
use crate::platform::secrets::SecretString;
use crate::store::connected_index::ConnectedIndex;
use crate::store::job_bus::{JobBus, JobEvent, MAX_BATCH};
use crate::store::spend::{merge_rows, DailySpend, SpendRow, DEFAULT_ATTRIBUTION_SETTING};
use crate::store::StoreError;

/// `source` of the fan-out events (not `crm`: that rule belongs to `crm-events`).
pub const SPEND_SYNC_SOURCE: &str = "crm-marketing.spend-sync";
/// `detail-type` of the fan-out events; detail `{"tenant_id": n}`.
pub const SPEND_SYNC_REQUESTED: &str = "spend-sync.requested";

/// Usage (percent of any Meta limit its headers report) at which a tenant's sync stops calling
/// (FIELD-NOTES 9: slow down near 85 %).
pub const USAGE_CEILING_PCT: u32 = 85;

/// Connected tenants read per index page during fan-out.
const INDEX_PAGE: usize = 500;

/// Retries of entries `PutEvents` did not accept.
const PUBLISH_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 5,
    base_delay: Duration::from_millis(100),
    max_delay: Duration::from_secs(2),
    jitter: Jitter::Proportional,
};

/// What a fan-out did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FanOutSummary {
    pub tenants: u32,
    pub published: u32,
    /// Events still refused after the retries (their tenants wait for the next schedule).
    pub failed: u32,
    /// `PutEvents` calls.
    pub batches: u32,
}

/// Pages the connected index and puts one `spend-sync.requested` per tenant on the bus, in
/// batches of [`MAX_BATCH`], retrying refused entries with backoff.
pub async fn fan_out(
    index: &dyn ConnectedIndex,
    bus: &dyn JobBus,
    sleeper: &dyn Sleeper,
) -> Result<FanOutSummary, StoreError> {
    let mut summary = FanOutSummary::default();
    let mut cursor: Option<String> = None;
    loop {
        let (tenants, next) = index.connected_page(cursor.as_deref(), INDEX_PAGE).await?;
        summary.tenants += tenants.len() as u32;
        for chunk in tenants.chunks(MAX_BATCH) {
            let events: Vec<JobEvent> = chunk.iter().map(|t| request_event(t.tenant_id)).collect();
            let refused = publish_with_retry(bus, events, sleeper, &mut summary.batches).await;
            summary.published += (chunk.len() - refused.len()) as u32;
            summary.failed += refused.len() as u32;
            for e in refused {
                tracing::error!(detail = %e.detail, "spend-sync.requested could not be published; the next schedule retries");
            }
        }
        match next {
            Some(n) => cursor = Some(n),
            None => return Ok(summary),
        }
    }
}

/// The event that asks for one tenant's sync.
pub fn request_event(tenant: TenantId) -> JobEvent {
    JobEvent {
        source: SPEND_SYNC_SOURCE.into(),
        detail_type: SPEND_SYNC_REQUESTED.into(),
        detail: serde_json::json!({ "tenant_id": tenant.0 }).to_string(),
    }
}

/// Puts `events`, retrying what the bus refused; returns what it still refused at the end.
async fn publish_with_retry(
    bus: &dyn JobBus,
    mut events: Vec<JobEvent>,
    sleeper: &dyn Sleeper,
    batches: &mut u32,
) -> Vec<JobEvent> {
    let mut attempt = 1;
    loop {
        *batches += 1;
        let refused: Vec<JobEvent> = match bus.put_events(&events).await {
            Ok(idx) => idx.into_iter().filter_map(|i| events.get(i).cloned()).collect(),
            Err(e) => {
                tracing::warn!(error = %e, "PutEvents failed as a whole");
                events.clone()
            }
        };
        if refused.is_empty() || !PUBLISH_RETRY.allows_another(attempt) {
            return refused;
        }
        sleeper.sleep(PUBLISH_RETRY.backoff(attempt)).await;
        events = refused;
        attempt += 1;
    }
}

/// How one tenant's sync ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum TenantOutcome {
    Synced,
    /// No connection (disconnected since the fan-out): nothing to do.
    NotConnected,
    /// The token is expired (or Meta rejected it now: the connection was marked expired).
    TokenExpired,
    /// Meta throttled past the client's budget; retry after about this long.
    Throttled {
        retry_after_secs: u64,
    },
    /// Meta's usage headers reached [`USAGE_CEILING_PCT`]: the tenant stopped calling before
    /// the wall; the next schedule syncs it (what was fetched before is written only per
    /// complete account, so nothing is half-written).
    Deferred {
        usage_pct: u32,
        retry_after_secs: u64,
    },
    /// Some account failed for another reason (logged with the account).
    Failed,
}

/// What one account's sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AccountSync {
    pub ad_account_id: String,
    pub days_written: u32,
    pub campaign_rows: u32,
    pub ad_rows: u32,
    /// Times Meta asked for less data (or a report job ran too long) and the date range was halved.
    pub ranges_split: u32,
    /// Async report jobs started (windows over `fetch::ASYNC_ABOVE_DAYS` days), and restarts of
    /// failed ones among them.
    pub report_jobs: u32,
    pub report_jobs_retried: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What one tenant's sync did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TenantSync {
    pub tenant_id: i64,
    pub outcome: TenantOutcome,
    pub accounts: Vec<AccountSync>,
    /// The lead reconciliation after the accounts (absent when the tenant stopped before it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leads: Option<LeadReconciliation>,
    /// Why the lead reconciliation stopped, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leads_error: Option<String>,
    /// The oldest `spend_synced_at` of the tenant's accounts before this run (accounts never
    /// synced left out): how stale its spend was when this run came (the lag metric).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_synced_at: Option<DateTime<Utc>>,
}

impl TenantSync {
    fn ended(tenant: TenantId, outcome: TenantOutcome) -> Self {
        Self {
            tenant_id: tenant.0,
            outcome,
            accounts: vec![],
            leads: None,
            leads_error: None,
            previous_synced_at: None,
        }
    }
}

/// Syncs every selected ad account of `tenant`: the trailing `META_SYNC_WINDOW_DAYS` of daily
/// campaign- and ad-level insights, one upsert per account-day (a restated day overwrites; a
/// re-run writes the same rows). `sleeper` is how the Graph client waits between attempts.
pub async fn sync_tenant(ports: SyncPorts<'_>, tenant: TenantId, sleeper: Arc<dyn Sleeper>) -> TenantSync {
    let meta = ports.leads.meta;
    let now = ports.clock.now();
    let conn = match meta.connections.get_connection(tenant).await {
        Ok(Some(c)) => c,
        Ok(None) => return TenantSync::ended(tenant, TenantOutcome::NotConnected),
        Err(e) => {
            tracing::error!(tenant_id = tenant.0, error = %e, "spend sync could not read the connection");
            return TenantSync::ended(tenant, TenantOutcome::Failed);
        }
    };
    if token_status(Some(&conn), now).status == TokenState::Expired {
        return TenantSync::ended(tenant, TenantOutcome::TokenExpired);
    }
    let (token, graph) = match (stored_token(meta, &conn).await, graph_client(meta).await) {
        (Ok(t), Ok(g)) => (t, g.with_sleeper(sleeper).with_usage_ceiling(USAGE_CEILING_PCT)),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(tenant_id = tenant.0, error = %e, "spend sync cannot call Meta for this tenant");
            return TenantSync::ended(tenant, TenantOutcome::Failed);
        }
    };
    let window = meta.config.meta.sync_window_days;
    let mut result = TenantSync::ended(tenant, TenantOutcome::Synced);
    result.previous_synced_at = oldest_synced_at(ports, tenant, &conn.ad_account_ids).await;
    for account in &conn.ad_account_ids {
        let mut done = AccountSync { ad_account_id: account.clone(), ..AccountSync::default() };
        // Boxed: the account's future is deep (Graph paging, transactions) and a Lambda's main
        // would otherwise hit the compiler's layout depth limit.
        match Box::pin(sync_account(ports, &graph, &token, tenant, account, window, now, &mut done)).await {
            Ok(()) => {}
            Err(SpendSyncError::Meta(err @ MetaError::InvalidToken { .. })) => {
                done.error = Some(err.to_string());
                result.accounts.push(done);
                let _ = meta_failure(meta.connections, &conn, err, now).await;
                result.outcome = TenantOutcome::TokenExpired;
                return result;
            }
            Err(SpendSyncError::Meta(MetaError::Throttled { code, retry_after })) => {
                let secs = retry_after.map_or(60, |d| d.as_secs().max(1));
                tracing::warn!(tenant_id = tenant.0, account = %account, code, retry_after_secs = secs, "Meta throttles this account; the tenant is retried later");
                done.error = Some(format!("throttled (code {code})"));
                result.outcome = TenantOutcome::Throttled { retry_after_secs: secs };
            }
            Err(SpendSyncError::Meta(MetaError::NearLimit { usage_pct, retry_after })) => {
                done.error = Some(format!("deferred: Meta usage at {usage_pct} %"));
                result.accounts.push(done);
                defer(&mut result, usage_pct, retry_after);
                return result;
            }
            Err(e) => {
                tracing::error!(tenant_id = tenant.0, account = %account, error = %e, "spend sync of the account failed");
                done.error = Some(e.to_string());
                if result.outcome == TenantOutcome::Synced {
                    result.outcome = TenantOutcome::Failed;
                }
            }
        }
        result.accounts.push(done);
    }
    if matches!(result.outcome, TenantOutcome::Synced | TenantOutcome::Failed) {
        Box::pin(reconcile(ports, &graph, tenant, now, &mut result)).await;
    }
    result
}

/// The oldest `spend_synced_at` of `accounts` (one `GetItem` each; an unreadable one is left out).
async fn oldest_synced_at(ports: SyncPorts<'_>, tenant: TenantId, accounts: &[String]) -> Option<DateTime<Utc>> {
    let mut oldest: Option<DateTime<Utc>> = None;
    for account in accounts {
        match ports.spend.spend_synced_at(tenant, account).await {
            Ok(Some(at)) => oldest = Some(oldest.map_or(at, |o| o.min(at))),
            Ok(None) => {}
            Err(e) => tracing::warn!(tenant_id = tenant.0, error = %e, "spend freshness not read"),
        }
    }
    oldest
}

/// The tenant stops calling Meta: its usage reached the ceiling (no further account, no
/// reconciliation); the next schedule syncs it.
fn defer(result: &mut TenantSync, usage_pct: u32, retry_after: Duration) {
    let secs = retry_after.as_secs().max(1);
    tracing::warn!(
        tenant_id = result.tenant_id,
        usage_pct,
        retry_after_secs = secs,
        "Meta usage near its limit; the tenant's sync is deferred"
    );
    result.outcome = TenantOutcome::Deferred { usage_pct, retry_after_secs: secs };
}

/// The lead reconciliation of the tenant, its outcome folded into the tenant's: throttling defers
/// the tenant, a storage failure fails it (retried later). Page edges use Page tokens and a
/// page's failure marks only that page, so nothing here marks the user connection.
async fn reconcile(
    ports: SyncPorts<'_>,
    graph: &GraphClient,
    tenant: TenantId,
    now: DateTime<Utc>,
    result: &mut TenantSync,
) {
    match reconcile_leads(ports.leads, graph, tenant, now).await {
        Ok(done) => result.leads = Some(done),
        Err(ReconcileError::Meta(MetaError::NearLimit { usage_pct, retry_after })) => {
            result.leads_error = Some(format!("deferred: Meta usage at {usage_pct} %"));
            defer(result, usage_pct, retry_after);
        }
        Err(ReconcileError::Meta(MetaError::Throttled { code, retry_after })) => {
            let secs = retry_after.map_or(60, |d| d.as_secs().max(1));
            tracing::warn!(
                tenant_id = tenant.0,
                code,
                retry_after_secs = secs,
                "Meta throttles the lead reconciliation; the tenant is retried later"
            );
            result.leads_error = Some(format!("throttled (code {code})"));
            result.outcome = TenantOutcome::Throttled { retry_after_secs: secs };
        }
        Err(e) => {
            tracing::error!(tenant_id = tenant.0, error = %e, "lead reconciliation failed");
            result.leads_error = Some(e.to_string());
            result.outcome = TenantOutcome::Failed;
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn sync_account(
    ports: SyncPorts<'_>,
    graph: &GraphClient,
    token: &SecretString,
    tenant: TenantId,
    account: &str,
    window_days: u32,
    now: DateTime<Utc>,
    done: &mut AccountSync,
) -> Result<(), SpendSyncError> {
    let info = account_info(graph, token, account).await?;
    let currency = info
        .currency
        .as_deref()
        .and_then(|c| Currency::parse(c).ok())
        .ok_or_else(|| SpendSyncError::AccountUnusable { what: format!("currency {:?}", info.currency) })?;
    let zone = info
        .timezone_name
        .as_deref()
        .and_then(|z| Zone::parse(z).ok())
        .ok_or_else(|| SpendSyncError::AccountUnusable { what: format!("time zone {:?}", info.timezone_name) })?;
    let until = zone.local_day(now);
    let since = until - chrono::Duration::days(i64::from(window_days.max(1)) - 1);
    let range = DayRange { since, until };

    let (campaigns, ads) = statuses(graph, token, account).await?;
    let mut counts = FetchCounts::default();
    let fetched = async {
        let campaign_rows = daily_insights(graph, token, account, Level::Campaign, range, &mut counts).await?;
        let ad_rows = daily_insights(graph, token, account, Level::Ad, range, &mut counts).await?;
        Ok::<_, MetaError>((campaign_rows, ad_rows))
    }
    .await;
    (done.ranges_split, done.report_jobs, done.report_jobs_retried) =
        (counts.ranges_split, counts.report_jobs, counts.report_jobs_retried);
    let (campaign_rows, ad_rows) = fetched?;
    done.campaign_rows = campaign_rows.len() as u32;
    done.ad_rows = ad_rows.len() as u32;

    let mut days: BTreeMap<NaiveDate, (Vec<SpendRow>, Vec<SpendRow>)> = BTreeMap::new();
    for r in &campaign_rows {
        let (date, row) = spend_row(r, Level::Campaign, currency, &campaigns, range)?;
        if let Some(date) = date {
            merge_rows(&mut days.entry(date).or_default().0, &[row], 1);
        }
    }
    for r in &ad_rows {
        let (date, row) = spend_row(r, Level::Ad, currency, &ads, range)?;
        if let Some(date) = date {
            merge_rows(&mut days.entry(date).or_default().1, &[row], 1);
        }
    }
    // A stored day Meta no longer reports anything for was restated to nothing: overwrite it too.
    let (stored, _) = ports.spend.spend_days(tenant, account, since, until).await?;
    let stored: BTreeSet<NaiveDate> = stored.into_iter().map(|d| d.date).collect();
    for date in stored {
        days.entry(date).or_default();
    }
    for (date, (campaigns, ads)) in days {
        ports
            .spend
            .put_daily_spend(&DailySpend {
                tenant_id: tenant,
                ad_account_id: account.to_string(),
                date,
                currency,
                account_time_zone: Some(zone.name().to_string()),
                attribution_setting: DEFAULT_ATTRIBUTION_SETTING.to_string(),
                synced_at: now,
                campaigns,
                ads,
            })
            .await?;
        done.days_written += 1;
    }
    Ok(())
}

/// One insights row as a [`SpendRow`] and its day (`None` outside the asked range).
fn spend_row(
    r: &InsightRow,
    level: Level,
    currency: Currency,
    statuses: &std::collections::HashMap<String, Entity>,
    range: DayRange,
) -> Result<(Option<NaiveDate>, SpendRow), SpendSyncError> {
    let date = NaiveDate::parse_from_str(&r.date_start, "%Y-%m-%d")
        .map_err(|_| SpendSyncError::BadRow(format!("date_start {:?}", r.date_start)))?;
    if Currency::parse(&r.account_currency).ok() != Some(currency) {
        return Err(SpendSyncError::AccountUnusable { what: format!("rows in {:?}", r.account_currency) });
    }
    let (id, name) = match level {
        Level::Campaign => (r.campaign_id.clone(), r.campaign_name.clone()),
        Level::Ad => {
            (r.ad_id.clone().ok_or_else(|| SpendSyncError::BadRow("ad row without ad_id".into()))?, r.ad_name.clone())
        }
    };
    let status = row_status(statuses.get(&id).and_then(|e| e.effective_status.as_deref()));
    let name = name.or_else(|| statuses.get(&id).and_then(|e| e.name.clone())).unwrap_or_else(|| id.clone());
    let (campaign_id, campaign_name) = match level {
        Level::Campaign => (None, None),
        Level::Ad => (Some(r.campaign_id.clone()), r.campaign_name.clone()),
    };
    let row = SpendRow {
        id,
        name,
        status,
        campaign_id,
        campaign_name,
        spend_minor: match &r.spend {
            Some(s) => parse_spend(s, currency)?,
            None => crate::domain::money::MinorUnits::ZERO,
        },
        impressions: parse_count(r.impressions.as_deref(), "impressions")?,
        clicks: parse_count(r.clicks.as_deref(), "clicks")?,
        meta_leads: meta_leads(&r.actions)?,
        settings: match level {
            Level::Campaign => statuses.get(&r.campaign_id).map(Entity::campaign_settings),
            Level::Ad => None,
        },
    };
    let inside = date >= range.since && date <= range.until;
    Ok((inside.then_some(date), row))
}
