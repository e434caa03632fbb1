//! The tenant's Meta connection after login: listing portfolios and ad accounts, selecting what
//! the tenant reports on, disconnecting, and the deployment config the connect wizard starts
//! from. The login itself (URL + OAuth callback) is [`crate::meta::login`]. The functions in
//! `functions/meta-*` are thin wrappers over these.

use chrono::{DateTime, Months, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::ids::{is_meta_id, AdAccountId, TenantId};
use crate::domain::money::Currency;
use crate::domain::period::MAX_RANGE_MONTHS;
use crate::domain::zone::Zone;
use crate::marketing::aggregates::counter;
pub use crate::meta::access::{app_secret, graph_client, meta_failure, usable_token};
use crate::meta::access::{single_attempt, stored_token};
use crate::meta::connection_writes::{tombstone, update_connection, SameLogin};
use crate::meta::error::MetaFlowError;
use crate::meta::graph::{AdAccount, Business, GraphClient, MetaError};
use crate::meta::pages::release_tenant_pages;
use crate::meta::ports::{ConnectionPorts, MetaPorts};
use crate::platform::secrets::SecretString;
use crate::store::aggregates::{AggBucket, AggregateStore};
use crate::store::{MetaConnection, TenantProfile, TenantProfileStore};

/// Most ad accounts one tenant may select.
pub const MAX_SELECTED_ACCOUNTS: usize = 50;

// ------------------------------------------------------------------------------------- listings

/// Business Managers the connected user can see.
pub async fn list_portfolios(
    meta: MetaPorts<'_>,
    tenant: TenantId,
    now: DateTime<Utc>,
) -> Result<Vec<Business>, MetaFlowError> {
    let (conn, token) = usable_token(meta, tenant, now).await?;
    let graph = graph_client(meta).await?;
    match graph.businesses(&token).await {
        Ok(b) => Ok(b),
        Err(e) => Err(meta_failure(meta.connections, &conn, e, now).await),
    }
}

/// A Meta object id as typed by a user: digits only (never a path).
fn meta_id(raw: &str, what: &'static str) -> Result<String, MetaFlowError> {
    let id = raw.trim();
    if is_meta_id(id) {
        Ok(id.to_string())
    } else {
        Err(MetaFlowError::InvalidMetaId { what })
    }
}

/// `act_123` or `123` → `act_123`.
pub fn normalize_ad_account_id(raw: &str) -> Result<AdAccountId, MetaFlowError> {
    Ok(AdAccountId::parse(raw)?)
}

async fn visible_accounts(
    graph: &GraphClient,
    token: &SecretString,
    business_id: Option<&str>,
) -> Result<Vec<AdAccount>, MetaError> {
    match business_id {
        Some(b) => graph.business_ad_accounts(token, b).await,
        None => graph.user_ad_accounts(token).await,
    }
}

/// Ad accounts of one business (`portfolio_id`) or of the user.
pub async fn list_ad_accounts(
    meta: MetaPorts<'_>,
    tenant: TenantId,
    portfolio_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Vec<AdAccount>, MetaFlowError> {
    let portfolio = portfolio_id.filter(|p| !p.trim().is_empty()).map(|p| meta_id(p, "portfolio_id")).transpose()?;
    let (conn, token) = usable_token(meta, tenant, now).await?;
    let graph = graph_client(meta).await?;
    match visible_accounts(&graph, &token, portfolio.as_deref()).await {
        Ok(a) => Ok(a),
        Err(e) => Err(meta_failure(meta.connections, &conn, e, now).await),
    }
}

// -------------------------------------------------------------------------------------- connect

/// Body of `POST /crm/marketing/connect`: the frontend's `{account_id, account_name}` or
/// `{business_id, ad_account_ids}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ConnectRequest {
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub account_name: Option<String>,
    #[serde(default)]
    pub business_id: Option<String>,
    #[serde(default)]
    pub ad_account_ids: Option<Vec<String>>,
    /// Sets the tenant's reporting currency explicitly (ISO 4217; else it is only defaulted).
    #[serde(default)]
    pub reporting_currency: Option<String>,
}

/// `data` of a successful connect.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectResult {
    pub connected: bool,
    pub business_id: Option<String>,
    pub business_name: Option<String>,
    pub ad_account_ids: Vec<AdAccountId>,
    pub ad_account_name: Option<String>,
    pub primary_account: AdAccount,
    pub reporting_time_zone: Option<Zone>,
    pub currency: Option<Currency>,
}

