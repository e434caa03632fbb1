//! Conversions back to Meta (Conversions API for CRM), end to end on moto + Sandbox Meta (strict as
//! Meta about `/{dataset}/events`): a tenant connects, chooses a dataset, and the CRM stages of
//! its Meta leads reach the sandbox once each, in funnel order, with Meta's fields — through
//! re-deliveries, concurrent deliveries and concurrent senders; what Meta would discard is skipped
//! and counted; tenants never see each other's events.

use chrono::{Duration, SecondsFormat};
use crm_shared::api::http::body_json;
use crm_shared::domain::ids::TenantId;
use integration_tests::*;
use local_stack::sandbox_meta::{ad_account_id, dataset_id, ReceivedConversion};
use serde_json::{json, Value};

/// OAuth connect of `tenant`, then ad account `j` of business 1 selected, as the wizard does.
async fn connect(m: &MetaTestEnv, tenant: i64, j: u32) -> String {
    oauth_connect(&m.env, tenant).await;
    let account = ad_account_id(1, true, j);
    let body = json!({"account_id": account, "account_name": "Sandbox"});
    let req = request(
        "POST",
        "/crm/marketing/connect",
        Some(&jwt_at_clock(&m.env, tenant, "admin")),
        Some(ADMIN_TOKEN),
        Some(body),
    );
    let resp = meta_connect::handle(&m.env.app, req).await;
    assert_eq!(resp.status(), 200, "{:?}", body_json(&resp));
    dataset_id(&account).expect("the sandbox serves a dataset per account")
}

async fn put_settings(m: &MetaTestEnv, tenant: i64, body: Value) -> lambda_http::Response<lambda_http::Body> {
    let req = request(
        "PUT",
        "/crm/marketing/conversions",
        Some(&jwt_at_clock(&m.env, tenant, "admin")),
        Some(ADMIN_TOKEN),
        Some(body),
    );
    marketing_conversions::handle(
        &m.env.app.restricted(marketing_conversions::SECRETS, marketing_conversions::WIRING),
        req,
    )
    .await
}

async fn settings(m: &MetaTestEnv, tenant: i64) -> Value {
    let req = request(
        "GET",
        "/crm/marketing/conversions",
        Some(&jwt_at_clock(&m.env, tenant, "setter")),
        Some(ADMIN_TOKEN),
        None,
    );
    let resp = marketing_conversions::handle(&m.env.app, req).await;
    assert_eq!(resp.status(), 200, "{:?}", body_json(&resp));
    body_json(&resp)["data"].clone()
}

/// Connects `tenant` and turns conversions on for its dataset (`extra` merged into the PUT).
async fn enable(m: &MetaTestEnv, tenant: i64, j: u32, extra: Value) -> String {
    let dataset = connect(m, tenant, j).await;
    let mut body = json!({"enabled": true, "dataset_id": dataset, "lead_event_source": "Acme CRM"});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let resp = put_settings(m, tenant, body).await;
    assert_eq!(resp.status(), 200, "{:?}", body_json(&resp));
    dataset
}

