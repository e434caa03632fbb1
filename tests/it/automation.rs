//! WhatsApp HSM automation against moto and Sandbox YCloud over real HTTP: CRM events schedule due
//! items, the evaluator re-checks and sends each message at most once (counted at the sandbox).

use chrono::{DateTime, Duration, Utc};
use crm_shared::automation::evaluator::{self, Outcome, RunSummary, Settings};
use crm_shared::automation::external_id::external_id;
use crm_shared::domain::hsm::{LogStatus, TriggerKind};
use crm_shared::domain::ids::TenantId;
use crm_shared::platform::retry::{Jitter, RetryPolicy};
use crm_shared::store::automation::due::DueItem;
use crm_shared::store::automation::rules::{AutomationRule, QuietHours, RuleSet};
use integration_tests::{crm_event, t0, HsmTestEnv};
use serde_json::{json, Value};

pub(crate) fn settings() -> Settings {
    Settings {
        max_attempts: 3,
        retry: RetryPolicy {
            max_attempts: 3,
            base_delay: std::time::Duration::from_secs(60),
            max_delay: std::time::Duration::from_secs(600),
            jitter: Jitter::Proportional,
        },
        ..Settings::default()
    }
}

pub(crate) fn rule(trigger: TriggerKind) -> AutomationRule {
    integration_tests::default_rule(trigger)
}

pub(crate) async fn enable(h: &HsmTestEnv, tenant: i64, rules: Vec<AutomationRule>) {
    let set = RuleSet {
        tenant_id: TenantId(tenant),
        rules,
        contact_window_hours: None,
        daily_recipient_cap: None,
        updated_at: t0(),
        updated_by: "it".into(),
    };
    h.env.app.automation_rules.put_rules(&set).await.expect("rules");
}

pub(crate) async fn enable_all(h: &HsmTestEnv, tenant: i64) {
    enable(h, tenant, TriggerKind::ALL.into_iter().map(rule).collect()).await;
}

fn iso(at: DateTime<Utc>) -> String {
    at.to_rfc3339()
}

async fn deliver(h: &HsmTestEnv, ev: Value) {
    crm_events::handle_event(&h.env.app, ev).await.expect("event applied");
}

pub(crate) async fn lead(h: &HsmTestEnv, tenant: i64, id: &str, phone: &str, at: DateTime<Utc>) {
    let body = json!({"id": id, "version": 1, "created_at": iso(at), "source": "META_ADS", "status": "new",
        "name": "Ana Pérez", "phone": phone, "opted_out": false});
    deliver(h, crm_event("lead.created", tenant, &format!("e-{id}"), &iso(at), "lead", body)).await;
}

pub(crate) async fn run(h: &HsmTestEnv) -> RunSummary {
    run_with(h, &settings()).await
}

pub(crate) async fn run_with(h: &HsmTestEnv, s: &Settings) -> RunSummary {
    let client = crm_shared::automation::sender::platform_client((&h.env.app).into()).await.expect("client");
    evaluator::run((&h.env.app).into(), &client, s, None).await.expect("run")
}

pub(crate) fn sends(h: &HsmTestEnv, tenant: i64, trigger: TriggerKind, entity: &str) -> usize {
    let x = external_id(TenantId(tenant), trigger, entity);
    h.ycloud.with(|s| s.sends_by_external_id.get(&x).copied().unwrap_or(0))
}

pub(crate) async fn log(h: &HsmTestEnv, tenant: i64) -> Vec<crm_shared::store::automation::log::LogEntry> {
    h.env.app.automation_log.page(TenantId(tenant), 100, None).await.expect("log").0
}

#[tokio::test]
async fn lead_followup_fires_24h_after_creation_once_and_not_before() {
    let h = HsmTestEnv::new().await;
    enable_all(&h, 1).await;
    lead(&h, 1, "L-1", "+5491155550101", t0()).await;
    let due = h.env.app.due.due_item(TenantId(1), TriggerKind::LeadFollowup, "L-1").await.expect("due");
    assert_eq!(due.map(|d| d.due_at), Some(t0() + Duration::hours(24)), "scheduled by the CRM event");

    h.env.clock.set(t0() + Duration::hours(24) - Duration::seconds(1));
    let early = run(&h).await;
    assert_eq!((early.items, h.ycloud.with(|s| s.send_requests)), (0, 0), "not before its time");

    h.env.clock.set(t0() + Duration::hours(24));
    let r = run(&h).await;
    assert_eq!(r.count(Outcome::Sent), 1, "{r:?}");
    assert_eq!(sends(&h, 1, TriggerKind::LeadFollowup, "L-1"), 1);
    let msg = h.ycloud.with(|s| s.messages[0].clone());
    assert_eq!(
        (msg.to.as_str(), msg.template.as_str(), msg.params.clone()),
        ("+5491155550101", "lead_followup", vec!["Ana".to_string()])
    );
    let entries = log(&h, 1).await;
    assert_eq!(entries.len(), 1);
    assert_eq!((entries[0].status, entries[0].lead_name.as_deref()), (LogStatus::Sent, Some("Ana Pérez")));
    assert!(entries[0].phone_masked.as_deref().is_some_and(|p| !p.contains("55550101")), "phone masked");

    // Again, and a re-delivered lead.created: nothing more is sent or scheduled.
    assert_eq!(run(&h).await.items, 0);
    lead(&h, 1, "L-1", "+5491155550101", t0()).await;
    assert!(h.env.app.due.due_item(TenantId(1), TriggerKind::LeadFollowup, "L-1").await.expect("due").is_none());
    h.env.clock.set(t0() + Duration::days(3));
    run(&h).await;
    assert_eq!(sends(&h, 1, TriggerKind::LeadFollowup, "L-1"), 1);
}

