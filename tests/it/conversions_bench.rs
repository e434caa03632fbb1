//! `make bench-conversions` (ignored in `make test`): 10,000 CRM events of 2,500 Meta leads of 10
//! tenants — lead created, qualified, opportunity, sale — delivered 8 leads at a time, a tenth of
//! the leads delivered twice, then sent by the scheduled job to Sandbox Meta over real HTTP:
//! requests made, events per request, time, and duplicates at the sandbox (0).
//!
//! The stores are the in-memory twins (held to the same conformance suite as DynamoDB): serial
//! moto applies ~30 operations a second under this load, so on moto the run would measure moto
//! (about an hour); the `conversions` integration tests run the same paths on moto.

use std::time::Instant;

use base64::Engine;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use crm_shared::domain::conversions::{ConversionSettings, StageMap};
use crm_shared::domain::ids::TenantId;
use crm_shared::platform::secrets::SecretString;
use crm_shared::store::Revision;
use futures_util::StreamExt;
use integration_tests::*;
use local_stack::sandbox_meta::{ad_account_id, dataset_id, SandboxMeta, SANDBOX_USER_ID};
use serde_json::{json, Value};

const LEADS: usize = 2_500;
const TENANTS: i64 = 10;
const TOKEN: &str = "bench-user-token";

fn at(now: DateTime<Utc>, offset: Duration) -> String {
    (now + offset).to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn events_of(now: DateTime<Utc>, tenant: i64, i: usize) -> Vec<Value> {
    let (lead, leadgen) = (format!("L-{i}"), format!("{}", 110_000_000_100_000u64 + i as u64));
    let t = |h| at(now, -Duration::hours(h));
    vec![
        crm_event(
            "lead.created",
            tenant,
            &format!("evt-l-{i}"),
            &t(30),
            "lead",
            json!({"id": lead, "created_at": t(30), "source": "META_ADS", "leadgen_id": leadgen}),
        ),
        crm_event(
            "lead.updated",
            tenant,
            &format!("evt-q-{i}"),
            &t(20),
            "lead",
            json!({"id": lead, "version": 2, "status": "qualified"}),
        ),
        crm_event(
            "opportunity.created",
            tenant,
            &format!("evt-o-{i}"),
            &t(10),
            "opportunity",
            json!({"id": format!("O-{i}"), "lead_id": lead, "created_at": t(10)}),
        ),
        crm_event(
            "sale.completed",
            tenant,
            &format!("evt-s-{i}"),
            &t(1),
            "sale",
            json!({"id": format!("S-{i}"), "lead_id": lead, "amount_minor": 99_900, "currency": "USD", "completed_at": t(1)}),
        ),
    ]
}

#[tokio::test]
#[ignore = "benchmark: make bench-conversions"]
async fn conversions_bench() {
    let sandbox = SandboxMeta::start(std::net::SocketAddr::from(([127, 0, 0, 1], 0)), META_APP_ID, META_APP_SECRET)
        .await
        .expect("sandbox meta");
    sandbox.with(|s| s.issue_token_with_scopes(TOKEN, SANDBOX_USER_ID));
    let base = sandbox.base_url();
    let now = Utc::now();
    let (app, _mem, _clock) = crm_shared::testing::unit_app_clocked(
        now,
        &[("META_APP_ID", META_APP_ID), ("META_APP_SECRET", META_APP_SECRET), ("META_GRAPH_BASE_URL", &base)],
    );
    let account = ad_account_id(1, true, 1);
    let dataset = dataset_id(&account).expect("dataset");
    for tenant in (900..900 + TENANTS).map(TenantId) {
        // The in-memory cipher's ciphertext of the token (`fake:{tenant}:{token}`).
        let sealed = app.cipher.encrypt(tenant, &SecretString::new(TOKEN)).await.expect("seal");
        let conn = crm_shared::store::MetaConnection {
            token_ciphertext_b64: base64::engine::general_purpose::STANDARD.encode(sealed),
            ad_account_ids: vec![account.clone()],
            expires_at: Some(now + Duration::days(50)),
            ..crm_shared::testing::active_connection(tenant, now)
        };
        app.connections.put_connection(&conn).await.expect("store").expect("first write");
        let settings = ConversionSettings {
            tenant_id: tenant,
            enabled: true,
            dataset_id: Some(dataset.clone()),
            dataset_name: None,
            stages: StageMap {
                lead_status: [("qualified".to_string(), "Qualified lead".to_string())].into(),
                ..Default::default()
            },
            test_event_code: None,
            lead_event_source: "Bench CRM".into(),
            updated_at: now,
            updated_by: "bench".into(),
        };
        app.conversions.save_settings(&settings, Revision::ABSENT).await.expect("save").expect("first save");
    }

    let started = Instant::now();
    let app = &app;
    let deliveries = futures_util::stream::iter(0..LEADS).map(|i| async move {
        let times = if i % 10 == 0 { 2 } else { 1 };
        for _ in 0..times {
            for e in events_of(now, 900 + i as i64 % TENANTS, i) {
                crm_events::handle_event(app, e).await.expect("applied");
            }
        }
    });
    deliveries.buffer_unordered(8).collect::<Vec<()>>().await;
    let delivered = started.elapsed();

    let started = Instant::now();
    let (mut runs, mut sent, mut requests) = (0, 0u64, 0u64);
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
        sandbox.with(|s| (s.conversions.len(), s.conversion_requests.clone(), s.duplicate_conversions()));
    println!("| CRM events (deliveries) | stages sent | requests | events per request | deliver time | send time (runs) | duplicates |");
    println!("|---|---:|---:|---|---:|---:|---:|");
    println!(
        "| {} ({}) | {sent} | {requests} | {per_request:?} | {:.2} s | {:.2} s ({runs}) | {duplicates} |",
        LEADS * 4,
        LEADS * 4 + LEADS / 10 * 4,
        delivered.as_secs_f64(),
        flushed.as_secs_f64()
    );
    assert_eq!((received, duplicates), (LEADS * 4, 0));
}
