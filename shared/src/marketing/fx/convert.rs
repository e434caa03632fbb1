//! Spend billed in another currency than the tenant's reporting currency, converted at the rate of
//! the spend's own day ([`super::rate_book`]: manual, else the ECB's), row by row, per day,
//! integer math rounded half away from zero.
//!
//! Without a rate for some day with spend, the conversion is incomplete: converted numbers cover
//! only the days with a rate, and every ratio that depends on the missing spend is `null` with
//! [`NO_RATE_REASON`] — never 0.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::NaiveDate;
use serde_json::{json, Value};

use super::rate_book::{AppliedRate, RateBook, RateSources};
use crate::domain::ids::TenantId;
use crate::domain::money::Currency;
use crate::domain::period::Period;
use crate::marketing::aggregates::{bucket, AccountSpend, Granularity};
use crate::store::spend::{SpendRow, SpendStore};
use crate::store::{ReadCost, StoreError};

/// Why ratios are `null` when some spend could not be converted.
pub const NO_RATE_REASON: &str = "no_fx_rate: some spend is billed in another currency and no exchange rate \
covers its day (the ECB's reference rates do not quote the pair, or are more than 7 days old; set one with \
PUT /crm/marketing/fx-rates)";

/// The foreign spend of a dashboard, converted into its reporting currency.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpendConversion {
    /// Converted spend (reporting currency minor units) of the days that had a rate.
    pub total: i64,
    pub by_bucket: BTreeMap<NaiveDate, i64>,
    pub campaigns: BTreeMap<String, i64>,
    pub ads: BTreeMap<String, i64>,
    /// Rates used, by `(from, effective_from, source)`.
    pub rates_used: BTreeMap<(Currency, NaiveDate, String), AppliedRate>,
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

    /// What the responses show: rates used and their source (`manual` / `ecb`; `via` the base a
    /// cross rate went through), and what is missing.
    pub fn to_json(&self, reporting: Currency) -> Value {
        let rates: Vec<Value> = self
            .rates_used
            .values()
            .map(|r| {
                json!({
                    "from": r.from, "to": r.to, "rate": r.rate.to_string(),
                    "effective_from": r.effective_from, "source": r.source, "via": r.via,
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
        rate: Option<&AppliedRate>,
        ads: bool,
    ) {
        for r in rows.iter().filter(|r| r.spend_minor.0 != 0) {
            match rate {
                Some(rate) => {
                    let v = rate.rate.convert(r.spend_minor, from, to).0;
                    let into = if ads { &mut self.ads } else { &mut self.campaigns };
                    add_to(into.entry(r.id.clone()).or_insert(0), v);
                    if !ads {
                        add_to(self.campaign_buckets.entry((r.id.clone(), at)).or_insert(0), v);
                        add_to(&mut self.total, v);
                        add_to(self.by_bucket.entry(at).or_insert(0), v);
                    }
                    self.rates_used
                        .entry((from, rate.effective_from, rate.source.clone()))
                        .or_insert_with(|| rate.clone());
                }
                None => {
                    if ads {
                        self.missing_ads.insert(r.id.clone());
                    } else {
                        self.missing.entry(from).or_default().insert(day);
                        add_to(self.unconverted.entry(from).or_insert(0), r.spend_minor.0);
                        self.missing_campaigns.insert(r.id.clone());
                        self.missing_campaign_buckets.insert((r.id.clone(), at));
                    }
                }
            }
        }
    }
}

/// `*sum += v`, held at the `i64` bounds (see [`crate::domain::money`]'s "Overflow").
fn add_to(sum: &mut i64, v: i64) {
    *sum = sum.saturating_add(v);
}

/// Converts every account's spend not in `reporting` at the rate of each day. Day rows come from
/// the dashboard's daily buckets when the series is daily, else from one `Query` of the account's
/// day items (only for accounts in a foreign currency); rates from one [`RateBook`] per foreign
/// currency.
#[allow(clippy::too_many_arguments)]
pub async fn convert_spend(
    rates: RateSources<'_>,
    spend: &dyn SpendStore,
    tenant: TenantId,
    reporting: Currency,
    accounts: &[AccountSpend],
    period: &Period,
    granularity: Granularity,
    cost: &mut ReadCost,
) -> Result<SpendConversion, StoreError> {
    let mut out = SpendConversion::default();
    let mut books: HashMap<Currency, RateBook> = HashMap::new();
    for a in accounts {
        let Some(from) = a.currency.filter(|c| *c != reporting) else { continue };
        if a.campaigns.iter().all(|r| r.spend_minor.0 == 0) && a.ads.iter().all(|r| r.spend_minor.0 == 0) {
            continue;
        }
        out.currencies.insert(from);
        let book = match books.entry(from) {
            Entry::Occupied(b) => b.into_mut(),
            Entry::Vacant(slot) => {
                slot.insert(RateBook::load(rates, tenant, from, reporting, period.from, period.to, cost).await?)
            }
        };
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
            let rate = book.rate_on(day);
            out.convert_rows(day, at, &campaigns, from, reporting, rate.as_ref(), false);
            out.convert_rows(day, at, &ads, from, reporting, rate.as_ref(), true);
        }
    }
    Ok(out)
}