#[tokio::test]
async fn each_trigger_fires_at_its_condition_and_not_before() {
    let h = HsmTestEnv::new().await;
    enable_all(&h, 2).await;
    // Different contacts, so the per-contact cap does not interfere.
    lead(&h, 2, "L-opp", "+5491155550201", t0() - Duration::days(30)).await;
    lead(&h, 2, "L-sale", "+5491155550202", t0() - Duration::days(30)).await;
    lead(&h, 2, "L-cart", "+5491155550203", t0() - Duration::days(30)).await;
    // Late events: a month past due, scheduled as due now (the current hour bucket), sent at once.
    let due = h.env.app.due.due_item(TenantId(2), TriggerKind::LeadFollowup, "L-opp").await.expect("d").expect("due");
    assert_eq!(due.due_at, t0());
    run(&h).await; // the three follow-ups go out first
    assert_eq!(h.ycloud.with(|s| s.accepted()), 3);
    let opp = json!({"id": "O-1", "version": 1, "lead_id": "L-opp", "created_at": iso(t0()), "status": "pending",
        "deadline": iso(t0() + Duration::hours(30)), "value_minor": 1000, "currency": "USD"});
    deliver(&h, crm_event("opportunity.created", 2, "e-o1", &iso(t0()), "opportunity", opp)).await;
    let sale =
        json!({"id": "S-1", "lead_id": "L-sale", "amount_minor": 1000, "currency": "USD", "completed_at": iso(t0())});
    deliver(&h, crm_event("sale.completed", 2, "e-s1", &iso(t0()), "sale", sale)).await;
    let cart = json!({"id": "C-1", "version": 1, "lead_id": "L-cart", "currency": "USD", "last_activity_at": iso(t0()),
        "items": [{"sku": "A", "quantity": 1, "unit_price_minor": 100}]});
    deliver(&h, crm_event("cart.updated", 2, "e-c1", &iso(t0()), "cart", cart)).await;

    // The contacts got their follow-up at t0: the 24 h cap holds the reminder back until then.
    let cases = [
        (TriggerKind::OpportunityReminder, "O-1", t0() + Duration::hours(28)),
        (TriggerKind::AbandonedCart, "C-1", t0() + Duration::hours(48)),
        (TriggerKind::PostSaleFeedback, "S-1", t0() + Duration::days(7)),
    ];
    for (trigger, entity, at) in cases {
        h.env.clock.set(at - Duration::minutes(1));
        run(&h).await;
        assert_eq!(sends(&h, 2, trigger, entity), 0, "{trigger} not before {at}");
        h.env.clock.set(at);
        run(&h).await;
        assert_eq!(sends(&h, 2, trigger, entity), 1, "{trigger} at {at}");
    }
    assert!(h.ycloud.with(|s| s.duplicates()).is_empty());
}

#[tokio::test]
async fn a_condition_that_stopped_holding_cancels_and_logs_instead_of_sending() {
    let h = HsmTestEnv::new().await;
    enable_all(&h, 3).await;
    lead(&h, 3, "L-1", "+5491155550301", t0()).await;
    lead(&h, 3, "L-2", "+5491155550302", t0()).await;
    // The CRM says L-1 was contacted: its due item is cancelled at once.
    let upd = json!({"id": "L-1", "version": 2, "status": "contacted"});
    deliver(&h, crm_event("lead.updated", 3, "e-L-1-v2", &iso(t0() + Duration::hours(1)), "lead", upd)).await;
    assert!(h.env.app.due.due_item(TenantId(3), TriggerKind::LeadFollowup, "L-1").await.expect("due").is_none());
    // L-2 changes after its item was read by nobody: the evaluator re-checks the entity itself.
    h.env
        .app
        .due
        .schedule(&DueItem::new(TenantId(3), TriggerKind::LeadFollowup, "L-1", t0() + Duration::hours(24)))
        .await
        .expect("s");
    h.env.clock.set(t0() + Duration::hours(25));
    let r = run(&h).await;
    assert_eq!((r.count(Outcome::Cancelled), r.count(Outcome::Sent)), (1, 1), "{r:?}");
    assert_eq!(sends(&h, 3, TriggerKind::LeadFollowup, "L-1"), 0);
    let cancelled: Vec<_> = log(&h, 3).await.into_iter().filter(|e| e.status == LogStatus::Cancelled).collect();
    assert_eq!(cancelled.len(), 1);
    assert_eq!(cancelled[0].entity_id, "L-1");
}

