//! `make bench-conversions` (ignored in `make test`): 10,000 CRM events of 2,500 Meta leads —
//! lead created, qualified, opportunity, sale — delivered 8 at a time with a tenth of them
//! delivered twice, then sent to Sandbox Meta by the scheduled job: requests made, events per
//! request, time, and duplicates at the sandbox (0).

use std::time::Instant;

use chrono::{Duration, SecondsFormat};
use futures_util::StreamExt;
use integration_tests::*;
use local_stack::sandbox_meta::{ad_account_id, dataset_id};
use serde_json::{json, Value};

const LEADS: usize = 2_500;

fn at(offset: Duration) -> String {
    (t0() + offset).to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn events_of(tenant: i64, i: usize) -> Vec<Value> {
    let (lead, leadgen) = (format!("L-{i}"), format!("{}", 110_000_000_100_000u64 + i as u64));
    vec![
        crm_event(
            "lead.created",
            tenant,
            &format!("evt-l-{i}"),
            &at(-Duration::hours(30)),
            "lead",
            json!({"id": lead, "created_at": at(-Duration::hours(30)), "source": "META_ADS", "leadgen_id": leadgen}),
        ),
        crm_event(
            "lead.updated",
            tenant,
            &format!("evt-q-{i}"),
            &at(-Duration::hours(20)),
            "lead",
            json!({"id": lead, "version": 2, "status": "qualified"}),
        ),
        crm_event(
            "opportunity.created",
            tenant,
            &format!("evt-o-{i}"),
            &at(-Duration::hours(10)),
            "opportunity",
            json!({"id": format!("O-{i}"), "lead_id": lead, "created_at": at(-Duration::hours(10))}),
        ),
        crm_event(
            "sale.completed",
            tenant,
            &format!("evt-s-{i}"),
            &at(-Duration::hours(1)),
            "sale",
            json!({"id": format!("S-{i}"), "lead_id": lead, "amount_minor": 99_900, "currency": "USD", "completed_at": at(-Duration::hours(1))}),
        ),
    ]
}

#[tokio::test]
#[ignore = "benchmark: make bench-conversions"]
async fn conversions_bench() {
    let m = MetaTestEnv::new().await;
    oauth_connect(&m.env, 900).await;
    let account = ad_account_id(1, true, 1);
    let req = request(
        "POST",
        "/crm/marketing/connect",
        Some(&jwt_at_clock(&m.env, 900, "admin")),
        Some(ADMIN_TOKEN),
        Some(json!({"account_id": account, "account_name": "Bench"})),
    );
    assert_eq!(meta_connect::handle(&m.env.app, req).await.status(), 200);
    let body = json!({"enabled": true, "dataset_id": dataset_id(&account).expect("dataset"),
                      "stages": {"lead_status": {"qualified": "Qualified lead"}}});
    let req = request(
        "PUT",
        "/crm/marketing/conversions",
        Some(&jwt_at_clock(&m.env, 900, "admin")),
        Some(ADMIN_TOKEN),
        Some(body),
    );
    assert_eq!(marketing_conversions::handle(&m.env.app, req).await.status(), 200);

    // Each lead's four events in order (one delivery each, as EventBridge invokes), leads 8 at a
    // time; every tenth lead delivered twice.
    let started = Instant::now();
    let app = &m.env.app;
    let deliveries = futures_util::stream::iter(0..LEADS).map(|i| async move {
        let times = if i % 10 == 0 { 2 } else { 1 };
        for _ in 0..times {
            for e in events_of(900, i) {
                crm_events::handle_event(app, e).await.expect("applied");
            }
        }
    });
    deliveries.buffer_unordered(8).collect::<Vec<()>>().await;
    let delivered = started.elapsed();

    let started = Instant::now();
    let mut runs = 0;
    let (mut sent, mut requests) = (0u64, 0u64);
    loop {
        let run = meta_conversions::handle_event(app, None).await.expect("run");
        runs += 1;
        sent += run["sent"].as_u64().unwrap_or(0);
        requests += run["requests"].as_u64().unwrap_or(0);
        if run["requests"] == 0 || runs > 10 {
            break;
        }
    }
    let flushed = started.elapsed();
    let (received, per_request, duplicates) =
        m.sandbox.with(|s| (s.conversions.len(), s.conversion_requests.clone(), s.duplicate_conversions()));
    println!("| CRM events (deliveries) | stages sent | requests | events per request | deliver time | send time (runs) | duplicates |");
    println!("|---|---:|---:|---|---:|---:|---:|");
    println!(
        "| {} ({}) | {sent} | {requests} | {per_request:?} | {:.1} s | {:.1} s ({runs}) | {duplicates} |",
        LEADS * 4,
        LEADS * 4 + LEADS / 10 * 4,
        delivered.as_secs_f64(),
        flushed.as_secs_f64()
    );
    assert_eq!((received, duplicates), (LEADS * 4, 0));
}
