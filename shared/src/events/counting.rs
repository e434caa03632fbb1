//! What an event adds to the tenant's aggregate items: a lead's first-touch [`Attribution`] and
//! the [`Deltas`] (counter increments and display names per `AGG#D#…` / `AGG#M#…` item) it
//! produces on the local day of the fact, in the tenant's reporting zone. Counter names are
//! `marketing::aggregates::counter`'s (the dashboard reads them).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::domain::crm::AdAttribution;
use crate::domain::ids::Tag;
use crate::domain::zone::{local_day, Zone};
use crate::marketing::aggregates::counter;
use crate::store::aggregates::{Counters, Names};
use crate::store::events::AggregateChange;
use crate::store::keys;
use crate::store::records::{CountedAttribution, LeadRecord};

/// A lead's first-touch attribution, as counters see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribution {
    pub source: String,
    pub campaign_id: Option<String>,
    pub ad_id: Option<String>,
}

impl Attribution {
    /// The attribution of a counted lead (`None`: the lead is a stub, not counted yet).
    pub fn of(lead: &LeadRecord) -> Option<Self> {
        lead.counted.then(|| Attribution {
            source: lead.source.clone().unwrap_or_else(|| "UNKNOWN".into()),
            campaign_id: lead.attribution.campaign_id.clone(),
            ad_id: lead.attribution.ad_id.clone(),
        })
    }
}

impl From<&Attribution> for CountedAttribution {
    fn from(a: &Attribution) -> Self {
        CountedAttribution {
            source: Some(a.source.clone()),
            campaign_id: a.campaign_id.clone(),
            ad_id: a.ad_id.clone(),
        }
    }
}

/// Counter deltas per aggregate item (sort key → counters), and display names to `SET` on it
/// (sort key → attribute → value).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Deltas {
    pub counters: BTreeMap<String, Counters>,
    pub names: BTreeMap<String, Names>,
}

impl Deltas {
    /// Adds `n` to `metric` (total, per source, campaign, ad) on the local day of `at` and its month.
    pub fn bump(&mut self, metric: &str, attribution: &Attribution, at: DateTime<Utc>, zone: Zone, n: i64) {
        let day = local_day(at, zone);
        for key in [keys::agg_day(day), keys::agg_month(day)] {
            let c = self.counters.entry(key).or_default();
            let mut add = |name: String| *c.entry(name).or_insert(0) += n;
            add(metric.to_string());
            add(counter::by_source(metric, &attribution.source));
            // Campaign and ad rows are Meta's: only Meta-attributed leads (lead_source = META_ADS)
            // count there, so the rows add up to the Meta totals beside them.
            if attribution.source != counter::META_SOURCE {
                continue;
            }
            if let Some(camp) = &attribution.campaign_id {
                add(counter::by_campaign(metric, camp));
            }
            if let Some(ad) = &attribution.ad_id {
                add(counter::by_ad(metric, ad));
            }
        }
    }

    /// Records the campaign / ad names a lead arrived with on its day and month items, so rows of
    /// campaigns without synced spend still have names ([`counter::campaign_name`] etc.).
    pub fn name(&mut self, ad: &AdAttribution<Tag>, at: DateTime<Utc>, zone: Zone) {
        let day = local_day(at, zone);
        let clip = |s: &String| s.chars().take(256).collect::<String>();
        for key in [keys::agg_day(day), keys::agg_month(day)] {
            let n = self.names.entry(key).or_default();
            if let (Some(id), Some(name)) = (&ad.campaign_id, &ad.campaign_name) {
                n.insert(counter::campaign_name(id.as_str()), clip(name));
            }
            if let (Some(id), Some(name)) = (&ad.ad_id, &ad.ad_name) {
                n.insert(counter::ad_name(id.as_str()), clip(name));
            }
            if let (Some(ad), Some(camp)) = (&ad.ad_id, &ad.campaign_id) {
                n.insert(counter::ad_campaign(ad.as_str()), camp.as_str().to_string());
            }
        }
        self.names.retain(|_, n| !n.is_empty());
    }