/// What a connect request selects, validated (before anything is asked of Meta).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Selection {
    /// Distinct, in the request's order; the first is the primary account.
    ids: Vec<AdAccountId>,
    business_id: Option<String>,
    reporting_currency: Option<Currency>,
}

impl Selection {
    fn parse(req: &ConnectRequest) -> Result<Self, MetaFlowError> {
        let raw: Vec<String> = match (&req.ad_account_ids, &req.account_id) {
            (Some(ids), _) if !ids.is_empty() => ids.clone(),
            (_, Some(id)) if !id.trim().is_empty() => vec![id.clone()],
            _ => return Err(MetaFlowError::MissingAccount),
        };
        if raw.len() > MAX_SELECTED_ACCOUNTS {
            return Err(MetaFlowError::TooManyAccounts { max: MAX_SELECTED_ACCOUNTS });
        }
        let mut ids: Vec<AdAccountId> = Vec::new();
        for r in &raw {
            let id = normalize_ad_account_id(r)?;
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        let business_id = req
            .business_id
            .as_deref()
            .filter(|b| !b.trim().is_empty())
            .map(|b| meta_id(b, "business_id"))
            .transpose()?;
        let reporting_currency = req
            .reporting_currency
            .as_deref()
            .filter(|c| !c.trim().is_empty())
            .map(|c| Currency::parse(c).map_err(|_| MetaFlowError::InvalidCurrency(c.chars().take(16).collect())))
            .transpose()?;
        Ok(Self { ids, business_id, reporting_currency })
    }
}

/// Validates the selection against what the token can see, stores it, and defaults the tenant's
/// reporting time zone and currency to the primary account's (FIELD-NOTES 3).
pub async fn select_accounts(
    ports: ConnectionPorts<'_>,
    tenant: TenantId,
    req: ConnectRequest,
    now: DateTime<Utc>,
) -> Result<ConnectResult, MetaFlowError> {
    let selection = Selection::parse(&req)?;
    let (conn, token) = usable_token(ports.meta, tenant, now).await?;
    let graph = graph_client(ports.meta).await?;
    let selected = visible_selection(ports.meta, &graph, &token, &conn, &selection, now).await?;
    let primary = selected.first().cloned().ok_or_else(|| MetaFlowError::internal("empty selection"))?;
    let (primary_zone, primary_currency) = reporting_settings(&selected)?;
    let business_name = business_name(&graph, &token, selection.business_id.as_deref()).await;

    let ids: Vec<String> = selection.ids.iter().map(|id| id.as_str().to_string()).collect();
    let account_name = Some(primary.name.clone()).filter(|n| !n.is_empty()).or(req.account_name);
    let written = update_connection(ports.meta.connections, &conn, |c| {
        c.business_id = selection.business_id.clone();
        c.business_name = business_name.clone();
        c.ad_account_ids = ids.clone();
        c.ad_account_name = account_name.clone();
        c.updated_at = now;
    })
    .await?;
    // Validated against the token read: a newer login (or a disconnect) meanwhile must choose again.
    let SameLogin::Written(updated) = written else {
        return Err(MetaFlowError::ConnectionChanged);
    };
    // Second chance to map the tenant's pages (the connect's follow-up job is best effort).
    crate::meta::pages::register_managed_pages(ports.into(), &graph, &token, tenant, now).await;
    let defaults =
        ReportingDefaults { zone: primary_zone, currency: primary_currency, explicit: selection.reporting_currency };
    let profile = default_reporting(ports.profiles, ports.aggregates, tenant, defaults, now).await?;
    tracing::info!(tenant_id = tenant.0, accounts = selection.ids.len(), "Meta ad accounts selected");
    Ok(ConnectResult {
        connected: true,
        business_id: selection.business_id,
        business_name,
        ad_account_ids: selection.ids,
        ad_account_name: updated.ad_account_name,
        primary_account: primary,
        reporting_time_zone: profile.reporting_time_zone,
        currency: profile.currency,
    })
}

/// The selected accounts as Meta lists them for the token (and the business, if one was named),
/// in the selection's order; any id the token cannot see is a 400.
async fn visible_selection(
    meta: MetaPorts<'_>,
    graph: &GraphClient,
    token: &SecretString,
    conn: &MetaConnection,
    selection: &Selection,
    now: DateTime<Utc>,
) -> Result<Vec<AdAccount>, MetaFlowError> {
    let business = selection.business_id.as_deref();
    let visible = match visible_accounts(graph, token, business).await {
        Ok(v) => v,
        Err(MetaError::Permission { .. } | MetaError::Request { .. }) if business.is_some() => {
            return Err(MetaFlowError::BusinessNotVisible);
        }
        Err(e) => return Err(meta_failure(meta.connections, conn, e, now).await),
    };
    selection
        .ids
        .iter()
        .map(|id| {
            visible
                .iter()
                .find(|a| a.id == id.as_str())
                .cloned()
                .ok_or_else(|| MetaFlowError::AccountNotVisible(id.clone()))
        })
        .collect()
}

/// Reports and the spend sync need each account's currency and zone: what we cannot read now is
/// refused instead of stored and guessed later. Returns the primary (first) account's.
fn reporting_settings(selected: &[AdAccount]) -> Result<(Zone, Currency), MetaFlowError> {
    let mut primary = None;
    for account in selected {
        let settings = account_settings(account)?;
        primary.get_or_insert(settings);
    }
    primary.ok_or_else(|| MetaFlowError::internal("empty selection"))
}

/// The business's name for display (best effort: `None` when Meta does not say).
async fn business_name(graph: &GraphClient, token: &SecretString, business_id: Option<&str>) -> Option<String> {
    let b = business_id?;
    match graph.businesses(token).await {
        Ok(list) => list.into_iter().find(|x| x.id == b).map(|x| x.name),
        Err(e) => {
            tracing::warn!(error = %e, "business name unavailable");
            None
        }
    }
}

/// What connect sets on the profile: the primary account's zone and currency as defaults, and a
/// currency the manager chose (overrides).
#[derive(Debug, Clone, Copy)]
pub struct ReportingDefaults {
    pub zone: Zone,
    pub currency: Currency,
    pub explicit: Option<Currency>,
}

/// The tenant's profile, its reporting zone defaulted to the primary account's and its currency
/// to the tenant's CRM revenue currency (else the account's) where not set yet; never overwritten
/// except by a currency the manager chose explicitly. An ad account billing USD must not move a
/// tenant whose sales are in ARS off ARS: its spend is converted instead (`marketing::fx`).
pub async fn default_reporting(
    profiles: &dyn TenantProfileStore,
    aggregates: &dyn AggregateStore,
    tenant: TenantId,
    d: ReportingDefaults,
    now: DateTime<Utc>,
) -> Result<TenantProfile, MetaFlowError> {
    let mut profile = profiles.get_profile(tenant).await?.unwrap_or_else(|| TenantProfile::empty(tenant, now));
    let currency = match (d.explicit, profile.currency) {
        (Some(c), _) => Some(c),
        (None, Some(_)) => None,
        (None, None) => Some(crm_revenue_currency(aggregates, tenant, now).await?.unwrap_or(d.currency)),
    };
    if profile.reporting_time_zone.is_none() || currency.is_some_and(|c| profile.currency != Some(c)) {
        profile.reporting_time_zone = profile.reporting_time_zone.or(Some(d.zone));
        profile.currency = currency.or(profile.currency);
        profile.updated_at = now;
        profiles.put_profile(&profile).await?;
    }
    Ok(profile)
}

/// The currency of the tenant's CRM revenue, from the monthly rollups of the last 37 months (one
/// `Query` of at most 38 small items, only when connecting — cheaper than touching the event
/// write path): the currency of the most recent month with revenue, and within a month the one
/// with the most minor units. `None` without revenue.
pub async fn crm_revenue_currency(
    aggregates: &dyn AggregateStore,
    tenant: TenantId,
    now: DateTime<Utc>,
) -> Result<Option<Currency>, MetaFlowError> {
    let today = now.date_naive();
    let from = today.checked_sub_months(Months::new(MAX_RANGE_MONTHS)).unwrap_or(today);
    let (months, _) = aggregates.aggregate_items(tenant, AggBucket::Month, from, today).await?;
    for m in months.iter().rev() {
        let best = counter::revenue_currencies(&m.counters)
            .into_iter()
            .filter_map(|c| {
                Currency::parse(&c).ok().map(|cur| (m.counters.get(&counter::revenue(&c)).copied().unwrap_or(0), cur))
            })
            .filter(|(v, _)| *v > 0)
            .max();
        if let Some((_, c)) = best {
            return Ok(Some(c));
        }
    }
    Ok(None)
}

/// An ad account's zone and currency as Meta reports them; one we do not know is a 502 (Meta's
/// answer is unusable), never replaced by a default.
fn account_settings(account: &AdAccount) -> Result<(Zone, Currency), MetaFlowError> {
    let unusable = |what: String| MetaFlowError::AccountUnusable { account: account.id.clone(), what };
    let zone = match account.timezone_name.as_deref() {
        Some(name) => Zone::parse(name).map_err(|e| unusable(format!("time zone {:?}", e.0)))?,
        None => return Err(unusable("no time zone".into())),
    };
    let currency = match account.currency.as_deref() {
        Some(code) => Currency::parse(code)
            .map_err(|_| unusable(format!("currency {:?}", crate::platform::telemetry::bounded(code, 8))))?,
        None => return Err(unusable("no currency".into())),
    };
    Ok((zone, currency))
}

// ----------------------------------------------------------------------------------- disconnect

/// `data` of `POST /crm/auth/meta/disconnect`.
#[derive(Debug, Clone, Serialize)]
pub struct Disconnected {
    pub disconnected: bool,
    pub was_connected: bool,
    /// Whether Meta confirmed the permission revocation.
    pub revoked_at_meta: bool,
    pub message: String,
}

/// Best-effort `DELETE /me/permissions` at Meta (one attempt), then replaces the stored connection
/// with a tombstone (so no stale writer revives it) and drops its index entry, whatever Meta
/// said. A connection changed meanwhile by the same login is still disconnected; one replaced by a
/// newer login during the revocation is kept (409 `meta_connection_changed`: the user decides
/// again), and one disconnected by someone else meanwhile is simply gone.
pub async fn disconnect(
    ports: ConnectionPorts<'_>,
    tenant: TenantId,
    now: DateTime<Utc>,
) -> Result<Disconnected, MetaFlowError> {
    let meta = ports.meta;
    let conn = meta.connections.get_connection(tenant).await?;
    let Some(conn) = conn else {
        ports.connected_index.mark_disconnected(tenant).await?;
        return Ok(Disconnected {
            disconnected: true,
            was_connected: false,
            revoked_at_meta: false,
            message: "Meta was not connected".into(),
        });
    };
    // The pages go first, while their tokens can still unsubscribe them (each with its own).
    let graph = graph_client(meta).await.ok().map(|g| single_attempt(meta, &g));
    release_tenant_pages(ports.into(), graph.as_ref(), tenant).await;
    let revoked = match revoke_at_meta(meta, &conn).await {
        Ok(()) => Ok(()),
        Err(reason) => {
            tracing::warn!(reason, "Meta permission revocation failed; disconnecting locally");
            Err(reason)
        }
    };
    if tombstone(meta.connections, &conn, now).await? == SameLogin::Superseded
        && meta.connections.get_connection(tenant).await?.is_some()
    {
        tracing::info!(tenant_id = tenant.0, "a newer Meta login arrived during the disconnect; it is kept");
        return Err(MetaFlowError::ConnectionChanged);
    }
    ports.connected_index.mark_disconnected(tenant).await?;
    tracing::info!(tenant_id = tenant.0, revoked_at_meta = revoked.is_ok(), "Meta disconnected");
    Ok(Disconnected {
        disconnected: true,
        was_connected: true,
        revoked_at_meta: revoked.is_ok(),
        message: match revoked {
            Ok(()) => "Meta disconnected and the app's permissions revoked at Meta".into(),
            Err(reason) => format!("Meta disconnected here; revoking at Meta failed ({reason})"),
        },
    })
}

async fn revoke_at_meta(meta: MetaPorts<'_>, conn: &MetaConnection) -> Result<(), &'static str> {
    let token = stored_token(meta, conn).await.map_err(|_| "stored token unreadable")?;
    let graph = single_attempt(meta, &graph_client(meta).await.map_err(|_| "Meta client not configured")?);
    graph.revoke_permissions(&token).await.map_err(|e| match e {
        MetaError::InvalidToken { .. } => "token already invalid at Meta",
        MetaError::Timeout | MetaError::Unreachable | MetaError::Transient { .. } => "Meta unreachable",
        _ => "Meta refused",
    })
}

// -------------------------------------------------------------------------- deployment config

/// The company name served to a tenant without a stored (named) profile: the connect wizard
/// shows it in its first step and must never stop there (FRONTEND-CONTRACT: never a 404). The
/// frontend is in Spanish; `profile_stored: false` says the name is this default.
pub const DEFAULT_COMPANY_NAME: &str = "Mi empresa";

/// `data` of `GET /admin/config/deployment`: the wizard's first call (its keys are also served at
/// the top level of the body, where the wizard reads `company_name`).
#[derive(Debug, Clone, Serialize)]
pub struct DeploymentConfig {
    pub company_name: String,
    pub tenant_id: TenantId,
    pub reporting_time_zone: Option<Zone>,
    pub currency: Option<Currency>,
    /// Whether `company_name` comes from the tenant's stored profile (else [`DEFAULT_COMPANY_NAME`]).
    pub profile_stored: bool,
}

/// The tenant's profile as the wizard wants it; a tenant without a named profile gets
/// [`DEFAULT_COMPANY_NAME`] (and its zone/currency when a profile exists without a name).
pub async fn deployment_config(
    profiles: &dyn TenantProfileStore,
    tenant: TenantId,
) -> Result<DeploymentConfig, MetaFlowError> {
    let profile = profiles.get_profile(tenant).await?;
    let name = profile.as_ref().map(|p| p.display_name.trim()).filter(|n| !n.is_empty()).map(str::to_string);
    Ok(DeploymentConfig {
        profile_stored: name.is_some(),
        company_name: name.unwrap_or_else(|| DEFAULT_COMPANY_NAME.to_string()),
        tenant_id: tenant,
        reporting_time_zone: profile.as_ref().and_then(|p| p.reporting_time_zone),
        currency: profile.and_then(|p| p.currency),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::error::DomainError;

    fn account(currency: Option<&str>, zone: Option<&str>) -> AdAccount {
        AdAccount {
            id: "act_1".into(),
            account_id: "1".into(),
            name: "Main".into(),
            currency: currency.map(str::to_string),
            timezone_name: zone.map(str::to_string),
            account_status: 1,
        }
    }

    #[test]
    fn unknown_account_currency_or_zone_is_refused_with_502() {
        let ok = account_settings(&account(Some("KWD"), Some("Asia/Kuwait"))).expect("known");
        assert_eq!((ok.0.name(), ok.1.code()), ("Asia/Kuwait", "KWD"));
        for bad in [
            account(Some("XYZ"), Some("Asia/Kuwait")),
            account(Some("USD"), Some("Mars/Olympus")),
            account(None, Some("UTC")),
            account(Some("USD"), None),
        ] {
            let err = crate::platform::error::ApiError::from(account_settings(&bad).expect_err("refused"));
            assert_eq!((err.status().as_u16(), err.code()), (502, "meta_account_unusable"), "{bad:?}");
        }
    }

    #[test]
    fn ad_account_ids_are_normalized_or_refused() {
        assert_eq!(normalize_ad_account_id("act_123").expect("ok").as_str(), "act_123");
        assert_eq!(normalize_ad_account_id(" 123 ").expect("ok").as_str(), "act_123");
        for bad in ["", "act_", "act_12x", "../me", "act_1/2", "act_123456789012345678901234567890123"] {
            assert_eq!(normalize_ad_account_id(bad).expect_err(bad).code(), "invalid_account_id", "{bad}");
        }
    }

    #[test]
    fn a_selection_is_validated_before_meta_is_asked() {
        let req = |ids: Option<Vec<&str>>, account: Option<&str>, business: Option<&str>| ConnectRequest {
            account_id: account.map(str::to_string),
            account_name: None,
            business_id: business.map(str::to_string),
            ad_account_ids: ids.map(|v| v.into_iter().map(str::to_string).collect()),
            reporting_currency: None,
        };
        let s = Selection::parse(&req(Some(vec!["1", "act_2", "act_1"]), None, Some(" 42 "))).expect("valid");
        let ids: Vec<&str> = s.ids.iter().map(AdAccountId::as_str).collect();
        assert_eq!((ids, s.business_id.as_deref()), (vec!["act_1", "act_2"], Some("42")));
        assert_eq!(Selection::parse(&req(None, Some("act_9"), None)).expect("single").ids.len(), 1);
        let code = |r: ConnectRequest| Selection::parse(&r).expect_err("refused").code();
        assert_eq!(code(req(Some(vec![]), Some(" "), None)), "missing_account");
        assert_eq!(code(req(Some(vec!["1"; MAX_SELECTED_ACCOUNTS + 1]), None, None)), "too_many_accounts");
        assert_eq!(code(req(Some(vec!["act_x"]), None, None)), "invalid_account_id");
        assert_eq!(code(req(Some(vec!["1"]), None, Some("biz"))), "invalid_parameter");
        let mut r = req(Some(vec!["1"]), None, None);
        r.reporting_currency = Some("ARX".into());
        assert_eq!(code(r.clone()), "invalid_currency");
        r.reporting_currency = Some("ars".into());
        assert_eq!(Selection::parse(&r).expect("ok").reporting_currency, Currency::parse("ARS").ok());
    }

    #[tokio::test]
    async fn connect_keeps_the_sales_currency_of_a_tenant_with_revenue() {
        use crate::store::aggregates::{AggregateStore, Names};
        let (app, mem) = crate::testing::unit_app(&[]);
        let now = crate::testing::unit_now();
        let (ars, usd) = (Currency::parse("ARS").expect("ARS"), Currency::USD);
        let zone = Zone::parse("America/Argentina/Buenos_Aires").expect("zone");
        let usd_account = ReportingDefaults { zone, currency: usd, explicit: None };
        // A tenant with ARS sales and no reporting currency connects a USD ad account: ARS.
        let t = TenantId(21);
        let sales: crate::store::aggregates::Counters =
            [("revenue__ARS".to_string(), 18_000_000_i64), ("sales".to_string(), 1)].into_iter().collect();
        mem.table.add_to_aggregate(t, AggBucket::Month, now.date_naive(), &sales, &Names::new()).await.expect("agg");
        let p =
            default_reporting(app.profiles.as_ref(), app.aggregates.as_ref(), t, usd_account, now).await.expect("p");
        assert_eq!((p.currency, p.reporting_time_zone), (Some(ars), Some(zone)));
        // Connecting again (or another account) never switches it.
        let p =
            default_reporting(app.profiles.as_ref(), app.aggregates.as_ref(), t, usd_account, now).await.expect("p");
        assert_eq!(p.currency, Some(ars));
        // A tenant without revenue gets the account's; a manager's explicit choice wins.
        let fresh = TenantId(22);
        let p = default_reporting(app.profiles.as_ref(), app.aggregates.as_ref(), fresh, usd_account, now)
            .await
            .expect("p");
        assert_eq!(p.currency, Some(usd));
        let chosen = ReportingDefaults { explicit: Some(ars), ..usd_account };
        let p = default_reporting(app.profiles.as_ref(), app.aggregates.as_ref(), fresh, chosen, now).await.expect("p");
        assert_eq!(p.currency, Some(ars));
        assert_eq!(app.profiles.get_profile(fresh).await.expect("get").and_then(|p| p.currency), Some(ars));
    }

    #[tokio::test]
    async fn deployment_config_defaults_the_name_without_a_named_profile() {
        let store = crate::store::memory::MemoryStore::default();
        let t = TenantId(3);
        let none = deployment_config(&store, t).await.expect("no profile is not an error");
        assert_eq!((none.company_name.as_str(), none.profile_stored), (DEFAULT_COMPANY_NAME, false));
        assert_eq!((none.tenant_id, none.currency), (t, None));
        let profile = |name: &str| TenantProfile {
            tenant_id: t,
            display_name: name.into(),
            reporting_time_zone: None,
            currency: Currency::parse("MXN").ok(),
            updated_at: Utc::now(),
        };
        store.put_profile(&profile("  ")).await.expect("put");
        let blank = deployment_config(&store, t).await.expect("blank name");
        assert_eq!((blank.company_name.as_str(), blank.profile_stored), (DEFAULT_COMPANY_NAME, false));
        assert_eq!(blank.currency, Currency::parse("MXN").ok(), "a nameless profile still gives its currency");
        store.put_profile(&profile(" Ventas Norte ")).await.expect("put");
        let named = deployment_config(&store, t).await.expect("named");
        assert_eq!((named.company_name.as_str(), named.profile_stored), ("Ventas Norte", true));
    }
}
