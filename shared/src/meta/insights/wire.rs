//! What Graph sends for insights, campaigns and ads, and how its strings become our numbers:
//! spend by decimal parsing into minor units with the currency's exponent (never a float
//! multiply), Meta-reported leads from `actions` (FIELD-NOTES 5), effective status lower-cased.

use serde::Deserialize;

use crate::domain::money::{Currency, MinorUnits};
use crate::platform::telemetry::bounded;
use crate::store::spend::CampaignSettings;

/// Insight fields the sync reads, and nothing more (FIELD-NOTES 6). Ad-level rows add the ad.
pub const CAMPAIGN_INSIGHT_FIELDS: &str =
    "campaign_id,campaign_name,spend,impressions,clicks,actions,account_currency,date_start";
pub const AD_INSIGHT_FIELDS: &str =
    "campaign_id,campaign_name,ad_id,ad_name,spend,impressions,clicks,actions,account_currency,date_start";
pub const CAMPAIGN_FIELDS: &str =
    "id,name,effective_status,objective,daily_budget,lifetime_budget,start_time,stop_time";
pub const AD_FIELDS: &str = "id,name,effective_status,campaign_id";
pub const ACCOUNT_FIELDS: &str = "id,currency,timezone_name";

/// Action types that count as a Meta-reported lead. `lead` is Meta's total (it includes the
/// on-Facebook `onsite_conversion.lead_grouped`), so the second counts only when the first is absent.
pub const LEAD_ACTION_TYPES: [&str; 2] = ["lead", "onsite_conversion.lead_grouped"];

/// One daily insights row (`time_increment=1`).
#[derive(Debug, Clone, Deserialize)]
pub struct InsightRow {
    pub campaign_id: String,
    #[serde(default)]
    pub campaign_name: Option<String>,
    #[serde(default)]
    pub ad_id: Option<String>,
    #[serde(default)]
    pub ad_name: Option<String>,
    /// Decimal string in major units of `account_currency`, e.g. `"12.34"`.
    #[serde(default)]
    pub spend: Option<String>,
    #[serde(default)]
    pub impressions: Option<String>,
    #[serde(default)]
    pub clicks: Option<String>,
    #[serde(default)]
    pub actions: Vec<Action>,
    pub account_currency: String,
    /// `yyyy-mm-dd`, a day in the ad account's time zone (FIELD-NOTES 3).
    pub date_start: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Action {
    pub action_type: String,
    pub value: String,
}

/// A campaign or ad of `/{act}/campaigns` / `/{act}/ads`.
#[derive(Debug, Clone, Deserialize)]
pub struct Entity {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub effective_status: Option<String>,
    /// Campaigns: `OUTCOME_LEADS`, …
    #[serde(default)]
    pub objective: Option<String>,
    /// Campaigns: budgets as Meta sends them (decimal strings in minor units of the account
    /// currency; absent or "0" when the ad sets carry the budget).
    #[serde(default)]
    pub daily_budget: Option<String>,
    #[serde(default)]
    pub lifetime_budget: Option<String>,
    /// Campaigns: `2026-11-01T10:00:00-0300`.
    #[serde(default)]
    pub start_time: Option<String>,
    #[serde(default)]
    pub stop_time: Option<String>,
}

impl Entity {
    /// A campaign's settings as stored with its rows: budgets that are not positive integers
    /// are absent (never guessed), times Meta sends unreadably too.
    pub fn campaign_settings(&self) -> CampaignSettings {
        let budget = |b: &Option<String>| b.as_deref().and_then(|v| v.trim().parse::<i64>().ok()).filter(|v| *v > 0);
        let time = |t: &Option<String>| t.as_deref().and_then(crate::meta::leadgen::parse_meta_time);
        CampaignSettings {
            objective: self.objective.clone().filter(|o| !o.is_empty()),
            daily_budget_minor: budget(&self.daily_budget),
            lifetime_budget_minor: budget(&self.lifetime_budget),
            start_time: time(&self.start_time),
            end_time: time(&self.stop_time),
        }
    }
}

/// `GET /{act}?fields=id,currency,timezone_name`.
#[derive(Debug, Clone, Deserialize)]
pub struct AccountInfo {
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub timezone_name: Option<String>,
}

/// A number Meta sent that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Meta sent {what} {value:?}, which is not a non-negative decimal")]
pub struct BadNumber {
    pub what: &'static str,
    pub value: String,
}

/// `"12.34"` in `currency` → minor units, by decimal parsing with the currency's exponent. Digits
/// past the exponent are rounded half up (Meta sends at most the exponent's digits).
pub fn parse_spend(raw: &str, currency: Currency) -> Result<MinorUnits, BadNumber> {
    let bad = || BadNumber { what: "spend", value: bounded(raw, 40) };
    let s = raw.trim();
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() && frac.is_empty() {
        return Err(bad());
    }
    if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let exp = currency.exponent() as usize;
    let mut digits: String = int.to_string();
    let kept: String = frac.chars().take(exp).collect();
    digits.push_str(&kept);
    digits.extend(std::iter::repeat_n('0', exp - kept.len()));
    let mut minor: i64 = if digits.is_empty() { 0 } else { digits.parse().map_err(|_| bad())? };
    if frac.len() > exp && frac.as_bytes()[exp] >= b'5' {
        minor = minor.checked_add(1).ok_or_else(bad)?;
    }
    Ok(MinorUnits(minor))
}

/// A count Meta sends as a string (`"1234"`; a decimal's fraction is dropped). Absent = 0.
pub fn parse_count(raw: Option<&str>, what: &'static str) -> Result<i64, BadNumber> {
    let Some(raw) = raw else { return Ok(0) };
    let int = raw.trim().split('.').next().unwrap_or("");
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return Err(BadNumber { what, value: bounded(raw, 40) });
    }
    int.parse().map_err(|_| BadNumber { what, value: bounded(raw, 40) })
}

