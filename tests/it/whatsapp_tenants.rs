//! Each business's own WhatsApp, against moto and Sandbox YCloud with two accounts (their own keys,
//! WABAs, numbers and templates) and no platform account: connections verified at PUT, sends from
//! each tenant's own number, templates per WABA, STOP routed to the number it reached (texts and
//! buttons, phones in either national form), template variables mapped and refused at save, and a
//! tenant without a connection skipped (`whatsapp_not_connected`).

use chrono::Duration;
use crm_shared::api::http::body_json;
use crm_shared::automation::evaluator::{self, Outcome, RunSummary};
use crm_shared::domain::hsm::{LogStatus, Phone};
use crm_shared::domain::ids::TenantId;
use crm_shared::platform::clock::Clock;
use integration_tests::{jwt_at_clock, request, t0, HsmTestEnv, TestEnv, ADMIN_TOKEN, YCLOUD_WEBHOOK_SECRET};
use local_stack::sandbox_ycloud::{SandboxTemplate, SandboxYcloud};
use local_stack::sandbox_ycloud_accounts::SandboxAccount;
use serde_json::{json, Value};

use crate::automation::{enable_all, lead, log, settings};

const A: i64 = 11;
const B: i64 = 12;
const NONE: i64 = 13;
const KEY_A: &str = "it-key-account-a";
const KEY_B: &str = "it-key-account-b";
const NUMBER_A: &str = "+5491100000011";
const NUMBER_B: &str = "+5215512340022";
const PATH: &str = "/crm/marketing/whatsapp";

type World = HsmTestEnv;

/// Sandbox YCloud with accounts A and B (A also has a two-variable template), and an App with no
/// platform account (no `YCLOUD_API_KEY`, no `YCLOUD_WHATSAPP_NUMBER`): a multi-tenant deployment.
async fn world() -> World {
    let any = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let ycloud = SandboxYcloud::start(any, "it-default-key", YCLOUD_WEBHOOK_SECRET).await.expect("ycloud");
    ycloud.with(|s| {
        let mut a = SandboxAccount::new(KEY_A, "waba-a", &[NUMBER_A], "A");
        a.templates.push(SandboxTemplate {
            name: "turno".into(),
            language: "es".into(),
            category: "UTILITY".into(),
            status: "APPROVED".into(),
            body: "A: Hola {{1}}, te escribe {{2}}".into(),
        });
        s.accounts.push(a);
        s.accounts.push(SandboxAccount::new(KEY_B, "waba-b", &[NUMBER_B], "B"));
    });
    let base = ycloud.base_url();
    let env = TestEnv::with_env(&[("YCLOUD_BASE_URL", &base), ("YCLOUD_WEBHOOK_SECRET", YCLOUD_WEBHOOK_SECRET)]).await;
    HsmTestEnv { env, ycloud }
}

async fn call(w: &World, method: &str, tenant: i64, role: &str, body: Option<Value>) -> (u16, Value) {
    let token = jwt_at_clock(&w.env, tenant, role);
    let resp =
        whatsapp_connection::handle(&w.env.app, request(method, PATH, Some(&token), Some(ADMIN_TOKEN), body)).await;
    (resp.status().as_u16(), body_json(&resp))
}

async fn connect(w: &World, tenant: i64, key: &str, number: &str, waba: &str) -> (u16, Value) {
    call(w, "PUT", tenant, "admin", Some(json!({"api_key": key, "phone_number": number, "waba_id": waba}))).await
}

async fn templates(w: &World, tenant: i64) -> Vec<Value> {
    let token = jwt_at_clock(&w.env, tenant, "setter");
    let req = request("GET", "/crm/marketing/hsm/templates", Some(&token), Some(ADMIN_TOKEN), None);
    let resp = hsm_templates::handle(&w.env.app, req).await;
    assert_eq!(resp.status(), 200);
    body_json(&resp)["data"].as_array().cloned().unwrap_or_default()
}

async fn save_rules(w: &World, body: Value) -> (u16, Value) {
    let token = jwt_at_clock(&w.env, A, "admin");
    let req = request("PUT", "/crm/marketing/automation/rules", Some(&token), Some(ADMIN_TOKEN), Some(body));
    let resp = automation_rules::handle(&w.env.app, req).await;
    (resp.status().as_u16(), body_json(&resp))
}

