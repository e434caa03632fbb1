//! The spend sync's Graph calls for one ad account: the account (currency, time zone), daily
//! insights at campaign and at ad level over a date range (all pages; "reduce the amount of data"
//! halves the range, FIELD-NOTES 11), and the effective status of its campaigns and ads.

use std::collections::HashMap;

use chrono::{Duration, NaiveDate};

use super::wire::{
    AccountInfo, Entity, InsightRow, ACCOUNT_FIELDS, AD_FIELDS, AD_INSIGHT_FIELDS, CAMPAIGN_FIELDS,
    CAMPAIGN_INSIGHT_FIELDS,
};
use crate::meta::graph::{GraphClient, MetaError, PAGE_LIMIT};
use crate::platform::secrets::SecretString;

/// Meta's "Please reduce the amount of data you're asking for" (code 100).
pub const REDUCE_DATA_SUBCODE: i64 = 1_487_534;

/// Insights aggregation level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// What the account-day's spend is summed from (FIELD-NOTES 1).
    Campaign,
    /// The dashboard's creatives; may not cover all spend.
    Ad,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Campaign => "campaign",
            Level::Ad => "ad",
        }
    }
    fn fields(self) -> &'static str {
        match self {
            Level::Campaign => CAMPAIGN_INSIGHT_FIELDS,
            Level::Ad => AD_INSIGHT_FIELDS,
        }
    }
}

/// An inclusive range of days in the account's zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayRange {
    pub since: NaiveDate,
    pub until: NaiveDate,
}

impl DayRange {
    pub fn days(self) -> i64 {
        (self.until - self.since).num_days() + 1
    }

    /// The two halves (first the older), or `None` for a single day.
    pub fn halves(self) -> Option<(DayRange, DayRange)> {
        let n = self.days();
        if n < 2 {
            return None;
        }
        let mid = self.since + Duration::days(n / 2 - 1);
        Some((
            DayRange { since: self.since, until: mid },
            DayRange { since: mid + Duration::days(1), until: self.until },
        ))
    }
}

fn is_reduce_data(e: &MetaError) -> bool {
    matches!(e, MetaError::Request { code: 100, subcode: Some(REDUCE_DATA_SUBCODE), .. })
}

/// The account's currency and time zone.
pub async fn account_info(graph: &GraphClient, token: &SecretString, account: &str) -> Result<AccountInfo, MetaError> {
    let v = graph.get(account, &[("fields", ACCOUNT_FIELDS)], token, "adaccount.get").await?;
    serde_json::from_value(v).map_err(|_| MetaError::InvalidResponse)
}

/// Daily rows of `account` at `level` over `range`, every page. When Meta asks for less data the
/// range is halved and each half asked for again (down to single days); `ranges_split` counts the
/// halvings.
pub async fn daily_insights(
    graph: &GraphClient,
    token: &SecretString,
    account: &str,
    level: Level,
    range: DayRange,
    ranges_split: &mut u32,
) -> Result<Vec<InsightRow>, MetaError> {
    let mut rows = Vec::new();
    // Newest last on the stack's bottom: halves are pushed newest first so older days come first.
    let mut todo = vec![range];
    while let Some(r) = todo.pop() {
        let time_range = serde_json::json!({"since": r.since.to_string(), "until": r.until.to_string()}).to_string();
        let params = [
            ("level", level.as_str()),
            ("fields", level.fields()),
            ("time_increment", "1"),
            ("time_range", time_range.as_str()),
            // Explicit attribution, as Ads Manager shows it (FIELD-NOTES 4); stored with the rows.
            ("use_unified_attribution_setting", "true"),
            ("limit", PAGE_LIMIT),
        ];
        match graph.get_all::<InsightRow>(&format!("{account}/insights"), &params, token, "adaccount.insights").await {
            Ok(page) => rows.extend(page),
            Err(e) if is_reduce_data(&e) => match r.halves() {
                Some((older, newer)) => {
                    *ranges_split += 1;
                    tracing::info!(
                        level = level.as_str(),
                        days = r.days(),
                        "Meta asked for less data; halving the range"
                    );
                    todo.push(newer);
                    todo.push(older);
                }
                None => return Err(e),
            },
            Err(e) => return Err(e),
        }
    }
    Ok(rows)
}

/// `id → effective_status` of the account's campaigns and of its ads (all pages, any status).
pub async fn statuses(
    graph: &GraphClient,
    token: &SecretString,
    account: &str,
) -> Result<(HashMap<String, Entity>, HashMap<String, Entity>), MetaError> {
    let campaigns: Vec<Entity> = graph
        .get_all(
            &format!("{account}/campaigns"),
            &[("fields", CAMPAIGN_FIELDS), ("limit", PAGE_LIMIT)],
            token,
            "adaccount.campaigns",
        )
        .await?;
    let ads: Vec<Entity> = graph
        .get_all(&format!("{account}/ads"), &[("fields", AD_FIELDS), ("limit", PAGE_LIMIT)], token, "adaccount.ads")
        .await?;
    let by_id = |v: Vec<Entity>| v.into_iter().map(|e| (e.id.clone(), e)).collect::<HashMap<_, _>>();
    Ok((by_id(campaigns), by_id(ads)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default()
    }

    #[test]
    fn a_range_halves_into_two_adjacent_ranges() {
        let r = DayRange { since: d("2026-10-28"), until: d("2026-11-24") };
        assert_eq!(r.days(), 28);
        let (a, b) = r.halves().expect("halves");
        assert_eq!(
            (a.since, a.until, b.since, b.until),
            (d("2026-10-28"), d("2026-11-10"), d("2026-11-11"), d("2026-11-24"))
        );
        let odd = DayRange { since: d("2026-11-01"), until: d("2026-11-03") };
        let (a, b) = odd.halves().expect("halves");
        assert_eq!((a.days(), b.days()), (1, 2));
        assert_eq!(DayRange { since: d("2026-11-01"), until: d("2026-11-01") }.halves(), None);
    }
}
