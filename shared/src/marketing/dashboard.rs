//! The marketing dashboard's numbers for one tenant and period, and the three views the endpoints
//! serve (`/stats`, `/stats/roi`, `/combined-stats`).
//!
//! Reads: the tenant profile and Meta connection (2 `GetItem`s), the CRM aggregate items of the
//! period and the spend items of each connected ad account (`Query` only, see
//! [`crate::marketing::aggregates`]). Nothing here reads a lead.
//!
//! Every view serves the frontend's fields with their types (numbers in major units, `cpa` always a
//! number, `roi` of rows a ratio that is 0 without spend) and, beside them, the exact values:
//! `*_minor` integers with the currency, and `null` where a ratio is undefined.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{json, Value};

use crate::api::app::App;
use crate::domain::connection::{token_status, TokenStatus};
use crate::domain::ids::TenantId;
use crate::domain::money::{Currency, MinorUnits};
use crate::domain::period::InvalidRange;
use crate::domain::period::{all_range_floor, parse_range, resolve_period, Period, RangeSpec};
use crate::domain::zone::{local_day, reporting_zone};
use crate::marketing::aggregates::{
    bucket, buckets, counter, get, load_account_spend, load_crm_aggregates, plan_reads, AccountSpend, CrmAggregates,
    Granularity, ReadPlan,
};
use crate::marketing::formulas::{cpa, major, rate_percent, roas, roi_percent, roi_ratio};
use crate::platform::error::{DomainError, Failure};
use crate::store::aggregates::AggregateStore;
use crate::store::spend::{SpendStore, DEFAULT_ATTRIBUTION_SETTING};
use crate::store::{MetaConnectionStore, ReadCost, StoreError, TenantProfile, TenantProfileStore};

/// How CRM numbers are attributed (the response says which rule was used).
pub const CRM_ATTRIBUTION_RULE: &str = "first_touch_lead_source: leads with lead_source = META_ADS, and the \
opportunities and completed sales of those leads, each counted on the local day it happened; campaign and ad \
come from the lead at creation";

/// Everything the views need, loaded once per request.
#[derive(Debug, Clone)]
pub struct Dashboard {
    pub tenant_id: TenantId,
    pub period: Period,
    pub time_zone: String,
    pub granularity: Granularity,
    pub crm: CrmAggregates,
    pub accounts: Vec<AccountSpend>,
    pub connection: TokenStatus,
    pub profile: Option<TenantProfile>,
    pub currency: Currency,
    pub cost: ReadCost,
}

/// The stores a dashboard reads (all `GetItem`/`Query`; nothing here reads a lead).
#[derive(Clone, Copy)]
pub struct DashboardStores<'a> {
    pub profiles: &'a dyn TenantProfileStore,
    pub connections: &'a dyn MetaConnectionStore,
    pub aggregates: &'a dyn AggregateStore,
    pub spend: &'a dyn SpendStore,
}

impl<'a> From<&'a App> for DashboardStores<'a> {
    fn from(app: &'a App) -> Self {
        Self {
            profiles: app.profiles.as_ref(),
            connections: app.connections.as_ref(),
            aggregates: app.aggregates.as_ref(),
            spend: app.spend.as_ref(),
        }
    }
}

/// Why a dashboard could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    #[error(transparent)]
    Range(#[from] InvalidRange),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl DomainError for DashboardError {
    fn failure(&self) -> Failure {
        match self {
            DashboardError::Range(e) => e.failure(),
            DashboardError::Store(e) => e.failure(),
        }
    }
    fn code(&self) -> &'static str {
        match self {
            DashboardError::Range(e) => e.code(),
            DashboardError::Store(e) => e.code(),
        }
    }
}

