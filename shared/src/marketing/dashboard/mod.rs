//! The marketing dashboard's numbers for one tenant and period, and the three views the endpoints
//! serve (`/stats`, `/stats/roi`, `/combined-stats`).
//!
//! Reads: the tenant profile and Meta connection (2 `GetItem`s), the CRM aggregate items of the
//! period and the spend items of each connected ad account (`Query` only, see
//! [`crate::marketing::aggregates`]), in one or two round trips ([`reads`]). Nothing here reads a
//! lead.
//!
//! Every view serves the frontend's fields with their types (numbers in major units, `cpa` always a
//! number, `roi` of rows a ratio that is 0 without spend) and, beside them, the exact values:
//! `*_minor` integers with the currency, and `null` where a ratio is undefined.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::api::app::{App, DashboardScope};
use crate::api::memo::TenantMemo;
use crate::domain::connection::{token_status, TokenStatus};
use crate::domain::ids::TenantId;
use crate::domain::money::{saturating_sum, Currency, MinorUnits};
use crate::domain::period::InvalidRange;
use crate::domain::period::{parse_range, Period};
use crate::marketing::aggregates::{counter, get, AccountSpend, CrmAggregates, Granularity};
use crate::marketing::formulas::{major, roas, roi_percent};
use crate::marketing::fx::{convert_spend, RateSources, SpendConversion};
use crate::platform::error::{DomainError, Failure};
use crate::store::aggregates::AggregateStore;
use crate::store::fx_rates::FxRateStore;
use crate::store::provider_rates::ProviderRateStore;
use crate::store::spend::SpendStore;
use crate::store::{MetaConnectionStore, ReadCost, StoreError, TenantProfile, TenantProfileStore};

/// How CRM numbers are attributed (the response says which rule was used).
mod reads;
mod rows;
mod views;

pub use rows::RowKind;

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
    /// Spend billed in other currencies, converted into `currency` day by day.
    pub fx: SpendConversion,
    pub cost: ReadCost,
}

/// The stores a dashboard reads (all `GetItem`/`Query`; nothing here reads a lead).
#[derive(Clone, Copy)]
pub struct DashboardStores<'a> {
    pub profiles: &'a dyn TenantProfileStore,
    pub connections: &'a dyn MetaConnectionStore,
    pub aggregates: &'a dyn AggregateStore,
    pub spend: &'a dyn SpendStore,
    pub fx_rates: &'a dyn FxRateStore,
    pub provider_rates: &'a dyn ProviderRateStore,
    /// The container's memory of each tenant's zone and accounts (speculative reads); `None`
    /// reads in dependency order.
    pub scopes: Option<&'a TenantMemo<DashboardScope>>,
}

