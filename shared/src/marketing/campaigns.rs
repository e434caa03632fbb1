//! The campaigns API (`GET /crm/marketing/campaigns`, `/campaigns/{id}`, `/campaigns/{id}/insights`):
//! views over a loaded [`Dashboard`] — the same stored spend and CRM aggregates, the same rows
//! ([`Dashboard::rows`]) and the same FX conversion — never a live Meta call.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use crate::domain::ids::{is_meta_id, TenantId};
use crate::domain::money::{Currency, MinorUnits};
use crate::marketing::aggregates::{buckets, counter, get};
use crate::marketing::dashboard::{load_dashboard, Dashboard, DashboardError, DashboardStores, RowKind};
use crate::marketing::formulas::{cpa, major, rate_percent, roas, roi_percent, roi_ratio};
use crate::marketing::fx::NO_RATE_REASON;
use crate::platform::error::{DomainError, Failure};
use crate::store::spend::CampaignSettings;

/// The range when the request names none.
pub const DEFAULT_RANGE: &str = "30d";
pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 200;
/// Statuses `status=` filters on (the rows' normalized `effective_status`).
pub const STATUSES: &[&str] = &["active", "paused", "archived", "deleted"];

#[derive(Debug, thiserror::Error)]
pub enum CampaignsError {
    #[error("{0}")]
    Invalid(String),
    #[error("campaign {0} has no stored spend or CRM numbers in this period")]
    NotFound(String),
    #[error(transparent)]
    Dashboard(#[from] DashboardError),
}

impl DomainError for CampaignsError {
    fn failure(&self) -> Failure {
        match self {
            CampaignsError::Invalid(_) => Failure::BadRequest,
            CampaignsError::NotFound(_) => Failure::NotFound,
            CampaignsError::Dashboard(e) => e.failure(),
        }
    }
    fn code(&self) -> &'static str {
        match self {
            CampaignsError::Invalid(_) => "invalid_parameter",
            CampaignsError::NotFound(_) => "campaign_not_found",
            CampaignsError::Dashboard(e) => e.code(),
        }
    }
}

/// Which view of one campaign an endpoint serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CampaignView {
    /// `/campaigns/{id}`: status, settings and totals ([`Dashboard::campaign_detail`]).
    Detail,
    /// `/campaigns/{id}/insights`: its rows per day or month ([`Dashboard::campaign_insights`]).
    Insights,
}

/// The two one-campaign endpoints: `raw_id` must be a Meta id and the query only a range (else
/// 400); the tenant's dashboard is loaded from `stores`, then `view` of the campaign (404 when it
/// has no numbers in the period).
pub async fn load_campaign(
    stores: DashboardStores<'_>,
    tenant: TenantId,
    raw_id: &str,
    query: &[(String, String)],
    view: CampaignView,
    now: DateTime<Utc>,
) -> Result<Value, CampaignsError> {
    let id = campaign_id(raw_id)?;
    range_only(query)?;
    let dashboard = load_dashboard(stores, tenant, query, DEFAULT_RANGE, now).await?;
    match view {
        CampaignView::Detail => dashboard.campaign_detail(&id),
        CampaignView::Insights => dashboard.campaign_insights(&id),
    }
}

/// `status`, `limit`, `offset` of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListParams {
    pub status: Option<String>,
    pub limit: usize,
    pub offset: usize,
}

/// Splits the list's own parameters from the range parameters (which go to the dashboard, where
/// anything unknown is a 400).
pub fn list_params(query: &[(String, String)]) -> Result<(ListParams, Vec<(String, String)>), CampaignsError> {
    let mut p = ListParams { status: None, limit: DEFAULT_LIMIT, offset: 0 };
    let mut rest = Vec::new();
    for (k, v) in query {
        match k.as_str() {
            "status" if v.trim().is_empty() => {}
            "status" => {
                let s = v.trim().to_ascii_lowercase();
                if !STATUSES.contains(&s.as_str()) {
                    return Err(CampaignsError::Invalid(format!("status must be one of {}", STATUSES.join(", "))));
                }
                p.status = Some(s);
            }
            "limit" => {
                p.limit = v.trim().parse::<usize>().ok().filter(|n| (1..=MAX_LIMIT).contains(n)).ok_or_else(|| {
                    CampaignsError::Invalid(format!("limit must be an integer from 1 to {MAX_LIMIT}"))
                })?;
            }
            "offset" => {
                p.offset = v
                    .trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n <= 100_000)
                    .ok_or_else(|| CampaignsError::Invalid("offset must be a non-negative integer".into()))?;
            }
            _ => rest.push((k.clone(), v.clone())),
        }
    }
    Ok((p, rest))
}

/// A campaign id from the path: Meta ids are digits (never a key fragment or a path).
pub fn campaign_id(raw: &str) -> Result<String, CampaignsError> {
    let id = raw.trim();
    if is_meta_id(id) {
        Ok(id.to_string())
    } else {
        Err(CampaignsError::Invalid("campaign id must be a Meta id (digits)".into()))
    }
}