/// Loads the numbers of `tenant` for the period in `query` (`default_range` if none). Bad
/// parameters are refused before anything is read.
pub async fn load_dashboard(
    stores: DashboardStores<'_>,
    tenant: TenantId,
    query: &[(String, String)],
    default_range: &str,
    now: DateTime<Utc>,
) -> Result<Dashboard, DashboardError> {
    let (name, spec) = parse_range(query, default_range)?;
    let mut cost = ReadCost::default();
    let profile = stores.profiles.get_profile(tenant).await?;
    let conn = stores.connections.get_connection(tenant).await?;
    cost.add(ReadCost { items_read: 2, requests: 2 });
    let zone = reporting_zone(profile.as_ref().and_then(|p| p.reporting_time_zone));
    let today = local_day(now, zone);
    let accounts: Vec<String> = conn.as_ref().map(|c| c.ad_account_ids.clone()).unwrap_or_default();

    // `all` reads from the 37-month floor in one pass and then starts at the first data found.
    let mut period = match spec {
        RangeSpec::All => Period { name: name.clone(), from: all_range_floor(today), to: today },
        _ => resolve_period(&name, spec, today, None),
    };
    let (mut plan, mut crm, mut spend) = read_period(stores, tenant, &accounts, &period, today, &mut cost).await?;
    if spec == RangeSpec::All {
        period = resolve_period(&name, spec, today, first_data_day(&crm, &spend));
        crm.by_bucket.retain(|d, _| *d >= bucket(plan.granularity, period.from));
        if plan_reads(&period, today).granularity != plan.granularity {
            // A young tenant: re-read its few days at daily granularity.
            (plan, crm, spend) = read_period(stores, tenant, &accounts, &period, today, &mut cost).await?;
        }
    }
    let currency = reporting_currency(profile.as_ref(), &spend, &crm);
    tracing::info!(
        tenant_id = tenant.0,
        from = %period.from,
        to = %period.to,
        items_read = cost.items_read,
        requests = cost.requests,
        "dashboard loaded"
    );
    Ok(Dashboard {
        tenant_id: tenant,
        period,
        time_zone: zone.name().to_string(),
        granularity: plan.granularity,
        crm,
        accounts: spend,
        connection: token_status(conn.as_ref(), now),
        profile,
        currency,
        cost,
    })
}

async fn read_period(
    stores: DashboardStores<'_>,
    tenant: TenantId,
    accounts: &[String],
    period: &Period,
    today: NaiveDate,
    cost: &mut ReadCost,
) -> Result<(ReadPlan, CrmAggregates, Vec<AccountSpend>), StoreError> {
    let plan = plan_reads(period, today);
    let (crm, c) = load_crm_aggregates(stores.aggregates, tenant, period, &plan).await?;
    cost.add(c);
    let mut spend = Vec::new();
    for acct in accounts {
        let (s, c) = load_account_spend(stores.spend, tenant, acct, period, &plan).await?;
        cost.add(c);
        spend.push(s);
    }
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

/// The profile's currency, else the primary ad account's, else the only Meta revenue currency,
/// else USD.
pub fn reporting_currency(profile: Option<&TenantProfile>, accounts: &[AccountSpend], crm: &CrmAggregates) -> Currency {
    if let Some(c) = profile.and_then(|p| p.currency) {
        return c;
    }
    if let Some(c) = accounts.iter().find_map(|a| a.currency) {
        return c;
    }
    let meta_revenue: Vec<Currency> = counter::revenue_currencies(&crm.total)
        .iter()
        .filter(|c| get(&crm.total, &counter::by_source(&counter::revenue(c), counter::META_SOURCE)) != 0)
        .filter_map(|c| Currency::parse(c).ok())
        .collect();
    match meta_revenue.as_slice() {
        [only] => *only,
        _ => Currency::USD,
    }
}

fn meta(c: &BTreeMap<String, i64>, metric: &str) -> i64 {
    get(c, &counter::by_source(metric, counter::META_SOURCE))
}

/// Meta-attributed headline numbers in one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Headline {
    pub currency: Currency,
    pub leads: i64,
    pub opportunities: i64,
    pub sales: i64,
    pub customers: i64,
    pub revenue: MinorUnits,
    pub spend: MinorUnits,
}

impl Dashboard {
    pub fn headline(&self) -> Headline {
        self.headline_in(self.currency)
    }

    fn headline_in(&self, cur: Currency) -> Headline {
        let t = &self.crm.total;
        Headline {
            currency: cur,
            leads: meta(t, counter::LEADS),
            opportunities: meta(t, counter::OPPORTUNITIES),
            sales: meta(t, counter::SALES),
            customers: meta(t, counter::CUSTOMERS),
            revenue: MinorUnits(meta(t, &counter::revenue(cur.code()))),
            spend: self.spend_in(cur),
        }
    }

