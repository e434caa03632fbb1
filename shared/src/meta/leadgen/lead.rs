//! A fetched lead-ads lead as a CRM lead: id `meta:{leadgen_id}` under event id
//! `meta-leadgen:{leadgen_id}` (so every path that ingests it counts it once), source
//! `META_ADS`, the campaign and ad Meta attributes it to, contact fields from the form's answers.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;

use super::webhook::LeadgenChange;
use crate::domain::ids::is_meta_id;
use crate::events::{EntityId, Malformed, NewLead};
use crate::meta::graph::{LeadField, Leadgen};

/// Meta's `2026-11-24T12:00:00+0000` (or RFC 3339).
pub fn parse_meta_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%z")
        .or_else(|_| DateTime::parse_from_rfc3339(s))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The first answer of the first of `names` the form asked (any case), trimmed, ≤ 200 chars.
pub(super) fn answer(fields: &[LeadField], names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| {
        fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(n))
            .and_then(|f| f.values.first())
            .map(|v| v.trim().chars().take(200).collect::<String>())
            .filter(|v| !v.is_empty())
    })
}

/// The person's name from the form: `full_name` (or `name`), else `first_name` + `last_name`.
pub(super) fn person_name(fields: &[LeadField]) -> Option<String> {
    answer(fields, &["full_name", "name"]).or_else(|| {
        let parts: Vec<String> =
            [answer(fields, &["first_name"]), answer(fields, &["last_name"])].into_iter().flatten().collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    })
}

/// The CRM lead of a fetched lead-ads lead: id `meta:{leadgen_id}`, source `META_ADS`, the
/// campaign and ad Meta attributes it to, contact fields from the form's answers.
pub fn new_lead(change: &LeadgenChange, lead: &Leadgen, now: DateTime<Utc>) -> Result<NewLead, serde_json::Error> {
    let created_at = parse_meta_time(&lead.created_time)
        .or_else(|| change.created_time.and_then(|s| Utc.timestamp_opt(s, 0).single()))
        .unwrap_or(now);
    let name = person_name(&lead.field_data);
    let id_or_none = |v: &Option<String>| v.clone().filter(|s| is_meta_id(s));
    let value = json!({
        "id": format!("meta:{}", change.leadgen_id),
        "created_at": created_at,
        "source": "META_ADS",
        "status": "new",
        "name": name,
        "email": answer(&lead.field_data, &["email"]),
        "phone": answer(&lead.field_data, &["phone_number", "phone"]),
        "campaign_id": id_or_none(&lead.attribution.campaign_id),
        "campaign_name": lead.attribution.campaign_name,
        "ad_id": id_or_none(&lead.attribution.ad_id).or_else(|| id_or_none(&change.ad_id)),
        "ad_name": lead.attribution.ad_name,
        "adset_id": id_or_none(&lead.attribution.adset_id),
        "leadgen_id": change.leadgen_id,
    });
    serde_json::from_value(value)
}

/// The ingest event id of a lead: `meta-leadgen:{leadgen_id}`.
pub fn event_id(leadgen_id: &str) -> Result<EntityId, Malformed> {
    EntityId::parse(&format!("meta-leadgen:{leadgen_id}")).map_err(Malformed::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::crm::AdAttribution;

    #[test]
    fn meta_times_parse_with_and_without_colon() {
        let t = Utc.with_ymd_and_hms(2026, 11, 24, 15, 0, 0).single().expect("t");
        assert_eq!(parse_meta_time("2026-11-24T15:00:00+0000"), Some(t));
        assert_eq!(parse_meta_time("2026-11-24T12:00:00-0300"), Some(t));
        assert_eq!(parse_meta_time("2026-11-24T15:00:00Z"), Some(t));
        assert_eq!(parse_meta_time("yesterday"), None);
    }

    #[test]
    fn lead_gets_meta_source_attribution_and_contact_answers() {
        let c = LeadgenChange {
            leadgen_id: "444".into(),
            page_id: "100".into(),
            form_id: None,
            ad_id: Some("55".into()),
            created_time: None,
        };
        let lead = Leadgen {
            id: "444".into(),
            created_time: "2026-11-24T15:00:00+0000".into(),
            field_data: vec![
                LeadField { name: "first_name".into(), values: vec!["Ana".into()] },
                LeadField { name: "last_name".into(), values: vec!["Gómez".into()] },
                LeadField { name: "EMAIL".into(), values: vec!["ana@example.com".into()] },
                LeadField { name: "phone_number".into(), values: vec!["+5491100000000".into()] },
            ],
            attribution: AdAttribution {
                campaign_id: Some("120200000000001".into()),
                campaign_name: Some("Spring".into()),
                ad_id: None,
                ad_name: None,
                adset_id: Some("120200000000000101".into()),
            },
        };
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0).single().expect("t");
        let l = new_lead(&c, &lead, now).expect("lead");
        assert_eq!(l.id.as_str(), "meta:444");
        assert_eq!(l.source.as_str(), "META_ADS");
        assert_eq!(l.attribution.campaign_id.as_ref().map(|t| t.as_str()), Some("120200000000001"));
        assert_eq!(l.attribution.ad_id.as_ref().map(|t| t.as_str()), Some("55"), "falls back to the change's ad id");
        assert_eq!(l.attribution.adset_id.as_ref().map(|t| t.as_str()), Some("120200000000000101"));
        assert_eq!(l.contact.name.as_deref(), Some("Ana Gómez"));
        assert_eq!(l.contact.email.as_deref(), Some("ana@example.com"));
        assert_eq!(l.created_at, Utc.with_ymd_and_hms(2026, 11, 24, 15, 0, 0).single().expect("t"));
        assert_eq!(l.leadgen_id.as_ref().map(|g| g.as_str()), Some("444"), "the join key with the CRM's copy");
        assert_eq!(event_id("444").expect("id").as_str(), "meta-leadgen:444");
    }
}