impl<'a> From<&'a App> for DashboardStores<'a> {
    fn from(app: &'a App) -> Self {
        Self {
            profiles: app.profiles.as_ref(),
            connections: app.connections.as_ref(),
            aggregates: app.aggregates.as_ref(),
            spend: app.spend.as_ref(),
            fx_rates: app.fx_rates.as_ref(),
            provider_rates: app.provider_rates.as_ref(),
            scopes: Some(app.dashboard_scopes.as_ref()),
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
    let reads::Loaded { profile, conn, scope, reads, speculated } =
        reads::load(stores, tenant, (&name, spec), now, &mut cost).await?;
    let reads::PeriodReads { period, plan, crm, spend } = reads;
    let currency = reporting_currency(profile.as_ref(), &spend, &crm);
    let rates = RateSources { manual: stores.fx_rates, provider: stores.provider_rates };
    let fx = convert_spend(rates, stores.spend, tenant, currency, &spend, &period, plan.granularity, &mut cost).await?;
    tracing::info!(
        tenant_id = tenant.0,
        from = %period.from,
        to = %period.to,
        items_read = cost.items_read,
        requests = cost.requests,
        speculated,
        "dashboard loaded"
    );
    Ok(Dashboard {
        tenant_id: tenant,
        period,
        time_zone: scope.zone.name().to_string(),
        granularity: plan.granularity,
        crm,
        accounts: spend,
        connection: token_status(conn.as_ref(), now),
        profile,
        currency,
        fx,
        cost,
    })
}

/// The profile's currency, else the only CRM revenue currency of the period (the sales' currency
/// wins over the ad account's: spend is converted, revenue is not), else the primary ad account's,
/// else USD.
pub fn reporting_currency(profile: Option<&TenantProfile>, accounts: &[AccountSpend], crm: &CrmAggregates) -> Currency {
    if let Some(c) = profile.and_then(|p| p.currency) {
        return c;
    }
    let revenue: Vec<Currency> = counter::revenue_currencies(&crm.total)
        .iter()
        .filter(|c| get(&crm.total, &counter::revenue(c)) != 0)
        .filter_map(|c| Currency::parse(c).ok())
        .collect();
    if let [only] = revenue.as_slice() {
        return *only;
    }
    accounts.iter().find_map(|a| a.currency).unwrap_or(Currency::USD)
}

/// A Meta-attributed counter (`{metric}__src__META_ADS`).
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
    /// Spend in the reporting currency plus other currencies' spend converted at each day's rate.
    pub spend: MinorUnits,
    /// Set when some spend had no rate: ratios are `null` with this reason.
    pub reason: Option<&'static str>,
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
            spend: self.spend_in(cur).saturating_add(MinorUnits(if cur == self.currency { self.fx.total } else { 0 })),
            reason: if cur == self.currency { self.fx.reason() } else { None },
        }
    }

    /// Ratios from `num`/`spend`-like inputs, or `null` when some spend could not be converted.
    pub fn unless_fx_missing<T>(&self, v: Option<T>) -> Option<T> {
        if self.fx.complete() {
            v
        } else {
            None
        }
    }

    fn spend_in(&self, cur: Currency) -> MinorUnits {
        MinorUnits(saturating_sum(self.accounts.iter().filter(|a| a.currency == Some(cur)).map(|a| a.total().0)))
    }

    /// Whether `c`'s spend is in the headline: it has spend and a rate for every day of it.
    fn spend_converted(&self, c: Currency) -> bool {
        self.fx.currencies.contains(&c) && !self.fx.missing.contains_key(&c)
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
                        "spend_converted_to_reporting_currency": self.spend_converted(c),
                    })
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone};

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
                settings: None,
            }],
            ads: vec![],
            by_bucket: BTreeMap::new(),
            campaigns_by_bucket: BTreeMap::new(),
            ads_by_bucket: BTreeMap::new(),
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
            fx: SpendConversion::default(),
            cost: ReadCost::default(),
        }
    }

    #[tokio::test]
    async fn loads_numbers_through_the_in_memory_stores() {
        use crate::domain::connection::MetaConnection;
        use crate::domain::zone::Zone;
        use crate::store::aggregates::{AggBucket, AggregateStore, Names};
        use crate::store::spend::{DailySpend, SpendStore};

        let (app, mem) = crate::testing::unit_app(&[]);
        let (t, now) = (TenantId(3), crate::testing::unit_now());
        let today = d(2026, 11, 24);
        app.profiles
            .put_profile(&TenantProfile {
                tenant_id: t,
                display_name: "Demo".into(),
                reporting_time_zone: Zone::parse("America/Bogota").ok(),
                currency: Some(cur("USD")),
                updated_at: now,
            })
            .await
            .expect("profile");
        app.connections
            .put_connection(&MetaConnection {
                ad_account_ids: vec!["act_1".into()],
                ..crate::testing::active_connection(t, now)
            })
            .await
            .expect("connection")
            .expect("created");
        let leads = counters(&[("leads", 5), ("leads__src__META_ADS", 4), ("revenue__USD__src__META_ADS", 90_000)]);
        mem.table.add_to_aggregate(t, AggBucket::Day, today, &leads, &Names::new()).await.expect("agg");
        let mut day = account("USD", 30_000).campaigns;
        day[0].id = "c1".into();
        let spend = DailySpend {
            tenant_id: t,
            ad_account_id: "act_1".into(),
            date: today,
            currency: cur("USD"),
            account_time_zone: None,
            attribution_setting: "unified".into(),
            synced_at: now,
            campaigns: day,
            ads: vec![],
        };
        mem.table.put_daily_spend(&spend).await.expect("spend");

        let q = vec![("time_range".to_string(), "7d".to_string())];
        let dash = load_dashboard((&app).into(), t, &q, "30d", now).await.expect("load");
        let h = dash.headline();
        assert_eq!((h.leads, h.spend, h.revenue), (4, MinorUnits(30_000), MinorUnits(90_000)));
        assert_eq!(dash.roi_view(false)["roi_percent"], 200.0);
        assert_eq!(
            dash.cost.items_read,
            2 + 1 + 1 + 1,
            "profile, connection, one aggregate day, one spend day, sync marker"
        );
        let bad = vec![("time_range".to_string(), "forever".to_string())];
        let err = load_dashboard((&app).into(), t, &bad, "30d", now).await.expect_err("bad range");
        assert_eq!(crate::ApiError::from(err).status().as_u16(), 400);
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
    fn combined_view_serves_the_roi_at_data_roi_and_says_when_no_ad_account_is_chosen() {
        let mut dash = dashboard(&[("leads__src__META_ADS", 3)], vec![account("USD", 10_000)], "USD");
        let v = dash.combined_view();
        assert_eq!(v["roi"], v["meta"]["roi"], "the hub's ROI card reads data.roi");
        assert_eq!(v["roi"]["total_spend"], serde_json::json!(100.0));
        // Connected (OAuth done) but the wizard abandoned before an account was chosen.
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).single().expect("t");
        let conn = crate::testing::active_connection(TenantId(1), now);
        dash.connection = token_status(Some(&conn), now);
        let v = dash.combined_view();
        assert_eq!(
            (v["meta"]["meta_connected"].clone(), v["meta"]["ad_account_selected"].clone()),
            (false.into(), false.into()),
            "not shown as an active account before one is chosen"
        );
        assert_eq!(v["meta"]["connection"]["status"], "connected");
        assert_eq!(v["meta"]["connection"]["reason"], "no_ad_account_selected");
        assert!(v["meta"]["connection"]["message"].as_str().is_some_and(|m| !m.is_empty()));
        dash.connection =
            token_status(Some(&crate::store::MetaConnection { ad_account_ids: vec!["act_1".into()], ..conn }), now);
        let v = dash.combined_view();
        assert_eq!(
            (v["meta"]["ad_account_selected"].clone(), v["meta"]["connection"]["reason"].clone()),
            (true.into(), Value::Null)
        );
    }

    #[test]
    fn cpa_is_a_number_for_the_frontend_and_null_exactly_without_leads() {
        let v = dashboard(&[], vec![account("USD", 10_000)], "USD").roi_view(false);
        assert_eq!((v["cpa"].clone(), v["cpa_minor"].clone()), (serde_json::json!(0.0), Value::Null));
        assert_eq!(v["roi_percent"], serde_json::json!(-100.0));
        let v = dashboard(&[("leads__src__META_ADS", 2)], vec![], "USD").roi_view(false);
        assert_eq!((v["roas"].clone(), v["roi_percent"].clone()), (Value::Null, Value::Null));
    }

    /// Sums past `i64` hold at the bound (`domain::money`'s "Overflow"): never a wrapped, negative
    /// spend (that would invert ROI), never a panic.
    #[test]
    fn spend_sums_past_i64_hold_at_the_bound() {
        let huge = i64::MAX - 10;
        // Two days of one campaign merged into one account (`AccountSpend::absorb`), and two accounts.
        let mut merged = account("USD", 0);
        merged.campaigns.clear();
        for day in [d(2026, 11, 20), d(2026, 11, 21)] {
            let rows = account("USD", huge).campaigns;
            merged.absorb(day, cur("USD"), "unified", &rows, &rows);
        }
        assert_eq!(merged.total(), MinorUnits(i64::MAX), "the campaign's two days");
        assert_eq!(merged.by_bucket[&d(2026, 11, 21)], MinorUnits(huge));
        let mut counters_in = counters(&[("revenue__USD", huge)]);
        crate::marketing::aggregates::add_all(&mut counters_in, &counters(&[("revenue__USD", huge)]));
        assert_eq!(counters_in["revenue__USD"], i64::MAX, "CRM counters too");
        let dash = dashboard(&[("revenue__USD__src__META_ADS", 5)], vec![merged, account("USD", huge)], "USD");
        assert_eq!(dash.headline().spend, MinorUnits(i64::MAX));
        let v = dash.roi_view(true);
        assert_eq!(v["total_spend_minor"], serde_json::json!(i64::MAX));
        assert!(
            v["roi_percent"].as_f64().is_some_and(|r| r < 0.0),
            "spend is not wrapped negative: {}",
            v["roi_percent"]
        );
    }

    /// The profile's currency, else the one revenue currency (sales are never converted), else the
    /// ad account's, else USD.
    #[test]
    fn reporting_currency_prefers_profile_then_revenue_then_account() {
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
        assert_eq!(reporting_currency(None, &[account("COP", 1)], &crm), cur("EUR"), "sales currency first");
        assert_eq!(reporting_currency(None, &[account("COP", 1)], &CrmAggregates::default()), cur("COP"));
        assert_eq!(reporting_currency(None, &[], &crm), cur("EUR"));
        let two = CrmAggregates { total: counters(&[("revenue__EUR", 5), ("revenue__BRL", 7)]), ..Default::default() };
        assert_eq!(
            reporting_currency(None, &[account("COP", 1)], &two),
            cur("COP"),
            "two revenue currencies: the account's"
        );
        assert_eq!(reporting_currency(None, &[], &CrmAggregates::default()), Currency::USD);
    }
}
