//! CRM domain events on moto: samples apply, re-delivery (sequential and concurrent) counts once,
//! out-of-order updates keep the newest state, malformed events are dead-lettered whole. Events
//! that arrive before their lead: `early_events.rs`.

use chrono::{TimeZone, Utc};
use crm_events::{handle_event, Summary};
use crm_shared::domain::crm::{AdAttribution, Contact};
use crm_shared::domain::ids::TenantId;
use crm_shared::domain::money::Currency;
use crm_shared::domain::zone::Zone;
use crm_shared::events::{apply_event, ingest_lead, parse_event, Applied, EntityId, NewLead};
use crm_shared::store::TenantProfile;
use crm_shared::App;
use integration_tests::*;
use serde_json::{json, Value};

async fn deliver(env: &TestEnv, event: Value) -> Summary {
    handle_event(&env.app, event).await.expect("invocation succeeds")
}

async fn set_zone(env: &TestEnv, tenant: i64, zone: &str) {
    env.app
        .profiles
        .put_profile(&TenantProfile {
            tenant_id: TenantId(tenant),
            display_name: format!("Tenant {tenant}"),
            reporting_time_zone: Zone::parse(zone).ok(),
            currency: Currency::parse("USD").ok(),
            updated_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().expect("t"),
        })
        .await
        .expect("profile");
}

fn lead(tenant: i64, id: &str, event_id: &str, at: &str, source: &str, campaign: Option<&str>) -> Value {
    crm_event(
        "lead.created",
        tenant,
        event_id,
        at,
        "lead",
        json!({"id": id, "version": 1, "created_at": at, "source": source, "campaign_id": campaign, "ad_id": campaign.map(|c| format!("{c}-ad"))}),
    )
}

fn sale(tenant: i64, id: &str, lead_id: &str, amount: i64, currency: &str, at: &str) -> Value {
    crm_event(
        "sale.completed",
        tenant,
        &format!("evt-{id}"),
        at,
        "sale",
        json!({"id": id, "lead_id": lead_id, "amount_minor": amount, "currency": currency, "completed_at": at}),
    )
}

