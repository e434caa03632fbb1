//! Early CRM events on moto: a sale (or opportunity) that arrives before its lead is parked, then
//! counted exactly once when the lead arrives — re-delivered, in one batch, or at the same moment
//! as its lead from another Lambda instance — and, if the lead never comes, expired after the limit
//! into the dead letters with the `EarlyEventsExpired` metric, counting nothing.

use chrono::Duration;
use crm_events::{handle_event, Summary};
use crm_shared::api::http::body_json;
use crm_shared::domain::ids::TenantId;
use crm_shared::events::{ingest_lead, parse_event, CrmEventKind, EntityId, PARK_LIMIT_DAYS};
use crm_shared::platform::metrics::{self, names};
use crm_shared::store::events::dead_letters;
use crm_shared::store::parked_events::ParkedEvents;
use crm_shared::App;
use integration_tests::*;
use serde_json::{json, Value};

fn lead(tenant: i64, id: &str) -> Value {
    crm_event(
        "lead.created",
        tenant,
        &format!("evt-{id}"),
        "2026-11-20T10:00:00Z",
        "lead",
        json!({"id": id, "created_at": "2026-11-20T10:00:00Z", "source": "META_ADS", "campaign_id": "c1"}),
    )
}

fn sale(tenant: i64, id: &str, lead_id: &str, amount: i64) -> Value {
    crm_event(
        "sale.completed",
        tenant,
        &format!("evt-{id}"),
        "2026-11-21T10:00:00Z",
        "sale",
        json!({"id": id, "lead_id": lead_id, "amount_minor": amount, "currency": "USD", "completed_at": "2026-11-21T10:00:00Z"}),
    )
}

async fn deliver(app: &App, event: Value) -> Summary {
    handle_event(app, event).await.expect("invocation succeeds")
}

/// `(sales, revenue__USD, customers)` of the sale's day and of its month.
async fn counted(env: &TestEnv, t: i64) -> [(i64, i64, i64); 2] {
    let read = |sk: &'static str| async move {
        env.item(t, sk).await.map_or((0, 0, 0), |i| (num(&i, "sales"), num(&i, "revenue__USD"), num(&i, "customers")))
    };
    [read("AGG#D#2026-11-21").await, read("AGG#M#2026-11").await]
}

#[tokio::test]
async fn sale_before_its_lead_is_counted_exactly_once_after_the_lead_arrives() {
    let env = TestEnv::new().await;
    let t = 41;
    let s = sale(t, "S-1", "L-late", 900);
    assert_eq!(deliver(&env.app, s.clone()).await, Summary { parked: 1, ..Summary::default() });
    let parked = env.item(t, "WAIT#L-late#evt-S-1").await.expect("parked under its lead");
    assert_eq!(parked["GSI1PK"].as_s().expect("s"), "WAIT#PARKED");
    assert!(env.item(t, "EVT#evt-S-1").await.is_none() && env.item(t, "SALE#S-1").await.is_none());
    assert_eq!(counted(&env, t).await, [(0, 0, 0); 2], "nothing counted yet");

    let s2 = deliver(&env.app, lead(t, "L-late")).await;
    assert_eq!((s2.applied, s2.redriven, s2.retry), (1, 1, 0));
    assert!(env.item(t, "WAIT#L-late#evt-S-1").await.is_none(), "released");
    assert_eq!(counted(&env, t).await, [(1, 900, 1); 2]);
    assert_eq!(deliver(&env.app, s).await.duplicate, 1, "a later re-delivery is a duplicate");
    assert_eq!(counted(&env, t).await, [(1, 900, 1); 2]);

    // The dashboard shows it once.
    let resp = marketing_stats_roi::handle(&env.app, get("/crm/marketing/stats/roi?range=30d", t, "setter")).await;
    let r = body_json(&resp)["data"].clone();
    assert_eq!(
        (r["leads"].clone(), r["total_revenue_minor"].clone(), r["leads_converted"].clone()),
        (json!(1), json!(900), json!(1)),
        "{r}"
    );
}

#[tokio::test]
async fn a_re_delivered_early_sale_is_parked_once_and_counted_once() {
    let env = TestEnv::new().await;
    let t = 42;
    let s = sale(t, "S-1", "L-1", 500);
    deliver(&env.app, s.clone()).await;
    env.clock.advance(Duration::minutes(3));
    // Lambda's retry, and an SQS redrive batch holding it twice.
    assert_eq!(deliver(&env.app, s.clone()).await.parked, 1);
    let sqs = json!({"Records": [{"body": s.to_string()}, {"body": s.to_string()}]});
    assert_eq!(deliver(&env.app, sqs).await.parked, 2);
    let waiting = env.store.waiting_for(TenantId(t), "L-1").await.expect("waiting");
    assert_eq!(waiting.len(), 1, "one parked item");
    assert_eq!(waiting[0].parked_at, t0(), "the first park's time (and limit) stands");

    // The lead and the sale once more in one batch, the sale first.
    let batch = deliver(&env.app, json!([s.clone(), lead(t, "L-1"), s])).await;
    assert_eq!((batch.parked, batch.applied, batch.redriven, batch.duplicate), (1, 1, 1, 1), "{batch:?}");
    assert_eq!(counted(&env, t).await, [(1, 500, 1); 2]);
    assert!(env.items_with(&format!("T#{t}"), "WAIT#").await.is_empty());
}

