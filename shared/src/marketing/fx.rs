//! Cross-currency ROI: spend billed in another currency than the tenant's reporting currency is
//! converted at the tenant's rate effective on the spend's own day (row by row, per day, integer
//! math rounded half away from zero), and `PUT /crm/marketing/fx-rates` sets those rates.
//!
//! Without a rate for some day with spend, the conversion is incomplete: converted numbers cover
//! only the days with a rate, and every ratio that depends on the missing spend is `null` with
//! [`NO_RATE_REASON`] — never 0.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::domain::fx::ScaledRate;
use crate::domain::ids::TenantId;
use crate::domain::money::Currency;
use crate::domain::period::Period;
use crate::marketing::aggregates::{bucket, AccountSpend, Granularity};
use crate::platform::error::{DomainError, Failure};
use crate::store::fx_rates::{effective_on, FxRate, FxRateStore, MANUAL_SOURCE};
use crate::store::spend::{SpendRow, SpendStore};
use crate::store::{ReadCost, StoreError};

/// Why ratios are `null` when some spend could not be converted.
pub const NO_RATE_REASON: &str = "no_fx_rate: some spend is billed in another currency and no exchange rate is \
set for its day (PUT /crm/marketing/fx-rates)";

/// Most rates one request may set.
pub const MAX_RATES_PER_REQUEST: usize = 200;

/// The foreign spend of a dashboard, converted into its reporting currency.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpendConversion {
    /// Converted spend (reporting currency minor units) of the days that had a rate.
    pub total: i64,
    pub by_bucket: BTreeMap<NaiveDate, i64>,
    pub campaigns: BTreeMap<String, i64>,
    pub ads: BTreeMap<String, i64>,
    /// Rates used, by `(from, effective_from)`.
    pub rates_used: BTreeMap<(Currency, NaiveDate), FxRate>,
    /// Foreign currency → days with spend and no rate.
    pub missing: BTreeMap<Currency, BTreeSet<NaiveDate>>,
    /// Foreign spend left unconverted, per currency (original minor units).
    pub unconverted: BTreeMap<Currency, i64>,
    pub missing_campaigns: BTreeSet<String>,
    /// Converted spend per `(campaign, series bucket)`, and the buckets of a campaign that lacked a rate.
    pub campaign_buckets: BTreeMap<(String, NaiveDate), i64>,
    pub missing_campaign_buckets: BTreeSet<(String, NaiveDate)>,
    pub missing_ads: BTreeSet<String>,
    /// Foreign currencies with any spend.
    pub currencies: BTreeSet<Currency>,
}

impl SpendConversion {
    pub fn complete(&self) -> bool {
        self.missing.is_empty()
    }

