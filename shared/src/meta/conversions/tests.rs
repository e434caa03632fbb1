//! Planning (pure) and queueing on the in-memory twins.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{json, Value};
use std::collections::BTreeMap;

use super::plan::{event_id_of, plan, stage_of, Planned};
use super::{after_crm_event, QueuePorts, Queued};
use crate::api::app::App;
use crate::domain::conversions::{ConversionSettings, ConversionState, StageKind, StageMap};
use crate::domain::ids::TenantId;
use crate::events::{apply_event, parse_event, CrmEvent};
use crate::store::records::LeadRecord;
use crate::store::Revision;

const T: TenantId = TenantId(7);

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).single().unwrap_or_default()
}

fn event(kind: &str, body_key: &str, body: Value, id: &str, at: DateTime<Utc>) -> CrmEvent {
    let raw = json!({"source": "crm", "detail-type": kind, "detail": {
        "event_id": id, "tenant_id": T.0, "occurred_at": at, body_key: body}});
    parse_event(&raw).unwrap_or_else(|e| panic!("test event: {e}"))
}

fn lead_created(lead: &str, leadgen: Option<&str>, at: DateTime<Utc>) -> CrmEvent {
    let mut body = json!({"id": lead, "created_at": at, "source": "META_ADS"});
    if let Some(l) = leadgen {
        body["leadgen_id"] = json!(l);
    }
    event("lead.created", "lead", body, &format!("evt-{lead}"), at)
}

fn sale(id: &str, lead: &str, at: DateTime<Utc>) -> CrmEvent {
    let body = json!({"id": id, "lead_id": lead, "amount_minor": 120_000, "currency": "USD", "completed_at": at});
    event("sale.completed", "sale", body, &format!("evt-{id}"), at)
}

fn settings() -> ConversionSettings {
    let stages = StageMap {
        lead_status: BTreeMap::from([("qualified".to_string(), "Qualified lead".to_string())]),
        ..Default::default()
    };
    ConversionSettings {
        tenant_id: T,
        enabled: true,
        dataset_id: Some("700000000000001".into()),
        dataset_name: None,
        stages,
        test_event_code: None,
        lead_event_source: "CRM".into(),
        updated_at: t0(),
        updated_by: "u1".into(),
    }
}

fn meta_lead() -> LeadRecord {
    LeadRecord {
        lead_id: "L-1".into(),
        counted: true,
        created_at: Some(t0()),
        leadgen_id: Some("1100000000000001".into()),
        ..Default::default()
    }
}

#[test]
fn each_mapped_crm_event_reaches_its_stage() {
    let map = settings().stages;
    let hit = stage_of(&sale("S-1", "L-1", t0()), &map).expect("sale is mapped");
    assert_eq!(
        (hit.kind, hit.event_name.as_str(), hit.value_minor, hit.currency.as_deref()),
        (StageKind::SaleCompleted, "Converted", Some(120_000), Some("USD"))
    );
    let qualified =
        event("lead.updated", "lead", json!({"id": "L-1", "version": 2, "status": "qualified"}), "e2", t0());
    assert_eq!(stage_of(&qualified, &map).map(|h| h.stage), Some("status_qualified".into()));
    let contacted =
        event("lead.updated", "lead", json!({"id": "L-1", "version": 3, "status": "contacted"}), "e3", t0());
    assert_eq!(stage_of(&contacted, &map), None, "an unmapped status is not a stage");
    let off = StageMap { sale_completed: None, ..map };
    assert_eq!(stage_of(&sale("S-1", "L-1", t0()), &off), None, "a stage turned off");
}