#[tokio::test]
async fn two_evaluators_in_parallel_send_every_message_exactly_once() {
    let h = HsmTestEnv::new().await;
    enable_all(&h, 4).await;
    h.ycloud.with(|s| s.latency = std::time::Duration::from_millis(20));
    for i in 0..20 {
        lead(&h, 4, &format!("L-{i}"), &format!("+54911555504{i:02}"), t0()).await;
    }
    h.env.clock.set(t0() + Duration::hours(24));
    let (a, b) = tokio::join!(run(&h), run(&h));
    assert_eq!(a.count(Outcome::Sent) + b.count(Outcome::Sent), 20, "{a:?} {b:?}");
    assert_eq!(h.ycloud.with(|s| s.accepted()), 20);
    assert!(h.ycloud.with(|s| s.duplicates()).is_empty(), "no externalId sent twice");
    assert_eq!(log(&h, 4).await.len(), 20);
}

#[tokio::test]
async fn throttling_and_5xx_are_retried_later_then_failed_after_the_limit() {
    let h = HsmTestEnv::new().await;
    enable_all(&h, 5).await;
    lead(&h, 5, "L-1", "+5491155550501", t0()).await;
    lead(&h, 5, "L-2", "+5491155550502", t0()).await;
    let mut now = t0() + Duration::hours(24);
    h.env.clock.set(now);
    // One 503 then fine: L-x retried in a later run and sent once.
    h.ycloud.with(|s| s.fail_next = 1);
    let r = run(&h).await;
    assert_eq!((r.count(Outcome::Deferred), r.count(Outcome::Sent)), (1, 1), "{r:?}");
    now += Duration::minutes(2);
    h.env.clock.set(now);
    assert_eq!(run(&h).await.count(Outcome::Sent), 1);
    assert_eq!(h.ycloud.with(|s| s.accepted()), 2);

    // Always 429 (Retry-After 7 s): deferred twice, then logged failed — never dropped silently.
    lead(&h, 5, "L-3", "+5491155550503", now).await;
    now += Duration::hours(24);
    h.ycloud.with(|s| s.throttle_next = 100);
    for _ in 0..2 {
        h.env.clock.set(now);
        assert_eq!(run(&h).await.count(Outcome::Deferred), 1);
        let due =
            h.env.app.due.due_item(TenantId(5), TriggerKind::LeadFollowup, "L-3").await.expect("d").expect("kept");
        assert!(due.due_at > now, "retried later, not now");
        now = due.due_at;
    }
    h.env.clock.set(now);
    assert_eq!(run(&h).await.count(Outcome::Failed), 1);
    let failed: Vec<_> = log(&h, 5).await.into_iter().filter(|e| e.status == LogStatus::Failed).collect();
    assert_eq!(failed.len(), 1);
    assert!(failed[0].reason.as_deref().is_some_and(|r| r.contains("3 attempts")), "{:?}", failed[0].reason);
    assert_eq!(sends(&h, 5, TriggerKind::LeadFollowup, "L-3"), 0);
}

#[tokio::test]
async fn a_send_with_an_unknown_outcome_is_looked_up_not_repeated() {
    let h = HsmTestEnv::new().await;
    enable_all(&h, 6).await;
    lead(&h, 6, "L-1", "+5491155550601", t0()).await;
    h.env.clock.set(t0() + Duration::hours(24));
    h.ycloud.with(|s| s.drop_answer_next = 1);
    let r = run(&h).await;
    assert_eq!(r.count(Outcome::Deferred), 1, "{r:?}");
    assert_eq!(sends(&h, 6, TriggerKind::LeadFollowup, "L-1"), 1, "YCloud got it; we don't know");
    let entries = log(&h, 6).await;
    assert_eq!(entries.iter().map(|e| e.status).collect::<Vec<_>>(), [LogStatus::Unknown], "shown in doubt");
    // Not before its next attempt…
    let due = h.env.app.due.due_item(TenantId(6), TriggerKind::LeadFollowup, "L-1").await.expect("d").expect("kept");
    assert_eq!(entries[0].next_attempt_at, Some(due.due_at));
    h.env.clock.set(due.due_at - Duration::seconds(1));
    assert_eq!(run(&h).await.items, 0);
    // …then looked up among the recipient's messages and recorded, not sent again.
    h.env.clock.set(due.due_at);
    let r = run(&h).await;
    assert_eq!(r.count(Outcome::FoundSent), 1, "{r:?}");
    assert_eq!(sends(&h, 6, TriggerKind::LeadFollowup, "L-1"), 1);
    let entries = log(&h, 6).await;
    assert_eq!(entries.iter().map(|e| e.status).collect::<Vec<_>>(), [LogStatus::Sent], "the same entry, settled");
}

#[tokio::test]
async fn quiet_hours_defer_until_the_window_opens() {
    let h = HsmTestEnv::new().await;
    let mut r = rule(TriggerKind::LeadFollowup);
    // In the contact's zone (+54: Buenos Aires, UTC−3): 09:00–11:00 local = 12:00–14:00 UTC.
    r.quiet_hours = Some(QuietHours { start_hour: 9, end_hour: 11 });
    enable(&h, 7, vec![r]).await;
    lead(&h, 7, "L-1", "+5491155550701", t0()).await; // due 12:00 next day: inside
    h.env.clock.set(t0() + Duration::hours(24));
    assert_eq!(run(&h).await.count(Outcome::Deferred), 1);
    let due = h.env.app.due.due_item(TenantId(7), TriggerKind::LeadFollowup, "L-1").await.expect("d").expect("kept");
    assert_eq!(due.due_at, t0() + Duration::hours(26), "14:00");
    assert_eq!(h.ycloud.with(|s| s.send_requests), 0);
    h.env.clock.set(due.due_at);
    assert_eq!(run(&h).await.count(Outcome::Sent), 1);
}

