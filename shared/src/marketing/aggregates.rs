//! The dashboard's read model: per-day and per-month aggregate items of CRM numbers, and the daily
//! Meta spend items (with monthly rollups) — read with `Query` only, so the cost of a dashboard
//! request depends on the length of the period, never on the number of leads.
//!
//! Items (PK `T#{tenant}`):
//! - `AGG#D#{yyyy-mm-dd}` / `AGG#M#{yyyy-mm}`: top-level numeric counters updated with `ADD`
//!   (`leads`, `leads__src__META_ADS`, `leads__camp__{id}`, `revenue__USD__ad__{id}`, …; see
//!   [`counter`]). Top-level because `ADD` on a nested map path fails while the map is missing.
//! - `SPEND#{account}#{yyyy-mm-dd}`: one Meta ad account-day ([`DailySpend`]), campaign-level and
//!   ad-level rows in the account currency, overwritten when Meta restates the day.
//! - `SPENDM#{account}#{yyyy-mm}`: the month's rollup of those days, kept equal to their sum by
//!   [`DynamoStore::put_daily_spend`] (old day subtracted, new day added, optimistic lock).
//! - `SPENDSYNC#{account}`: when the spend sync last wrote the account (data freshness).

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::ids::TenantId;
use crate::domain::money::{Currency, MinorUnits};
use crate::domain::period::{Period, MAX_DAILY_SERIES_DAYS};
use crate::store::{
    attr, from_item, is_transaction_conflict, keys, retry_conflicts, to_item, Conflict, DynamoStore, Item, ReadCost,
    StoreError,
};

/// Counter values by attribute name.
pub type Counters = BTreeMap<String, i64>;

/// Names of the counter attributes. A metric is `leads`, `opps`, `sales`, `customers` or
/// `revenue__{CUR}`; each is kept in total and per lead source, Meta campaign and Meta ad.
pub mod counter {
    pub const LEADS: &str = "leads";
    pub const OPPORTUNITIES: &str = "opps";
    pub const SALES: &str = "sales";
    /// Leads whose first completed sale happened that day (paying customers acquired).
    pub const CUSTOMERS: &str = "customers";
    pub const META_SOURCE: &str = "META_ADS";

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
        *into.entry(k.clone()).or_insert(0) += v;
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

fn names_of(item: &Item, into: &mut BTreeMap<String, String>) {
    for (k, v) in item {
        if k.starts_with("name__") || k.starts_with("campaign__ad__") {
            if let Ok(s) = v.as_s() {
                into.insert(k.clone(), s.clone());
            }
        }
    }
}

fn counters_of(item: &Item) -> Counters {
    item.iter()
        .filter(|(k, _)| k.as_str() != attr::PK && k.as_str() != attr::SK)
        .filter_map(|(k, v)| v.as_n().ok().and_then(|n| n.parse::<i64>().ok()).map(|n| (k.clone(), n)))
        .collect()
}

fn date_of_sk(sk: &str, prefix: &str, month: bool) -> Option<NaiveDate> {
    let rest = sk.strip_prefix(prefix)?;
    if month {
        NaiveDate::parse_from_str(&format!("{rest}-01"), "%Y-%m-%d").ok()
    } else {
        NaiveDate::parse_from_str(rest, "%Y-%m-%d").ok()
    }
}

/// Who the spend rows were attributed by (FIELD-NOTES 4): stored with the rows, shown in reports.
pub const DEFAULT_ATTRIBUTION_SETTING: &str = "unified";

/// One campaign's or one ad's numbers for an account-day (or month), in the account currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpendRow {
    /// Campaign id (campaign rows) or ad id (ad rows).
    pub id: String,
    pub name: String,
    /// `active`, `paused` or `archived` (Meta's effective status, lower-cased).
    pub status: String,
    /// The ad's campaign (ad rows).
    #[serde(default)]
    pub campaign_id: Option<String>,
    #[serde(default)]
    pub campaign_name: Option<String>,
    pub spend_minor: MinorUnits,
    pub impressions: i64,
    pub clicks: i64,
    /// Leads Meta reports (`actions` lead / onsite_conversion.lead_grouped), not CRM leads.
    pub meta_leads: i64,
}

