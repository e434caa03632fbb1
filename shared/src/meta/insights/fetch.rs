//! The spend sync's Graph calls for one ad account: the account (currency, time zone), daily
//! insights at campaign and at ad level over a date range (all pages; "reduce the amount of data"
//! halves the range, FIELD-NOTES 11; ranges over [`ASYNC_ABOVE_DAYS`] go through Meta's async
//! report jobs, FIELD-NOTES 10), and the effective status of its campaigns and ads.

use std::collections::HashMap;

use std::time::Duration as Wait;

use chrono::{Duration, NaiveDate};
use serde::Deserialize;

use super::wire::{
    AccountInfo, Entity, InsightRow, ACCOUNT_FIELDS, AD_FIELDS, AD_INSIGHT_FIELDS, CAMPAIGN_FIELDS,
    CAMPAIGN_INSIGHT_FIELDS,
};
use crate::meta::graph::{GraphClient, MetaError, PAGE_LIMIT};
use crate::platform::secrets::SecretString;

/// Meta's "Please reduce the amount of data you're asking for" (code 100).
pub const REDUCE_DATA_SUBCODE: i64 = 1_487_534;
/// Ranges longer than this many days are asked of an async report job, not synchronously.
pub const ASYNC_ABOVE_DAYS: i64 = 31;
/// A report job that failed (`Job Failed`, `Job Skipped`) is started again this many times.
pub const JOB_ATTEMPTS: u32 = 3;
/// Polls of one job wait 1 s, 2 s, 4 s … up to this between polls …
pub const JOB_POLL_MAX: Wait = Wait::from_secs(30);
/// … and at most this in all; a job still running then is abandoned and its range split.
pub const JOB_MAX_WAIT: Wait = Wait::from_secs(300);
/// Meta's transient "error accessing the report job" (retried by polling again).
pub const JOB_ACCESS_ERROR: i64 = 2601;

/// What fetching insights had to do (shown in the account's summary).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FetchCounts {
    /// Times Meta asked for less data, or a job ran too long, and the range was halved.
    pub ranges_split: u32,
    /// Async report jobs started.
    pub report_jobs: u32,
    /// Of those, restarts after `Job Failed` / `Job Skipped`.
    pub report_jobs_retried: u32,
}

/// `GET /{report_run_id}`.
#[derive(Debug, Deserialize)]
struct JobStatus {
    #[serde(default)]
    async_status: String,
    #[serde(default)]
    async_percent_completion: u32,
}

/// How one report job ended.
enum JobEnd {
    Rows(Vec<InsightRow>),
    /// Still running after [`JOB_MAX_WAIT`]: split the range.
    TooLong,
}

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

/// Daily rows of `account` at `level` over `range`, every page: synchronously up to
/// [`ASYNC_ABOVE_DAYS`], through an async report job beyond. When Meta asks for less data, or a
/// job runs too long, the range is halved and each half asked for again (down to single days).
pub async fn daily_insights(
    graph: &GraphClient,
    token: &SecretString,
    account: &str,
    level: Level,
    range: DayRange,
    counts: &mut FetchCounts,
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
        let fetched = if r.days() > ASYNC_ABOVE_DAYS {
            report_job(graph, token, account, &params, counts).await
        } else {
            graph
                .get_all::<InsightRow>(&format!("{account}/insights"), &params, token, "adaccount.insights")
                .await
                .map(JobEnd::Rows)
        };
        let split = match fetched {
            Ok(JobEnd::Rows(page)) => {
                rows.extend(page);
                continue;
            }
            Ok(JobEnd::TooLong) => r.halves().ok_or(MetaError::Timeout),
            Err(e) if is_reduce_data(&e) => r.halves().ok_or(e),
            Err(e) => Err(e),
        };
        match split {
            Ok((older, newer)) => {
                counts.ranges_split += 1;
                tracing::info!(level = level.as_str(), days = r.days(), "Meta asked for less data; halving the range");
                todo.push(newer);
                todo.push(older);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(rows)
}

/// One range through an async report job: `POST /{act}/insights` → poll `/{report_run_id}` until
/// `async_status` is `Job Completed` (100 % alone is not done) → `/{report_run_id}/insights`, all
/// pages. `Job Failed` / `Job Skipped` start a new job (up to [`JOB_ATTEMPTS`]); a poll answered
/// with 2601 is polled again; a job running past [`JOB_MAX_WAIT`] ends [`JobEnd::TooLong`].
/// Waits go through the client's sleeper (recorded in tests).
async fn report_job(
    graph: &GraphClient,
    token: &SecretString,
    account: &str,
    params: &[(&str, &str)],
    counts: &mut FetchCounts,
) -> Result<JobEnd, MetaError> {
    let mut attempt = 1;
    'job: loop {
        counts.report_jobs += 1;
        let started = graph.post(&format!("{account}/insights"), params, token, "adaccount.insights.async").await?;
        let id = started
            .get("report_run_id")
            .and_then(|v| v.as_str().map(str::to_string).or_else(|| v.as_u64().map(|n| n.to_string())))
            .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
            .ok_or(MetaError::InvalidResponse)?;
        let (mut waited, mut wait) = (Wait::ZERO, Wait::from_secs(1));
        loop {
            if waited >= JOB_MAX_WAIT {
                tracing::warn!(account = %account, waited_secs = waited.as_secs(), "report job runs too long; splitting its range");
                return Ok(JobEnd::TooLong);
            }
            graph.sleeper().sleep(wait).await;
            waited += wait;
            wait = (wait * 2).min(JOB_POLL_MAX);
            let status = match graph
                .get(&id, &[("fields", "async_status,async_percent_completion")], token, "report_run.get")
                .await
            {
                Ok(v) => serde_json::from_value::<JobStatus>(v).map_err(|_| MetaError::InvalidResponse)?,
                Err(MetaError::Request { code: JOB_ACCESS_ERROR, .. }) => continue,
                Err(e) => return Err(e),
            };
            match status.async_status.as_str() {
                "Job Completed" => break,
                "Job Failed" | "Job Skipped" if attempt < JOB_ATTEMPTS => {
                    tracing::warn!(account = %account, status = %status.async_status, attempt, "report job failed; starting it again");
                    attempt += 1;
                    counts.report_jobs_retried += 1;
                    continue 'job;
                }
                "Job Failed" | "Job Skipped" => return Err(MetaError::Transient { code: JOB_ACCESS_ERROR }),
                // "Job Not Started", "Job Started", "Job Running" — even at 100 %.
                _ => tracing::debug!(percent = status.async_percent_completion, "report job running"),
            }
        }
        let rows = graph
            .get_all::<InsightRow>(&format!("{id}/insights"), &[("limit", PAGE_LIMIT)], token, "report_run.insights")
            .await?;
        return Ok(JobEnd::Rows(rows));
    }
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