    fn spend_in(&self, cur: Currency) -> MinorUnits {
        MinorUnits(self.accounts.iter().filter(|a| a.currency == Some(cur)).map(|a| a.total().0).sum())
    }

    /// Amounts in currencies other than the reporting one: listed, never added.
    pub fn other_currencies(&self) -> Value {
        let mut curs: BTreeSet<Currency> = counter::revenue_currencies(&self.crm.total)
            .iter()
            .filter_map(|c| Currency::parse(c).ok())
            .filter(|c| meta(&self.crm.total, &counter::revenue(c.code())) != 0)
            .collect();
        curs.extend(self.accounts.iter().filter_map(|a| a.currency));
        curs.remove(&self.currency);
        Value::Array(
            curs.into_iter()
                .map(|c| {
                    let revenue = MinorUnits(meta(&self.crm.total, &counter::revenue(c.code())));
                    let spend = self.spend_in(c);
                    json!({
                        "currency": c,
                        "revenue_minor": revenue,
                        "revenue": major(revenue, c),
                        "spend_minor": spend,
                        "spend": major(spend, c),
                        "roas": roas(revenue, spend),
                        "roi_percent": roi_percent(revenue, spend),
                    })
                })
                .collect(),
        )
    }

    pub fn spend_synced_at(&self) -> Option<DateTime<Utc>> {
        self.accounts.iter().filter_map(|a| a.synced_at).max()
    }

    pub fn attribution(&self) -> Value {
        let meta_setting = self
            .accounts
            .iter()
            .find_map(|a| a.attribution_setting.clone())
            .unwrap_or_else(|| DEFAULT_ATTRIBUTION_SETTING.to_string());
        json!({
            "crm_rule": CRM_ATTRIBUTION_RULE,
            "lead_source": counter::META_SOURCE,
            "meta_attribution_setting": meta_setting,
        })
    }

    fn primary_account(&self) -> Option<&str> {
        self.connection.ad_account_ids.first().map(String::as_str)
    }

    fn period_json(&self) -> Value {
        json!({
            "name": self.period.name,
            "from": self.period.from,
            "to": self.period.to,
            "days": self.period.days(),
            "time_zone": self.time_zone,
        })
    }

    /// Campaign rows (`ad_id` = campaign id) and creative rows (one per ad).
    pub fn rows(&self, kind: RowKind) -> Vec<Value> {
        #[derive(Default)]
        struct Acc {
            name: Option<String>,
            campaign_name: Option<String>,
            status: Option<String>,
            currency: Option<Currency>,
            spend: i64,
            impressions: i64,
            clicks: i64,
            meta_leads: i64,
        }
        let mut rows: BTreeMap<String, Acc> = BTreeMap::new();
        for a in &self.accounts {
            let src = match kind {
                RowKind::Campaign => &a.campaigns,
                RowKind::Ad => &a.ads,
            };
            for r in src {
                let e = rows.entry(r.id.clone()).or_default();
                e.name = Some(r.name.clone());
                e.campaign_name = match kind {
                    RowKind::Campaign => Some(r.name.clone()),
                    RowKind::Ad => r.campaign_name.clone(),
                };
                e.status = Some(r.status.clone());
                e.currency = a.currency;
                e.spend += r.spend_minor.0;
                e.impressions += r.impressions;
                e.clicks += r.clicks;
                e.meta_leads += r.meta_leads;
            }
        }
        let tag = kind.tag();
        let t = &self.crm.total;
        for metric in [counter::LEADS, counter::OPPORTUNITIES, counter::SALES] {
            for id in counter::ids(t, metric, tag) {
                rows.entry(id.to_string()).or_default();
            }
        }
        let mut out: Vec<(i64, i64, Value)> = rows
            .into_iter()
            .map(|(id, acc)| {
                let cur = acc.currency.unwrap_or(self.currency);
                let by = |metric: &str| get(t, &format!("{metric}__{tag}__{id}"));
                let leads = by(counter::LEADS);
                let opportunities = by(counter::OPPORTUNITIES);
                let sales = by(counter::SALES);
                let revenue = MinorUnits(by(&counter::revenue(cur.code())));
                let spend = MinorUnits(acc.spend);
                let ratio = roi_ratio(revenue, spend);
                // Names from the spend sync, else the ones the CRM's leads carried, else the id.
                let crm_name = self.crm.names.get(&format!("name__{tag}__{id}")).cloned();
                let crm_campaign_name = match kind {
                    RowKind::Campaign => crm_name.clone(),
                    RowKind::Ad => self
                        .crm
                        .names
                        .get(&counter::ad_campaign(&id))
                        .and_then(|c| self.crm.names.get(&counter::campaign_name(c)))
                        .cloned(),
                };
                let ad_name = acc.name.clone().or(crm_name).unwrap_or_else(|| id.clone());
                let campaign_name = acc.campaign_name.or(crm_campaign_name).unwrap_or_else(|| ad_name.clone());
                let row = json!({
                    "ad_id": id,
                    "ad_name": ad_name,
                    "campaign_name": campaign_name,
                    "status": acc.status.unwrap_or_else(|| "unknown".into()),
                    "currency": cur,
                    "spend": major(spend, cur),
                    "spend_minor": spend,
                    "leads": leads,
                    "opportunities": opportunities,
                    "sales": sales,
                    "revenue": major(revenue, cur),
                    "revenue_minor": revenue,
                    "roi": ratio.unwrap_or(0.0),
                    "roi_ratio": ratio,
                    "roas": roas(revenue, spend),
                    "cpa_minor": cpa(spend, leads),
                    "meta_leads": acc.meta_leads,
                    "impressions": acc.impressions,
                    "clicks": acc.clicks,
                });
                (spend.0, leads, row)
            })
            .collect();
        out.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
        out.into_iter().map(|(_, _, v)| v).collect()
    }