#[tokio::test]
async fn at_most_one_automated_template_per_contact_per_day() {
    let h = HsmTestEnv::new().await;
    enable_all(&h, 8).await;
    lead(&h, 8, "L-1", "+5491155550801", t0()).await;
    let cart = json!({"id": "C-1", "version": 1, "lead_id": "L-1", "currency": "USD",
        "last_activity_at": iso(t0() - Duration::hours(24)), "items": [{"sku": "A", "quantity": 1}]});
    deliver(&h, crm_event("cart.updated", 8, "e-c1", &iso(t0()), "cart", cart)).await;
    h.env.clock.set(t0() + Duration::hours(24));
    let r = run(&h).await;
    assert_eq!((r.count(Outcome::Sent), r.count(Outcome::Deferred)), (1, 1), "{r:?}");
    assert_eq!(h.ycloud.with(|s| s.accepted()), 1);
    // A day later the other one goes out.
    h.env.clock.set(t0() + Duration::hours(48) + Duration::minutes(1));
    assert_eq!(run(&h).await.count(Outcome::Sent), 1);
    assert_eq!(h.ycloud.with(|s| s.accepted()), 2);
}

#[tokio::test]
async fn opted_out_invalid_phones_and_unapproved_templates_are_skipped_and_logged() {
    let h = HsmTestEnv::new().await;
    let mut paused = rule(TriggerKind::AbandonedCart);
    paused.template_name = "promo_paused".into();
    let mut rejected = rule(TriggerKind::PostSaleFeedback);
    rejected.template_name = "promo_rejected".into();
    enable(&h, 9, vec![rule(TriggerKind::LeadFollowup), paused, rejected]).await;
    lead(&h, 9, "L-stop", "+5491155550901", t0()).await;
    lead(&h, 9, "L-bad", "011 5555", t0()).await;
    h.ycloud.with(|s| {
        s.wa_error = Some(131050);
        s.wa_error_next = 1;
    });
    h.env.clock.set(t0() + Duration::hours(24));
    let r = run(&h).await;
    assert_eq!(r.count(Outcome::Skipped), 2, "{r:?}");
    assert!(h.env.app.contacts.is_opted_out(TenantId(9), "+5491155550901").await.expect("opt"), "131050 opts out");
    let reasons: Vec<String> = log(&h, 9).await.into_iter().filter_map(|e| e.reason).collect();
    assert!(reasons.iter().any(|r| r.contains("131050")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("E.164")), "{reasons:?}");

    // Opted out: a later trigger for the same contact is skipped without calling YCloud.
    let requests = h.ycloud.with(|s| s.send_requests);
    let cart = json!({"id": "C-1", "version": 1, "lead_id": "L-stop", "currency": "USD",
        "last_activity_at": iso(t0()), "items": [{"sku": "A", "quantity": 1}]});
    deliver(&h, crm_event("cart.updated", 9, "e-c1", &iso(t0()), "cart", cart)).await;
    let sale =
        json!({"id": "S-1", "lead_id": "L-stop", "amount_minor": 1, "currency": "USD", "completed_at": iso(t0())});
    deliver(&h, crm_event("sale.completed", 9, "e-s1", &iso(t0()), "sale", sale)).await;
    h.env.clock.set(t0() + Duration::hours(48));
    let r = run(&h).await;
    h.env.clock.set(t0() + Duration::days(7));
    let r2 = run(&h).await;
    assert_eq!(r.count(Outcome::Skipped) + r2.count(Outcome::Skipped), 2, "{r:?} {r2:?}");
    assert_eq!(h.ycloud.with(|s| s.send_requests), requests);

    // A paused template is re-queued, not dropped; a rejected one is logged and skipped.
    lead(&h, 9, "L-ok", "+5491155550903", t0() + Duration::days(8)).await;
    let cart = json!({"id": "C-2", "version": 1, "lead_id": "L-ok", "currency": "USD",
        "last_activity_at": iso(t0() + Duration::days(7)), "items": [{"sku": "A", "quantity": 1}]});
    deliver(&h, crm_event("cart.updated", 9, "e-c2", &iso(t0()), "cart", cart)).await;
    let at = iso(t0() + Duration::days(2));
    let sale = json!({"id": "S-2", "lead_id": "L-ok", "amount_minor": 1, "currency": "USD", "completed_at": at});
    deliver(&h, crm_event("sale.completed", 9, "e-s2", &iso(t0()), "sale", sale)).await;
    h.env.clock.set(t0() + Duration::days(9));
    let r = run(&h).await;
    assert_eq!((r.count(Outcome::Sent), r.count(Outcome::Deferred), r.count(Outcome::Skipped)), (1, 1, 1), "{r:?}");
    assert!(
        h.env.app.due.due_item(TenantId(9), TriggerKind::AbandonedCart, "C-2").await.expect("d").is_some(),
        "paused: kept"
    );
    assert!(log(&h, 9).await.iter().any(|e| e.reason.as_deref() == Some("template is REJECTED")));
}

