//! The dashboard's read model: per-day and per-month aggregate items of CRM numbers, and the daily
//! Meta spend items (with monthly rollups) — read with `Query` only, so the cost of a dashboard
//! request depends on the length of the period, never on the number of leads.
//!
//! Items (PK `T#{tenant}`):
//! - `AGG#D#{yyyy-mm-dd}` / `AGG#M#{yyyy-mm}`: top-level numeric counters updated with `ADD`
//!   (`leads`, `leads__src__META_ADS`, `leads__camp__{id}`, `revenue__USD__ad__{id}`, …; see
//!   [`counter`]). Top-level because `ADD` on a nested map path fails while the map is missing.
//! - spend items of each ad account, read through [`SpendStore`] (see `store::spend`).
//!
//! This module plans which items cover a period ([`plan_reads`]) and sums them; the items
//! themselves come through the [`AggregateStore`] and [`SpendStore`] ports.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use futures_util::future::try_join_all;
use serde::Serialize;

use crate::domain::ids::TenantId;
use crate::domain::money::{saturating_sum, Currency, MinorUnits};
use crate::domain::period::{Period, MAX_DAILY_SERIES_DAYS};
pub use crate::store::aggregates::Counters;
use crate::store::aggregates::{AggBucket, AggregateStore};
use crate::store::spend::{merge_rows, SpendRow, SpendStore};
use crate::store::{ReadCost, StoreError};

/// Names of the counter attributes. A metric is `leads`, `opps`, `sales`, `customers` or
/// `revenue__{CUR}`; each is kept in total and per lead source, Meta campaign and Meta ad.
pub mod counter {
    pub const LEADS: &str = "leads";
    pub const OPPORTUNITIES: &str = "opps";
    pub const SALES: &str = "sales";
    /// Leads whose first completed sale happened that day (paying customers acquired).
    pub const CUSTOMERS: &str = "customers";
    pub const META_SOURCE: &str = crate::domain::ids::LeadSource::META_ADS;

    pub fn revenue(currency: &str) -> String {
        format!("revenue__{currency}")
    }
    pub fn by_source(metric: &str, source: &str) -> String {
        format!("{metric}__src__{source}")
    }
    pub fn by_campaign(metric: &str, campaign: &str) -> String {
        format!("{metric}__camp__{campaign}")
    }
    pub fn by_ad(metric: &str, ad: &str) -> String {
        format!("{metric}__ad__{ad}")
    }
    /// Display-name attributes (strings, `SET` beside the counters when a lead brings them).
    pub fn campaign_name(campaign: &str) -> String {
        format!("name__camp__{campaign}")
    }
    pub fn ad_name(ad: &str) -> String {
        format!("name__ad__{ad}")
    }
    /// The campaign an ad belongs to.
    pub fn ad_campaign(ad: &str) -> String {
        format!("campaign__ad__{ad}")
    }
    /// `revenue__{CUR}` totals in `c` → the currencies seen.
    pub fn revenue_currencies(c: &super::Counters) -> Vec<String> {
        c.keys()
            .filter_map(|k| k.strip_prefix("revenue__"))
            .filter(|rest| !rest.contains("__"))
            .map(str::to_string)
            .collect()
    }
    /// Ids `x` of the attributes `{metric}__{kind}__{x}` in `c` (kind `camp` or `ad`).
    pub fn ids<'a>(c: &'a super::Counters, metric: &str, kind: &str) -> impl Iterator<Item = &'a str> + 'a {
        let prefix = format!("{metric}__{kind}__");
        c.keys().filter_map(move |k| k.strip_prefix(prefix.as_str()))
    }
}

pub fn get(c: &Counters, name: &str) -> i64 {
    c.get(name).copied().unwrap_or(0)
}

pub fn add_all(into: &mut Counters, from: &Counters) {
    for (k, v) in from {
        let sum = into.entry(k.clone()).or_insert(0);
        *sum = sum.saturating_add(*v);
    }
}

/// Series granularity: daily for short periods, monthly (rollups) for long ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    Day,
    Month,
}

/// Which items cover a period: daily items for the partial months at its edges (or all of it
/// when short), monthly rollups for the full months in between.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadPlan {
    pub granularity: Granularity,
    /// Inclusive day ranges read from daily items.
    pub day_ranges: Vec<(NaiveDate, NaiveDate)>,
    /// Inclusive range of months (first days) read from monthly rollups.
    pub months: Option<(NaiveDate, NaiveDate)>,
}

fn first_of_month(d: NaiveDate) -> NaiveDate {
    d.with_day(1).unwrap_or(d)
}

fn last_of_month(d: NaiveDate) -> NaiveDate {
    first_of_month(d).checked_add_months(chrono::Months::new(1)).map_or(d, |n| n - Duration::days(1))
}