#[tokio::test]
async fn a_lead_and_its_sale_at_the_same_time_count_the_sale_exactly_once() {
    let env = TestEnv::new().await;
    let t = 43;
    // Two Lambda instances: separate SDK clients and Apps over the same table.
    let other = App::with_aws((*env.app.config).clone(), &sdk_config().await, env.clock.clone()).expect("app");
    // The lead starts later and later: from before the sale reads it, through the window between
    // the sale's read and its park, to after the sale has parked.
    let delays_ms = [0_u64, 0, 2, 4, 6, 8, 10, 12, 15, 20, 30, 60];
    let rounds = delays_ms.len() as i64;
    for (round, delay) in delays_ms.into_iter().enumerate() {
        let lead_id = format!("L-{round}");
        let (a, b) = (env.app.clone(), other.clone());
        let (l, s) = (lead(t, &lead_id), sale(t, &format!("S-{round}"), &lead_id, 100));
        let child = tokio::spawn(async move { deliver(&b, s).await });
        let parent = tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
            deliver(&a, l).await
        });
        let (parent, child) = (parent.await.expect("join"), child.await.expect("join"));
        // Either the sale saw its lead, or it parked and the lead redrove it.
        assert_eq!(child.applied + parent.redriven, 1, "round {round}: {parent:?} {child:?}");
        assert_eq!(child.parked, parent.redriven, "round {round}");
    }
    assert_eq!(counted(&env, t).await, [(rounds, 100 * rounds, rounds); 2]);
    assert!(env.items_with(&format!("T#{t}"), "WAIT#").await.is_empty(), "nothing left parked");
}

#[tokio::test]
async fn an_early_sale_whose_lead_never_comes_expires_alarmed_and_counts_nothing() {
    let env = TestEnv::new().await;
    let t = 44;
    let sweep = || sample_event("crm-events-sweep-scheduled.json");
    deliver(&env.app, sale(t, "S-9", "L-never", 700)).await;
    env.clock.advance(Duration::days(PARK_LIMIT_DAYS) - Duration::minutes(1));
    assert_eq!(deliver(&env.app, sweep()).await.waiting, 1, "within the limit it waits");

    env.clock.advance(Duration::minutes(1));
    metrics::start_capture();
    let swept = deliver(&env.app, sweep()).await;
    let lines = metrics::captured();
    assert_eq!((swept.expired, swept.waiting), (1, 0));
    let expired: Vec<Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get(names::EARLY_EVENTS_EXPIRED).is_some())
        .collect();
    assert!(!expired.is_empty(), "metric emitted: {lines:?}");
    assert_eq!(expired[0]["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"], names::EARLY_EVENTS_EXPIRED);

    assert!(env.item(t, "WAIT#L-never#evt-S-9").await.is_none(), "no longer parked");
    let now = t0() + Duration::days(PARK_LIMIT_DAYS);
    let letters = dead_letters(&env.store, now, now).await.expect("dead letters");
    let letter = letters.iter().find(|l| l.tenant_id == Some(t)).expect("dead-lettered");
    assert!(letter.reason.contains("L-never"), "{}", letter.reason);
    assert_eq!(counted(&env, t).await, [(0, 0, 0); 2], "nothing counted");
    assert_eq!(deliver(&env.app, sweep()).await, Summary::default(), "expired once");

    // The dead letter keeps the event for replay: once the lead exists, replaying it counts it.
    deliver(&env.app, lead(t, "L-never")).await;
    assert_eq!(counted(&env, t).await, [(0, 0, 0); 2], "an expired sale is not redriven by its lead");
    let replay: Value = serde_json::from_str(&letter.payload).expect("payload");
    assert_eq!(deliver(&env.app, replay).await.applied, 1);
    assert_eq!(counted(&env, t).await, [(1, 700, 1); 2]);
}

#[tokio::test]
async fn the_sweep_redrives_a_sale_whose_lead_came_through_the_meta_webhook() {
    let env = TestEnv::new().await;
    let t = 45;
    deliver(&env.app, sale(t, "S-1", "meta:555", 300)).await;
    // The lead-ads path ingests the lead without looking at parked events.
    let event = parse_event(&lead(t, "meta:555")).expect("lead");
    let CrmEventKind::LeadCreated(new) = event.kind else { panic!("lead.created") };
    let id = EntityId::parse("meta-leadgen:555").expect("id");
    ingest_lead(&env.store, TenantId(t), id, new, t0()).await.expect("ingest");
    assert_eq!(counted(&env, t).await, [(0, 0, 0); 2]);
    let swept = deliver(&env.app, sample_event("crm-events-sweep-scheduled.json")).await;
    assert_eq!(swept.redriven, 1, "{swept:?}");
    assert_eq!(counted(&env, t).await, [(1, 300, 1); 2]);
    assert!(env.item(t, "WAIT#meta:555#evt-S-1").await.is_none());
}

/// `make dev`: an early sale posted to `/__local/crm-events` is accepted as parked (202).
#[tokio::test]
async fn local_server_answers_202_for_a_parked_event() {
    let env = TestEnv::new().await;
    let api = local_stack::server::LocalApi::new(env.app.clone());
    let post = |body: Value| {
        lambda_http::http::Request::builder()
            .method("POST")
            .uri(local_stack::server::LOCAL_EVENTS_PATH)
            .header("content-type", "application/json")
            .body(lambda_http::Body::Text(body.to_string()))
            .expect("request")
    };
    let resp = api.dispatch(post(sale(46, "S-1", "L-1", 100))).await;
    assert_eq!(resp.status(), 202);
    assert_eq!(body_json(&resp)["data"]["parked"], 1);
    let resp = api.dispatch(post(lead(46, "L-1"))).await;
    assert_eq!((resp.status().as_u16(), body_json(&resp)["data"]["redriven"].clone()), (200, json!(1)));
}
