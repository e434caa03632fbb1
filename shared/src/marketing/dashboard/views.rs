//! The three views the endpoints serve (`/stats`, `/stats/roi`, `/combined-stats`) and their
//! blocks, from a loaded [`Dashboard`]: the frontend's fields with their types, and beside them the
//! exact values (`*_minor`, `null` where a ratio is undefined).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{json, Value};

use super::{meta, Dashboard, RowKind, CRM_ATTRIBUTION_RULE};
use crate::domain::money::MinorUnits;
use crate::marketing::aggregates::{buckets, counter, get};
use crate::marketing::formulas::{cpa, major, rate_percent, roas, roi_percent, roi_ratio};
use crate::store::spend::DEFAULT_ATTRIBUTION_SETTING;

impl Dashboard {
    pub fn spend_synced_at(&self) -> Option<DateTime<Utc>> {
        self.accounts.iter().filter_map(|a| a.synced_at).max()
    }

    pub fn attribution(&self) -> Value {
        let meta_setting = self
            .accounts
            .iter()
            .find_map(|a| a.attribution_setting.clone())
            .unwrap_or_else(|| DEFAULT_ATTRIBUTION_SETTING.to_string());
        json!({
            "crm_rule": CRM_ATTRIBUTION_RULE,
            "lead_source": counter::META_SOURCE,
            "meta_attribution_setting": meta_setting,
        })
    }

    fn primary_account(&self) -> Option<&str> {
        self.connection.ad_account_ids.first().map(String::as_str)
    }

    fn period_json(&self) -> Value {
        json!({
            "name": self.period.name,
            "from": self.period.from,
            "to": self.period.to,
            "days": self.period.days(),
            "time_zone": self.time_zone,
        })
    }

    /// `campaigns.{campaigns, creatives, account_total_spend}` as the frontend reads it.
    pub fn campaigns_block(&self) -> Value {
        let h = self.headline();
        json!({
            "campaigns": self.rows(RowKind::Campaign),
            "creatives": self.rows(RowKind::Ad),
            "account_total_spend": major(h.spend, h.currency),
            "account_total_spend_minor": h.spend,
            "currency": h.currency,
        })
    }

    /// `GET /stats/roi` (and `meta.roi` / `roi` of the other views).
    pub fn roi_view(&self, with_campaigns: bool) -> Value {
        let h = self.headline();
        let cur = h.currency;
        let cpa_exact = self.unless_fx_missing(cpa(h.spend, h.leads));
        let mut v = json!({
            // The frontend's fields.
            "total_spend": major(h.spend, cur),
            "total_revenue": major(h.revenue, cur),
            "currency": cur,
            "cpa": cpa_exact.map_or(0.0, |c| major(c, cur)),
            "leads": h.leads,
            "leads_converted": h.customers,
            "patients_converted": h.customers,
            "is_connected": self.connection.connected,
            "ad_account_id": self.primary_account(),
            "time_range": self.period.name,
            // Exact values.
            "total_spend_minor": h.spend,
            "total_revenue_minor": h.revenue,
            "cpa_minor": cpa_exact,
            "cost_per_opportunity_minor": self.unless_fx_missing(cpa(h.spend, h.opportunities)),
            "roas": self.unless_fx_missing(roas(h.revenue, h.spend)),
            "roi_percent": self.unless_fx_missing(roi_percent(h.revenue, h.spend)),
            "roi_ratio": self.unless_fx_missing(roi_ratio(h.revenue, h.spend)),
            "reason": h.reason,
            "fx": self.fx.to_json(cur),
            "ltv_minor": h.revenue.div_round(h.customers),
            "paying_customers": h.customers,
            "opportunities": h.opportunities,
            "sales": h.sales,
            "attribution": self.attribution(),
            "other_currencies": self.other_currencies(),
            "period": self.period_json(),
            "spend_synced_at": self.spend_synced_at(),
        });
        if with_campaigns {
            v["campaigns"] = Value::Array(self.rows(RowKind::Campaign));
        }
        v
    }

