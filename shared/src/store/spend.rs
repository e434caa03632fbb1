//! What the Meta spend sync writes per ad account: one item per account-day
//! (`SPEND#{account}#{day}`, campaign-level and ad-level rows in the account currency, overwritten
//! when Meta restates the day), the month's rollup (`SPENDM#{account}#{month}`, kept equal to the
//! sum of its days) and `SPENDSYNC#{account}` (when the sync last wrote the account).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::memory_table::MemoryTable;
use super::{
    attr, from_item, is_transaction_conflict, keys, retry_conflicts, to_item, Conflict, DynamoStore, Item, ItemReads,
    ReadCost, StoreError,
};
use crate::domain::ids::TenantId;
use crate::domain::money::{Currency, MinorUnits};

fn first_of_month(d: NaiveDate) -> NaiveDate {
    d.with_day(1).unwrap_or(d)
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
    /// A campaign's objective, budgets and schedule as the sync last saw them (campaign rows;
    /// absent on ad rows and on items written before the sync stored them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<CampaignSettings>,
}

/// A campaign's objective, budgets (minor units of the account currency; `None` when the
/// budget is set on its ad sets) and schedule, from `/{act}/campaigns`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignSettings {
    #[serde(default)]
    pub objective: Option<String>,
    #[serde(default)]
    pub daily_budget_minor: Option<i64>,
    #[serde(default)]
    pub lifetime_budget_minor: Option<i64>,
    #[serde(default)]
    pub start_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub end_time: Option<DateTime<Utc>>,
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
        MinorUnits(crate::domain::money::saturating_sum(self.campaigns.iter().map(|c| c.spend_minor.0)))
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
pub fn merge_rows(into: &mut Vec<SpendRow>, rows: &[SpendRow], sign: i64) {
    for r in rows {
        match into.iter_mut().find(|x| x.id == r.id) {
            Some(x) => {
                x.spend_minor = MinorUnits(x.spend_minor.0.saturating_add(r.spend_minor.0.saturating_mul(sign)));
                x.impressions = x.impressions.saturating_add(r.impressions.saturating_mul(sign));
                x.clicks = x.clicks.saturating_add(r.clicks.saturating_mul(sign));
                x.meta_leads = x.meta_leads.saturating_add(r.meta_leads.saturating_mul(sign));
                if sign > 0 {
                    x.name.clone_from(&r.name);
                    x.status.clone_from(&r.status);
                    x.campaign_id.clone_from(&r.campaign_id);
                    x.campaign_name.clone_from(&r.campaign_name);
                    if r.settings.is_some() {
                        x.settings.clone_from(&r.settings);
                    }
                }
            }
            None => {
                let mut n = r.clone();
                n.spend_minor = MinorUnits(r.spend_minor.0.saturating_mul(sign));
                n.impressions = n.impressions.saturating_mul(sign);
                n.clicks = n.clicks.saturating_mul(sign);
                n.meta_leads = n.meta_leads.saturating_mul(sign);
                into.push(n);
            }
        }
    }
    into.retain(|x| x.spend_minor.0 != 0 || x.impressions != 0 || x.clicks != 0 || x.meta_leads != 0);
}

/// The monthly rollup of some days of one account-month (a backfill writes days and rollups in
/// bulk; the sync's day-by-day path is [`SpendStore::put_daily_spend`]). `None` without days.
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