/// Meta-reported leads of a row: `lead`, else `onsite_conversion.lead_grouped` — never both.
pub fn meta_leads(actions: &[Action]) -> Result<i64, BadNumber> {
    for kind in LEAD_ACTION_TYPES {
        if let Some(a) = actions.iter().find(|a| a.action_type == kind) {
            return parse_count(Some(&a.value), "a lead count");
        }
    }
    Ok(0)
}

/// Meta's `effective_status` as our rows show it: `ACTIVE` → `active`; paused at any level
/// (`PAUSED`, `CAMPAIGN_PAUSED`, `ADSET_PAUSED`) → `paused`; `ARCHIVED` → `archived`; others
/// (`DELETED`, `WITH_ISSUES`, `IN_PROCESS`, …) lower-cased.
pub fn row_status(effective_status: Option<&str>) -> String {
    match effective_status.map(str::trim) {
        None | Some("") => "unknown".into(),
        Some("ACTIVE") => "active".into(),
        Some("PAUSED" | "CAMPAIGN_PAUSED" | "ADSET_PAUSED") => "paused".into(),
        Some(other) => other.to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cur(code: &str) -> Currency {
        Currency::parse(code).unwrap_or(Currency::USD)
    }

    #[test]
    fn campaign_settings_keep_what_meta_sent_and_never_guess() {
        let e: Entity = serde_json::from_value(serde_json::json!({
            "id": "1", "objective": "OUTCOME_LEADS", "daily_budget": "250000", "lifetime_budget": "0",
            "start_time": "2026-09-01T09:00:00-0300", "stop_time": "soon"
        }))
        .expect("entity");
        let s = e.campaign_settings();
        assert_eq!(s.objective.as_deref(), Some("OUTCOME_LEADS"));
        assert_eq!((s.daily_budget_minor, s.lifetime_budget_minor), (Some(250_000), None), "0 = ad set budgets");
        assert_eq!(s.start_time.map(|t| t.to_rfc3339()), Some("2026-09-01T12:00:00+00:00".into()));
        assert_eq!(s.end_time, None, "unreadable time: absent");
        let bare: Entity = serde_json::from_value(serde_json::json!({"id": "2", "daily_budget": "12.5"})).expect("e");
        assert_eq!(bare.campaign_settings(), CampaignSettings::default());
    }

    #[test]
    fn spend_uses_the_currency_exponent() {
        assert_eq!(parse_spend("12.34", cur("USD")), Ok(MinorUnits(1234)));
        assert_eq!(parse_spend("12.3", cur("USD")), Ok(MinorUnits(1230)));
        assert_eq!(parse_spend("12", cur("USD")), Ok(MinorUnits(1200)));
        assert_eq!(parse_spend("0.07", cur("USD")), Ok(MinorUnits(7)));
        assert_eq!(parse_spend("1500", cur("JPY")), Ok(MinorUnits(1500)));
        assert_eq!(parse_spend("1.234", cur("KWD")), Ok(MinorUnits(1234)));
        assert_eq!(parse_spend("1.2", cur("KWD")), Ok(MinorUnits(1200)));
        assert_eq!(parse_spend("1234567.89", cur("ARS")), Ok(MinorUnits(123_456_789)));
    }

    #[test]
    fn spend_is_exact_where_floats_are_not() {
        // 0.29 * 100 = 28.999999999999996 in f64.
        assert_eq!(parse_spend("0.29", cur("USD")), Ok(MinorUnits(29)));
        assert_eq!(parse_spend("1.005", cur("USD")), Ok(MinorUnits(101)), "extra digits round half up");
        assert_eq!(parse_spend("1.004", cur("USD")), Ok(MinorUnits(100)));
        assert_eq!(parse_spend("99.5", cur("JPY")), Ok(MinorUnits(100)));
    }

    #[test]
    fn unreadable_spend_is_an_error_not_zero() {
        for bad in ["", ".", "-1.00", "1,50", "abc", "1e3", "99999999999999999999"] {
            assert!(parse_spend(bad, cur("USD")).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn meta_leads_count_lead_once() {
        let a = |t: &str, v: &str| Action { action_type: t.into(), value: v.into() };
        assert_eq!(
            meta_leads(&[a("link_click", "9"), a("lead", "3"), a("onsite_conversion.lead_grouped", "3")]),
            Ok(3)
        );
        assert_eq!(meta_leads(&[a("onsite_conversion.lead_grouped", "2")]), Ok(2));
        assert_eq!(meta_leads(&[a("link_click", "9")]), Ok(0));
        assert_eq!(meta_leads(&[]), Ok(0));
        assert!(meta_leads(&[a("lead", "x")]).is_err());
    }

    #[test]
    fn effective_status_becomes_the_rows_status() {
        assert_eq!(row_status(Some("ACTIVE")), "active");
        assert_eq!(row_status(Some("PAUSED")), "paused");
        assert_eq!(row_status(Some("CAMPAIGN_PAUSED")), "paused");
        assert_eq!(row_status(Some("ADSET_PAUSED")), "paused");
        assert_eq!(row_status(Some("ARCHIVED")), "archived");
        assert_eq!(row_status(Some("WITH_ISSUES")), "with_issues");
        assert_eq!(row_status(None), "unknown");
    }
}