#[tokio::test]
async fn every_sample_event_parses() {
    for name in [
        "crm-lead-created.json",
        "crm-lead-updated.json",
        "crm-opportunity-created.json",
        "crm-opportunity-updated.json",
        "crm-sale-completed.json",
        "crm-cart-updated.json",
        "crm-tenant-updated.json",
    ] {
        let ev = parse_event(&sample_event(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(ev.tenant_id, TenantId(1), "{name}");
        assert!(name.contains(&ev.kind.detail_type().replace('.', "-")), "{name} is a {}", ev.kind.detail_type());
    }
}

#[tokio::test]
async fn samples_update_entities_and_local_day_aggregates() {
    let env = TestEnv::new().await;
    let t = 21;
    for name in [
        "crm-tenant-updated.json",
        "crm-lead-created.json",
        "crm-lead-updated.json",
        "crm-opportunity-created.json",
        "crm-opportunity-updated.json",
        "crm-sale-completed.json",
        "crm-cart-updated.json",
    ] {
        let s = deliver(&env, sample_for_tenant(name, t)).await;
        assert_eq!(s.applied, 1, "{name}: {s:?}");
    }
    let profile = env.app.profiles.get_profile(TenantId(t)).await.expect("get").expect("profile");
    assert_eq!(profile.reporting_time_zone.map(|z| z.name()), Some("America/Argentina/Buenos_Aires"));
    assert_eq!(profile.display_name, "Demo Clinic");

    let lead = env.item(t, "LEAD#L-1001").await.expect("lead");
    assert_eq!(lead["status"].as_s().expect("s"), "contacted");
    assert_eq!(lead["first_sale_at"].as_s().expect("s"), "2026-11-25T12:00:00Z");
    let opp = env.item(t, "OPP#O-501").await.expect("opp");
    assert_eq!((opp["status"].as_s().expect("s").as_str(), num(&opp, "value_minor")), ("won", 120_000));
    let cart = env.item(t, "CART#C-77").await.expect("cart");
    assert_eq!(cart["items"].as_l().expect("l").len(), 2);

    // Lead 15:30Z and opportunity 17:00Z are Nov 24 in Buenos Aires (UTC-3); the sale 12:00Z Nov 25.
    let d24 = env.item(t, "AGG#D#2026-11-24").await.expect("day 24");
    assert_eq!(num(&d24, "leads"), 1);
    assert_eq!(num(&d24, "leads__src__META_ADS"), 1);
    assert_eq!(num(&d24, "leads__camp__120210000000001"), 1);
    assert_eq!(num(&d24, "leads__ad__120210000000101"), 1);
    assert_eq!(num(&d24, "opps__src__META_ADS"), 1);
    let d25 = env.item(t, "AGG#D#2026-11-25").await.expect("day 25");
    assert_eq!(num(&d25, "sales__src__META_ADS"), 1);
    assert_eq!(num(&d25, "revenue__USD__src__META_ADS"), 120_000);
    assert_eq!(num(&d25, "revenue__USD__camp__120210000000001"), 120_000);
    assert_eq!(num(&d25, "customers__src__META_ADS"), 1);
    let month = env.item(t, "AGG#M#2026-11").await.expect("month");
    assert_eq!((num(&month, "leads"), num(&month, "opps"), num(&month, "sales")), (1, 1, 1));
    assert_eq!(num(&month, "revenue__USD"), 120_000);
}

#[tokio::test]
async fn lead_at_2330_local_lands_on_local_day() {
    let env = TestEnv::new().await;
    set_zone(&env, 22, "America/Bogota").await;
    // 04:30Z on Nov 25 is 23:30 on Nov 24 in Bogotá (UTC-5).
    deliver(&env, lead(22, "L-1", "e-1", "2026-11-25T04:30:00Z", "META_ADS", None)).await;
    assert_eq!(num(&env.item(22, "AGG#D#2026-11-24").await.expect("local day"), "leads"), 1);
    assert!(env.item(22, "AGG#D#2026-11-25").await.is_none(), "the UTC day must not be counted");
}

#[tokio::test]
async fn duplicate_delivery_is_counted_once() {
    let env = TestEnv::new().await;
    let t = 23;
    deliver(&env, lead(t, "L-1", "e-1", "2026-11-20T10:00:00Z", "META_ADS", Some("c1"))).await;
    let s = sale(t, "S-1", "L-1", 5_000, "USD", "2026-11-21T10:00:00Z");
    assert_eq!(deliver(&env, s.clone()).await.applied, 1);
    assert_eq!(deliver(&env, s.clone()).await.duplicate, 1);
    // EventBridge gives a re-put event a new envelope id; the producer's event_id still matches.
    let mut reput = s.clone();
    reput["id"] = json!("another-envelope-id");
    assert_eq!(deliver(&env, reput).await.duplicate, 1);
    // The same sale under a new event id is recorded but not counted again.
    let mut again = s;
    again["detail"]["event_id"] = json!("evt-S-1-resent");
    assert_eq!(deliver(&env, again).await.stale, 1);
    // And so is the lead.
    assert_eq!(deliver(&env, lead(t, "L-1", "e-1b", "2026-11-20T10:00:00Z", "META_ADS", Some("c1"))).await.stale, 1);

    let day = env.item(t, "AGG#D#2026-11-21").await.expect("day");
    assert_eq!((num(&day, "sales"), num(&day, "revenue__USD"), num(&day, "customers")), (1, 5_000, 1));
    assert_eq!(num(&env.item(t, "AGG#D#2026-11-20").await.expect("day"), "leads"), 1);
    assert_eq!(num(&env.item(t, "AGG#M#2026-11").await.expect("month"), "revenue__USD"), 5_000);
}

#[tokio::test]
async fn concurrent_delivery_of_the_same_event_is_counted_once() {
    let env = TestEnv::new().await;
    let t = 24;
    // Two Lambda instances: separate SDK clients and Apps over the same table.
    let other = App::with_aws((*env.app.config).clone(), &sdk_config().await, env.clock.clone()).expect("app");
    for round in 0..3 {
        let ev = lead(t, &format!("L-{round}"), &format!("e-{round}"), "2026-11-20T10:00:00Z", "META_ADS", Some("c1"));
        let parsed = parse_event(&ev).expect("parse");
        let (a, b) = (env.app.clone(), other.clone());
        let (p1, p2) = (parsed.clone(), parsed);
        let now = t0();
        let t1 = tokio::spawn(async move { apply_event(a.events.as_ref(), &p1, now).await });
        let t2 = tokio::spawn(async move { apply_event(b.events.as_ref(), &p2, now).await });
        let mut outcomes = vec![t1.await.expect("join").expect("apply 1"), t2.await.expect("join").expect("apply 2")];
        outcomes.sort_by_key(|o| format!("{o:?}"));
        assert_eq!(outcomes, vec![Applied::Applied, Applied::Duplicate], "round {round}");
    }
    let day = env.item(t, "AGG#D#2026-11-20").await.expect("day");
    assert_eq!((num(&day, "leads"), num(&day, "leads__camp__c1")), (3, 3));
}

#[tokio::test]
async fn out_of_order_updates_keep_the_newest_state() {
    let env = TestEnv::new().await;
    let t = 25;
    let upd = |v: u64, status: &str| {
        crm_event(
            "lead.updated",
            t,
            &format!("e-upd-{v}"),
            "2026-11-20T12:00:00Z",
            "lead",
            json!({"id": "L-9", "version": v, "status": status}),
        )
    };
    // The update of version 3 arrives before the lead itself and before version 2.
    assert_eq!(deliver(&env, upd(3, "qualified")).await.applied, 1);
    assert!(env.item(t, "AGG#D#2026-11-20").await.is_none(), "a stub is not counted");
    assert_eq!(deliver(&env, lead(t, "L-9", "e-created", "2026-11-20T10:00:00Z", "META_ADS", None)).await.applied, 1);
    assert_eq!(deliver(&env, upd(2, "contacted")).await.stale, 1);
    let item = env.item(t, "LEAD#L-9").await.expect("lead");
    assert_eq!(item["status"].as_s().expect("s"), "qualified");
    assert_eq!(item["source"].as_s().expect("s"), "META_ADS");
    assert_eq!(num(&item, "version"), 3);
    assert_eq!(num(&env.item(t, "AGG#D#2026-11-20").await.expect("day"), "leads"), 1);

    // An opportunity update older than the stored one is ignored.
    let opp = |dt: &str, v: u64, status: &str| {
        crm_event(
            dt,
            t,
            &format!("e-opp-{v}"),
            "2026-11-21T12:00:00Z",
            "opportunity",
            json!({"id": "O-1", "version": v, "lead_id": "L-9", "created_at": "2026-11-21T12:00:00Z", "status": status}),
        )
    };
    deliver(&env, opp("opportunity.created", 1, "pending")).await;
    deliver(&env, opp("opportunity.updated", 4, "won")).await;
    assert_eq!(deliver(&env, opp("opportunity.updated", 3, "lost")).await.stale, 1);
    assert_eq!(env.item(t, "OPP#O-1").await.expect("opp")["status"].as_s().expect("s"), "won");

    // A tenant update older than the stored profile is ignored.
    let tenant = |at: &str, name: &str| {
        crm_event("tenant.updated", t, &format!("e-t-{at}"), at, "tenant", json!({"display_name": name}))
    };
    deliver(&env, tenant("2026-11-22T10:00:00Z", "New name")).await;
    assert_eq!(deliver(&env, tenant("2026-11-21T10:00:00Z", "Old name")).await.stale, 1);
    assert_eq!(env.app.profiles.get_profile(TenantId(t)).await.expect("get").expect("p").display_name, "New name");
}

#[tokio::test]
async fn an_earlier_sale_arriving_later_moves_the_customer_to_its_day() {
    let env = TestEnv::new().await;
    let t = 26;
    deliver(&env, lead(t, "L-1", "e-1", "2026-11-01T10:00:00Z", "META_ADS", None)).await;
    deliver(&env, sale(t, "S-2", "L-1", 300, "USD", "2026-11-10T10:00:00Z")).await;
    deliver(&env, sale(t, "S-1", "L-1", 200, "USD", "2026-11-05T10:00:00Z")).await;
    assert_eq!(num(&env.item(t, "AGG#D#2026-11-05").await.expect("d5"), "customers"), 1);
    let d10 = env.item(t, "AGG#D#2026-11-10").await.expect("d10");
    assert_eq!((num(&d10, "customers"), num(&d10, "sales")), (0, 1));
    let month = env.item(t, "AGG#M#2026-11").await.expect("month");
    assert_eq!((num(&month, "customers"), num(&month, "sales"), num(&month, "revenue__USD")), (1, 2, 500));
}

#[tokio::test]
async fn malformed_events_are_dead_lettered_and_never_half_applied() {
    let env = TestEnv::new().await;
    let t = 28;
    deliver(&env, lead(t, "L-1", "e-1", "2026-11-01T10:00:00Z", "META_ADS", None)).await;
    let bad_currency = sale(t, "S-bad", "L-1", 100, "ABC", "2026-11-02T10:00:00Z");
    let unknown_type = crm_event("lead.deleted", t, "e-del", "2026-11-02T10:00:00Z", "lead", json!({"id": "L-1"}));
    let good = sale(t, "S-good", "L-1", 700, "USD", "2026-11-02T10:00:00Z");
    // A batch (e.g. an SQS redrive): the malformed ones do not stop the good one.
    let s = handle_event(&env.app, json!([bad_currency, unknown_type, good, "not an event"])).await.expect("batch");
    assert_eq!((s.applied, s.dead_lettered, s.retry), (1, 3, 0));

    let dlq = env.items_with("DLQ#crm-events", "").await;
    assert_eq!(dlq.len(), 3);
    let reasons: Vec<String> = dlq.iter().map(|i| i["reason"].as_s().expect("reason").clone()).collect();
    assert!(reasons.iter().any(|r| r.contains("currency")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("lead.deleted")), "{reasons:?}");
    assert!(dlq.iter().any(|i| i.get("event_id").and_then(|v| v.as_s().ok()).map(String::as_str) == Some("evt-S-bad")));
    assert!(env.item(t, "SALE#S-bad").await.is_none());
    assert!(env.item(t, "EVT#evt-S-bad").await.is_none());
    let day = env.item(t, "AGG#D#2026-11-02").await.expect("day");
    assert_eq!((num(&day, "sales"), num(&day, "revenue__USD")), (1, 700));
}

#[tokio::test]
async fn ingested_meta_lead_is_idempotent_on_its_external_id() {
    let env = TestEnv::new().await;
    let t = 29;
    let new_lead = |_: ()| NewLead {
        id: EntityId::parse("meta:5550001").expect("id"),
        version: 1,
        created_at: Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, 0).single().expect("t"),
        source: serde_json::from_value(json!("META_ADS")).expect("source"),
        status: serde_json::from_value(json!("new")).expect("status"),
        contact: Contact { name: Some("Webhook Lead".into()), phone: None, email: None },
        attribution: AdAttribution {
            campaign_id: serde_json::from_value(json!("c-77")).expect("tag"),
            campaign_name: None,
            ad_id: None,
            ad_name: None,
            adset_id: None,
        },
        opted_out: false,
        leadgen_id: None,
    };
    let event_id = || EntityId::parse("meta-leadgen:5550001").expect("id");
    let tenant = TenantId(t);
    assert_eq!(ingest_lead(&env.store, tenant, event_id(), new_lead(()), t0()).await.expect("1"), Applied::Applied);
    assert_eq!(ingest_lead(&env.store, tenant, event_id(), new_lead(()), t0()).await.expect("2"), Applied::Duplicate);
    // The CRM later emits lead.created for the same lead under its own event id: still one lead.
    let crm = lead(t, "meta:5550001", "crm-evt-1", "2026-11-20T10:00:00Z", "META_ADS", Some("c-77"));
    assert_eq!(deliver(&env, crm).await.stale, 1);
    let day = env.item(t, "AGG#D#2026-11-20").await.expect("day");
    assert_eq!((num(&day, "leads"), num(&day, "leads__camp__c-77")), (1, 1));
}

#[tokio::test]
async fn concurrent_different_events_on_the_same_day_all_count() {
    let env = TestEnv::new().await;
    let t = 30;
    let other = App::with_aws((*env.app.config).clone(), &sdk_config().await, env.clock.clone()).expect("app");
    let mut tasks = Vec::new();
    for i in 0..12 {
        let app = if i % 2 == 0 { env.app.clone() } else { other.clone() };
        let ev =
            parse_event(&lead(t, &format!("L-{i}"), &format!("e-{i}"), "2026-11-20T10:00:00Z", "META_ADS", Some("c1")))
                .expect("parse");
        tasks.push(tokio::spawn(async move { apply_event(app.events.as_ref(), &ev, t0()).await }));
    }
    for task in tasks {
        assert_eq!(task.await.expect("join").expect("apply"), Applied::Applied);
    }
    let day = env.item(t, "AGG#D#2026-11-20").await.expect("day");
    assert_eq!((num(&day, "leads"), num(&day, "leads__camp__c1")), (12, 12));
    assert_eq!(num(&env.item(t, "AGG#M#2026-11").await.expect("month"), "leads__src__META_ADS"), 12);
}

/// `make dev` has no EventBridge: the local server's `/__local/crm-events` hands a posted event to
/// the `crm-events` handler, with the same idempotency as the rule would give.
#[tokio::test]
async fn local_server_accepts_crm_events_like_the_eventbridge_rule() {
    let env = TestEnv::new().await;
    let api = local_stack::server::LocalApi::new(env.app.clone());
    let post = |body: String| {
        lambda_http::http::Request::builder()
            .method("POST")
            .uri(local_stack::server::LOCAL_EVENTS_PATH)
            .header("content-type", "application/json")
            .body(lambda_http::Body::Text(body))
            .expect("request")
    };
    let sample = sample_event("crm-lead-created.json").to_string();
    let first = api.dispatch(post(sample.clone())).await;
    assert_eq!(first.status(), 200);
    assert_eq!(crm_shared::api::http::body_json(&first)["data"]["applied"], 1);
    let again = api.dispatch(post(sample)).await;
    assert_eq!(crm_shared::api::http::body_json(&again)["data"]["duplicate"], 1);
    let bad = api.dispatch(post("{not json".into())).await;
    assert_eq!(bad.status(), 400);
    assert_eq!(env.items_with("T#1", "LEAD#").await.len(), 1);
}