    /// `campaigns.{campaigns, creatives, account_total_spend}` as the frontend reads it.
    pub fn campaigns_block(&self) -> Value {
        let h = self.headline();
        json!({
            "campaigns": self.rows(RowKind::Campaign),
            "creatives": self.rows(RowKind::Ad),
            "account_total_spend": major(h.spend, h.currency),
            "account_total_spend_minor": h.spend,
            "currency": h.currency,
        })
    }

    /// `GET /stats/roi` (and `meta.roi` / `roi` of the other views).
    pub fn roi_view(&self, with_campaigns: bool) -> Value {
        let h = self.headline();
        let cur = h.currency;
        let cpa_exact = cpa(h.spend, h.leads);
        let mut v = json!({
            // The frontend's fields.
            "total_spend": major(h.spend, cur),
            "total_revenue": major(h.revenue, cur),
            "currency": cur,
            "cpa": cpa_exact.map_or(0.0, |c| major(c, cur)),
            "leads": h.leads,
            "leads_converted": h.customers,
            "patients_converted": h.customers,
            "is_connected": self.connection.connected,
            "ad_account_id": self.primary_account(),
            "time_range": self.period.name,
            // Exact values.
            "total_spend_minor": h.spend,
            "total_revenue_minor": h.revenue,
            "cpa_minor": cpa_exact,
            "cost_per_opportunity_minor": cpa(h.spend, h.opportunities),
            "roas": roas(h.revenue, h.spend),
            "roi_percent": roi_percent(h.revenue, h.spend),
            "roi_ratio": roi_ratio(h.revenue, h.spend),
            "ltv_minor": h.revenue.div_round(h.customers),
            "paying_customers": h.customers,
            "opportunities": h.opportunities,
            "sales": h.sales,
            "attribution": self.attribution(),
            "other_currencies": self.other_currencies(),
            "period": self.period_json(),
            "spend_synced_at": self.spend_synced_at(),
        });
        if with_campaigns {
            v["campaigns"] = Value::Array(self.rows(RowKind::Campaign));
        }
        v
    }