    /// The writes on each aggregate item touched: counters that add up to zero are left out, and
    /// so are items left with nothing to write.
    pub fn into_aggregates(self) -> BTreeMap<String, AggregateChange> {
        let mut out: BTreeMap<String, AggregateChange> = BTreeMap::new();
        for (key, mut counters) in self.counters {
            counters.retain(|_, v| *v != 0);
            if !counters.is_empty() {
                out.entry(key).or_default().counters = counters;
            }
        }
        for (key, names) in self.names {
            if !names.is_empty() {
                out.entry(key).or_default().names = names;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::zone::{reporting_zone, Zone};

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).single().expect("date")
    }

    #[test]
    fn only_meta_leads_count_toward_campaign_and_ad_rows() {
        let at = at(2026, 11, 24, 15);
        let mut deltas = Deltas::default();
        let attr = |source: &str| Attribution {
            source: source.into(),
            campaign_id: Some("c1".into()),
            ad_id: Some("a1".into()),
        };
        deltas.bump("leads", &attr(counter::META_SOURCE), at, Zone::UTC, 1);
        deltas.bump("leads", &attr("WEBSITE"), at, Zone::UTC, 1);
        let day = &deltas.counters[&keys::agg_day(local_day(at, Zone::UTC))];
        assert_eq!(day.get("leads"), Some(&2));
        assert_eq!(day.get(&counter::by_source("leads", "WEBSITE")), Some(&1));
        assert_eq!(day.get(&counter::by_campaign("leads", "c1")), Some(&1));
        assert_eq!(day.get(&counter::by_ad("leads", "a1")), Some(&1));
    }

    #[test]
    fn deltas_count_totals_sources_campaigns_and_ads_per_local_day_and_month() {
        let mut d = Deltas::default();
        let a = Attribution { source: "META_ADS".into(), campaign_id: Some("c1".into()), ad_id: Some("a1".into()) };
        let tz = reporting_zone(Zone::parse("America/Bogota").ok());
        // 02:00 UTC on Dec 1st is 21:00 on Nov 30th in Bogotá.
        d.bump("leads", &a, at(2026, 12, 1, 2), tz, 1);
        let day = &d.counters["AGG#D#2026-11-30"];
        assert_eq!(day["leads"], 1);
        assert_eq!(day["leads__src__META_ADS"], 1);
        assert_eq!(day["leads__camp__c1"], 1);
        assert_eq!(day["leads__ad__a1"], 1);
        assert_eq!(d.counters["AGG#M#2026-11"]["leads"], 1);
        assert!(!d.counters.contains_key("AGG#D#2026-12-01"));
    }

    #[test]
    fn aggregates_leave_out_what_adds_up_to_nothing() {
        let a = Attribution { source: "WEBSITE".into(), campaign_id: None, ad_id: None };
        let mut d = Deltas::default();
        // A customer moved to an earlier day of the same month: the month nets to zero.
        d.bump("customers", &a, at(2026, 11, 10, 12), Zone::UTC, -1);
        d.bump("customers", &a, at(2026, 11, 5, 12), Zone::UTC, 1);
        let ad = AdAttribution::<Tag> {
            campaign_id: Tag::parse("c1").ok(),
            campaign_name: Some("Spring".into()),
            ..Default::default()
        };
        d.name(&ad, at(2026, 11, 5, 12), Zone::UTC);
        let out = d.into_aggregates();
        assert_eq!(out.keys().collect::<Vec<_>>(), vec!["AGG#D#2026-11-05", "AGG#D#2026-11-10", "AGG#M#2026-11"]);
        assert!(out["AGG#M#2026-11"].counters.is_empty(), "the month's counters cancel out");
        assert_eq!(out["AGG#M#2026-11"].names["name__camp__c1"], "Spring");
        assert_eq!(out["AGG#D#2026-11-10"].counters["customers"], -1);
        assert!(out["AGG#D#2026-11-10"].names.is_empty());
    }

    #[test]
    fn names_need_both_id_and_name() {
        let mut d = Deltas::default();
        let ad = AdAttribution::<Tag> { ad_name: Some("Video".into()), ..Default::default() };
        d.name(&ad, at(2026, 11, 5, 12), Zone::UTC);
        assert!(d.names.is_empty());
        assert!(d.into_aggregates().is_empty());
    }
}