#[tokio::test]
async fn tenants_are_isolated() {
    let h = HsmTestEnv::new().await;
    enable_all(&h, 10).await;
    lead(&h, 10, "L-1", "+5491155551001", t0()).await;
    lead(&h, 11, "L-1", "+5491155551001", t0()).await; // tenant 11 has no rules: nothing scheduled
    assert!(h.env.app.due.due_item(TenantId(11), TriggerKind::LeadFollowup, "L-1").await.expect("d").is_none());
    h.env.clock.set(t0() + Duration::hours(24));
    assert_eq!(run(&h).await.count(Outcome::Sent), 1);
    assert_eq!(sends(&h, 10, TriggerKind::LeadFollowup, "L-1"), 1);
    assert_eq!(sends(&h, 11, TriggerKind::LeadFollowup, "L-1"), 0);
    assert!(log(&h, 11).await.is_empty());
    assert_eq!(log(&h, 10).await.len(), 1);
}

// ------------------------------------------------------------------------------- HTTP endpoints

fn webhook_request(body: Vec<u8>, signature: Option<&str>) -> lambda_http::Request {
    let mut b = lambda_http::http::Request::builder()
        .method("POST")
        .uri("/crm/webhooks/ycloud")
        .header("content-type", "application/json");
    if let Some(s) = signature {
        b = b.header("YCloud-Signature", s);
    }
    b.body(lambda_http::Body::Binary(body)).expect("request")
}

pub(crate) async fn post_webhook(h: &HsmTestEnv, event: &Value, t: i64) -> (u16, Value) {
    let (body, sig) = h.ycloud.signed(event, t);
    let resp = ycloud_webhook::handle(
        &h.env.app.restricted(ycloud_webhook::SECRETS, ycloud_webhook::WIRING),
        webhook_request(body, Some(&sig)),
    )
    .await;
    (resp.status().as_u16(), crm_shared::api::http::body_json(&resp))
}

async fn sent_lead(h: &HsmTestEnv, tenant: i64, id: &str, phone: &str) -> DateTime<Utc> {
    enable_all(h, tenant).await;
    lead(h, tenant, id, phone, t0()).await;
    let now = t0() + Duration::hours(24);
    h.env.clock.set(now);
    assert_eq!(run(h).await.count(Outcome::Sent), 1);
    now
}

#[tokio::test]
async fn delivery_statuses_move_forward_only_whatever_their_order_and_repeats() {
    let h = HsmTestEnv::new().await;
    let now = sent_lead(&h, 20, "L-1", "+5491155552001").await;
    let xid = external_id(TenantId(20), TriggerKind::LeadFollowup, "L-1");
    let events = h.ycloud.status_events(&xid, &["sent", "delivered", "read"]).expect("message");
    // Out of order and duplicated: read first, then delivered, sent, read again.
    for ev in [&events[2], &events[1], &events[0], &events[2], &events[1]] {
        let (status, body) = post_webhook(&h, ev, now.timestamp()).await;
        assert_eq!(status, 200, "{body}");
    }
    let entry = log(&h, 20).await.remove(0);
    assert_eq!(entry.status, LogStatus::Read, "read never reverts to delivered");
    assert_eq!(entry.history.iter().map(|c| c.status).collect::<Vec<_>>(), vec![LogStatus::Sent, LogStatus::Read]);
    // A failure reported after delivery does not undo it either.
    let failed = h.ycloud.status_events(&xid, &["failed"]).expect("message");
    post_webhook(&h, &failed[0], now.timestamp()).await;
    assert_eq!(log(&h, 20).await[0].status, LogStatus::Read);
}

