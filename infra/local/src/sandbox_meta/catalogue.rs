//! What Sandbox Meta's accounts hold: campaigns and ads with their settings, deterministic daily
//! spend and leads (restatable), and the insights rows and lead fields it answers with.

use super::*;

/// Campaign `k` of an account as `/{act}/campaigns` lists it: objective, a daily budget (campaigns
/// 1 and 2, minor units as a decimal string: `sandbox_daily_budget`) or a lifetime budget with a
/// schedule (campaign 3).
pub(super) fn sandbox_campaign_object(k: usize, c: &SandboxEntity) -> Value {
    let mut v = json!({"id": c.id, "name": c.name, "effective_status": c.status, "objective": "OUTCOME_LEADS",
                       "start_time": "2026-09-01T09:00:00-0300"});
    if k < 2 {
        v["daily_budget"] = json!(sandbox_daily_budget(k).to_string());
    } else {
        v["lifetime_budget"] = json!("90000000");
        v["stop_time"] = json!("2026-12-31T23:59:00-0300");
    }
    v
}

/// The daily budget (minor units) of campaign `k` < 2.
pub fn sandbox_daily_budget(k: usize) -> i64 {
    2_500_000 + 500_000 * k as i64
}

/// Days of an insights query's `time_range` (0 when unreadable).
pub(super) fn range_days(q: &HashMap<String, String>) -> i64 {
    let range: Value = q.get("time_range").and_then(|t| serde_json::from_str(t).ok()).unwrap_or_default();
    let day = |k: &str| {
        range.get(k).and_then(Value::as_str).and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
    };
    match (day("since"), day("until")) {
        (Some(a), Some(b)) => (b - a).num_days() + 1,
        _ => 0,
    }
}