async fn run(w: &World) -> RunSummary {
    evaluator::run_connected((&w.env.app).into(), &settings(), None).await.expect("run")
}

async fn post_inbound(w: &World, message: Value) -> Value {
    let event = json!({"id": format!("evt-{}", uuid::Uuid::new_v4()), "type": "whatsapp.inbound_message.received",
        "apiVersion": "v2", "whatsappInboundMessage": message});
    let (body, sig) = w.ycloud.signed(&event, w.env.clock.now().timestamp());
    let req = lambda_http::http::Request::builder()
        .method("POST")
        .uri("/crm/webhooks/ycloud")
        .header("content-type", "application/json")
        .header("YCloud-Signature", sig)
        .body(lambda_http::Body::Binary(body))
        .expect("request");
    let resp =
        ycloud_webhook::handle(&w.env.app.restricted(ycloud_webhook::SECRETS, ycloud_webhook::WIRING), req).await;
    assert_eq!(resp.status(), 200);
    body_json(&resp)
}

#[tokio::test]
async fn two_tenants_send_from_their_own_numbers_and_a_tenant_without_one_sends_nothing() {
    let w = world().await;
    let (logs, _capture) = crate::meta_token_check::capture_logs();
    let (status, body) = connect(&w, A, KEY_A, NUMBER_A, "waba-a").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["api_key_masked"], "••••nt-a");
    assert!(!body.to_string().contains(KEY_A), "the key is never answered");
    assert_eq!(connect(&w, B, KEY_B, NUMBER_B, "waba-b").await.0, 200);
    // The key is stored only as ciphertext, and GET shows it masked.
    let stored = format!("{:?}", w.env.all_items().await);
    assert!(!stored.contains(KEY_A) && !stored.contains(KEY_B), "no key in clear in the table");
    let (status, read) = call(&w, "GET", A, "setter", None).await;
    assert_eq!((status, read["data"]["phone_number"].as_str()), (200, Some(NUMBER_A)));
    assert!(!read.to_string().contains(KEY_A));

    // Each tenant lists only its own WABA's templates; a tenant without WhatsApp lists none.
    let (ta, tb) = (templates(&w, A).await, templates(&w, B).await);
    assert!(ta.iter().all(|t| t["components"][0]["text"].as_str().is_some_and(|b| b.starts_with("A:"))), "{ta:?}");
    assert!(tb.iter().all(|t| t["components"][0]["text"].as_str().is_some_and(|b| b.starts_with("B:"))), "{tb:?}");
    assert!(ta.iter().any(|t| t["name"] == "turno") && !tb.iter().any(|t| t["name"] == "turno"));
    assert!(templates(&w, NONE).await.is_empty());

    for t in [A, B, NONE] {
        enable_all(&w, t).await;
    }
    lead(&w, A, "L-a", "+5491155550401", t0()).await;
    lead(&w, B, "L-b", "+5491155550402", t0()).await;
    lead(&w, NONE, "L-n", "+5491155550403", t0()).await;
    w.env.clock.set(t0() + Duration::hours(24));
    let r = run(&w).await;
    assert_eq!((r.count(Outcome::Sent), r.count(Outcome::Skipped)), (2, 1), "{r:?}");
    let sent: Vec<(String, String)> =
        w.ycloud.with(|s| s.messages.iter().map(|m| (m.to.clone(), m.from.clone())).collect());
    assert!(sent.contains(&("+5491155550401".into(), NUMBER_A.into())), "{sent:?}");
    assert!(sent.contains(&("+5491155550402".into(), NUMBER_B.into())), "{sent:?}");
    assert_eq!(sent.len(), 2, "nothing for the tenant without WhatsApp");
    let entries = log(&w, NONE).await;
    assert_eq!(entries.len(), 1);
    assert_eq!((entries[0].status, entries[0].reason.as_deref()), (LogStatus::Skipped, Some("whatsapp_not_connected")));

    // DELETE disconnects: the number is free again and the tenant's next items are skipped.
    assert_eq!(call(&w, "DELETE", A, "setter", None).await.0, 403, "manage roles only");
    let (status, body) = call(&w, "DELETE", A, "admin", None).await;
    assert_eq!((status, body["data"]["connected"].as_bool()), (200, Some(false)));
    let number = Phone::parse(NUMBER_A).expect("phone");
    assert_eq!(w.env.app.whatsapp.number_owner(&number).await.expect("index"), None);
    // Connecting, sending and disconnecting were logged, never with a key.
    let logged = logs.text();
    assert!(logged.contains("whatsapp connected") && logged.contains("whatsapp disconnected"), "{logged}");
    assert!(!logged.contains(KEY_A) && !logged.contains(KEY_B), "a key in the logs");
}