/// `T#{tenant}` / `SPEND#{account}#{date}`: what the Meta spend sync writes per account-day.
/// `date` is a calendar day in the ad account's zone (Meta's `date_start`, FIELD-NOTES 3).
/// The account-day's spend is the sum of the **campaign-level** rows (ad-level rows may not cover
/// all spend, FIELD-NOTES 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DailySpend {
    pub tenant_id: TenantId,
    /// `act_…`.
    pub ad_account_id: String,
    pub date: NaiveDate,
    pub currency: Currency,
    #[serde(default)]
    pub account_time_zone: Option<String>,
    /// e.g. `unified` (as in Ads Manager) or explicit windows such as `7d_click,1d_view`.
    pub attribution_setting: String,
    pub synced_at: DateTime<Utc>,
    pub campaigns: Vec<SpendRow>,
    #[serde(default)]
    pub ads: Vec<SpendRow>,
}

impl DailySpend {
    pub fn total_spend(&self) -> MinorUnits {
        MinorUnits(self.campaigns.iter().map(|c| c.spend_minor.0).sum())
    }
}

/// `T#{tenant}` / `SPENDM#{account}#{yyyy-mm}`: the sum of the account's days in a month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonthlySpend {
    pub tenant_id: TenantId,
    pub ad_account_id: String,
    /// First day of the month.
    pub month: NaiveDate,
    pub currency: Currency,
    pub attribution_setting: String,
    pub synced_at: DateTime<Utc>,
    pub campaigns: Vec<SpendRow>,
    #[serde(default)]
    pub ads: Vec<SpendRow>,
}

/// Adds `sign` × `rows` into `into` (by id), keeping the latest names/status of `rows`.
fn merge_rows(into: &mut Vec<SpendRow>, rows: &[SpendRow], sign: i64) {
    for r in rows {
        match into.iter_mut().find(|x| x.id == r.id) {
            Some(x) => {
                x.spend_minor = MinorUnits(x.spend_minor.0 + sign * r.spend_minor.0);
                x.impressions += sign * r.impressions;
                x.clicks += sign * r.clicks;
                x.meta_leads += sign * r.meta_leads;
                if sign > 0 {
                    x.name.clone_from(&r.name);
                    x.status.clone_from(&r.status);
                    x.campaign_id.clone_from(&r.campaign_id);
                    x.campaign_name.clone_from(&r.campaign_name);
                }
            }
            None => {
                let mut n = r.clone();
                n.spend_minor = MinorUnits(sign * r.spend_minor.0);
                n.impressions *= sign;
                n.clicks *= sign;
                n.meta_leads *= sign;
                into.push(n);
            }
        }
    }
    into.retain(|x| x.spend_minor.0 != 0 || x.impressions != 0 || x.clicks != 0 || x.meta_leads != 0);
}

/// The monthly rollup of some days of one account-month (a backfill writes days and rollups in
/// bulk; the sync's day-by-day path is [`DynamoStore::put_daily_spend`]). `None` without days.
pub fn rollup_month(days: &[DailySpend]) -> Option<MonthlySpend> {
    let first = days.first()?;
    let mut m = MonthlySpend {
        tenant_id: first.tenant_id,
        ad_account_id: first.ad_account_id.clone(),
        month: first_of_month(first.date),
        currency: first.currency,
        attribution_setting: first.attribution_setting.clone(),
        synced_at: first.synced_at,
        campaigns: vec![],
        ads: vec![],
    };
    for d in days {
        merge_rows(&mut m.campaigns, &d.campaigns, 1);
        merge_rows(&mut m.ads, &d.ads, 1);
        m.synced_at = m.synced_at.max(d.synced_at);
    }
    Some(m)
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
    pub synced_at: Option<DateTime<Utc>>,
}