fn at(offset: Duration) -> String {
    (t0() + offset).to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn lead(tenant: i64, id: &str, leadgen: &str, created: Duration) -> Value {
    let body = json!({"id": id, "created_at": at(created), "source": "META_ADS", "leadgen_id": leadgen, "name": "Ana", "email": "ana@example.com"});
    crm_event("lead.created", tenant, &format!("evt-{id}"), &at(created), "lead", body)
}

fn opportunity(tenant: i64, id: &str, lead: &str, when: Duration) -> Value {
    let body = json!({"id": id, "lead_id": lead, "created_at": at(when), "value_minor": 120_000, "currency": "USD"});
    crm_event("opportunity.created", tenant, &format!("evt-{id}"), &at(when), "opportunity", body)
}

fn sale(tenant: i64, id: &str, lead: &str, when: Duration) -> Value {
    let body = json!({"id": id, "lead_id": lead, "amount_minor": 120_050, "currency": "USD", "completed_at": at(when)});
    crm_event("sale.completed", tenant, &format!("evt-{id}"), &at(when), "sale", body)
}

async fn deliver(m: &MetaTestEnv, events: Vec<Value>) {
    crm_events::handle_event(&m.env.app, Value::Array(events)).await.expect("CRM events applied");
}

async fn flush(m: &MetaTestEnv) -> Value {
    meta_conversions::handle_event(&m.env.app.restricted(meta_conversions::SECRETS, meta_conversions::WIRING), None)
        .await
        .expect("run")
}

fn received(m: &MetaTestEnv) -> Vec<ReceivedConversion> {
    m.sandbox.with(|s| s.conversions.clone())
}

fn names(events: &[ReceivedConversion]) -> Vec<(u64, String)> {
    events.iter().map(|e| (e.lead_id.unwrap_or(0), e.event_name.clone())).collect()
}

#[tokio::test]
async fn each_default_stage_reaches_meta_once_in_order_with_metas_fields() {
    let m = MetaTestEnv::new().await;
    let dataset = enable(&m, 501, 1, json!({})).await;
    let events = vec![
        lead(501, "L-1", "110000000000501", -Duration::hours(5)),
        opportunity(501, "O-1", "L-1", -Duration::hours(3)),
        sale(501, "S-1", "L-1", -Duration::hours(1)),
    ];
    deliver(&m, events.clone()).await;
    deliver(&m, events).await; // EventBridge re-delivers
    let run = flush(&m).await;
    assert_eq!((run["sent"].as_u64(), run["requests"].as_u64()), (Some(3), Some(1)), "{run}");
    let got = received(&m);
    assert_eq!(
        names(&got),
        [
            (110000000000501, "Initial lead".into()),
            (110000000000501, "Sales opportunity".into()),
            (110000000000501, "Converted".into())
        ]
    );
    for e in &got {
        assert_eq!(e.dataset_id, dataset);
        assert_eq!(
            (e.action_source.as_str(), e.event_source.as_deref(), e.lead_event_source.as_deref()),
            ("system_generated", Some("crm"), Some("Acme CRM"))
        );
        assert_eq!(e.user_data_keys, ["lead_id"], "only the lead id: no contact data leaves");
        assert!(e.event_id.as_ref().is_some_and(|id| !id.is_empty()));
    }
    assert_eq!(got[0].event_time, (t0() - Duration::hours(5)).timestamp(), "when the CRM recorded the stage");
    assert_eq!((got[0].value, got[1].value), (None, None));
    assert_eq!((got[2].value, got[2].currency.as_deref()), (Some(1200.5), Some("USD")));
    // Nothing is sent twice: another run, more re-deliveries.
    deliver(&m, vec![sale(501, "S-1", "L-1", -Duration::hours(1))]).await;
    assert_eq!(flush(&m).await["requests"], 0);
    assert_eq!((received(&m).len(), m.sandbox.with(|s| s.duplicate_conversions())), (3, 0));
    let view = settings(&m, 501).await;
    assert_eq!((view["status"].as_str(), view["reason"].as_str()), (Some("active"), None));
    for stage in ["lead_created", "opportunity_created", "sale_completed"] {
        assert_eq!(view["counts_7d"][stage], json!({"sent": 1, "skipped": 0, "failed": 0}), "{stage}");
    }
    assert_eq!(
        (view["last_batch"]["events_sent"].as_u64(), view["last_batch"]["events_received"].as_u64()),
        (Some(3), Some(3))
    );
}

#[tokio::test]
async fn concurrent_deliveries_and_senders_send_each_stage_once() {
    let m = MetaTestEnv::new().await;
    enable(&m, 502, 1, json!({})).await;
    let mut events = Vec::new();
    for i in 0..15 {
        let id = format!("L-{i}");
        events.push(vec![
            lead(502, &id, &format!("1100000000010{i:02}"), -Duration::hours(6)),
            opportunity(502, &format!("O-{i}"), &id, -Duration::hours(4)),
            sale(502, &format!("S-{i}"), &id, -Duration::hours(2)),
        ]);
    }
    // Every lead's events delivered three times at once (EventBridge at-least-once, in parallel).
    let m = &m;
    let deliveries = events.iter().flat_map(|e| (0..3).map(move |_| deliver(m, e.clone())));
    futures_util::future::join_all(deliveries).await;
    let (a, b) = tokio::join!(flush(m), flush(m));
    let sent = a["sent"].as_u64().unwrap_or(0) + b["sent"].as_u64().unwrap_or(0);
    assert_eq!(sent, 45, "{a} {b}");
    let got = received(m);
    assert_eq!((got.len(), m.sandbox.with(|s| s.duplicate_conversions())), (45, 0));
    // Per lead, the stages arrived in funnel order.
    for i in 0..15u64 {
        let lead_id = 110000000001000 + i;
        let stages: Vec<&str> =
            got.iter().filter(|e| e.lead_id == Some(lead_id)).map(|e| e.event_name.as_str()).collect();
        assert_eq!(stages, ["Initial lead", "Sales opportunity", "Converted"], "lead {lead_id}");
    }
}

#[tokio::test]
async fn a_converted_lead_sends_its_earlier_stages_first_and_a_later_status_is_skipped() {
    let m = MetaTestEnv::new().await;
    // The lead arrives before conversions are on: its initial lead is not queued then.
    connect(&m, 503, 1).await;
    deliver(&m, vec![lead(503, "L-1", "110000000000503", -Duration::days(2))]).await;
    enable_again(&m, 503, json!({"stages": {"lead_status": {"qualified": "Qualified lead"}}})).await;
    deliver(&m, vec![sale(503, "S-1", "L-1", -Duration::hours(1))]).await;
    flush(&m).await;
    assert_eq!(
        names(&received(&m)),
        [
            (110000000000503, "Initial lead".into()),
            (110000000000503, "Sales opportunity".into()),
            (110000000000503, "Converted".into())
        ]
    );
    let got = received(&m);
    assert_eq!(got[0].event_time, (t0() - Duration::days(2)).timestamp(), "the initial lead at the lead's creation");
    assert!(got[1].event_time < got[2].event_time);
    // A status the CRM reports after the conversion is not sent (Meta takes stages in order).
    let qualified = crm_event(
        "lead.updated",
        503,
        "evt-q",
        &at(-Duration::minutes(30)),
        "lead",
        json!({"id": "L-1", "version": 2, "status": "qualified"}),
    );
    deliver(&m, vec![qualified]).await;
    flush(&m).await;
    assert_eq!(received(&m).len(), 3);
    assert_eq!(settings(&m, 503).await["counts_7d"]["status_qualified"]["skipped"], 1);
}

/// Saves settings for an already connected tenant (its first dataset).
async fn enable_again(m: &MetaTestEnv, tenant: i64, extra: Value) {
    let mut body = json!({"enabled": true, "dataset_id": dataset_id(&ad_account_id(1, true, 1)).expect("dataset")});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let resp = put_settings(m, tenant, body).await;
    assert_eq!(resp.status(), 200, "{:?}", body_json(&resp));
}

#[tokio::test]
async fn stages_meta_would_discard_are_skipped_and_counted_never_sent() {
    let m = MetaTestEnv::new().await;
    enable(&m, 504, 1, json!({})).await;
    // A lead whose sale is 8 days old: past Meta's 7-day window (its filled-in stages too).
    deliver(
        &m,
        vec![
            lead(504, "L-old", "110000000000504", -Duration::days(9)),
            sale(504, "S-old", "L-old", -Duration::days(8)),
        ],
    )
    .await;
    // A sale dated before its lead's creation.
    deliver(
        &m,
        vec![
            lead(504, "L-new", "110000000000505", -Duration::hours(2)),
            sale(504, "S-early", "L-new", -Duration::hours(3)),
        ],
    )
    .await;
    let run = flush(&m).await;
    let got = received(&m);
    assert_eq!(
        names(&got),
        [(110000000000505, "Initial lead".into())],
        "only the new lead's initial stage is in the window"
    );
    assert_eq!(run["skipped"], 3, "{run}: the old lead's three stages (the early sale was skipped when queued)");
    let view = settings(&m, 504).await;
    assert_eq!(view["counts_7d"]["sale_completed"], json!({"sent": 0, "skipped": 2, "failed": 0}));
    assert_eq!(view["counts_7d"]["lead_created"], json!({"sent": 1, "skipped": 1, "failed": 0}));
}

#[tokio::test]
async fn the_test_event_code_is_passed_through() {
    let m = MetaTestEnv::new().await;
    enable(&m, 505, 1, json!({"test_event_code": "TEST4242"})).await;
    deliver(&m, vec![lead(505, "L-1", "110000000000506", -Duration::hours(1))]).await;
    flush(&m).await;
    let got = received(&m);
    assert_eq!(got.iter().map(|e| e.test_event_code.as_deref()).collect::<Vec<_>>(), [Some("TEST4242")]);
    assert_eq!(settings(&m, 505).await["test_event_code"], "TEST4242");
}

#[tokio::test]
async fn a_disabled_tenant_or_one_without_a_dataset_sends_nothing_and_says_why() {
    let m = MetaTestEnv::new().await;
    enable(&m, 506, 1, json!({})).await;
    deliver(&m, vec![lead(506, "L-1", "110000000000507", -Duration::hours(2))]).await;
    // Turned off before the sender ran: what was queued is dropped, not sent.
    assert_eq!(put_settings(&m, 506, json!({"enabled": false})).await.status(), 200);
    deliver(&m, vec![lead(506, "L-2", "110000000000508", -Duration::hours(1))]).await;
    let run = flush(&m).await;
    assert_eq!((run["sent"].as_u64(), run["skipped"].as_u64()), (Some(0), Some(1)), "{run}");
    assert_eq!(settings(&m, 506).await["reason"], "disabled");
    // On, but no dataset: nothing queued or sent, and the settings say why.
    assert_eq!(put_settings(&m, 506, json!({"enabled": true})).await.status(), 200);
    assert_eq!(settings(&m, 506).await["reason"], "no_dataset");
    deliver(&m, vec![sale(506, "S-2", "L-2", -Duration::minutes(30))]).await;
    assert_eq!(flush(&m).await["requests"], 0);
    assert!(received(&m).is_empty());
    assert!(m.env.app.conversions.pending(TenantId(506), 10).await.expect("pending").is_empty());
}

#[tokio::test]
async fn a_dataset_outside_the_selected_accounts_is_refused_with_nothing_stored() {
    let m = MetaTestEnv::new().await;
    connect(&m, 507, 1).await;
    let other = dataset_id(&ad_account_id(2, true, 1)).expect("dataset");
    let resp = put_settings(&m, 507, json!({"enabled": true, "dataset_id": other})).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(body_json(&resp)["error"]["code"], "dataset_not_available");
    assert_eq!(m.env.app.conversions.settings_at(TenantId(507)).await.expect("read").0, None);
    // The listing shows exactly the selected account's dataset.
    let req = request(
        "GET",
        "/crm/marketing/meta-datasets",
        Some(&jwt_at_clock(&m.env, 507, "admin")),
        Some(ADMIN_TOKEN),
        None,
    );
    let resp = meta_datasets::handle(&m.env.app, req).await;
    assert_eq!(resp.status(), 200, "{:?}", body_json(&resp));
    let ids: Vec<String> = body_json(&resp)["data"]["datasets"]
        .as_array()
        .map(|a| a.iter().filter_map(|d| d["id"].as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    assert_eq!(ids, [dataset_id(&ad_account_id(1, true, 1)).expect("dataset")]);
}

#[tokio::test]
async fn tenants_are_isolated_and_one_tenants_rejected_token_stops_only_it() {
    let m = MetaTestEnv::new().await;
    let first = enable(&m, 508, 1, json!({})).await;
    let second = enable(&m, 509, 2, json!({"test_event_code": "TEST509"})).await;
    deliver(&m, vec![lead(508, "L-1", "110000000000601", -Duration::hours(1))]).await;
    deliver(&m, vec![lead(509, "L-1", "110000000000602", -Duration::hours(1))]).await;
    flush(&m).await;
    let got = received(&m);
    let by_dataset: Vec<(String, u64, Option<String>)> =
        got.iter().map(|e| (e.dataset_id.clone(), e.lead_id.unwrap_or(0), e.test_event_code.clone())).collect();
    assert!(by_dataset.contains(&(first.clone(), 110000000000601, None)));
    assert!(by_dataset.contains(&(second.clone(), 110000000000602, Some("TEST509".into()))));
    assert_eq!(got.len(), 2, "the same CRM lead id in two tenants is two leads, each in its own dataset");
    // Meta rejects tenant 508's token: 508 is marked expired and keeps its events; 509 sends.
    let token = crm_shared::meta::access::stored_token(
        (&m.env.app).into(),
        &m.env.app.connections.get_connection(TenantId(508)).await.expect("read").expect("connection"),
    )
    .await
    .expect("token");
    m.sandbox.with(|s| s.revoke_token(token.expose()));
    deliver(&m, vec![sale(508, "S-1", "L-1", -Duration::minutes(20)), sale(509, "S-1", "L-1", -Duration::minutes(20))])
        .await;
    let run = flush(&m).await;
    assert_eq!(run["blocked"], 1, "{run}");
    assert_eq!(
        received(&m).iter().filter(|e| e.dataset_id == second).count(),
        3,
        "509: initial, filled opportunity, converted"
    );
    assert_eq!(received(&m).iter().filter(|e| e.dataset_id == first).count(), 1);
    assert_eq!(settings(&m, 508).await["reason"], "meta_reconnect_required");
    assert_eq!(m.env.app.conversions.pending(TenantId(508), 10).await.expect("pending").len(), 2);
}

#[tokio::test]
async fn throttling_leaves_the_batch_pending_for_the_next_run() {
    let m = MetaTestEnv::new().await;
    enable(&m, 510, 1, json!({})).await;
    deliver(&m, vec![lead(510, "L-1", "110000000000701", -Duration::hours(1))]).await;
    m.sandbox.with(|s| s.throttle_next = 10);
    let run = flush(&m).await;
    assert_eq!((run["sent"].as_u64(), run["blocked"].as_u64()), (Some(0), Some(1)), "{run}");
    let pending = m.env.app.conversions.pending(TenantId(510), 10).await.expect("pending");
    assert_eq!(pending.iter().map(|c| c.attempts).collect::<Vec<_>>(), [1]);
    assert!(settings(&m, 510).await["last_error"]["message"].as_str().is_some_and(|s| s.contains("throttl")));
    m.sandbox.with(|s| s.throttle_next = 0);
    assert_eq!(flush(&m).await["sent"], 1);
    assert_eq!((received(&m).len(), m.sandbox.with(|s| s.duplicate_conversions())), (1, 0));
}