#[test]
fn a_converted_lead_gets_its_earlier_stages_first_once_each() {
    let s = settings();
    let at = t0() + Duration::days(2);
    let ev = sale("S-1", "L-1", at);
    let hit = stage_of(&ev, &s.stages).expect("mapped");
    let Planned::Items(items) = plan(&s, &ev, &hit, &meta_lead(), &[], at) else { panic!("items") };
    let got: Vec<(&str, DateTime<Utc>, ConversionState)> =
        items.iter().map(|c| (c.event_name.as_str(), c.event_time, c.state)).collect();
    assert_eq!(
        got,
        [
            ("Initial lead", t0(), ConversionState::Pending),
            ("Sales opportunity", at - Duration::seconds(1), ConversionState::Pending),
            ("Converted", at, ConversionState::Pending),
        ]
    );
    let ids: std::collections::BTreeSet<&str> = items.iter().map(|c| c.event_id.as_str()).collect();
    assert_eq!(ids.len(), 3, "one event id per stage");
    assert_eq!(items[2].event_id, event_id_of(T, "evt-S-1", "sale_completed"), "stable per (tenant, CRM event, stage)");
    assert_ne!(event_id_of(T, "evt-S-1", "sale_completed"), event_id_of(TenantId(8), "evt-S-1", "sale_completed"));
    // Once reached, the stage is not planned again; a lead without a leadgen id has nothing to send.
    assert_eq!(plan(&s, &ev, &hit, &meta_lead(), &items, at), Planned::AlreadyReached);
    let crm_only = LeadRecord { leadgen_id: None, ..meta_lead() };
    assert_eq!(plan(&s, &ev, &hit, &crm_only, &[], at), Planned::NotMetaLead);
}

#[test]
fn stages_before_the_lead_or_after_a_later_stage_are_skipped() {
    let s = settings();
    let early = sale("S-0", "L-1", t0() - Duration::hours(1));
    let hit = stage_of(&early, &s.stages).expect("mapped");
    let Planned::Items(items) = plan(&s, &early, &hit, &meta_lead(), &[], t0()) else { panic!("items") };
    assert_eq!(items.len(), 1, "nothing filled in for a skipped stage");
    assert_eq!((items[0].state, items[0].reason.as_deref()), (ConversionState::Skipped, Some("before_lead_created")));

    let converted = sale("S-1", "L-1", t0() + Duration::days(1));
    let hit = stage_of(&converted, &s.stages).expect("mapped");
    let Planned::Items(reached) = plan(&s, &converted, &hit, &meta_lead(), &[], t0()) else { panic!("items") };
    let qualified = event(
        "lead.updated",
        "lead",
        json!({"id": "L-1", "version": 2, "status": "qualified"}),
        "e2",
        t0() + Duration::days(2),
    );
    let hit = stage_of(&qualified, &s.stages).expect("mapped");
    let Planned::Items(late) = plan(&s, &qualified, &hit, &meta_lead(), &reached, t0()) else { panic!("items") };
    assert_eq!((late[0].state, late[0].reason.as_deref()), (ConversionState::Skipped, Some("after_later_stage")));
}

#[tokio::test]
async fn queueing_is_once_per_stage_and_only_for_meta_leads_of_enabled_tenants() {
    let (app, _mem): (App, _) = crate::testing::unit_app_at(t0(), &[]);
    let ports = QueuePorts { events: app.events.as_ref(), conversions: app.conversions.as_ref() };
    let (meta, crm) = (lead_created("L-1", Some("1100000000000001"), t0()), lead_created("L-2", None, t0()));
    for e in [&meta, &crm] {
        apply_event(app.events.as_ref(), e, t0()).await.expect("apply");
    }
    // Off: nothing queued.
    assert_eq!(after_crm_event(ports, &meta, t0()).await.expect("queue"), Queued::Nothing);
    // On without a dataset: nothing queued, and it says so.
    let mut s = settings();
    s.dataset_id = None;
    app.conversions.save_settings(&s, Revision::ABSENT).await.expect("save").expect("first save");
    assert_eq!(after_crm_event(ports, &meta, t0()).await.expect("queue"), Queued::NoDataset);
    app.conversions.save_settings(&settings(), Revision::at(1)).await.expect("save").expect("second save");
    assert_eq!(after_crm_event(ports, &meta, t0()).await.expect("queue"), Queued::Created { pending: 1, skipped: 0 });
    assert_eq!(after_crm_event(ports, &meta, t0()).await.expect("again"), Queued::AlreadyReached, "a re-delivery");
    assert_eq!(after_crm_event(ports, &crm, t0()).await.expect("queue"), Queued::NotMetaLead);
    let sale = sale("S-1", "L-1", t0() + Duration::hours(3));
    apply_event(app.events.as_ref(), &sale, t0()).await.expect("apply sale");
    assert_eq!(after_crm_event(ports, &sale, t0()).await.expect("queue"), Queued::Created { pending: 2, skipped: 0 });
    let queued: Vec<String> =
        app.conversions.pending(T, 10).await.expect("pending").into_iter().map(|c| c.event_name).collect();
    assert_eq!(queued, ["Initial lead", "Sales opportunity", "Converted"]);
}