#[tokio::test]
async fn forged_and_stale_signatures_are_rejected_with_nothing_written() {
    let h = HsmTestEnv::new().await;
    let now = sent_lead(&h, 21, "L-1", "+5491155552101").await;
    let xid = external_id(TenantId(21), TriggerKind::LeadFollowup, "L-1");
    let ev = h.ycloud.status_events(&xid, &["read"]).expect("message").remove(0);
    // Audit records and rate-limit windows aside (every request counts against its source).
    let kept = |items: Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>>| {
        let key = |i: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>, k: &str| {
            i.get(k).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default()
        };
        items
            .into_iter()
            .filter(|i| !key(i, "SK").starts_with("AUDIT#") && !key(i, "PK").starts_with("RL#"))
            .collect::<Vec<_>>()
    };
    let before = kept(h.env.all_items().await);
    // Forged (another secret), tampered body, missing header, stale (6 minutes old).
    let body = ev.to_string().into_bytes();
    let forged = local_stack::sandbox_ycloud::sign("not-the-secret", now.timestamp(), &body);
    let (_, good) = h.ycloud.signed(&ev, now.timestamp());
    let tampered = ev.to_string().replace("read", "sent").into_bytes();
    let (stale_body, stale) = h.ycloud.signed(&ev, now.timestamp() - 360);
    for (body, sig) in [(body.clone(), Some(forged)), (tampered, Some(good)), (body, None), (stale_body, Some(stale))] {
        let resp = ycloud_webhook::handle(
            &h.env.app.restricted(ycloud_webhook::SECRETS, ycloud_webhook::WIRING),
            webhook_request(body, sig.as_deref()),
        )
        .await;
        assert_eq!(resp.status(), 401);
    }
    assert_eq!(kept(h.env.all_items().await), before, "nothing written but audit records and rate-limit counts");
    assert_eq!(log(&h, 21).await[0].status, LogStatus::Sent, "no status applied");
    let stop = h.ycloud.inbound_event("+5491155552101", integration_tests::YCLOUD_SENDER, "STOP");
    let (b, _) = h.ycloud.signed(&stop, now.timestamp());
    let forged = local_stack::sandbox_ycloud::sign("x", now.timestamp(), &b);
    assert_eq!(
        ycloud_webhook::handle(
            &h.env.app.restricted(ycloud_webhook::SECRETS, ycloud_webhook::WIRING),
            webhook_request(b, Some(&forged))
        )
        .await
        .status(),
        401
    );
    assert!(!h.env.app.contacts.is_opted_out(TenantId(21), "+5491155552101").await.expect("read"));
}

#[tokio::test]
async fn an_inbound_stop_opts_the_contact_out_of_every_trigger() {
    let h = HsmTestEnv::new().await;
    let now = sent_lead(&h, 22, "L-1", "+5491155552201").await;
    let stop = h.ycloud.inbound_event("+5491155552201", integration_tests::YCLOUD_SENDER, "Baja");
    let (status, body) = post_webhook(&h, &stop, now.timestamp()).await;
    assert_eq!((status, body["data"]["opted_out_tenants"].as_u64()), (200, Some(1)), "{body}");
    assert!(h.env.app.contacts.is_opted_out(TenantId(22), "+5491155552201").await.expect("read"));
    // The same contact's cart is not messaged.
    let cart = json!({"id": "C-1", "version": 1, "lead_id": "L-1", "currency": "USD",
        "last_activity_at": iso(now), "items": [{"sku": "A", "quantity": 1}]});
    deliver(&h, crm_event("cart.updated", 22, "e-c1", &iso(now), "cart", cart)).await;
    h.env.clock.set(now + Duration::hours(49));
    let r = run(&h).await;
    assert_eq!(r.count(Outcome::Skipped), 1, "{r:?}");
    assert_eq!(h.ycloud.with(|s| s.accepted()), 1);
}

