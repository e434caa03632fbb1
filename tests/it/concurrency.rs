//! Exactly once under concurrency, end to end: many deliveries racing at `crm-events` at once.
//!
//! This holds only if the local DynamoDB is serializable like the real one: moto's own threaded
//! server can leave a cancelled transaction's `ADD` applied (a re-delivery counted twice), so the
//! harness serves moto one request at a time (`infra/local/moto_serial.py`).

use crm_events::{handle_event, Summary};
use crm_shared::App;
use integration_tests::*;
use serde_json::{json, Value};

/// Sale `id` of lead L-1 for `amount` cents, at 10:00Z + `minute` on Nov 21.
fn sale(t: i64, id: &str, event_id: &str, amount: i64, minute: u32) -> Value {
    let at = format!("2026-11-21T{:02}:{:02}:00Z", 10 + minute / 60, minute % 60);
    crm_event(
        "sale.completed",
        t,
        event_id,
        &at,
        "sale",
        json!({"id": id, "lead_id": "L-1", "amount_minor": amount, "currency": "USD", "completed_at": at}),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_redeliveries_and_sales_count_exactly_once() {
    let env = TestEnv::new().await;
    let t = 40;
    let lead = crm_event(
        "lead.created",
        t,
        "e-lead",
        "2026-11-20T10:00:00Z",
        "lead",
        json!({"id": "L-1", "version": 1, "created_at": "2026-11-20T10:00:00Z", "source": "META_ADS", "campaign_id": "c1"}),
    );
    assert_eq!(handle_event(&env.app, lead).await.expect("lead").applied, 1);

    // 20 re-deliveries of one sale (same event id; a re-put gets a new envelope id) and 40 distinct
    // sales of the same lead, on the same day: all write the same day, month and lead items.
    // The duplicate is the earliest sale, so whichever order they land in, the lead's first sale
    // (and so its customer day) moves as they do.
    let dup = sale(t, "S-dup", "evt-S-dup", 5_000, 0);
    let (mut deliveries, mut revenue, mut next) = (Vec::new(), 5_000, 0_i64);
    // Every third delivery is a re-delivery of the duplicate, interleaved with the distinct ones.
    for slot in 0..60 {
        if slot % 3 == 0 {
            let mut ev = dup.clone();
            if slot % 2 == 1 {
                ev["id"] = json!(format!("re-put-{slot}"));
            }
            deliveries.push((true, ev));
        } else {
            let amount = 100 + next * 7;
            revenue += amount;
            deliveries.push((false, sale(t, &format!("S-{next}"), &format!("evt-S-{next}"), amount, 1 + next as u32)));
            next += 1;
        }
    }
    assert_eq!((deliveries.iter().filter(|(d, _)| *d).count(), next), (20, 40));

    // Two Lambda instances (separate SDK clients) share the deliveries, all in flight at once.
    let other = App::with_aws((*env.app.config).clone(), &sdk_config().await, env.clock.clone()).expect("app");
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(deliveries.len()));
    let tasks: Vec<_> = deliveries
        .into_iter()
        .enumerate()
        .map(|(i, (is_dup, ev))| {
            let app = if i % 2 == 0 { env.app.clone() } else { other.clone() };
            let start = start.clone();
            tokio::spawn(async move {
                start.wait().await;
                (is_dup, handle_event(&app, ev).await)
            })
        })
        .collect();
    let (mut dup_total, mut distinct_total) = (Summary::default(), Summary::default());
    let mut failures = Vec::new();
    for task in tasks {
        match task.await.expect("join") {
            (_, Err(e)) => failures.push(e.to_string()),
            (is_dup, Ok(s)) => {
                let total = if is_dup { &mut dup_total } else { &mut distinct_total };
                total.applied += s.applied;
                total.duplicate += s.duplicate;
                total.stale += s.stale;
                total.dead_lettered += s.dead_lettered;
            }
        }
    }
    // Every delivery finishes in its invocation: no contention left for the bus to retry.
    assert_eq!(failures, Vec::<String>::new());
    assert_eq!(dup_total, Summary { applied: 1, duplicate: 19, ..Summary::default() });
    assert_eq!(distinct_total, Summary { applied: 40, ..Summary::default() });

    let day = env.item(t, "AGG#D#2026-11-21").await.expect("day");
    assert_eq!((num(&day, "sales"), num(&day, "revenue__USD"), num(&day, "customers")), (41, revenue, 1));
    assert_eq!((num(&day, "sales__src__META_ADS"), num(&day, "revenue__USD__camp__c1")), (41, revenue));
    assert_eq!(num(&day, "customers__camp__c1"), 1);
    let month = env.item(t, "AGG#M#2026-11").await.expect("month");
    assert_eq!(
        (num(&month, "leads"), num(&month, "sales"), num(&month, "revenue__USD"), num(&month, "customers")),
        (1, 41, revenue, 1)
    );
    assert_eq!(env.items_with(&format!("T#{t}"), "SALE#").await.len(), 41);
    assert_eq!(env.items_with(&format!("T#{t}"), "EVT#").await.len(), 42, "one marker per event id");
    let lead = env.item(t, "LEAD#L-1").await.expect("lead");
    assert_eq!(lead["first_sale_at"].as_s().expect("s"), "2026-11-21T10:00:00Z", "the earliest sale");
}