#[tokio::test]
async fn a_bad_key_a_foreign_number_or_waba_and_a_taken_number_are_refused_with_nothing_stored() {
    let w = world().await;
    let cases = [
        (KEY_A.replace('a', "x"), NUMBER_A, "waba-a", 400, "ycloud_key_refused"),
        (KEY_A.to_string(), NUMBER_B, "waba-a", 400, "number_not_in_account"),
        (KEY_A.to_string(), NUMBER_B, "waba-b", 400, "number_not_in_account"),
        (KEY_A.to_string(), "+5491100000099", "waba-a", 400, "number_not_in_account"),
    ];
    for (key, number, waba, status, code) in cases {
        let (got, body) = connect(&w, A, &key, number, waba).await;
        assert_eq!(got, status, "{number} {waba}: {body}");
        assert_eq!(body["error"]["code"], code, "{body}");
        assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{body}");
    }
    assert!(w.env.items_with("T#11", "WA#").await.is_empty(), "no connection stored");
    assert!(w.env.items_with("WA#NUMBER#", "").await.is_empty(), "no number claimed");
    // A number is one business's: another tenant with the same account's key is refused (409).
    assert_eq!(connect(&w, A, KEY_A, NUMBER_A, "waba-a").await.0, 200);
    let (status, body) = connect(&w, B, KEY_A, NUMBER_A, "waba-a").await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("number_taken")), "{body}");
    assert!(w.env.items_with("T#12", "WA#").await.is_empty());

    // YCloud down: 503, nothing stored.
    let down = TestEnv::with_env(&[("YCLOUD_BASE_URL", "http://127.0.0.1:1")]).await;
    let token = jwt_at_clock(&down, B, "admin");
    let body = json!({"api_key": KEY_B, "phone_number": NUMBER_B, "waba_id": "waba-b"});
    let resp =
        whatsapp_connection::handle(&down.app, request("PUT", PATH, Some(&token), Some(ADMIN_TOKEN), Some(body))).await;
    assert_eq!(resp.status(), 503);
    assert!(down.items_with("T#12", "WA#").await.is_empty());
}

#[tokio::test]
async fn a_stop_reaches_only_the_number_it_was_sent_to_in_any_national_form_and_from_a_button() {
    let w = world().await;
    assert_eq!(connect(&w, A, KEY_A, NUMBER_A, "waba-a").await.0, 200);
    assert_eq!(connect(&w, B, KEY_B, NUMBER_B, "waba-b").await.0, 200);
    for t in [A, B] {
        enable_all(&w, t).await;
    }
    // Argentina: stored without the 9; WhatsApp writes the 9. Mexico: stored without the 1.
    lead(&w, A, "L-ar", "+54 11 5555-0301", t0()).await;
    lead(&w, B, "L-ar", "+54 11 5555-0301", t0()).await;
    lead(&w, A, "L-mx", "+52 55 1234 5678", t0()).await;
    // A quick-reply tap on A's template, from WhatsApp's form of the Argentine number.
    let button = json!({"id": "in-1", "from": "+5491155550301", "to": NUMBER_A, "type": "button",
        "button": {"text": "Stop promotions", "payload": "STOP_PROMOS"}});
    assert_eq!(post_inbound(&w, button).await["data"]["opted_out_tenants"], 1);
    // A text BAJA from the Mexican number (WhatsApp's +52 1 form) to A's number.
    let text =
        json!({"id": "in-2", "from": "+5215512345678", "to": NUMBER_A, "type": "text", "text": {"body": "¡Baja!"}});
    assert_eq!(post_inbound(&w, text).await["data"]["opted_out_tenants"], 1);
    // Something else is no stop.
    let other =
        json!({"id": "in-3", "from": "+5491155550301", "to": NUMBER_B, "type": "text", "text": {"body": "hola"}});
    assert_eq!(post_inbound(&w, other).await["data"]["opted_out_tenants"], 0);

    let ar = Phone::parse("+54 11 5555 0301").expect("phone");
    assert!(w.env.app.contacts.is_opted_out(TenantId(A), ar.as_str()).await.expect("read"));
    assert!(!w.env.app.contacts.is_opted_out(TenantId(B), ar.as_str()).await.expect("read"), "B's number got no STOP");

    w.env.clock.set(t0() + Duration::hours(24));
    let r = run(&w).await;
    assert_eq!((r.count(Outcome::Sent), r.count(Outcome::Skipped)), (1, 2), "{r:?}");
    let sent = w.ycloud.with(|s| s.messages.iter().map(|m| (m.to.clone(), m.from.clone())).collect::<Vec<_>>());
    assert_eq!(
        sent,
        vec![("+5491155550301".to_string(), NUMBER_B.to_string())],
        "only B's message, in WhatsApp's form"
    );
    let skipped: Vec<_> = log(&w, A).await.into_iter().map(|e| (e.status, e.reason)).collect();
    assert!(skipped.iter().all(|(s, r)| *s == LogStatus::Skipped && r.as_deref() == Some("opted out")), "{skipped:?}");
}