/// The month's rollup after `day` replaces `old_day` (if any) in `old_month` (if any).
pub fn restate_month(
    old_day: Option<&DailySpend>,
    old_month: Option<MonthlySpend>,
    day: &DailySpend,
) -> Result<MonthlySpend, StoreError> {
    let mut month = match old_month {
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
    if let Some(old) = old_day {
        merge_rows(&mut month.campaigns, &old.campaigns, -1);
        merge_rows(&mut month.ads, &old.ads, -1);
    }
    merge_rows(&mut month.campaigns, &day.campaigns, 1);
    merge_rows(&mut month.ads, &day.ads, 1);
    month.synced_at = month.synced_at.max(day.synced_at);
    month.attribution_setting.clone_from(&day.attribution_setting);
    Ok(month)
}

fn sync_marker(pk: &str, account: &str, at: DateTime<Utc>) -> Item {
    Item::from([
        (attr::PK.to_string(), AttributeValue::S(pk.to_string())),
        (attr::SK.to_string(), AttributeValue::S(keys::spend_sync(account))),
        ("synced_at".to_string(), AttributeValue::S(at.to_rfc3339())),
    ])
}

fn synced_at_of(item: &Item) -> Option<DateTime<Utc>> {
    item.get("synced_at")
        .and_then(|v| v.as_s().ok())
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// Spend items of a tenant's ad accounts. Only the write differs between DynamoDB and the
/// in-memory twin; reads are the same parsing of the same items.
#[async_trait]
pub trait SpendStore: ItemReads {
    /// Upserts one account-day (a restated day overwrites) and keeps the month's rollup equal to
    /// the sum of its days, atomically; re-running with the same day changes nothing.
    async fn put_daily_spend(&self, day: &DailySpend) -> Result<(), StoreError>;

    /// The account's days in `from..=to`, oldest first.
    async fn spend_days(
        &self,
        tenant: TenantId,
        account: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<(Vec<DailySpend>, ReadCost), StoreError> {
        let range = (keys::spend_day(account, from), keys::spend_day(account, to));
        let (items, cost) = self.item_range(keys::tenant(tenant), range.0, range.1).await?;
        Ok((items.into_iter().map(from_item).collect::<Result<_, _>>()?, cost))
    }

    /// The account's monthly rollups for the months of `from..=to`, oldest first.
    async fn spend_months(
        &self,
        tenant: TenantId,
        account: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<(Vec<MonthlySpend>, ReadCost), StoreError> {
        let range = (keys::spend_month(account, from), keys::spend_month(account, to));
        let (items, cost) = self.item_range(keys::tenant(tenant), range.0, range.1).await?;
        Ok((items.into_iter().map(from_item).collect::<Result<_, _>>()?, cost))
    }

    /// When the sync last wrote the account.
    async fn spend_synced_at(&self, tenant: TenantId, account: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(self.item(keys::tenant(tenant), &keys::spend_sync(account)).await?.as_ref().and_then(synced_at_of))
    }
}

#[async_trait]
impl SpendStore for DynamoStore {
    /// In one transaction guarded by the revisions read; retried when a concurrent writer got there
    /// first.
    async fn put_daily_spend(&self, day: &DailySpend) -> Result<(), StoreError> {
        let pk = keys::tenant(day.tenant_id);
        let day_sk = keys::spend_day(&day.ad_account_id, day.date);
        let month_sk = keys::spend_month(&day.ad_account_id, day.date);
        let (pk, day_sk, month_sk) = (&pk, &day_sk, &month_sk);
        let written = retry_conflicts(|_| async move {
            let day_raw = self.get_item(pk.clone(), day_sk).await?;
            let month_raw = self.get_item(pk.clone(), month_sk).await?;
            let old_day: Option<DailySpend> = day_raw.clone().map(from_item).transpose()?;
            let old_month: Option<MonthlySpend> = month_raw.clone().map(from_item).transpose()?;
            let month = restate_month(old_day.as_ref(), old_month, day)?;
            let sync_put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(sync_marker(pk, &day.ad_account_id, day.synced_at)))
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

#[async_trait]
impl SpendStore for MemoryTable {
    async fn put_daily_spend(&self, day: &DailySpend) -> Result<(), StoreError> {
        let pk = keys::tenant(day.tenant_id);
        let day_sk = keys::spend_day(&day.ad_account_id, day.date);
        let month_sk = keys::spend_month(&day.ad_account_id, day.date);
        let mut table = self.lock();
        let old_day: Option<DailySpend> = table.get(&pk, &day_sk).map(from_item).transpose()?;
        let old_month: Option<MonthlySpend> = table.get(&pk, &month_sk).map(from_item).transpose()?;
        let month = restate_month(old_day.as_ref(), old_month, day)?;
        table.put(to_item(pk.clone(), &day_sk, day)?);
        table.put(to_item(pk.clone(), &month_sk, &month)?);
        table.put(sync_marker(&pk, &day.ad_account_id, day.synced_at));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_stored_before_settings_existed_still_read_and_rows_without_settings_write_none() {
        let old = serde_json::json!({"id": "c1", "name": "C", "status": "active", "spend_minor": 5,
                                     "impressions": 1, "clicks": 0, "meta_leads": 0});
        let row: SpendRow = serde_json::from_value(old).expect("old row");
        assert_eq!(row.settings, None);
        assert!(serde_json::to_value(&row).expect("json").get("settings").is_none(), "not written when absent");
        // A later row without settings (a re-sync before Meta answered them) keeps the known ones.
        let known = SpendRow {
            settings: Some(CampaignSettings { objective: Some("OUTCOME_LEADS".into()), ..Default::default() }),
            ..row.clone()
        };
        let mut merged = vec![known.clone()];
        merge_rows(&mut merged, &[row], 1);
        assert_eq!(merged[0].settings, known.settings);
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
            settings: None,
        };
        let mut month = vec![row("c1", 500), row("c2", 100)];
        merge_rows(&mut month, &[row("c1", 200)], -1); // old day
        merge_rows(&mut month, &[row("c1", 250), row("c3", 50)], 1); // restated day
        let spend: Vec<(String, i64)> = month.iter().map(|r| (r.id.clone(), r.spend_minor.0)).collect();
        assert_eq!(spend, vec![("c1".into(), 550), ("c2".into(), 100), ("c3".into(), 50)]);
    }
}
