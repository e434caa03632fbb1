//! Campaign and creative rows: Meta's numbers from the synced spend beside the CRM's counters of
//! the same campaign / ad, sorted by spend. A campaign the CRM saw but the sync did not still gets
//! a row (named from the leads that carried it).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::Dashboard;
use crate::domain::money::{Currency, MinorUnits};
use crate::marketing::aggregates::{counter, get};
use crate::marketing::formulas::{cpa, major, roas, roi_ratio};
use crate::store::spend::SpendRow;

/// Which rows: campaigns or ads (creatives).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowKind {
    Campaign,
    Ad,
}

impl RowKind {
    pub(super) fn tag(self) -> &'static str {
        match self {
            RowKind::Campaign => "camp",
            RowKind::Ad => "ad",
        }
    }
}

/// Meta's side of one row, summed over accounts and days.
#[derive(Default)]
struct MetaSide {
    name: Option<String>,
    campaign_name: Option<String>,
    status: Option<String>,
    currency: Option<Currency>,
    spend: i64,
    impressions: i64,
    clicks: i64,
    meta_leads: i64,
}

impl MetaSide {
    fn absorb(&mut self, kind: RowKind, r: &SpendRow, currency: Option<Currency>) {
        self.name = Some(r.name.clone());
        self.campaign_name = match kind {
            RowKind::Campaign => Some(r.name.clone()),
            RowKind::Ad => r.campaign_name.clone(),
        };
        self.status = Some(r.status.clone());
        self.currency = currency;
        self.spend = self.spend.saturating_add(r.spend_minor.0);
        self.impressions = self.impressions.saturating_add(r.impressions);
        self.clicks = self.clicks.saturating_add(r.clicks);
        self.meta_leads = self.meta_leads.saturating_add(r.meta_leads);
    }
}

impl Dashboard {
    /// Campaign rows (`ad_id` = campaign id) and creative rows (one per ad), by spend then leads.
    pub fn rows(&self, kind: RowKind) -> Vec<Value> {
        let mut out: Vec<(i64, i64, Value)> =
            self.row_ids(kind).into_iter().map(|(id, side)| self.row(kind, id, side)).collect();
        out.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
        out.into_iter().map(|(_, _, v)| v).collect()
    }

    /// Every id with synced spend or CRM counters, with Meta's side summed.
    fn row_ids(&self, kind: RowKind) -> BTreeMap<String, MetaSide> {
        let mut rows: BTreeMap<String, MetaSide> = BTreeMap::new();
        for a in &self.accounts {
            let src = match kind {
                RowKind::Campaign => &a.campaigns,
                RowKind::Ad => &a.ads,
            };
            for r in src {
                rows.entry(r.id.clone()).or_default().absorb(kind, r, a.currency);
            }
        }
        for metric in [counter::LEADS, counter::OPPORTUNITIES, counter::SALES] {
            for id in counter::ids(&self.crm.total, metric, kind.tag()) {
                rows.entry(id.to_string()).or_default();
            }
        }
        rows
    }

    /// Names from the spend sync, else the ones the CRM's leads carried, else the id:
    /// `(row name, campaign name)`.
    fn row_names(&self, kind: RowKind, id: &str, side: &MetaSide) -> (String, String) {
        let names = &self.crm.names;
        let crm_name = names.get(&format!("name__{}__{id}", kind.tag())).cloned();
        let crm_campaign_name = match kind {
            RowKind::Campaign => crm_name.clone(),
            RowKind::Ad => {
                names.get(&counter::ad_campaign(id)).and_then(|c| names.get(&counter::campaign_name(c))).cloned()
            }
        };
        let name = side.name.clone().or(crm_name).unwrap_or_else(|| id.to_string());
        let campaign_name = side.campaign_name.clone().or(crm_campaign_name).unwrap_or_else(|| name.clone());
        (name, campaign_name)
    }

    /// One row and its sort keys `(spend, leads)`.
    fn row(&self, kind: RowKind, id: String, side: MetaSide) -> (i64, i64, Value) {
        let t = &self.crm.total;
        // Rows are in the reporting currency: spend billed in another one is converted by day.
        let cur = self.currency;
        let by = |metric: &str| get(t, &format!("{metric}__{}__{id}", kind.tag()));
        let (leads, opportunities, sales) = (by(counter::LEADS), by(counter::OPPORTUNITIES), by(counter::SALES));
        let revenue = MinorUnits(by(&counter::revenue(cur.code())));
        let foreign = side.currency.filter(|c| *c != cur);
        let (converted, missing) = match kind {
            RowKind::Campaign => (&self.fx.campaigns, &self.fx.missing_campaigns),
            RowKind::Ad => (&self.fx.ads, &self.fx.missing_ads),
        };
        let spend = match foreign {
            Some(_) => MinorUnits(converted.get(&id).copied().unwrap_or(0)),
            None => MinorUnits(side.spend),
        };
        let reason = (foreign.is_some() && missing.contains(&id)).then_some(crate::marketing::fx::NO_RATE_REASON);
        let ok = |v: Option<f64>| if reason.is_some() { None } else { v };
        let ratio = ok(roi_ratio(revenue, spend));
        let (ad_name, campaign_name) = self.row_names(kind, &id, &side);
        let row = json!({
            "ad_id": id,
            "ad_name": ad_name,
            "campaign_name": campaign_name,
            "status": side.status.unwrap_or_else(|| "unknown".into()),
            "currency": cur,
            "spend": major(spend, cur),
            "spend_minor": spend,
            "leads": leads,
            "opportunities": opportunities,
            "sales": sales,
            "revenue": major(revenue, cur),
            "revenue_minor": revenue,
            // The frontend's ratio is always a number (FRONTEND-CONTRACT: 0 without spend, it calls
            // `toFixed`); the exact `roi_ratio` is `null` when undefined or unconvertible, with
            // `reason` saying which.
            "roi": ratio.unwrap_or(0.0),
            "roi_ratio": ratio,
            "roas": ok(roas(revenue, spend)),
            "cpa_minor": if reason.is_some() { None } else { cpa(spend, leads) },
            "reason": reason,
            "spend_billed_currency": side.currency.unwrap_or(cur),
            "spend_billed_minor": side.spend,
            "meta_leads": side.meta_leads,
            "impressions": side.impressions,
            "clicks": side.clicks,
        });
        (spend.0, leads, row)
    }
}