    /// `None` when every foreign spend was converted, else why ratios are `null`.
    pub fn reason(&self) -> Option<&'static str> {
        (!self.complete()).then_some(NO_RATE_REASON)
    }

    /// What the responses show: rates used and their source, and what is missing.
    pub fn to_json(&self, reporting: Currency) -> Value {
        let rates: Vec<Value> = self
            .rates_used
            .values()
            .map(|r| {
                json!({
                    "from": r.from, "to": r.to, "rate": r.rate.to_string(),
                    "effective_from": r.effective_from, "source": r.source,
                })
            })
            .collect();
        let missing: Vec<Value> = self
            .missing
            .iter()
            .map(|(c, days)| {
                json!({
                    "from": c, "to": reporting, "days": days,
                    "unconverted_spend_minor": self.unconverted.get(c).copied().unwrap_or(0),
                })
            })
            .collect();
        json!({
            "reporting_currency": reporting,
            "converted_currencies": self.currencies,
            "complete": self.complete(),
            "converted_spend_minor": self.total,
            "rates": rates,
            "missing_rates": missing,
            "reason": self.reason(),
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn convert_rows(
        &mut self,
        day: NaiveDate,
        at: NaiveDate,
        rows: &[SpendRow],
        from: Currency,
        to: Currency,
        rates: &[FxRate],
        ads: bool,
    ) {
        for r in rows.iter().filter(|r| r.spend_minor.0 != 0) {
            match effective_on(rates, day) {
                Some(rate) => {
                    let v = rate.rate.convert(r.spend_minor, from, to).0;
                    let into = if ads { &mut self.ads } else { &mut self.campaigns };
                    *into.entry(r.id.clone()).or_insert(0) += v;
                    if !ads {
                        *self.campaign_buckets.entry((r.id.clone(), at)).or_insert(0) += v;
                        self.total += v;
                        *self.by_bucket.entry(at).or_insert(0) += v;
                    }
                    self.rates_used.entry((from, rate.effective_from)).or_insert_with(|| rate.clone());
                }
                None => {
                    if ads {
                        self.missing_ads.insert(r.id.clone());
                    } else {
                        self.missing.entry(from).or_default().insert(day);
                        *self.unconverted.entry(from).or_insert(0) += r.spend_minor.0;
                        self.missing_campaigns.insert(r.id.clone());
                        self.missing_campaign_buckets.insert((r.id.clone(), at));
                    }
                }
            }
        }
    }
}

/// Converts every account's spend not in `reporting` at the rate of each day. Day rows come from
/// the dashboard's daily buckets when the series is daily, else from one `Query` of the account's
/// day items (only for accounts in a foreign currency).
#[allow(clippy::too_many_arguments)]
pub async fn convert_spend(
    fx: &dyn FxRateStore,
    spend: &dyn SpendStore,
    tenant: TenantId,
    reporting: Currency,
    accounts: &[AccountSpend],
    period: &Period,
    granularity: Granularity,
    cost: &mut ReadCost,
) -> Result<SpendConversion, StoreError> {
    let mut out = SpendConversion::default();
    let mut rates: HashMap<Currency, Vec<FxRate>> = HashMap::new();
    for a in accounts {
        let Some(from) = a.currency.filter(|c| *c != reporting) else { continue };
        if a.campaigns.iter().all(|r| r.spend_minor.0 == 0) && a.ads.iter().all(|r| r.spend_minor.0 == 0) {
            continue;
        }
        out.currencies.insert(from);
        if let Entry::Vacant(slot) = rates.entry(from) {
            let (r, c) = fx.fx_rates(tenant, from, reporting, period.to).await?;
            cost.add(c);
            slot.insert(r);
        }
        let pair = rates.get(&from).map(Vec::as_slice).unwrap_or(&[]);
        let days: Vec<(NaiveDate, Vec<SpendRow>, Vec<SpendRow>)> = match granularity {
            Granularity::Day => a
                .campaigns_by_bucket
                .iter()
                .map(|(d, c)| (*d, c.clone(), a.ads_by_bucket.get(d).cloned().unwrap_or_default()))
                .collect(),
            Granularity::Month => {
                let (days, c) = spend.spend_days(tenant, &a.ad_account_id, period.from, period.to).await?;
                cost.add(c);
                days.into_iter().map(|d| (d.date, d.campaigns, d.ads)).collect()
            }
        };
        for (day, campaigns, ads) in days {
            let at = bucket(granularity, day);
            out.convert_rows(day, at, &campaigns, from, reporting, pair, false);
            out.convert_rows(day, at, &ads, from, reporting, pair, true);
        }
    }
    Ok(out)
}

// ------------------------------------------------------------------------ PUT /fx-rates

/// Body of `PUT /crm/marketing/fx-rates`.
#[derive(Debug, Clone, Deserialize)]
pub struct SetRatesRequest {
    pub rates: Vec<RateInput>,
}

/// One rate: `{"from":"USD","to":"ARS","rate":"1050.25","effective_from":"2026-11-01"}` (rate a
/// decimal string: units of `to` per unit of `from`).
#[derive(Debug, Clone, Deserialize)]
pub struct RateInput {
    pub from: String,
    pub to: String,
    pub rate: String,
    pub effective_from: String,
}

#[derive(Debug, thiserror::Error)]
pub enum FxError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl DomainError for FxError {
    fn failure(&self) -> Failure {
        match self {
            FxError::Invalid(_) => Failure::BadRequest,
            FxError::Store(e) => e.failure(),
        }
    }
    fn code(&self) -> &'static str {
        match self {
            FxError::Invalid(_) => "invalid_fx_rate",
            FxError::Store(e) => e.code(),
        }
    }
}

/// Validates every rate (nothing is written when one is wrong) and stores them.
pub async fn set_rates(
    store: &dyn FxRateStore,
    tenant: TenantId,
    user: &str,
    req: SetRatesRequest,
    now: DateTime<Utc>,
) -> Result<Vec<FxRate>, FxError> {
    if req.rates.is_empty() || req.rates.len() > MAX_RATES_PER_REQUEST {
        return Err(FxError::Invalid(format!("rates must hold 1 to {MAX_RATES_PER_REQUEST} rates")));
    }
    let mut out: Vec<FxRate> = Vec::new();
    for (i, r) in req.rates.iter().enumerate() {
        let bad = |what: String| FxError::Invalid(format!("rates[{i}]: {what}"));
        let from = Currency::parse(&r.from).map_err(|e| bad(format!("from: {e}")))?;
        let to = Currency::parse(&r.to).map_err(|e| bad(format!("to: {e}")))?;
        if from == to {
            return Err(bad("from and to are the same currency".into()));
        }
        let rate = ScaledRate::parse(&r.rate).map_err(|e| bad(e.to_string()))?;
        let effective_from = NaiveDate::parse_from_str(r.effective_from.trim(), "%Y-%m-%d")
            .map_err(|_| bad(format!("effective_from {:?} is not a YYYY-MM-DD date", r.effective_from)))?;
        if out.iter().any(|o| o.from == from && o.to == to && o.effective_from == effective_from) {
            return Err(bad(format!("{from}->{to} effective {effective_from} is given twice")));
        }
        out.push(FxRate {
            tenant_id: tenant,
            from,
            to,
            rate,
            effective_from,
            source: MANUAL_SOURCE.into(),
            set_by: user.chars().take(128).collect(),
            updated_at: now,
        });
    }
    store.put_fx_rates(&out).await?;
    tracing::info!(tenant_id = tenant.0, rates = out.len(), "FX rates set");
    Ok(out)
}

/// The response of `PUT /fx-rates`.
pub fn rates_json(rates: &[FxRate]) -> Value {
    json!({
        "rates": rates.iter().map(|r| json!({
            "from": r.from, "to": r.to, "rate": r.rate.to_string(), "rate_scaled": r.rate.0,
            "rate_scale": crate::domain::fx::RATE_SCALE as i64, "effective_from": r.effective_from,
            "source": r.source,
        })).collect::<Vec<_>>(),
        "saved": rates.len(),
    })
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use serde_json::Value;

    use super::*;
    use crate::domain::connection::{ConnectionStatus, MetaConnection};
    use crate::domain::money::MinorUnits;
    use crate::marketing::dashboard::load_dashboard;
    use crate::store::aggregates::{AggBucket, AggregateStore, Counters, Names};
    use crate::store::spend::DailySpend;
    use crate::store::TenantProfile;

    fn ars() -> Currency {
        Currency::parse("ARS").expect("ARS")
    }

    fn row(id: &str, spend: i64) -> SpendRow {
        SpendRow {
            id: id.into(),
            name: format!("Campaign {id}"),
            status: "active".into(),
            campaign_id: None,
            campaign_name: None,
            spend_minor: MinorUnits(spend),
            impressions: 1_000,
            clicks: 10,
            meta_leads: 2,
            settings: None,
        }
    }

    /// Tenant 5: ARS reporting, ARS sales of 420,000.00 on campaign 111, and a USD ad account
    /// that spent 100.00 USD on Nov 10 and 100.00 USD on Nov 20 (campaign 111).
    async fn seed() -> (crate::App, crate::api::app::InMemory, TenantId) {
        let (app, mem) = crate::testing::unit_app(&[]);
        let (t, now) = (TenantId(5), crate::testing::unit_now());
        app.profiles
            .put_profile(&TenantProfile {
                tenant_id: t,
                display_name: "Clínica".into(),
                reporting_time_zone: None,
                currency: Some(ars()),
                updated_at: now,
            })
            .await
            .expect("profile");
        app.connections
            .put_connection(&MetaConnection {
                tenant_id: t,
                token_ciphertext_b64: String::new(),
                status: ConnectionStatus::Active,
                meta_user_id: None,
                expires_at: Some(now + Duration::days(30)),
                data_access_expires_at: None,
                scopes: vec![],
                business_id: None,
                business_name: None,
                ad_account_ids: vec!["act_7".into()],
                ad_account_name: None,
                connected_at: now,
                connected_by: "u".into(),
                updated_at: now,
                revision: None,
            })
            .await
            .expect("conn")
            .expect("created");
        let day = |d: u32| NaiveDate::from_ymd_opt(2026, 11, d).expect("day");
        let c: Counters = [
            ("leads__src__META_ADS", 4),
            ("leads__camp__111", 4),
            ("revenue__ARS", 42_000_000),
            ("revenue__ARS__src__META_ADS", 42_000_000),
            ("revenue__ARS__camp__111", 42_000_000),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        mem.table.add_to_aggregate(t, AggBucket::Day, day(20), &c, &Names::new()).await.expect("agg");
        for d in [10, 20] {
            let spend = DailySpend {
                tenant_id: t,
                ad_account_id: "act_7".into(),
                date: day(d),
                currency: Currency::USD,
                account_time_zone: None,
                attribution_setting: "unified".into(),
                synced_at: now,
                campaigns: vec![row("111", 10_000)],
                ads: vec![],
            };
            crate::store::spend::SpendStore::put_daily_spend(mem.table.as_ref(), &spend).await.expect("spend");
        }
        (app, mem, t)
    }

    fn q(range: &str) -> Vec<(String, String)> {
        vec![("time_range".to_string(), range.to_string())]
    }

    #[tokio::test]
    async fn usd_spend_converts_into_ars_at_each_days_rate() {
        let (app, _mem, t) = seed().await;
        let now = crate::testing::unit_now();
        let body = SetRatesRequest {
            rates: vec![
                RateInput {
                    from: "USD".into(),
                    to: "ARS".into(),
                    rate: "1000".into(),
                    effective_from: "2026-11-01".into(),
                },
                RateInput {
                    from: "USD".into(),
                    to: "ARS".into(),
                    rate: "1050.25".into(),
                    effective_from: "2026-11-15".into(),
                },
            ],
        };
        set_rates(app.fx_rates.as_ref(), t, "u", body, now).await.expect("rates");
        let dash = load_dashboard((&app).into(), t, &q("30d"), "30d", now).await.expect("load");
        // 100 USD × 1000 + 100 USD × 1050.25 = 100,000.00 + 105,025.00 ARS.
        let h = dash.headline();
        assert_eq!((h.currency, h.spend, h.revenue), (ars(), MinorUnits(20_502_500), MinorUnits(42_000_000)));
        let roi = dash.roi_view(true);
        // (420,000 − 205,025) / 205,025 = 1.04853… → 104.85 %.
        assert_eq!(roi["roi_percent"], serde_json::json!(104.85));
        assert_eq!(roi["reason"], Value::Null);
        let rates: Vec<(String, String)> = roi["fx"]["rates"]
            .as_array()
            .expect("rates")
            .iter()
            .map(|r| (r["rate"].as_str().unwrap_or("").to_string(), r["source"].as_str().unwrap_or("").to_string()))
            .collect();
        assert_eq!(rates, vec![("1000".into(), "manual".into()), ("1050.25".into(), "manual".into())]);
        let camp = &roi["campaigns"][0];
        assert_eq!(
            (camp["spend_minor"].clone(), camp["currency"].clone()),
            (serde_json::json!(20_502_500), serde_json::json!("ARS"))
        );
        assert_eq!(camp["spend_billed_minor"], 20_000);
        // The daily series carries each day's converted spend.
        let points = dash.series()["points"].as_array().expect("points").clone();
        let spend_on = |d: &str| points.iter().find(|p| p["date"] == d).map(|p| p["spend_minor"].clone());
        assert_eq!(spend_on("2026-11-10"), Some(serde_json::json!(10_000_000)));
        assert_eq!(spend_on("2026-11-20"), Some(serde_json::json!(10_502_500)));
        // A long range (monthly rollups) converts by day too.
        let long = load_dashboard((&app).into(), t, &q("this_year"), "30d", now).await.expect("year");
        assert_eq!(long.headline().spend, MinorUnits(20_502_500));
    }

    #[tokio::test]
    async fn without_a_rate_ratios_are_null_with_a_reason() {
        let (app, _mem, t) = seed().await;
        let now = crate::testing::unit_now();
        // Only Nov 15 on: Nov 10's spend has no rate.
        let body = SetRatesRequest {
            rates: vec![RateInput {
                from: "USD".into(),
                to: "ARS".into(),
                rate: "1050.25".into(),
                effective_from: "2026-11-15".into(),
            }],
        };
        set_rates(app.fx_rates.as_ref(), t, "u", body, now).await.expect("rates");
        let dash = load_dashboard((&app).into(), t, &q("30d"), "30d", now).await.expect("load");
        let roi = dash.roi_view(true);
        for k in ["roi_percent", "roi_ratio", "roas", "cpa_minor"] {
            assert_eq!(roi[k], Value::Null, "{k}");
        }
        assert_eq!(roi["reason"], NO_RATE_REASON);
        assert_eq!(roi["fx"]["complete"], false);
        assert_eq!(roi["fx"]["missing_rates"][0]["days"], serde_json::json!(["2026-11-10"]));
        assert_eq!(roi["fx"]["missing_rates"][0]["unconverted_spend_minor"], 10_000);
        // The frontend's row `roi` stays a number; the exact ratio is null with the reason.
        assert_eq!(roi["campaigns"][0]["roi"], 0.0);
        assert_eq!(roi["campaigns"][0]["roi_ratio"], Value::Null);
        assert_eq!(roi["campaigns"][0]["reason"], NO_RATE_REASON);
        // No rate at all: still null, never 0.
        let (app, _mem, t) = seed().await;
        let roi = load_dashboard((&app).into(), t, &q("30d"), "30d", now).await.expect("load").roi_view(false);
        assert_eq!((roi["roi_percent"].clone(), roi["roas"].clone()), (Value::Null, Value::Null));
        assert_eq!(roi["total_revenue_minor"], 42_000_000);
    }

    #[tokio::test]
    async fn bad_rates_are_refused_and_nothing_is_written() {
        let (app, mem, t) = seed().await;
        let now = crate::testing::unit_now();
        let one = |from: &str, to: &str, rate: &str, eff: &str| RateInput {
            from: from.into(),
            to: to.into(),
            rate: rate.into(),
            effective_from: eff.into(),
        };
        let ok = one("USD", "ARS", "1000", "2026-11-01");
        for bad in [
            one("USD", "ARX", "1", "2026-11-01"),
            one("USD", "USD", "1", "2026-11-01"),
            one("USD", "ARS", "-1", "2026-11-01"),
            one("USD", "ARS", "1e3", "2026-11-01"),
            one("USD", "ARS", "0", "2026-11-01"),
            one("USD", "ARS", "1", "2026-13-01"),
            ok.clone(),
        ] {
            let req = SetRatesRequest { rates: vec![ok.clone(), bad] };
            let err = set_rates(app.fx_rates.as_ref(), t, "u", req, now).await.expect_err("refused");
            assert_eq!(crate::ApiError::from(err).status().as_u16(), 400);
        }
        let empty = SetRatesRequest { rates: vec![] };
        assert!(set_rates(app.fx_rates.as_ref(), t, "u", empty, now).await.is_err());
        let (stored, _) = mem.table.fx_rates(t, Currency::USD, ars(), now.date_naive()).await.expect("read");
        assert!(stored.is_empty());
    }
}