#[tokio::test]
async fn template_variables_are_mapped_at_save_refused_when_missing_and_sanitised_at_send() {
    let w = world().await;
    assert_eq!(connect(&w, A, KEY_A, NUMBER_A, "waba-a").await.0, 200);
    let rule = |vars: Value| {
        let mut r = json!({"trigger_type": "lead_followup", "template_name": "turno", "language": "es",
            "quiet_hours": {"start_hour": 0, "end_hour": 0}});
        if !vars.is_null() {
            r["variables"] = vars;
        }
        json!({"rules": [r]})
    };
    let (status, body) = save_rules(&w, rule(Value::Null)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["detail"].as_str().is_some_and(|d| d.contains("{{2}}")), "{body}");
    let (status, body) = save_rules(&w, rule(json!({"1": "first_name", "2": "seller_email"}))).await;
    assert_eq!(status, 400, "unknown field: {body}");
    assert!(w.env.app.automation_rules.rules(TenantId(A)).await.expect("read").is_none(), "nothing saved");
    let (status, body) = save_rules(&w, rule(json!({"1": "first_name", "2": "full_name"}))).await;
    assert_eq!(status, 200, "{body}");

    let hostile = json!({"id": "L-x", "version": 1, "created_at": t0().to_rfc3339(), "source": "META_ADS",
        "status": "new", "name": "María <b>José</b> 123", "phone": "+5491155550501", "opted_out": false});
    let ev = integration_tests::crm_event("lead.created", A, "e-L-x", &t0().to_rfc3339(), "lead", hostile);
    crm_events::handle_event(&w.env.app, ev).await.expect("event");
    let link = json!({"id": "L-y", "version": 1, "created_at": t0().to_rfc3339(), "source": "META_ADS",
        "status": "new", "name": "https://evil.example/pay", "phone": "+5491155550502", "opted_out": false});
    let ev = integration_tests::crm_event("lead.created", A, "e-L-y", &t0().to_rfc3339(), "lead", link);
    crm_events::handle_event(&w.env.app, ev).await.expect("event");
    w.env.clock.set(t0() + Duration::hours(24));
    assert_eq!(run(&w).await.count(Outcome::Sent), 2);
    let mut params: Vec<(String, Vec<String>)> =
        w.ycloud.with(|s| s.messages.iter().map(|m| (m.to.clone(), m.params.clone())).collect());
    params.sort();
    assert_eq!(
        params,
        vec![
            ("+5491155550501".to_string(), vec!["María".to_string(), "María b José b".to_string()]),
            ("+5491155550502".to_string(), vec!["cliente".to_string(), "cliente".to_string()]),
        ]
    );
}