#[tokio::test]
async fn log_pages_are_stable_while_entries_arrive_and_cursors_are_the_tenants() {
    use crm_shared::store::automation::log::LogEntry;
    let h = HsmTestEnv::new().await;
    let entry = |tenant: i64, n: i64| LogEntry {
        id: format!("e{n:03}"),
        tenant_id: TenantId(tenant),
        trigger: TriggerKind::LeadFollowup,
        entity_id: format!("L-{n}"),
        lead_name: Some(format!("Lead {n}")),
        template: None,
        language: None,
        phone_masked: None,
        status: LogStatus::Sent,
        created_at: t0() + Duration::seconds(n),
        updated_at: t0() + Duration::seconds(n),
        history: vec![],
        reason: None,
        message_id: None,
        next_attempt_at: None,
    };
    for n in 1..=25 {
        h.env.app.automation_log.append(&entry(23, n)).await.expect("append");
    }
    h.env.app.automation_log.append(&entry(24, 99)).await.expect("append");
    let page = |q: String, tenant: i64| {
        let app = h.env.app.clone();
        async move {
            let resp = automation_logs::handle(
                &app,
                integration_tests::get(&format!("/crm/marketing/automation-logs{q}"), tenant, "setter"),
            )
            .await;
            (resp.status().as_u16(), crm_shared::api::http::body_json(&resp))
        }
    };
    let (status, first) = page("?limit=10".into(), 23).await;
    assert_eq!(status, 200);
    let ids = |b: &Value| {
        b["data"]
            .as_array()
            .map(|a| a.iter().filter_map(|e| e["id"].as_str().map(str::to_string)).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    let mut seen = ids(&first);
    assert_eq!(seen[0], "e025", "newest first");
    assert_eq!(first["data"][0]["trigger_type"], "lead_followup");
    assert_eq!(first["data"][0]["lead_name"], "Lead 25");
    let mut cursor = first["next_cursor"].as_str().map(str::to_string);
    // Entries arriving meanwhile do not shift the pages already being read.
    for n in 26..=30 {
        h.env.app.automation_log.append(&entry(23, n)).await.expect("append");
    }
    let c = cursor.clone().expect("cursor");
    let (status, other) = page(format!("?cursor={c}"), 24).await;
    assert_eq!(status, 400, "another tenant's cursor: {other}");
    while let Some(c) = cursor {
        let (status, next) = page(format!("?limit=10&cursor={c}"), 23).await;
        assert_eq!(status, 200, "{next}");
        seen.extend(ids(&next));
        cursor = next["next_cursor"].as_str().map(str::to_string);
    }
    let expected: Vec<String> = (1..=25).rev().map(|n| format!("e{n:03}")).collect();
    assert_eq!(seen, expected, "every entry once, in order");
    // offset, as the frontend client sends it.
    let (_, by_offset) = page("?limit=5&offset=5".into(), 23).await;
    assert_eq!(ids(&by_offset), ["e025", "e024", "e023", "e022", "e021"]);
    let (_, other_tenant) = page(String::new(), 24).await;
    assert_eq!(ids(&other_tenant), ["e099"]);
}

#[tokio::test]
async fn rules_are_validated_saved_and_listed_with_counts_and_templates_are_served() {
    let h = HsmTestEnv::new().await;
    let req = |method: &str, role: &str, body: Value| {
        integration_tests::request(
            method,
            "/crm/marketing/automation/rules",
            Some(&integration_tests::jwt(25, role)),
            Some(integration_tests::ADMIN_TOKEN),
            Some(body),
        )
    };
    let cases = [
        (json!({"rules": [{"trigger_type": "birthday", "template_name": "lead_followup"}]}), "unknown trigger_type"),
        (
            json!({"rules": [{"trigger_type": "lead_followup", "template_name": "lead_followup", "delay_minutes": -1}]}),
            "negative",
        ),
        (json!({"rules": [{"trigger_type": "lead_followup", "template_name": ""}]}), "empty"),
        (json!({"rules": [{"trigger_type": "lead_followup", "template_name": "no_such_template"}]}), "not found"),
    ];
    for (body, why) in cases {
        let resp = automation_rules::handle(&h.env.app, req("POST", "admin", body)).await;
        let b = crm_shared::api::http::body_json(&resp);
        assert_eq!(resp.status(), 400, "{b}");
        assert!(b["detail"].as_str().is_some_and(|d| d.contains(why)), "{b}");
    }
    let resp = automation_rules::handle(&h.env.app, req("POST", "setter", json!({"rules": []}))).await;
    assert_eq!(resp.status(), 403, "only manage roles change rules");
    let body = json!({"rules": [{"trigger_type": "lead_followup", "is_active": true, "template_name": "lead_followup", "language": "es", "delay_minutes": 60}]});
    let resp = automation_rules::handle(&h.env.app, req("PUT", "marketing", body)).await;
    let saved = crm_shared::api::http::body_json(&resp);
    assert_eq!(resp.status(), 200, "{saved}");
    assert_eq!(saved["data"][0]["is_active"], true);
    assert_eq!(saved["data"][0]["delay_minutes"], 60);
    // The rule is in force: the lead is due 1 h after creation.
    lead(&h, 25, "L-1", "+5491155552501", t0()).await;
    h.env.clock.set(t0() + Duration::hours(1));
    assert_eq!(run(&h).await.count(Outcome::Sent), 1);
    h.env.clock.set(t0()); // the test JWTs expire an hour after t0
    let listed =
        automation_rules::handle(&h.env.app, integration_tests::get("/crm/marketing/automation/rules", 25, "setter"))
            .await;
    let listed = crm_shared::api::http::body_json(&listed);
    assert_eq!(
        (listed["data"][0]["trigger_count"].as_i64(), listed["data"][0]["success_count"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(4));
    let other =
        automation_rules::handle(&h.env.app, integration_tests::get("/crm/marketing/automation/rules", 26, "setter"))
            .await;
    assert_eq!(crm_shared::api::http::body_json(&other)["data"][0]["is_active"], false, "tenant apart");

    let resp =
        hsm_templates::handle(&h.env.app, integration_tests::get("/crm/marketing/hsm/templates", 25, "closer")).await;
    let t = crm_shared::api::http::body_json(&resp);
    assert_eq!(resp.status(), 200, "{t}");
    let statuses: Vec<(String, String)> = t["data"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| (x["name"].as_str().unwrap_or("").to_string(), x["status"].as_str().unwrap_or("").to_string()))
        .collect();
    assert!(statuses.contains(&("promo_paused".into(), "PAUSED".into())), "{statuses:?}");
    assert!(statuses.contains(&("lead_followup".into(), "APPROVED".into())));
}

#[tokio::test]
async fn the_daily_recipient_cap_holds_and_the_rest_goes_out_the_next_day() {
    let h = HsmTestEnv::new().await;
    let set = RuleSet {
        tenant_id: TenantId(27),
        rules: vec![rule(TriggerKind::LeadFollowup)],
        contact_window_hours: None,
        daily_recipient_cap: Some(2),
        updated_at: t0(),
        updated_by: "it".into(),
    };
    h.env.app.automation_rules.put_rules(&set).await.expect("rules");
    for i in 0..3 {
        lead(&h, 27, &format!("L-{i}"), &format!("+54911555527{i:02}"), t0() - Duration::hours(1)).await;
    }
    // 12:00 UTC = 09:00 in Buenos Aires (the contacts' zone): just after the quiet hours.
    h.env.clock.set(t0() + Duration::hours(24));
    let r = run(&h).await;
    assert_eq!((r.count(Outcome::Sent), r.count(Outcome::Deferred)), (2, 1), "{r:?}");
    assert_eq!(h.ycloud.with(|s| s.accepted()), 2);
    h.env.clock.set(t0() + Duration::hours(48)); // the next UTC day, after the contacts' quiet hours
    assert_eq!(run(&h).await.count(Outcome::Sent), 1);
    assert_eq!(h.ycloud.with(|s| s.accepted()), 3);
}

// --------------------------------------------------------------------------------- benchmark

/// `cargo test -p integration-tests --release --test integration -- --ignored hsm_bench --nocapture`
/// (docs/BENCHMARKS.md): the evaluator over the **in-memory** stores (DynamoDB's latency is not
/// what is measured; moto serialises every request) against Sandbox YCloud over real HTTP at 20 ms
/// per send: 10,000 due items of 100 tenants, two evaluators at once; then 100,000 leads of which
/// 100 are due.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark; run by hand"]
async fn hsm_bench() {
    use std::time::Instant;
    let ycloud = local_stack::sandbox_ycloud::SandboxYcloud::start(
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        integration_tests::YCLOUD_API_KEY,
        integration_tests::YCLOUD_WEBHOOK_SECRET,
    )
    .await
    .expect("sandbox");
    ycloud.with(|s| s.latency = std::time::Duration::from_millis(20));
    let base = ycloud.base_url();
    let (app, _) = crm_shared::testing::unit_app_at(
        t0() + Duration::hours(25),
        &[
            ("YCLOUD_BASE_URL", &base),
            ("YCLOUD_API_KEY", integration_tests::YCLOUD_API_KEY),
            ("YCLOUD_WHATSAPP_NUMBER", integration_tests::YCLOUD_SENDER),
        ],
    );
    let no_quiet = |t| AutomationRule { quiet_hours: Some(QuietHours { start_hour: 0, end_hour: 0 }), ..rule(t) };
    let lead_event = |tenant: i64, id: String, at: DateTime<Utc>, phone: String| {
        crm_event(
            "lead.created",
            tenant,
            &format!("e-{id}"),
            &iso(at),
            "lead",
            json!({"id": id, "version": 1, "created_at": iso(at), "source": "META_ADS", "status": "new", "name": "Ana", "phone": phone}),
        )
    };
    let load = Instant::now();
    for tenant in 1..=100 {
        let set = RuleSet {
            tenant_id: TenantId(tenant),
            rules: vec![no_quiet(TriggerKind::LeadFollowup)],
            contact_window_hours: None,
            daily_recipient_cap: Some(100_000),
            updated_at: t0(),
            updated_by: "bench".into(),
        };
        app.automation_rules.put_rules(&set).await.expect("rules");
        let batch: Vec<Value> =
            (0..100).map(|i| lead_event(tenant, format!("L-{i}"), t0(), format!("+549115{tenant:03}{i:04}"))).collect();
        crm_events::handle_event(&app, Value::Array(batch)).await.expect("events");
    }
    println!("loaded 10,000 due items in {:?}", load.elapsed());
    let client = crm_shared::automation::sender::platform_client((&app).into()).await.expect("client");
    let s = Settings { batch: 20_000, concurrency: 64, ..settings() };
    let started = Instant::now();
    let (a, b) = tokio::join!(
        evaluator::run((&app).into(), &client, &s, None),
        evaluator::run((&app).into(), &client, &s, None)
    );
    let elapsed = started.elapsed();
    let (a, b) = (a.expect("run a"), b.expect("run b"));
    let sent = a.count(Outcome::Sent) + b.count(Outcome::Sent);
    let (accepted, duplicates) = ycloud.with(|st| (st.accepted(), st.duplicates().len()));
    println!(
        "10,000 due / 100 tenants, two evaluators: sent {sent} in {elapsed:?} = {:.0} sends/s; accepted at the sandbox {accepted}, duplicates {duplicates}; items read {} + {}",
        sent as f64 / elapsed.as_secs_f64(),
        a.items_read,
        b.items_read
    );
    assert_eq!((accepted, duplicates), (10_000, 0));

    // 100,000 leads of tenant 500, 100 of them due.
    let set = RuleSet {
        tenant_id: TenantId(500),
        rules: vec![no_quiet(TriggerKind::LeadFollowup)],
        contact_window_hours: None,
        daily_recipient_cap: Some(100_000),
        updated_at: t0(),
        updated_by: "bench".into(),
    };
    app.automation_rules.put_rules(&set).await.expect("rules");
    for chunk in 0..100 {
        let batch: Vec<Value> = (0..1_000)
            .map(|i| {
                let n = chunk * 1_000 + i;
                let at = if n < 100 { t0() } else { t0() + Duration::hours(24) };
                lead_event(500, format!("B-{n}"), at, format!("+549117{n:06}"))
            })
            .collect();
        crm_events::handle_event(&app, Value::Array(batch)).await.expect("events");
    }
    let started = Instant::now();
    let r = evaluator::run((&app).into(), &client, &s, None).await.expect("run");
    println!(
        "100,000 leads, 100 due: items read {}, sent {} in {:?}",
        r.items_read,
        r.count(Outcome::Sent),
        started.elapsed()
    );
    assert_eq!(r.count(Outcome::Sent), 100);
}