    /// The chart series: one point per bucket, zero-filled.
    pub fn series(&self) -> Value {
        let cur = self.currency;
        let spend_by: BTreeMap<NaiveDate, i64> = self
            .accounts
            .iter()
            .filter(|a| a.currency == Some(cur))
            .flat_map(|a| a.by_bucket.iter().map(|(d, m)| (*d, m.0)))
            .fold(BTreeMap::new(), |mut acc, (d, m)| {
                *acc.entry(d).or_insert(0) += m;
                acc
            });
        let empty = BTreeMap::new();
        let points: Vec<Value> = buckets(self.granularity, &self.period)
            .into_iter()
            .map(|d| {
                let c = self.crm.by_bucket.get(&d).unwrap_or(&empty);
                let revenue = MinorUnits(meta(c, &counter::revenue(cur.code())));
                let spend = MinorUnits(spend_by.get(&d).copied().unwrap_or(0));
                json!({
                    "date": d,
                    "leads": meta(c, counter::LEADS),
                    "opportunities": meta(c, counter::OPPORTUNITIES),
                    "sales": meta(c, counter::SALES),
                    "revenue_minor": revenue,
                    "revenue": major(revenue, cur),
                    "spend_minor": spend,
                    "spend": major(spend, cur),
                })
            })
            .collect();
        json!({ "granularity": self.granularity, "currency": cur, "points": points })
    }

    fn connection_json(&self) -> Value {
        json!({
            "status": self.connection.status,
            "connected": self.connection.connected,
            "needs_reconnect": self.connection.needs_reconnect,
            "expires_at": self.connection.expires_at,
            "ad_account_id": self.primary_account(),
            "ad_account_ids": self.connection.ad_account_ids,
        })
    }

    /// `GET /stats`.
    pub fn stats_view(&self) -> Value {
        let h = self.headline();
        let cur = h.currency;
        let t = &self.crm.total;
        let by_source: BTreeMap<&str, i64> = t
            .iter()
            .filter_map(|(k, v)| k.strip_prefix("leads__src__").map(|s| (s, *v)))
            .filter(|(_, v)| *v != 0)
            .collect();
        let cpa_exact = cpa(h.spend, h.leads);
        json!({
            "time_range": self.period.name,
            "period": self.period_json(),
            "currency": cur,
            "meta_connected": self.connection.connected,
            "meta_connection": self.connection_json(),
            "spend_synced_at": self.spend_synced_at(),
            "leads": h.leads,
            "leads_all_sources": get(t, counter::LEADS),
            "leads_by_source": by_source,
            "opportunities": h.opportunities,
            "sales": h.sales,
            "paying_customers": h.customers,
            "revenue": major(h.revenue, cur),
            "revenue_minor": h.revenue,
            "spend": major(h.spend, cur),
            "spend_minor": h.spend,
            "cpa": cpa_exact.map(|c| major(c, cur)),
            "cpa_minor": cpa_exact,
            "roas": roas(h.revenue, h.spend),
            "roi_percent": roi_percent(h.revenue, h.spend),
            "lead_to_opportunity_rate": rate_percent(h.opportunities, h.leads),
            "opportunity_to_sale_rate": rate_percent(h.sales, h.opportunities),
            "series": self.series(),
            "roi": self.roi_view(false),
            "campaigns": self.campaigns_block(),
            "other_currencies": self.other_currencies(),
            "attribution": self.attribution(),
        })
    }

    /// `GET /combined-stats`: the page's main load.
    pub fn combined_view(&self) -> Value {
        let h = self.headline();
        let connected = self.connection.connected;
        json!({
            "time_range": self.period.name,
            "period": self.period_json(),
            "meta": {
                "meta_connected": connected,
                "currency": h.currency,
                "roi": self.roi_view(false),
                "campaigns": self.campaigns_block(),
                "spend_synced_at": self.spend_synced_at(),
                "connection": self.connection_json(),
            },
            "google": { "connected": false },
            "combined": {
                "meta_connected": connected,
                "google_connected": false,
                "total_platforms": u8::from(connected),
                "currency": h.currency,
                "total_spend": major(h.spend, h.currency),
                "total_spend_minor": h.spend,
                "total_leads": h.leads,
            },
        })
    }
}

/// Which rows: campaigns or ads (creatives).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowKind {
    Campaign,
    Ad,
}

impl RowKind {
    fn tag(self) -> &'static str {
        match self {
            RowKind::Campaign => "camp",
            RowKind::Ad => "ad",
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::connection::token_status;
    use crate::store::spend::SpendRow;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("date")
    }

    fn cur(c: &str) -> Currency {
        Currency::parse(c).expect("currency")
    }