    /// The chart series: one point per bucket, zero-filled.
    pub fn series(&self) -> Value {
        let cur = self.currency;
        let spend_by: BTreeMap<NaiveDate, i64> = self
            .accounts
            .iter()
            .filter(|a| a.currency == Some(cur))
            .flat_map(|a| a.by_bucket.iter().map(|(d, m)| (*d, m.0)))
            .chain(self.fx.by_bucket.iter().map(|(d, m)| (*d, *m)))
            .fold(BTreeMap::new(), |mut acc, (d, m)| {
                let sum = acc.entry(d).or_insert(0);
                *sum = sum.saturating_add(m);
                acc
            });
        let empty = BTreeMap::new();
        let points: Vec<Value> = buckets(self.granularity, &self.period)
            .into_iter()
            .map(|d| {
                let c = self.crm.by_bucket.get(&d).unwrap_or(&empty);
                let revenue = MinorUnits(meta(c, &counter::revenue(cur.code())));
                let spend = MinorUnits(spend_by.get(&d).copied().unwrap_or(0));
                json!({
                    "date": d,
                    "leads": meta(c, counter::LEADS),
                    "opportunities": meta(c, counter::OPPORTUNITIES),
                    "sales": meta(c, counter::SALES),
                    "revenue_minor": revenue,
                    "revenue": major(revenue, cur),
                    "spend_minor": spend,
                    "spend": major(spend, cur),
                })
            })
            .collect();
        json!({ "granularity": self.granularity, "currency": cur, "points": points })
    }

    fn connection_json(&self) -> Value {
        json!({
            "status": self.connection.status,
            "connected": self.connection.connected,
            "needs_reconnect": self.connection.needs_reconnect,
            "expires_at": self.connection.expires_at,
            "ad_account_id": self.primary_account(),
            "ad_account_ids": self.connection.ad_account_ids,
            "ad_account_selected": self.connection.ad_account_selected,
            "reason": self.connection.reason,
            "message": self.connection.message,
        })
    }

    /// `GET /stats`.
    pub fn stats_view(&self) -> Value {
        let h = self.headline();
        let cur = h.currency;
        let t = &self.crm.total;
        let by_source: BTreeMap<&str, i64> = t
            .iter()
            .filter_map(|(k, v)| k.strip_prefix("leads__src__").map(|s| (s, *v)))
            .filter(|(_, v)| *v != 0)
            .collect();
        let cpa_exact = self.unless_fx_missing(cpa(h.spend, h.leads));
        json!({
            "time_range": self.period.name,
            "period": self.period_json(),
            "currency": cur,
            "meta_connected": self.connection.connected && self.connection.ad_account_selected,
            "meta_connection": self.connection_json(),
            "spend_synced_at": self.spend_synced_at(),
            "leads": h.leads,
            "leads_all_sources": get(t, counter::LEADS),
            "leads_by_source": by_source,
            "opportunities": h.opportunities,
            "sales": h.sales,
            "paying_customers": h.customers,
            "revenue": major(h.revenue, cur),
            "revenue_minor": h.revenue,
            "spend": major(h.spend, cur),
            "spend_minor": h.spend,
            "cpa": cpa_exact.map(|c| major(c, cur)),
            "cpa_minor": cpa_exact,
            "roas": self.unless_fx_missing(roas(h.revenue, h.spend)),
            "roi_percent": self.unless_fx_missing(roi_percent(h.revenue, h.spend)),
            "reason": h.reason,
            "fx": self.fx.to_json(cur),
            "lead_to_opportunity_rate": rate_percent(h.opportunities, h.leads),
            "opportunity_to_sale_rate": rate_percent(h.sales, h.opportunities),
            "series": self.series(),
            "roi": self.roi_view(false),
            "campaigns": self.campaigns_block(),
            "other_currencies": self.other_currencies(),
            "attribution": self.attribution(),
        })
    }

    /// `GET /combined-stats`: the page's main load. The ROI object is served twice, at `meta.roi`
    /// and at `roi` (the hub hands `data.roi` to its ROI card; FRONTEND-CONTRACT).
    pub fn combined_view(&self) -> Value {
        let h = self.headline();
        // The hub shows "Conectado, cuenta activa" for `meta_connected`: true only once an ad
        // account is chosen (a login whose wizard was abandoned is not "active"; the exact state
        // is `meta.connection`: `connected`, `ad_account_selected: false` and the reason).
        let connected = self.connection.connected && self.connection.ad_account_selected;
        let roi = self.roi_view(false);
        json!({
            "time_range": self.period.name,
            "period": self.period_json(),
            "roi": roi,
            "meta": {
                "meta_connected": connected,
                "ad_account_selected": self.connection.ad_account_selected,
                "currency": h.currency,
                "roi": roi,
                "campaigns": self.campaigns_block(),
                "spend_synced_at": self.spend_synced_at(),
                "connection": self.connection_json(),
            },
            "google": { "connected": false },
            "combined": {
                "meta_connected": connected,
                "google_connected": false,
                "total_platforms": u8::from(connected),
                "currency": h.currency,
                "total_spend": major(h.spend, h.currency),
                "total_spend_minor": h.spend,
                "total_leads": h.leads,
            },
        })
    }
}