#[tokio::test]
async fn a_tenants_own_webhook_secret_signs_its_numbers_deliveries_and_the_platforms_does_not() {
    let w = world().await;
    let body =
        json!({"api_key": KEY_A, "phone_number": NUMBER_A, "waba_id": "waba-a", "webhook_secret": "it-whsec-of-a"});
    let (status, answer) = call(&w, "PUT", A, "admin", Some(body)).await;
    assert_eq!((status, answer["data"]["webhook_secret_set"].as_bool()), (200, Some(true)), "{answer}");
    assert!(
        !answer.to_string().contains("it-whsec-of-a")
            && !format!("{:?}", w.env.all_items().await).contains("it-whsec-of-a")
    );
    let event = json!({"id": "evt-own-1", "type": "whatsapp.inbound_message.received", "whatsappInboundMessage":
        {"id": "in-1", "from": "+5491155550601", "to": NUMBER_A, "type": "text", "text": {"body": "STOP"}}});
    let webhook_app = w.env.app.restricted(ycloud_webhook::SECRETS, ycloud_webhook::WIRING);
    let deliver = |secret: &str| {
        let raw = event.to_string().into_bytes();
        let sig = local_stack::sandbox_ycloud::sign(secret, w.env.clock.now().timestamp(), &raw);
        let req = lambda_http::http::Request::builder()
            .method("POST")
            .uri("/crm/webhooks/ycloud")
            .header("content-type", "application/json")
            .header("YCloud-Signature", sig)
            .body(lambda_http::Body::Binary(raw))
            .expect("request");
        ycloud_webhook::handle(&webhook_app, req)
    };
    let phone = Phone::parse("+5491155550601").expect("phone");
    // The platform's secret does not sign a delivery for A's number.
    assert_eq!(deliver(YCLOUD_WEBHOOK_SECRET).await.status(), 401);
    assert!(!w.env.app.contacts.is_opted_out(TenantId(A), phone.as_str()).await.expect("read"));
    let resp = deliver("it-whsec-of-a").await;
    assert_eq!(resp.status(), 200, "{}", body_json(&resp));
    assert!(w.env.app.contacts.is_opted_out(TenantId(A), phone.as_str()).await.expect("read"));
}

#[tokio::test]
async fn quiet_hours_hold_in_the_contacts_zone_and_a_window_ending_in_a_dst_gap_ends_with_the_gap() {
    use chrono::TimeZone;
    use crm_shared::store::automation::rules::QuietHours;
    let w = world().await;
    // The tenant is in Madrid; the contact is Cuban (one zone, Havana), and Havana springs forward
    // at 00:00 → 01:00 on 2026-03-08 (05:00 UTC): a quiet window 22:00–00:00 ends where the gap ends.
    let created = chrono::Utc.with_ymd_and_hms(2026, 3, 7, 3, 30, 0).single().expect("time");
    w.env.clock.set(created);
    let mut profile = crm_shared::store::TenantProfile::empty(TenantId(A), created);
    profile.reporting_time_zone = crm_shared::domain::zone::Zone::parse("Europe/Madrid").ok();
    w.env.app.profiles.put_profile(&profile).await.expect("profile");
    assert_eq!(connect(&w, A, KEY_A, NUMBER_A, "waba-a").await.0, 200);
    let mut rule = crate::automation::rule(crm_shared::domain::hsm::TriggerKind::LeadFollowup);
    rule.quiet_hours = Some(QuietHours { start_hour: 22, end_hour: 0 });
    crate::automation::enable(&w, A, vec![rule]).await;
    lead(&w, A, "L-cu", "+53 5 123 4567", created).await;
    // Due 2026-03-08 03:30 UTC: 04:30 in Madrid (outside the window) but 22:30 in Havana.
    w.env.clock.set(created + Duration::hours(24));
    let r = run(&w).await;
    assert_eq!(r.count(Outcome::Deferred), 1, "{r:?}");
    let due = w.env.app.due.due_item(TenantId(A), crm_shared::domain::hsm::TriggerKind::LeadFollowup, "L-cu").await;
    let gap_end = chrono::Utc.with_ymd_and_hms(2026, 3, 8, 5, 0, 0).single().expect("time");
    assert_eq!(due.expect("read").map(|d| d.due_at), Some(gap_end), "01:00 local, where the gap ends");
    assert_eq!(w.ycloud.with(|s| s.send_requests), 0, "nothing inside the contact's quiet hours");
    w.env.clock.set(gap_end);
    let r = run(&w).await;
    assert_eq!(r.count(Outcome::Sent), 1, "{r:?} {:?}", log(&w, A).await);
}