pub(super) fn is_numeric(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// The lead with only the asked `fields` (and its id).
pub(super) fn with_fields(lead: &SandboxLead, q: &HashMap<String, String>) -> Value {
    let full = lead.graph_object();
    let mut out = json!({"id": lead.id});
    for f in q.get("fields").map(|f| f.split(',').map(str::trim).collect::<Vec<_>>()).unwrap_or_default() {
        if let Some(v) = full.get(f) {
            out[f] = v.clone();
        }
    }
    out
}

/// The `time_created` bound of a leads edge's `filtering` (`[{"field": "time_created",
/// "operator": "GREATER_THAN", "value": epoch}]`); other filters are refused as Meta would.
pub(super) fn created_after(q: &HashMap<String, String>) -> Result<Option<i64>, Box<Resp>> {
    let Some(raw) = q.get("filtering") else { return Ok(None) };
    let bad =
        || Box::new(graph_error(StatusCode::BAD_REQUEST, 100, None, "OAuthException", "(#100) Invalid filtering"));
    let filters: Vec<Value> = serde_json::from_str(raw).map_err(|_| bad())?;
    let mut after = None;
    for f in filters {
        match (f["field"].as_str(), f["operator"].as_str()) {
            (Some("time_created"), Some("GREATER_THAN")) => {
                after = Some(f["value"].as_i64().or_else(|| f["value"].as_str()?.parse().ok()).ok_or_else(bad)?);
            }
            _ => return Err(bad()),
        }
    }
    Ok(after)
}

pub(super) fn is_act(s: &str) -> bool {
    s.strip_prefix("act_").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// A campaign (or ad) of the sandbox's ad accounts.
#[derive(Debug, Clone)]
pub struct SandboxEntity {
    pub id: String,
    pub name: String,
    pub status: &'static str,
    pub ads: Vec<SandboxEntity>,
}

/// The campaigns of `act` with their ads: the demo's for the demo account, else three made-up
/// ones; campaign 1 ACTIVE (ad 2 PAUSED), 2 PAUSED, 3 ARCHIVED.
pub fn sandbox_campaigns(act: &str) -> Vec<SandboxEntity> {
    let statuses =
        [("ACTIVE", ["ACTIVE", "PAUSED"]), ("PAUSED", ["CAMPAIGN_PAUSED"; 2]), ("ARCHIVED", ["ARCHIVED"; 2])];
    let n = act.trim_start_matches("act_");
    (0..3)
        .map(|k| {
            let (status, ad_status) = statuses[k];
            if act == crate::demo::DEMO_AD_ACCOUNT {
                let (id, name, ads) = crate::demo::DEMO_CAMPAIGNS[k];
                SandboxEntity {
                    id: id.into(),
                    name: name.into(),
                    status,
                    ads: ads
                        .iter()
                        .zip(ad_status)
                        .map(|((id, name), s)| SandboxEntity {
                            id: (*id).into(),
                            name: (*name).into(),
                            status: s,
                            ads: vec![],
                        })
                        .collect(),
                }
            } else {
                let id = format!("{n}{:02}", k + 1);
                SandboxEntity {
                    name: format!("Campaign {} of {act}", k + 1),
                    status,
                    ads: (0..2)
                        .map(|j| SandboxEntity {
                            id: format!("{id}{}", j + 1),
                            name: format!("Ad {} of campaign {id}", j + 1),
                            status: ad_status[j],
                            ads: vec![],
                        })
                        .collect(),
                    id,
                }
            }
        })
        .collect()
}

/// Spend in minor units of campaign `k` on `day` (restated days answer more).
pub fn sandbox_campaign_spend(k: usize, day: chrono::NaiveDate, restated: bool) -> i64 {
    use chrono::Datelike;
    1_000 + 250 * k as i64 + i64::from(day.ordinal() % 7) * 100 + if restated { 500 } else { 0 }
}

/// Meta-reported leads of campaign `k` on `day`.
pub fn sandbox_campaign_leads(k: usize, day: chrono::NaiveDate, restated: bool) -> i64 {
    use chrono::Datelike;
    (i64::from(day.ordinal() % 3) + k as i64) % 4 + i64::from(restated)
}

/// ISO 4217 (list one) currencies whose minor unit is not 2 digits, written out here from the
/// standard rather than taken from the product's table; every other code has 2.
const ISO_4217_NOT_TWO_DIGITS: &[(&str, usize)] = &[
    ("BIF", 0),
    ("CLP", 0),
    ("DJF", 0),
    ("GNF", 0),
    ("ISK", 0),
    ("JPY", 0),
    ("KMF", 0),
    ("KRW", 0),
    ("PYG", 0),
    ("RWF", 0),
    ("UGX", 0),
    ("UYI", 0),
    ("VND", 0),
    ("VUV", 0),
    ("XAF", 0),
    ("XOF", 0),
    ("XPF", 0),
    ("BHD", 3),
    ("IQD", 3),
    ("JOD", 3),
    ("KWD", 3),
    ("LYD", 3),
    ("OMR", 3),
    ("TND", 3),
    ("CLF", 4),
    ("UYW", 4),
];

/// Digits after the decimal point of `currency`'s major unit (ISO 4217 minor-unit exponent).
pub(super) fn minor_digits(currency: &str) -> usize {
    ISO_4217_NOT_TWO_DIGITS.iter().find(|(c, _)| c.eq_ignore_ascii_case(currency)).map_or(2, |(_, d)| *d)
}

/// `minor` as Meta writes spend: a decimal string in the account currency's major units.
pub(super) fn decimal(minor: i64, currency: &str) -> String {
    let exp = minor_digits(currency);
    if exp == 0 {
        return minor.to_string();
    }
    let s = format!("{:0>width$}", minor, width = exp + 1);
    let (int, frac) = s.split_at(s.len() - exp);
    format!("{int}.{frac}")
}

/// Every insights row of the asked range and level (before paging), or Meta's error.
pub(super) fn insights(state: &SandboxState, act: &str, q: &HashMap<String, String>) -> Result<Vec<Value>, Box<Resp>> {
    let bad = |msg: &str| Box::new(graph_error(StatusCode::BAD_REQUEST, 100, None, "OAuthException", msg));
    let range: Value =
        q.get("time_range").and_then(|t| serde_json::from_str(t).ok()).ok_or_else(|| bad("time_range is required"))?;
    let day = |k: &str| {
        range.get(k).and_then(Value::as_str).and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
    };
    let (Some(since), Some(until)) = (day("since"), day("until")) else {
        return Err(bad("time_range needs since and until"));
    };
    if until < since {
        return Err(bad("time_range until is before since"));
    }
    let days = (until - since).num_days() + 1;
    if state.max_insights_days.is_some_and(|max| days > max) {
        return Err(Box::new(graph_error(
            StatusCode::BAD_REQUEST,
            100,
            Some(1_487_534),
            "OAuthException",
            "Please reduce the amount of data you're asking for, then retry your request",
        )));
    }
    if q.get("time_increment").map(String::as_str) != Some("1") {
        return Err(bad("the sandbox serves daily rows only (time_increment=1)"));
    }
    let level = q.get("level").map(String::as_str).unwrap_or("account");
    let fields: Vec<&str> = q.get("fields").map(|f| f.split(',').map(str::trim).collect()).unwrap_or_default();
    let (currency, _) = state.account_currency_zone(act);
    let campaigns = sandbox_campaigns(act);
    // The demo account answers on the scale of the demo's seeded spend (ARS 10,000+ a day).
    let scale = if act == crate::demo::DEMO_AD_ACCOUNT { 1_000 } else { 1 };
    let mut rows = Vec::new();
    for d in 0..days {
        let date = since + chrono::Duration::days(d);
        let restated = state.restated_days.contains(&date);
        for (k, c) in campaigns.iter().enumerate() {
            let spend = sandbox_campaign_spend(k, date, restated) * scale;
            let leads = sandbox_campaign_leads(k, date, restated);
            let entries: Vec<(Option<&SandboxEntity>, i64, i64)> = match level {
                "campaign" => vec![(None, spend, leads)],
                // Ads cover 50 % + 40 % of the campaign's spend; the rest is not attributed to an ad.
                "ad" => vec![(c.ads.first(), spend / 2, leads), (c.ads.get(1), spend * 2 / 5, 0)],
                _ => return Err(bad("the sandbox serves level=campaign or level=ad")),
            };
            for (ad, spend, leads) in entries {
                let mut full = json!({
                    "account_id": act.trim_start_matches("act_"),
                    "campaign_id": c.id, "campaign_name": c.name,
                    "spend": decimal(spend, &currency),
                    "impressions": (spend * 3).to_string(),
                    "clicks": (spend / 97).to_string(),
                    "account_currency": currency,
                    "actions": [
                        {"action_type": "link_click", "value": (spend / 97).to_string()},
                        {"action_type": "lead", "value": leads.to_string()},
                        {"action_type": "onsite_conversion.lead_grouped", "value": leads.to_string()},
                    ],
                });
                if let Some(a) = ad {
                    full["ad_id"] = json!(a.id);
                    full["ad_name"] = json!(a.name);
                }
                let mut out = json!({"date_start": date.to_string(), "date_stop": date.to_string()});
                for f in &fields {
                    if let Some(v) = full.get(*f) {
                        out[*f] = v.clone();
                    }
                }
                rows.push(out);
            }
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spend_is_written_in_major_units_with_the_iso_4217_digits() {
        assert_eq!(decimal(123_456, "USD"), "1234.56");
        assert_eq!(decimal(5, "ARS"), "0.05");
        assert_eq!(decimal(0, "EUR"), "0.00");
        assert_eq!(decimal(123_456, "JPY"), "123456");
        assert_eq!(decimal(15_000, "clp"), "15000");
        assert_eq!(decimal(1_234, "KWD"), "1.234");
        assert_eq!(decimal(7, "BHD"), "0.007");
        assert_eq!(decimal(12_345, "CLF"), "1.2345");
    }
}
