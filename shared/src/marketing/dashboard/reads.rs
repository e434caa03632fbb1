//! The dashboard's reads, in as few round trips as their dependencies allow.
//!
//! Which items a dashboard reads depends on the tenant's reporting zone (which local day is today)
//! and its connected ad accounts, i.e. on the profile and the Meta connection. Read in order that
//! is two round trips before the reply: `GetItem` × 2, then every aggregate and spend `Query` at
//! once. When this container served the tenant before, the second round starts **beside** the
//! first with the zone and accounts seen then ([`crate::api::memo`]); its result is used only when
//! the fresh profile and connection say the same, else the period is read again.

use chrono::{DateTime, NaiveDate, Utc};
use futures_util::future::try_join_all;

use super::DashboardStores;
use crate::domain::connection::MetaConnection;
use crate::domain::ids::TenantId;
use crate::domain::period::{all_range_floor, resolve_period, Period, RangeSpec};
use crate::domain::zone::{local_day, reporting_zone, Zone};
use crate::marketing::aggregates::{
    bucket, load_account_spend, load_crm_aggregates, plan_reads, AccountSpend, CrmAggregates, ReadPlan,
};
use crate::store::{ReadCost, StoreError, TenantProfile};

/// What the reads depend on besides the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Scope {
    pub zone: Zone,
    pub accounts: Vec<String>,
}

impl Scope {
    fn of(profile: Option<&TenantProfile>, conn: Option<&MetaConnection>) -> Self {
        Scope {
            zone: reporting_zone(profile.and_then(|p| p.reporting_time_zone)),
            accounts: conn.map(|c| c.ad_account_ids.clone()).unwrap_or_default(),
        }
    }
}

/// The period's numbers as read for one scope.
pub(super) struct PeriodReads {
    pub period: Period,
    pub plan: ReadPlan,
    pub crm: CrmAggregates,
    pub spend: Vec<AccountSpend>,
}

/// Everything [`super::load_dashboard`] reads before its currency conversion.
pub(super) struct Loaded {
    pub profile: Option<TenantProfile>,
    pub conn: Option<MetaConnection>,
    pub scope: Scope,
    pub reads: PeriodReads,
    /// Whether the period was read beside the profile and connection (one round trip less).
    pub speculated: bool,
}

/// Profile, connection and the period's aggregate and spend items (see the module doc).
pub(super) async fn load(
    stores: DashboardStores<'_>,
    tenant: TenantId,
    (name, spec): (&str, RangeSpec),
    now: DateTime<Utc>,
    cost: &mut ReadCost,
) -> Result<Loaded, StoreError> {
    let settings =
        async { tokio::try_join!(stores.profiles.get_profile(tenant), stores.connections.get_connection(tenant)) };
    let guess = stores.scopes.and_then(|m| m.recall(tenant)).map(|(zone, accounts)| Scope { zone, accounts });
    let (profile, conn, early) = match guess {
        Some(guess) => {
            let mut early_cost = ReadCost::default();
            let (settings, early) =
                tokio::join!(settings, read_scope(stores, tenant, (name, spec), &guess, now, &mut early_cost));
            let (profile, conn) = settings?;
            cost.add(early_cost);
            (profile, conn, Some((guess, early)))
        }
        None => {
            let (profile, conn) = settings.await?;
            (profile, conn, None)
        }
    };
    cost.add(ReadCost { items_read: 2, requests: 2 });
    let scope = Scope::of(profile.as_ref(), conn.as_ref());
    if let Some(memo) = stores.scopes {
        memo.remember(tenant, (scope.zone, scope.accounts.clone()));
    }
    let (reads, speculated) = match early {
        Some((guess, early)) if guess == scope => (early?, true),
        // The settings changed since (or the early read failed for a scope not wanted): read again.
        _ => (read_scope(stores, tenant, (name, spec), &scope, now, cost).await?, false),
    };
    Ok(Loaded { profile, conn, scope, reads, speculated })
}

/// The period's CRM aggregates and spend for `scope`. `all` reads from the 37-month floor in one
/// pass and then starts at the first data found.
async fn read_scope(
    stores: DashboardStores<'_>,
    tenant: TenantId,
    (name, spec): (&str, RangeSpec),
    scope: &Scope,
    now: DateTime<Utc>,
    cost: &mut ReadCost,
) -> Result<PeriodReads, StoreError> {
    let today = local_day(now, scope.zone);
    let mut period = match spec {
        RangeSpec::All => Period { name: name.to_string(), from: all_range_floor(today), to: today },
        _ => resolve_period(name, spec, today, None),
    };
    let (mut plan, mut crm, mut spend) = read_period(stores, tenant, &scope.accounts, &period, today, cost).await?;
    if spec == RangeSpec::All {
        period = resolve_period(name, spec, today, first_data_day(&crm, &spend));
        crm.by_bucket.retain(|d, _| *d >= bucket(plan.granularity, period.from));
        if plan_reads(&period, today).granularity != plan.granularity {
            // A young tenant: re-read its few days at daily granularity.
            (plan, crm, spend) = read_period(stores, tenant, &scope.accounts, &period, today, cost).await?;
        }
    }
    Ok(PeriodReads { period, plan, crm, spend })
}

/// The CRM aggregates and every account's spend, all at once.
async fn read_period(
    stores: DashboardStores<'_>,
    tenant: TenantId,
    accounts: &[String],
    period: &Period,
    today: NaiveDate,
    cost: &mut ReadCost,
) -> Result<(ReadPlan, CrmAggregates, Vec<AccountSpend>), StoreError> {
    let plan = plan_reads(period, today);
    let spend = try_join_all(accounts.iter().map(|a| load_account_spend(stores.spend, tenant, a, period, &plan)));
    let ((crm, c), spend) = tokio::try_join!(load_crm_aggregates(stores.aggregates, tenant, period, &plan), spend)?;
    cost.add(c);
    let spend = spend
        .into_iter()
        .map(|(s, c)| {
            cost.add(c);
            s
        })
        .collect();
    Ok((plan, crm, spend))
}

/// The first series bucket with any CRM counter or spend (for `all`).
fn first_data_day(crm: &CrmAggregates, spend: &[AccountSpend]) -> Option<NaiveDate> {
    let crm_first = crm.by_bucket.iter().find(|(_, c)| c.values().any(|v| *v != 0)).map(|(d, _)| *d);
    let spend_first = spend.iter().filter_map(|a| a.by_bucket.iter().find(|(_, m)| m.0 != 0).map(|(d, _)| *d)).min();
    match (crm_first, spend_first) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