/// Only `time_range` / `range` (+ `from`/`to`) for one campaign's views.
pub fn range_only(query: &[(String, String)]) -> Result<(), CampaignsError> {
    match query.iter().find(|(k, _)| ["status", "limit", "offset"].contains(&k.as_str())) {
        Some((k, _)) => Err(CampaignsError::Invalid(format!("unknown parameter {k:?}"))),
        None => Ok(()),
    }
}

fn meta_status(s: &str) -> &'static str {
    match s {
        "active" => "ACTIVE",
        "paused" => "PAUSED",
        "archived" => "ARCHIVED",
        "deleted" => "DELETED",
        _ => "UNKNOWN",
    }
}

fn num(v: &Value, k: &str) -> i64 {
    v.get(k).and_then(Value::as_i64).unwrap_or(0)
}

/// Meta's delivery numbers and the CRM's beside them, for one campaign (a `Dashboard::rows` row).
fn performance(row: &Value, cur: Currency) -> Map<String, Value> {
    let spend = MinorUnits(num(row, "spend_minor"));
    let revenue = MinorUnits(num(row, "revenue_minor"));
    let (impressions, clicks) = (num(row, "impressions"), num(row, "clicks"));
    let (meta_leads, leads) = (num(row, "meta_leads"), num(row, "leads"));
    let reason = row.get("reason").and_then(Value::as_str).map(str::to_string);
    let ok = |v: Option<MinorUnits>| if reason.is_some() { None } else { v };
    let okf = |v: Option<f64>| if reason.is_some() { None } else { v };
    let cpa_v = ok(cpa(spend, leads));
    let cpc_v = ok(spend.div_round(clicks));
    let cpm_v = ok(MinorUnits(spend.0.saturating_mul(1_000)).div_round(impressions));
    let v = json!({
        "currency": cur,
        "spend": major(spend, cur),
        "spend_minor": spend,
        "spend_billed_currency": row.get("spend_billed_currency"),
        "spend_billed_minor": row.get("spend_billed_minor"),
        "impressions": impressions,
        "clicks": clicks,
        "ctr": rate_percent(clicks, impressions),
        "cpc": cpc_v.map(|c| major(c, cur)),
        "cpc_minor": cpc_v,
        "cpm": cpm_v.map(|c| major(c, cur)),
        "cpm_minor": cpm_v,
        "meta_leads": meta_leads,
        "leads": leads,
        "crm_leads": leads,
        "lead_gap": meta_leads - leads,
        "opportunities": num(row, "opportunities"),
        "sales": num(row, "sales"),
        "revenue": major(revenue, cur),
        "revenue_minor": revenue,
        "roi": okf(roi_ratio(revenue, spend)),
        "roi_percentage": okf(roi_percent(revenue, spend)),
        "roas": okf(roas(revenue, spend)),
        "cpa": cpa_v.map(|c| major(c, cur)),
        "cpa_minor": cpa_v,
        "reason": reason,
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// One page of `GET /campaigns`: the rows, and what is said about them (top-level keys).
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignPage {
    pub rows: Vec<Value>,
    pub about: Map<String, Value>,
}

fn list_item(row: &Value, cur: Currency) -> Value {
    let status = row.get("status").and_then(Value::as_str).unwrap_or("unknown");
    let mut m = Map::new();
    m.insert("id".into(), row.get("ad_id").cloned().unwrap_or(Value::Null));
    m.insert("name".into(), row.get("ad_name").cloned().unwrap_or(Value::Null));
    m.insert("status".into(), json!(meta_status(status)));
    m.insert("status_normalized".into(), json!(status));
    m.extend(performance(row, cur));
    Value::Object(m)
}

impl Dashboard {
    fn freshness(&self) -> Value {
        json!({ "spend_synced_at": self.spend_synced_at(), "source": "stored spend sync and CRM aggregates" })
    }

    /// `GET /campaigns`: campaign rows by spend, filtered and paged. The rows are the reply's
    /// `data` (the frontend's client reads an array); paging, currency, period, FX and freshness
    /// go beside it as top-level keys.
    pub fn campaigns_list(&self, p: &ListParams) -> CampaignPage {
        let all: Vec<Value> = self
            .rows(RowKind::Campaign)
            .iter()
            .filter(|r| p.status.as_deref().is_none_or(|s| r.get("status").and_then(Value::as_str) == Some(s)))
            .map(|r| list_item(r, self.currency))
            .collect();
        let total = all.len();
        let page: Vec<Value> = all.into_iter().skip(p.offset).take(p.limit).collect();
        let next = (p.offset + page.len() < total).then_some(p.offset + page.len());
        let about = json!({
            "total": total,
            "limit": p.limit,
            "offset": p.offset,
            "next_offset": next,
            "status_filter": p.status,
            "currency": self.currency,
            "time_range": self.period.name,
            "period": { "from": self.period.from, "to": self.period.to, "time_zone": self.time_zone },
            "fx": self.fx.to_json(self.currency),
            "freshness": self.freshness(),
        });
        let about = match about {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        CampaignPage { rows: page, about }
    }

    fn campaign_row(&self, id: &str) -> Result<Value, CampaignsError> {
        self.rows(RowKind::Campaign)
            .into_iter()
            .find(|r| r.get("ad_id").and_then(Value::as_str) == Some(id))
            .ok_or_else(|| CampaignsError::NotFound(id.to_string()))
    }

    /// The campaign's settings from the latest synced row that has them, with its account's
    /// currency (the reporting currency when the account's is unknown).
    fn campaign_settings(&self, id: &str) -> Option<(CampaignSettings, Currency)> {
        let mut found = None;
        for a in &self.accounts {
            for r in a.campaigns.iter().filter(|r| r.id == id) {
                if let Some(s) = &r.settings {
                    found = Some((s.clone(), a.currency.unwrap_or(self.currency)));
                }
            }
        }
        found
    }

    /// `GET /campaigns/{id}`.
    pub fn campaign_detail(&self, id: &str) -> Result<Value, CampaignsError> {
        let row = self.campaign_row(id)?;
        let status = row.get("status").and_then(Value::as_str).unwrap_or("unknown").to_string();
        let (settings, budget_cur) = match self.campaign_settings(id) {
            Some((s, c)) => (Some(s), c),
            None => (None, self.currency),
        };
        let budget = |f: fn(&CampaignSettings) -> Option<i64>| settings.as_ref().and_then(f).map(MinorUnits);
        Ok(json!({
            "id": id,
            "name": row.get("ad_name"),
            "status": meta_status(&status),
            "status_normalized": status,
            // As the spend sync last saw the campaign (null before it stored them, or unset at
            // Meta); budgets in the account's currency, not converted.
            "objective": settings.as_ref().and_then(|s| s.objective.clone()),
            "daily_budget": budget(|s| s.daily_budget_minor).map(|b| major(b, budget_cur)),
            "daily_budget_minor": budget(|s| s.daily_budget_minor),
            "lifetime_budget": budget(|s| s.lifetime_budget_minor).map(|b| major(b, budget_cur)),
            "lifetime_budget_minor": budget(|s| s.lifetime_budget_minor),
            "budget_currency": settings.as_ref().map(|_| budget_cur),
            "start_time": settings.as_ref().and_then(|s| s.start_time),
            "end_time": settings.as_ref().and_then(|s| s.end_time),
            "performance": Value::Object(performance(&row, self.currency)),
            "time_range": self.period.name,
            "period": { "from": self.period.from, "to": self.period.to, "time_zone": self.time_zone },
            "fx": self.fx.to_json(self.currency),
            "freshness": self.freshness(),
        }))
    }

    /// `GET /campaigns/{id}/insights`: one row per series bucket (days; months for long ranges).
    pub fn campaign_insights(&self, id: &str) -> Result<Value, CampaignsError> {
        let row = self.campaign_row(id)?;
        let cur = self.currency;
        let empty = Default::default();
        let rows: Vec<Value> = buckets(self.granularity, &self.period)
            .into_iter()
            .map(|d| {
                let mut spend = 0;
                let (mut impressions, mut clicks, mut meta_leads) = (0, 0, 0);
                for a in &self.accounts {
                    for r in a.campaigns_by_bucket.get(&d).into_iter().flatten().filter(|r| r.id == id) {
                        if a.currency.is_none_or(|c| c == cur) {
                            spend = i64::saturating_add(spend, r.spend_minor.0);
                        }
                        impressions = i64::saturating_add(impressions, r.impressions);
                        clicks = i64::saturating_add(clicks, r.clicks);
                        meta_leads = i64::saturating_add(meta_leads, r.meta_leads);
                    }
                }
                let converted = self.fx.campaign_buckets.get(&(id.to_string(), d)).copied().unwrap_or(0);
                spend = i64::saturating_add(spend, converted);
                let missing = self.fx.missing_campaign_buckets.contains(&(id.to_string(), d));
                let c = self.crm.by_bucket.get(&d).unwrap_or(&empty);
                let by = |metric: &str| get(c, &counter::by_campaign(metric, id));
                let revenue = MinorUnits(by(&counter::revenue(cur.code())));
                let leads = by(counter::LEADS);
                let row = json!({
                    "ad_id": id, "spend_minor": spend, "impressions": impressions, "clicks": clicks,
                    "meta_leads": meta_leads, "leads": leads, "opportunities": by(counter::OPPORTUNITIES),
                    "sales": by(counter::SALES), "revenue_minor": revenue,
                    "reason": missing.then_some(NO_RATE_REASON),
                });
                let mut m = Map::new();
                m.insert("date".into(), json!(d));
                m.extend(performance(&row, cur));
                Value::Object(m)
            })
            .collect();
        Ok(json!({
            "id": id,
            "name": row.get("ad_name"),
            "time_range": self.period.name,
            "granularity": self.granularity,
            "period": { "from": self.period.from, "to": self.period.to, "time_zone": self.time_zone },
            "currency": cur,
            "insights": rows,
            "fx": self.fx.to_json(cur),
            "freshness": self.freshness(),
        }))
    }
}
