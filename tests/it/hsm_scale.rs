//! The evaluator at scale: zero duplicates with evaluators racing while YCloud fails in every way
//! (a small version of `hsm_bench`'s 10,000-send check, run by `make test`), and the fairness
//! benchmark (`make bench-hsm-fairness`): one tenant's 10,000-item backlog against another
//! tenant's single due item.

use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use crm_shared::automation::evaluator::{self, Outcome, Settings};
use crm_shared::domain::hsm::TriggerKind;
use crm_shared::domain::ids::TenantId;
use crm_shared::store::automation::rules::{AutomationRule, QuietHours, RuleSet};
use crm_shared::App;
use integration_tests::{crm_event, t0, HsmTestEnv};
use serde_json::{json, Value};

use crate::automation::{rule, settings};

fn lead_event(tenant: i64, id: &str, at: DateTime<Utc>, phone: &str) -> Value {
    crm_event(
        "lead.created",
        tenant,
        &format!("e-{tenant}-{id}"),
        &at.to_rfc3339(),
        "lead",
        json!({"id": id, "version": 1, "created_at": at.to_rfc3339(), "source": "META_ADS", "status": "new",
            "name": "Ana Pérez", "phone": phone}),
    )
}

/// Follow-ups on (no quiet hours, caps out of the way) for `tenant`, and `n` leads `L-{i}`
/// created at `at` (due 24 h later).
async fn load(app: &App, tenant: i64, n: usize, at: DateTime<Utc>) {
    let no_quiet = AutomationRule {
        quiet_hours: Some(QuietHours { start_hour: 0, end_hour: 0 }),
        ..rule(TriggerKind::LeadFollowup)
    };
    let set = RuleSet {
        tenant_id: TenantId(tenant),
        rules: vec![no_quiet],
        contact_window_hours: None,
        daily_recipient_cap: Some(1_000_000),
        updated_at: t0(),
        updated_by: "scale".into(),
    };
    app.automation_rules.put_rules(&set).await.expect("rules");
    for chunk in (0..n).collect::<Vec<_>>().chunks(1_000) {
        let batch: Vec<Value> = chunk
            .iter()
            .map(|i| lead_event(tenant, &format!("L-{i}"), at, &format!("+54911{tenant:03}{i:05}")))
            .collect();
        crm_events::handle_event(app, Value::Array(batch)).await.expect("events");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_evaluators_send_each_message_once_through_every_fault() {
    let h = HsmTestEnv::new().await;
    let app = &h.env.app;
    for tenant in 81..=84 {
        load(app, tenant, 30, t0()).await;
    }
    h.ycloud.with(|s| {
        s.latency = std::time::Duration::from_millis(2);
        s.fail_next = 4;
        s.throttle_next = 4;
        s.drop_answer_next = 3;
        s.faults.error_after_send_next = 4;
        s.faults.list_fail_next = 3;
    });
    let client = crm_shared::automation::sender::platform_client(app.into()).await.expect("client");
    let s = Settings { concurrency: 16, ..settings() };
    let mut now = t0() + Duration::hours(24);
    for round in 0..8 {
        h.env.clock.set(now);
        let (a, b) =
            tokio::join!(evaluator::run(app.into(), &client, &s, None), evaluator::run(app.into(), &client, &s, None));
        let (a, b) = (a.expect("run a"), b.expect("run b"));
        if a.items + b.items == 0 && round > 0 {
            break;
        }
        now += Duration::hours(2); // past every backoff of `settings()`
    }
    let (accepted, duplicates) = h.ycloud.with(|st| (st.accepted(), st.duplicates()));
    println!("racing evaluators, 120 due, faults of every kind: accepted {accepted}, duplicates {}", duplicates.len());
    assert!(duplicates.is_empty(), "sent twice: {duplicates:?}");
    assert_eq!(accepted, 120, "every message once");
}

/// `make bench-hsm-fairness` (README "Benchmarks"): the evaluator over the in-memory stores
/// against Sandbox YCloud over HTTP (20 ms per send). Tenant 1 imported 10,000 leads at once;
/// tenant 2 has one lead due a minute after them. Runs every 5 minutes until tenant 1's backlog
/// is drained: in how many runs tenant 2's message goes out, shared batch (default settings) vs
/// first-come (a run reading only its batch, as before).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark; run by hand"]
async fn hsm_fairness_bench() {
    for (label, read_limit) in [("shared batch", None), ("first-come (read = batch)", Some(2_000))] {
        let ycloud = local_stack::sandbox_ycloud::SandboxYcloud::start(
            std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            integration_tests::YCLOUD_API_KEY,
            integration_tests::YCLOUD_WEBHOOK_SECRET,
        )
        .await
        .expect("sandbox");
        ycloud.with(|s| s.latency = std::time::Duration::from_millis(20));
        let base = ycloud.base_url();
        let (app, _, clock) = crm_shared::testing::unit_app_clocked(
            t0(),
            &[
                ("YCLOUD_BASE_URL", &base),
                ("YCLOUD_API_KEY", integration_tests::YCLOUD_API_KEY),
                ("YCLOUD_WHATSAPP_NUMBER", integration_tests::YCLOUD_SENDER),
            ],
        );
        load(&app, 1, 10_000, t0()).await;
        load(&app, 2, 1, t0() + Duration::minutes(1)).await;
        let client = crm_shared::automation::sender::platform_client((&app).into()).await.expect("client");
        let defaults = Settings { concurrency: 64, ..settings() };
        let s = Settings { read_limit: read_limit.unwrap_or(defaults.read_limit), ..defaults };
        let mut now = t0() + Duration::hours(24) + Duration::minutes(2);
        let (mut runs, mut tenant2_run, mut sent) = (0, None, 0);
        let started = Instant::now();
        while runs < 20 {
            clock.set(now);
            let t = Instant::now();
            let r = evaluator::run((&app).into(), &client, &s, None).await.expect("run");
            runs += 1;
            sent += r.count(Outcome::Sent);
            let claimed = app.send_claims.get_claim(TenantId(2), TriggerKind::LeadFollowup, "L-0").await.expect("c");
            if tenant2_run.is_none() && claimed.is_some() {
                tenant2_run = Some(runs);
            }
            println!(
                "  {label}: run {runs}: {} sent, {} items read, {:?}",
                r.count(Outcome::Sent),
                r.items_read,
                t.elapsed()
            );
            if r.items == 0 {
                break;
            }
            now += Duration::minutes(5);
        }
        let duplicates = ycloud.with(|st| st.duplicates().len());
        println!(
            "{label}: tenant 2's message went out in run {tenant2_run:?}; {sent} sent over {runs} runs in {:?}; duplicates {duplicates}",
            started.elapsed()
        );
        assert_eq!((sent, duplicates), (10_001, 0));
        if read_limit.is_none() {
            assert_eq!(tenant2_run, Some(1), "delayed by at most one run (here: none)");
        }
    }
}