impl AccountSpend {
    pub fn total(&self) -> MinorUnits {
        MinorUnits(self.campaigns.iter().map(|c| c.spend_minor.0).sum())
    }
    fn absorb(
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
        let day_total: i64 = campaigns.iter().map(|c| c.spend_minor.0).sum();
        let e = self.by_bucket.entry(bucket_day).or_insert(MinorUnits::ZERO);
        *e = MinorUnits(e.0 + day_total);
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

impl DynamoStore {
    /// The CRM aggregates of `period` as planned by [`plan_reads`].
    pub async fn load_crm_aggregates(
        &self,
        tenant: TenantId,
        period: &Period,
        plan: &ReadPlan,
    ) -> Result<(CrmAggregates, ReadCost), StoreError> {
        let mut out = CrmAggregates::default();
        let mut cost = ReadCost::default();
        let absorb = |d: NaiveDate, c: Counters, out: &mut CrmAggregates| {
            add_all(&mut out.total, &c);
            add_all(out.by_bucket.entry(bucket(plan.granularity, d)).or_default(), &c);
        };
        for (a, b) in &plan.day_ranges {
            let (items, c) = self.query_between(keys::tenant(tenant), keys::agg_day(*a), keys::agg_day(*b)).await?;
            cost.add(c);
            for item in items {
                let d = item.get(attr::SK).and_then(|v| v.as_s().ok()).and_then(|s| date_of_sk(s, "AGG#D#", false));
                if let Some(d) = d.filter(|d| period.contains(*d)) {
                    absorb(d, counters_of(&item), &mut out);
                    names_of(&item, &mut out.names);
                }
            }
        }
        if let Some((a, b)) = plan.months {
            let (items, c) = self.query_between(keys::tenant(tenant), keys::agg_month(a), keys::agg_month(b)).await?;
            cost.add(c);
            for item in items {
                let d = item.get(attr::SK).and_then(|v| v.as_s().ok()).and_then(|s| date_of_sk(s, "AGG#M#", true));
                if let Some(d) = d {
                    absorb(d, counters_of(&item), &mut out);
                    names_of(&item, &mut out.names);
                }
            }
        }
        Ok((out, cost))
    }

    /// One account's spend over `period`, by the same plan as the CRM aggregates.
    pub async fn load_account_spend(
        &self,
        tenant: TenantId,
        account: &str,
        period: &Period,
        plan: &ReadPlan,
    ) -> Result<(AccountSpend, ReadCost), StoreError> {
        let mut out = AccountSpend { ad_account_id: account.to_string(), ..Default::default() };
        let mut cost = ReadCost::default();
        for (a, b) in &plan.day_ranges {
            let (items, c) = self
                .query_between(keys::tenant(tenant), keys::spend_day(account, *a), keys::spend_day(account, *b))
                .await?;
            cost.add(c);
            for item in items {
                let day: DailySpend = from_item(item)?;
                if period.contains(day.date) {
                    out.absorb(
                        bucket(plan.granularity, day.date),
                        day.currency,
                        &day.attribution_setting,
                        &day.campaigns,
                        &day.ads,
                    );
                }
            }
        }
        if let Some((a, b)) = plan.months {
            let (items, c) = self
                .query_between(keys::tenant(tenant), keys::spend_month(account, a), keys::spend_month(account, b))
                .await?;
            cost.add(c);
            for item in items {
                let m: MonthlySpend = from_item(item)?;
                out.absorb(m.month, m.currency, &m.attribution_setting, &m.campaigns, &m.ads);
            }
        }
        if let Some(item) = self.get_item(keys::tenant(tenant), &keys::spend_sync(account)).await? {
            out.synced_at = item
                .get("synced_at")
                .and_then(|v| v.as_s().ok())
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|t| t.with_timezone(&Utc));
        }
        cost.add(ReadCost { items_read: 1, requests: 1 });
        Ok((out, cost))
    }

    /// Upserts one account-day of spend (restated days overwrite) and keeps the month's rollup
    /// equal to the sum of its days: in one transaction, guarded by the revisions read, retried
    /// when a concurrent writer got there first. Called by the spend sync (and by tests).
    pub async fn put_daily_spend(&self, day: &DailySpend) -> Result<(), StoreError> {
        let pk = keys::tenant(day.tenant_id);
        let day_sk = keys::spend_day(&day.ad_account_id, day.date);
        let month_sk = keys::spend_month(&day.ad_account_id, day.date);
        let (pk, day_sk, month_sk) = (&pk, &day_sk, &month_sk);
        let written = retry_conflicts(|_| async move {
            let old_day = self.get_item(pk.clone(), day_sk).await?;
            let old_month = self.get_item(pk.clone(), month_sk).await?;
            let (day_raw, month_raw) = (old_day.clone(), old_month.clone());
            let old_day: Option<DailySpend> = old_day.map(from_item).transpose()?;
            let mut month: MonthlySpend = match old_month.map(from_item::<MonthlySpend>).transpose()? {
                Some(m) if m.currency == day.currency => m,
                Some(_) => {
                    return Err(StoreError::Corrupt(format!(
                        "account {} changed currency; its monthly spend rollup needs a rebuild",
                        day.ad_account_id
                    )))
                }
                None => MonthlySpend {
                    tenant_id: day.tenant_id,
                    ad_account_id: day.ad_account_id.clone(),
                    month: first_of_month(day.date),
                    currency: day.currency,
                    attribution_setting: day.attribution_setting.clone(),
                    synced_at: day.synced_at,
                    campaigns: vec![],
                    ads: vec![],
                },
            };
            if let Some(old) = &old_day {
                merge_rows(&mut month.campaigns, &old.campaigns, -1);
                merge_rows(&mut month.ads, &old.ads, -1);
            }
            merge_rows(&mut month.campaigns, &day.campaigns, 1);
            merge_rows(&mut month.ads, &day.ads, 1);
            month.synced_at = month.synced_at.max(day.synced_at);
            month.attribution_setting.clone_from(&day.attribution_setting);

            let mut sync_item = Item::new();
            sync_item.insert(attr::PK.into(), AttributeValue::S(pk.clone()));
            sync_item.insert(attr::SK.into(), AttributeValue::S(keys::spend_sync(&day.ad_account_id)));
            sync_item.insert("synced_at".into(), AttributeValue::S(day.synced_at.to_rfc3339()));
            let sync_put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(sync_item))
                .build()
                .map_err(|e| StoreError::Dynamo(e.to_string()))?;
            let result = self
                .client
                .transact_write_items()
                .transact_items(self.guarded_put(to_item(pk.clone(), day_sk, day)?, day_raw.as_ref())?)
                .transact_items(self.guarded_put(to_item(pk.clone(), month_sk, &month)?, month_raw.as_ref())?)
                .transact_items(TransactWriteItem::builder().put(sync_put).build())
                .send()
                .await;
            match result {
                Ok(_) => Ok(Ok(())),
                Err(e) if is_transaction_conflict(&e) => Ok(Err(Conflict)),
                Err(e) => Err(StoreError::from_sdk(e)),
            }
        })
        .await?;
        written.ok_or_else(|| StoreError::Dynamo("spend upsert kept conflicting with concurrent writers".into()))
    }
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
    fn restating_a_day_replaces_its_contribution_to_the_month() {
        let row = |id: &str, spend: i64| SpendRow {
            id: id.into(),
            name: id.into(),
            status: "active".into(),
            campaign_id: None,
            campaign_name: None,
            spend_minor: MinorUnits(spend),
            impressions: 10,
            clicks: 1,
            meta_leads: 0,
        };
        let mut month = vec![row("c1", 500), row("c2", 100)];
        merge_rows(&mut month, &[row("c1", 200)], -1); // old day
        merge_rows(&mut month, &[row("c1", 250), row("c3", 50)], 1); // restated day
        let spend: Vec<(String, i64)> = month.iter().map(|r| (r.id.clone(), r.spend_minor.0)).collect();
        assert_eq!(spend, vec![("c1".into(), 550), ("c2".into(), 100), ("c3".into(), 50)]);
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