    fn counters(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    fn account(currency: &str, spend: i64) -> AccountSpend {
        AccountSpend {
            ad_account_id: "act_1".into(),
            currency: Some(cur(currency)),
            attribution_setting: Some("unified".into()),
            campaigns: vec![SpendRow {
                id: "c1".into(),
                name: "C1".into(),
                status: "paused".into(),
                campaign_id: None,
                campaign_name: None,
                spend_minor: MinorUnits(spend),
                impressions: 100,
                clicks: 5,
                meta_leads: 1,
            }],
            ads: vec![],
            by_bucket: BTreeMap::new(),
            synced_at: None,
        }
    }

    fn dashboard(total: &[(&str, i64)], accounts: Vec<AccountSpend>, currency: &str) -> Dashboard {
        Dashboard {
            tenant_id: TenantId(1),
            period: Period { name: "30d".into(), from: d(2026, 10, 26), to: d(2026, 11, 24) },
            time_zone: "UTC".into(),
            granularity: Granularity::Day,
            crm: CrmAggregates { total: counters(total), ..Default::default() },
            accounts,
            connection: token_status(None, Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).single().expect("t")),
            profile: None,
            currency: cur(currency),
            cost: ReadCost::default(),
        }
    }

    #[test]
    fn roi_view_has_frontend_numbers_and_exact_values() {
        // 3 Meta leads, 1 customer, revenue 250.00, spend 100.00 (one more website lead ignored).
        let dash = dashboard(
            &[
                ("leads", 4),
                ("leads__src__META_ADS", 3),
                ("customers__src__META_ADS", 1),
                ("revenue__USD__src__META_ADS", 25_000),
                ("opps__src__META_ADS", 2),
            ],
            vec![account("USD", 10_000)],
            "USD",
        );
        let v = dash.roi_view(true);
        assert_eq!(v["total_spend"], serde_json::json!(100.0));
        assert_eq!(v["total_revenue"], serde_json::json!(250.0));
        assert_eq!(v["cpa"], serde_json::json!(33.33)); // 10000 / 3 = 3333 minor units
        assert_eq!(v["cpa_minor"], 3_333);
        assert_eq!(v["cost_per_opportunity_minor"], 5_000);
        assert_eq!(v["roas"], serde_json::json!(2.5));
        assert_eq!(v["roi_percent"], serde_json::json!(150.0));
        assert_eq!(v["ltv_minor"], 25_000);
        assert_eq!((v["leads"].clone(), v["leads_converted"].clone()), (serde_json::json!(3), serde_json::json!(1)));
        assert_eq!(v["is_connected"], false);
        assert_eq!(v["campaigns"][0]["status"], "paused");
        assert_eq!(v["campaigns"][0]["roi"], serde_json::json!(-1.0));
    }

    #[test]
    fn cpa_is_a_number_for_the_frontend_and_null_exactly_without_leads() {
        let v = dashboard(&[], vec![account("USD", 10_000)], "USD").roi_view(false);
        assert_eq!((v["cpa"].clone(), v["cpa_minor"].clone()), (serde_json::json!(0.0), Value::Null));
        assert_eq!(v["roi_percent"], serde_json::json!(-100.0));
        let v = dashboard(&[("leads__src__META_ADS", 2)], vec![], "USD").roi_view(false);
        assert_eq!((v["roas"].clone(), v["roi_percent"].clone()), (Value::Null, Value::Null));
    }

    #[test]
    fn reporting_currency_prefers_profile_then_account_then_revenue() {
        let crm = CrmAggregates {
            total: counters(&[("revenue__EUR", 5), ("revenue__EUR__src__META_ADS", 5)]),
            ..Default::default()
        };
        let profile = TenantProfile {
            tenant_id: TenantId(1),
            display_name: "x".into(),
            reporting_time_zone: None,
            currency: Currency::parse("MXN").ok(),
            updated_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().expect("t"),
        };
        assert_eq!(reporting_currency(Some(&profile), &[account("COP", 1)], &crm), cur("MXN"));
        assert_eq!(reporting_currency(None, &[account("COP", 1)], &crm), cur("COP"));
        assert_eq!(reporting_currency(None, &[], &crm), cur("EUR"));
        assert_eq!(reporting_currency(None, &[], &CrmAggregates::default()), Currency::USD);
    }
}