/// `today` is the last local day that can have data: a period ending today reads the current
/// month's rollup instead of its days (nothing after today exists), so `all` over 3 years reads
/// 37 rollups per item kind.
pub fn plan_reads(p: &Period, today: NaiveDate) -> ReadPlan {
    if p.days() <= MAX_DAILY_SERIES_DAYS {
        return ReadPlan { granularity: Granularity::Day, day_ranges: vec![(p.from, p.to)], months: None };
    }
    let mut day_ranges = Vec::new();
    let mut first_full = first_of_month(p.from);
    if p.from != first_full {
        day_ranges.push((p.from, last_of_month(p.from)));
        first_full = last_of_month(p.from) + Duration::days(1);
    }
    let mut last_full = first_of_month(p.to);
    if p.to != last_of_month(p.to) && p.to < today {
        day_ranges.push((first_of_month(p.to), p.to));
        last_full = first_of_month(last_full - Duration::days(1));
    }
    let months = (first_full <= last_full).then_some((first_full, last_full));
    ReadPlan { granularity: Granularity::Month, day_ranges, months }
}

/// The bucket of the series a day belongs to.
pub fn bucket(g: Granularity, d: NaiveDate) -> NaiveDate {
    match g {
        Granularity::Day => d,
        Granularity::Month => first_of_month(d),
    }
}

/// Every bucket of the period, in order (zero-filled series).
pub fn buckets(g: Granularity, p: &Period) -> Vec<NaiveDate> {
    let mut out = Vec::new();
    let mut d = bucket(g, p.from);
    while d <= p.to {
        out.push(d);
        d = match g {
            Granularity::Day => d + Duration::days(1),
            Granularity::Month => last_of_month(d) + Duration::days(1),
        };
    }
    out
}

/// One ad account's spend over a period, summed from day items and monthly rollups.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AccountSpend {
    pub ad_account_id: String,
    pub currency: Option<Currency>,
    pub attribution_setting: Option<String>,
    pub campaigns: Vec<SpendRow>,
    pub ads: Vec<SpendRow>,
    /// Spend per series bucket.
    pub by_bucket: BTreeMap<NaiveDate, MinorUnits>,
    /// Campaign and ad rows per series bucket (daily insights, FX conversion by day).
    pub campaigns_by_bucket: BTreeMap<NaiveDate, Vec<SpendRow>>,
    pub ads_by_bucket: BTreeMap<NaiveDate, Vec<SpendRow>>,
    pub synced_at: Option<DateTime<Utc>>,
}

impl AccountSpend {
    pub fn total(&self) -> MinorUnits {
        MinorUnits(saturating_sum(self.campaigns.iter().map(|c| c.spend_minor.0)))
    }
    pub fn absorb(
        &mut self,
        bucket_day: NaiveDate,
        currency: Currency,
        attribution: &str,
        campaigns: &[SpendRow],
        ads: &[SpendRow],
    ) {
        self.currency.get_or_insert(currency);
        self.attribution_setting.get_or_insert_with(|| attribution.to_string());
        merge_rows(&mut self.campaigns, campaigns, 1);
        merge_rows(&mut self.ads, ads, 1);
        merge_rows(self.campaigns_by_bucket.entry(bucket_day).or_default(), campaigns, 1);
        merge_rows(self.ads_by_bucket.entry(bucket_day).or_default(), ads, 1);
        let day_total = MinorUnits(saturating_sum(campaigns.iter().map(|c| c.spend_minor.0)));
        let e = self.by_bucket.entry(bucket_day).or_insert(MinorUnits::ZERO);
        *e = e.saturating_add(day_total);
    }
}

/// The CRM numbers of a period: the sum and one entry per series bucket.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CrmAggregates {
    pub total: Counters,
    pub by_bucket: BTreeMap<NaiveDate, Counters>,
    /// Campaign/ad display names seen on the items read (latest item wins).
    pub names: BTreeMap<String, String>,
}

/// The CRM aggregates of `period` as planned by [`plan_reads`], and what reading them cost.
pub async fn load_crm_aggregates(
    store: &dyn AggregateStore,
    tenant: TenantId,
    period: &Period,
    plan: &ReadPlan,
) -> Result<(CrmAggregates, ReadCost), StoreError> {
    let mut out = CrmAggregates::default();
    let mut cost = ReadCost::default();
    let mut reads: Vec<(AggBucket, NaiveDate, NaiveDate)> =
        plan.day_ranges.iter().map(|(a, b)| (AggBucket::Day, *a, *b)).collect();
    reads.extend(plan.months.map(|(a, b)| (AggBucket::Month, a, b)));
    // Every range at once (one round trip), summed in plan order.
    let answers =
        try_join_all(reads.iter().map(|(kind, from, to)| store.aggregate_items(tenant, *kind, *from, *to))).await?;
    for ((kind, _, _), (items, c)) in reads.into_iter().zip(answers) {
        cost.add(c);
        for item in items.into_iter().filter(|i| kind == AggBucket::Month || period.contains(i.date)) {
            add_all(&mut out.total, &item.counters);
            add_all(out.by_bucket.entry(bucket(plan.granularity, item.date)).or_default(), &item.counters);
            out.names.extend(item.names);
        }
    }
    Ok((out, cost))
}

/// One account's spend over `period`, by the same plan as the CRM aggregates.
pub async fn load_account_spend(
    store: &dyn SpendStore,
    tenant: TenantId,
    account: &str,
    period: &Period,
    plan: &ReadPlan,
) -> Result<(AccountSpend, ReadCost), StoreError> {
    let mut out = AccountSpend { ad_account_id: account.to_string(), ..Default::default() };
    let mut cost = ReadCost::default();
    // Day ranges, monthly rollups and the sync marker at once (one round trip).
    let days = try_join_all(plan.day_ranges.iter().map(|(a, b)| store.spend_days(tenant, account, *a, *b)));
    let months = async {
        match plan.months {
            Some((a, b)) => store.spend_months(tenant, account, a, b).await.map(Some),
            None => Ok(None),
        }
    };
    let (days, months, synced_at) = tokio::try_join!(days, months, store.spend_synced_at(tenant, account))?;
    for (days, c) in days {
        cost.add(c);
        for day in days.iter().filter(|d| period.contains(d.date)) {
            let at = bucket(plan.granularity, day.date);
            out.absorb(at, day.currency, &day.attribution_setting, &day.campaigns, &day.ads);
        }
    }
    if let Some((months, c)) = months {
        cost.add(c);
        for m in &months {
            out.absorb(m.month, m.currency, &m.attribution_setting, &m.campaigns, &m.ads);
        }
    }
    out.synced_at = synced_at;
    cost.add(ReadCost { items_read: 1, requests: 1 });
    Ok((out, cost))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("date")
    }

    fn period(from: NaiveDate, to: NaiveDate) -> Period {
        Period { name: "custom".into(), from, to }
    }

    #[test]
    fn short_periods_read_daily_items_only() {
        let p = plan_reads(&period(d(2026, 10, 26), d(2026, 11, 24)), d(2026, 11, 24));
        assert_eq!(p.granularity, Granularity::Day);
        assert_eq!(p.day_ranges, vec![(d(2026, 10, 26), d(2026, 11, 24))]);
        assert_eq!(p.months, None);
    }

    #[test]
    fn long_periods_read_monthly_rollups_between_partial_edges() {
        let today = d(2026, 11, 30);
        let p = plan_reads(&period(d(2023, 11, 10), d(2026, 11, 24)), today);
        assert_eq!(p.granularity, Granularity::Month);
        assert_eq!(p.day_ranges, vec![(d(2023, 11, 10), d(2023, 11, 30)), (d(2026, 11, 1), d(2026, 11, 24))]);
        assert_eq!(p.months, Some((d(2023, 12, 1), d(2026, 10, 1))));
        // Whole months at both ends: rollups only.
        let p = plan_reads(&period(d(2026, 1, 1), d(2026, 10, 31)), today);
        assert_eq!(p.day_ranges, vec![]);
        assert_eq!(p.months, Some((d(2026, 1, 1), d(2026, 10, 1))));
        // Ending today: the current month's rollup holds exactly its days so far.
        let p = plan_reads(&period(d(2023, 11, 1), d(2026, 11, 24)), d(2026, 11, 24));
        assert_eq!(p.day_ranges, vec![]);
        assert_eq!(p.months, Some((d(2023, 11, 1), d(2026, 11, 1))));
    }

    #[test]
    fn buckets_zero_fill_the_period() {
        let p = period(d(2026, 2, 27), d(2026, 3, 2));
        assert_eq!(buckets(Granularity::Day, &p), vec![d(2026, 2, 27), d(2026, 2, 28), d(2026, 3, 1), d(2026, 3, 2)]);
        let p = period(d(2025, 12, 15), d(2026, 2, 3));
        assert_eq!(buckets(Granularity::Month, &p), vec![d(2025, 12, 1), d(2026, 1, 1), d(2026, 2, 1)]);
    }

    #[test]
    fn counter_names_are_top_level_and_parse_back() {
        let mut c = Counters::new();
        c.insert(counter::revenue("USD"), 10);
        c.insert(counter::by_source(&counter::revenue("USD"), "META_ADS"), 10);
        c.insert(counter::revenue("JPY"), 5);
        c.insert(counter::by_campaign(counter::LEADS, "120"), 2);
        assert_eq!(counter::revenue_currencies(&c), vec!["JPY".to_string(), "USD".to_string()]);
        assert_eq!(counter::ids(&c, counter::LEADS, "camp").collect::<Vec<_>>(), vec!["120"]);
        assert_eq!(counter::by_ad("opps", "9"), "opps__ad__9");
    }
}
