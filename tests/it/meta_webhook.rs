//! Meta lead-ads webhook end to end: the handler against moto (AWS) and Sandbox Meta over real
//! HTTP, with tenants connected through the real OAuth flow (which maps their pages).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use crm_shared::api::http::body_json;
use crm_shared::marketing::aggregates::counter;
use crm_shared::platform::clock::Clock;
use integration_tests::*;
use lambda_http::{Body, Request, Response};
use local_stack::sandbox_meta::{SandboxLead, DEMO_LEADGEN_IDS, SANDBOX_PAGE_ID};
use serde_json::{json, Value};

type Item = HashMap<String, AttributeValue>;

const PATH: &str = "/crm/webhooks/meta";
const VERIFY_TOKEN: &str = "it-webhook-verify-token";
const DAY: &str = "AGG#D#2026-11-24";
const MONTH: &str = "AGG#M#2026-11";

async fn webhook_env() -> MetaTestEnv {
    MetaTestEnv::with_env(&[("META_WEBHOOK_VERIFY_TOKEN", VERIFY_TOKEN)]).await
}

fn jwt_now(env: &TestEnv, tenant: i64) -> String {
    jwt_at_clock(env, tenant, "admin")
}

/// The whole OAuth connect flow for `tenant` (dialog at Sandbox Meta, then our callback).
async fn connect(m: &MetaTestEnv, tenant: i64) {
    let env = &m.env;
    oauth_connect(env, tenant).await;
}

fn post(body: &[u8], signature: Option<&str>) -> Request {
    let mut b =
        lambda_http::http::Request::builder().method("POST").uri(PATH).header("content-type", "application/json");
    if let Some(sig) = signature {
        b = b.header("x-hub-signature-256", sig);
    }
    b.body(Body::Binary(body.to_vec())).expect("request")
}

async fn deliver(m: &MetaTestEnv, ids: &[&str]) -> Response<Body> {
    let (body, sig) = m.sandbox.signed_leadgen_delivery(ids);
    meta_webhook::handle(&m.env.app.restricted(meta_webhook::SECRETS, meta_webhook::WIRING), post(&body, Some(&sig)))
        .await
}

fn add_lead(m: &MetaTestEnv, campaign: &str, ad: &str, name: &str) -> SandboxLead {
    m.sandbox.with(|s| s.add_lead(SANDBOX_PAGE_ID, Some(campaign), Some(ad), name))
}

fn s(i: &Item, k: &str) -> String {
    i.get(k).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default()
}

/// Every item that is not an audit record or a rate-limit window (what a refused request must
/// not change; every request, refused or not, counts against its source's budget).
async fn non_audit_items(env: &TestEnv) -> Vec<(String, String)> {
    let mut keys: Vec<(String, String)> = env
        .all_items()
        .await
        .iter()
        .map(|i| (s(i, "PK"), s(i, "SK")))
        .filter(|(pk, sk)| !pk.starts_with("AUDIT#") && !sk.starts_with("AUDIT#") && !pk.starts_with("RL#"))
        .collect();
    keys.sort();
    keys
}

async fn leads_of(env: &TestEnv, tenant: i64) -> Vec<Item> {
    env.items_with(&format!("T#{tenant}"), "LEAD#").await
}

fn leadgen_fetches(m: &MetaTestEnv, id: &str) -> usize {
    m.sandbox.with(|s| s.count_calls(&format!("/{id}")))
}

// ---------------------------------------------------------------------------------- handshake

#[tokio::test]
async fn handshake_with_the_verify_token_echoes_the_challenge() {
    let m = webhook_env().await;
    let uri = format!("{PATH}?hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1158201444");
    let resp = meta_webhook::handle(
        &m.env.app.restricted(meta_webhook::SECRETS, meta_webhook::WIRING),
        request("GET", &uri, None, None, None),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.body().as_ref(), b"1158201444");
}

#[tokio::test]
async fn handshake_with_a_wrong_token_or_mode_is_403() {
    let m = webhook_env().await;
    for uri in [
        format!("{PATH}?hub.mode=subscribe&hub.verify_token=guessed&hub.challenge=1"),
        format!("{PATH}?hub.mode=unsubscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1"),
        format!("{PATH}?hub.challenge=1"),
    ] {
        let resp = meta_webhook::handle(
            &m.env.app.restricted(meta_webhook::SECRETS, meta_webhook::WIRING),
            request("GET", &uri, None, None, None),
        )
        .await;
        assert_eq!(resp.status(), 403, "{uri}");
        assert_eq!(body_json(&resp)["success"], false);
    }
}

// ---------------------------------------------------------------------------------- signature

#[tokio::test]
async fn forged_missing_or_mismatched_signatures_are_401_and_write_nothing() {
    let m = webhook_env().await;
    connect(&m, 1).await;
    let lead = add_lead(&m, "120200000000000001", "120200000000001001", "Ana");
    let before = non_audit_items(&m.env).await;
    let (body, good_sig) = m.sandbox.signed_leadgen_delivery(&[lead.id.as_str()]);
    let other_body = m.sandbox.leadgen_delivery(&[]).to_string().into_bytes();
    let forged = format!("sha256={}", "ab".repeat(32));
    let wrong_secret = crm_shared::meta::leadgen::sign("not-the-app-secret", &body);
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    for (what, req) in [
        ("missing", post(&body, None)),
        ("forged", post(&body, Some(&forged))),
        ("other secret", post(&body, Some(&wrong_secret))),
        ("signature of another body", post(&other_body, Some(&good_sig))),
        ("tampered body", post(&tampered, Some(&good_sig))),
        ("sha1 prefix", post(&body, Some(&good_sig.replace("sha256=", "sha1=")))),
    ] {
        let resp = meta_webhook::handle(&m.env.app.restricted(meta_webhook::SECRETS, meta_webhook::WIRING), req).await;
        assert_eq!(resp.status(), 401, "{what}");
    }
    assert_eq!(
        non_audit_items(&m.env).await,
        before,
        "a refused delivery writes nothing but audit records and its rate-limit count"
    );
    assert_eq!(leadgen_fetches(&m, &lead.id), 0, "nothing is fetched for a forged delivery");
}

#[tokio::test]
async fn signed_malformed_json_is_400() {
    let m = webhook_env().await;
    let body = br#"{"object":"page","entry":[{"id":"1","changes":"#;
    let sig = m.sandbox.sign_webhook(body);
    let resp = meta_webhook::handle(
        &m.env.app.restricted(meta_webhook::SECRETS, meta_webhook::WIRING),
        post(body, Some(&sig)),
    )
    .await;
    assert_eq!(resp.status(), 400);
    assert_eq!(body_json(&resp)["error"]["code"], "invalid_json");
}

// ------------------------------------------------------------------------------------- leads

#[tokio::test]
async fn delivery_creates_meta_ads_leads_with_campaign_attribution_in_the_aggregates() {
    let m = webhook_env().await;
    connect(&m, 1).await;
    let a1 = add_lead(&m, "120200000000000011", "120200000000001011", "Ana Gómez");
    let a2 = add_lead(&m, "120200000000000011", "120200000000001012", "Bruno Díaz");
    let b1 = add_lead(&m, "120200000000000022", "120200000000001021", "Carla Ruiz");
    let resp = deliver(&m, &[&a1.id, &a2.id, &b1.id]).await;
    assert_eq!(resp.status(), 200, "{:?}", body_json(&resp));
    let data = &body_json(&resp)["data"];
    assert_eq!(
        (data["received"].as_u64(), data["created"].as_u64(), data["pending"].as_u64()),
        (Some(3), Some(3), Some(0))
    );

    let leads = leads_of(&m.env, 1).await;
    assert_eq!(leads.len(), 3);
    let ana = leads.iter().find(|l| s(l, "SK") == format!("LEAD#meta:{}", a1.id)).expect("lead of a1");
    assert_eq!(s(ana, "source"), "META_ADS");
    assert_eq!(s(ana, "campaign_id"), "120200000000000011");
    assert_eq!(s(ana, "ad_id"), "120200000000001011");
    assert_eq!(s(ana, "name"), "Ana Gómez");
    assert_eq!(s(ana, "email"), "anagmez@example.com");

    for key in [DAY, MONTH] {
        let agg = m.env.item(1, key).await.expect(key);
        assert_eq!(num(&agg, counter::LEADS), 3, "{key}");
        assert_eq!(num(&agg, &counter::by_source(counter::LEADS, "META_ADS")), 3, "{key}");
        assert_eq!(num(&agg, &counter::by_campaign(counter::LEADS, "120200000000000011")), 2, "{key}");
        assert_eq!(num(&agg, &counter::by_campaign(counter::LEADS, "120200000000000022")), 1, "{key}");
        assert_eq!(num(&agg, &counter::by_ad(counter::LEADS, "120200000000001021")), 1, "{key}");
    }
    let inbox = m.env.item(1, &format!("LEADGEN#{}", a1.id)).await.expect("inbox item");
    assert_eq!(s(&inbox, "status"), "done");
}

#[tokio::test]
async fn redelivery_and_the_same_lead_in_another_delivery_count_once() {
    let m = webhook_env().await;
    connect(&m, 1).await;
    let (a, b, c) = (add_lead(&m, "11", "21", "A"), add_lead(&m, "11", "21", "B"), add_lead(&m, "11", "21", "C"));
    assert_eq!(deliver(&m, &[&a.id, &b.id]).await.status(), 200);
    let again = deliver(&m, &[&a.id, &b.id]).await;
    assert_eq!(again.status(), 200);
    assert_eq!(body_json(&again)["data"]["duplicates"], 2);
    assert_eq!(leadgen_fetches(&m, &a.id), 1, "a settled lead is not fetched again");
    let overlap = deliver(&m, &[&b.id, &c.id]).await;
    assert_eq!(
        (body_json(&overlap)["data"]["created"].as_u64(), body_json(&overlap)["data"]["duplicates"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(leads_of(&m.env, 1).await.len(), 3);
    let day = m.env.item(1, DAY).await.expect("day");
    assert_eq!((num(&day, counter::LEADS), num(&day, &counter::by_campaign(counter::LEADS, "11"))), (3, 3));
}

#[tokio::test]
async fn two_concurrent_deliveries_count_each_lead_once() {
    let m = webhook_env().await;
    connect(&m, 1).await;
    let ids: Vec<String> = (0..5).map(|i| add_lead(&m, "11", "21", &format!("L{i}")).id).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let (body, sig) = m.sandbox.signed_leadgen_delivery(&refs);
    let webhook = m.env.app.restricted(meta_webhook::SECRETS, meta_webhook::WIRING);
    let (r1, r2) = tokio::join!(
        meta_webhook::handle(&webhook, post(&body, Some(&sig))),
        meta_webhook::handle(&webhook, post(&body, Some(&sig))),
    );
    assert_eq!((r1.status().as_u16(), r2.status().as_u16()), (200, 200));
    let created = |r: &Response<Body>| body_json(r)["data"]["created"].as_u64().unwrap_or(0);
    assert_eq!(created(&r1) + created(&r2), 5, "each lead created by exactly one delivery");
    assert_eq!(leads_of(&m.env, 1).await.len(), 5);
    assert_eq!(num(&m.env.item(1, DAY).await.expect("day"), counter::LEADS), 5);
}

#[tokio::test]
async fn changes_for_a_page_no_tenant_owns_are_skipped() {
    let m = webhook_env().await;
    connect(&m, 1).await;
    let stray = m.sandbox.with(|s| s.add_lead("1080000000009999", None, None, "Stray"));
    // Meta delivers only for pages this app is subscribed to: the stray page first is not.
    let unsubscribed = m.sandbox.leadgen_delivery(&[&stray.id]);
    assert_eq!(unsubscribed["entry"], json!([]), "the sandbox, like Meta, sends nothing for it");
    // A page subscribed to the app that no tenant owns (an owner's release that failed half-way).
    m.sandbox.with(|s| s.subscriptions.insert("1080000000009999".into(), vec!["leadgen".into()]));
    let resp = deliver(&m, &[&stray.id]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(body_json(&resp)["data"]["unknown_page"], 1);
    assert_eq!(leadgen_fetches(&m, &stray.id), 0);
    assert!(m.env.items_with("T#", "LEAD").await.is_empty());
}

#[tokio::test]
async fn a_page_is_not_claimed_by_a_second_tenant_while_its_owner_is_connected() {
    let m = webhook_env().await;
    connect(&m, 1).await;
    connect(&m, 2).await; // same Meta user, same page: tenant 1 keeps it
    let lead = add_lead(&m, "11", "21", "Owner's lead");
    assert_eq!(deliver(&m, &[&lead.id]).await.status(), 200);
    assert_eq!((leads_of(&m.env, 1).await.len(), leads_of(&m.env, 2).await.len()), (1, 0));

    // Once tenant 1 disconnects, tenant 2's next connect takes the page over.
    let req = request("POST", "/crm/auth/meta/disconnect", Some(&jwt_now(&m.env, 1)), Some(ADMIN_TOKEN), None);
    assert_eq!(meta_auth_disconnect::handle(&m.env.app, req).await.status(), 200);
    connect(&m, 2).await;
    let next = add_lead(&m, "11", "21", "New owner's lead");
    assert_eq!(deliver(&m, &[&next.id]).await.status(), 200);
    assert_eq!((leads_of(&m.env, 1).await.len(), leads_of(&m.env, 2).await.len()), (1, 1));
}

// --------------------------------------------------------------------------------- failures

#[tokio::test]
async fn transient_meta_failure_leaves_the_lead_open_then_redelivery_creates_it() {
    let m = webhook_env().await;
    connect(&m, 1).await;
    let lead = add_lead(&m, "11", "21", "Patient");
    m.sandbox.with(|s| s.transient_next = 3); // every attempt of the client's retry budget fails
    let resp = deliver(&m, &[&lead.id]).await;
    assert_eq!(resp.status(), 503, "Meta must re-deliver");
    assert!(resp.headers().contains_key("retry-after"));
    let inbox = m.env.item(1, &format!("LEADGEN#{}", lead.id)).await.expect("recorded for retry");
    assert_eq!(s(&inbox, "status"), "pending");
    assert!(leads_of(&m.env, 1).await.is_empty());

    let retry = deliver(&m, &[&lead.id]).await;
    assert_eq!(retry.status(), 200);
    assert_eq!(body_json(&retry)["data"]["created"], 1);
    assert_eq!(leads_of(&m.env, 1).await.len(), 1);
    assert_eq!(s(&m.env.item(1, &format!("LEADGEN#{}", lead.id)).await.expect("inbox"), "status"), "done");
}

#[tokio::test]
async fn a_rejected_page_token_marks_the_page_not_the_connection_and_parks_the_lead_until_reconnect() {
    let m = webhook_env().await;
    connect(&m, 1).await;
    let (a, b) = (add_lead(&m, "11", "21", "A"), add_lead(&m, "11", "21", "B"));
    // Meta invalidates the page's token (its edges answer 190); the user token is fine.
    m.sandbox.with(|s| s.revoke_page_tokens(SANDBOX_PAGE_ID));
    let resp = deliver(&m, &[&a.id, &b.id]).await;
    assert_eq!(resp.status(), 200, "nothing to retry until the page's token is renewed");
    assert_eq!(body_json(&resp)["data"]["awaiting_reconnect"], 2);
    let conn = m.env.item(1, "META#CONN").await.expect("connection");
    assert_eq!(s(&conn, "status"), "active", "a page's 190 is the page's, never the user connection's");
    let status = meta_token_status::handle(&m.env.app, get("/crm/marketing/token-status", 1, "admin")).await;
    let data = body_json(&status)["data"].clone();
    assert_eq!(data["status"], "connected");
    assert_eq!(data["lead_ads"]["pages"][0]["page_id"], SANDBOX_PAGE_ID);
    assert_eq!(data["lead_ads"]["pages"][0]["problem"], "page_token_invalid");
    assert_eq!(data["lead_ads"]["pages_ok"], false);
    for id in [&a.id, &b.id] {
        assert_eq!(s(&m.env.item(1, &format!("LEADGEN#{id}")).await.expect("parked"), "status"), "awaiting_reconnect");
    }
    assert!(leads_of(&m.env, 1).await.is_empty());

    // Meta does not re-deliver what was answered 200: reconnecting (fresh page tokens) replays them.
    connect(&m, 1).await;
    assert_eq!(leads_of(&m.env, 1).await.len(), 2);
    for id in [&a.id, &b.id] {
        assert_eq!(s(&m.env.item(1, &format!("LEADGEN#{id}")).await.expect("settled"), "status"), "done");
    }
    let page = m.env.items_with(&format!("META#PAGE#{SANDBOX_PAGE_ID}"), "OWNER").await;
    assert!(!page[0].contains_key("problem"), "the reconnect cleared the page's problem");
    // A late re-delivery of the same leads changes nothing.
    let again = deliver(&m, &[&a.id, &b.id]).await;
    assert_eq!(body_json(&again)["data"]["duplicates"], 2);
    assert_eq!(num(&m.env.item(1, DAY).await.expect("day"), counter::LEADS), 2);
}

#[tokio::test]
async fn reconnect_replays_only_open_leads_from_the_sparse_index() {
    let m = webhook_env().await;
    connect(&m, 1).await;
    let done = add_lead(&m, "11", "21", "Done");
    assert_eq!(deliver(&m, &[&done.id]).await.status(), 200);
    let parked = add_lead(&m, "11", "21", "Parked");
    m.sandbox.with(|s| s.transient_next = 3);
    assert_eq!(deliver(&m, &[&parked.id]).await.status(), 503);
    let open = m.env.items_with("T#1", "LEADGEN#").await;
    let indexed: Vec<String> = open.iter().filter(|i| i.contains_key("GSI1PK")).map(|i| s(i, "leadgen_id")).collect();
    assert_eq!(indexed, vec![parked.id.clone()], "settled leads leave the open index");
    let fetches_before = leadgen_fetches(&m, &done.id);
    connect(&m, 1).await;
    assert_eq!(leads_of(&m.env, 1).await.len(), 2);
    assert_eq!(leadgen_fetches(&m, &done.id), fetches_before, "a settled lead is not replayed");
    let settled = m.env.item(1, &format!("LEADGEN#{}", parked.id)).await.expect("inbox");
    assert_eq!(s(&settled, "status"), "done");
    assert!(!settled.contains_key("GSI1PK"));
}

#[tokio::test]
async fn a_lead_meta_no_longer_has_is_settled_as_failed_not_retried_forever() {
    let m = webhook_env().await;
    connect(&m, 1).await;
    let lead = add_lead(&m, "11", "21", "Deleted");
    m.sandbox.with(|s| s.leads.remove(&lead.id));
    let delivery = json!({"object": "page", "entry": [{"id": SANDBOX_PAGE_ID, "time": 1, "changes": [
        {"field": "leadgen", "value": lead.change_value()}]}]});
    let body = delivery.to_string().into_bytes();
    let resp = meta_webhook::handle(
        &m.env.app.restricted(meta_webhook::SECRETS, meta_webhook::WIRING),
        post(&body, Some(&m.sandbox.sign_webhook(&body))),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(body_json(&resp)["data"]["failed"], 1);
    assert_eq!(s(&m.env.item(1, &format!("LEADGEN#{}", lead.id)).await.expect("inbox"), "status"), "failed");
}

// ------------------------------------------------------------------------------------ sample

#[tokio::test]
async fn sample_delivery_in_events_creates_the_demo_leads() {
    let m = webhook_env().await;
    m.sandbox.with(|s| s.seed_demo_leads());
    connect(&m, 1).await;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../events/meta-leadgen-webhook.json");
    let body = std::fs::read(path).expect("sample");
    let sample: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(sample["entry"][0]["id"], SANDBOX_PAGE_ID);
    let resp = meta_webhook::handle(
        &m.env.app.restricted(meta_webhook::SECRETS, meta_webhook::WIRING),
        post(&body, Some(&m.sandbox.sign_webhook(&body))),
    )
    .await;
    assert_eq!(resp.status(), 200, "{:?}", body_json(&resp));
    assert_eq!(body_json(&resp)["data"]["created"], DEMO_LEADGEN_IDS.len());
}

// ------------------------------------------------------------------------------------- volume

#[tokio::test]
async fn leads_the_time_budget_did_not_reach_stay_open_until_redelivery() {
    use crm_shared::meta::leadgen::{parse_delivery, process_delivery_with, Limits};
    let m = webhook_env().await;
    connect(&m, 1).await;
    let ids: Vec<String> = (0..3).map(|i| add_lead(&m, "11", "21", &format!("L{i}")).id).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let delivery = parse_delivery(m.sandbox.leadgen_delivery(&refs).to_string().as_bytes()).expect("parse");
    let out_of_time = Limits { concurrency: 4, budget: std::time::Duration::ZERO };
    let report =
        process_delivery_with((&m.env.app).into(), delivery, m.env.clock.now(), out_of_time).await.expect("processed");
    assert_eq!((report.created, report.pending), (0, 3));
    for id in &ids {
        assert_eq!(s(&m.env.item(1, &format!("LEADGEN#{id}")).await.expect("recorded"), "status"), "pending");
    }
    let resp = deliver(&m, &refs).await;
    assert_eq!(body_json(&resp)["data"]["created"], 3);
}

#[tokio::test]
async fn a_large_delivery_is_finished_once_over_redeliveries() {
    // That the budget stops new fetches is tested on its own clock-free path above (a zero
    // budget); no wall-clock bound here, which a loaded CI machine would make flaky.
    let m = webhook_env().await;
    connect(&m, 1).await;
    let ids: Vec<String> = (0..150).map(|i| add_lead(&m, "11", "21", &format!("L{i}")).id).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mut deliveries = 0;
    loop {
        deliveries += 1;
        let resp = deliver(&m, &refs).await;
        if resp.status() == 200 {
            break;
        }
        assert_eq!(resp.status(), 503, "{:?}", body_json(&resp));
        assert!(deliveries < 5, "Meta's re-deliveries must make progress");
    }
    assert_eq!(num(&m.env.item(1, DAY).await.expect("day"), counter::LEADS), 150);
    assert_eq!(leads_of(&m.env, 1).await.len(), 150);
}

#[tokio::test]
async fn lead_ads_leads_get_their_automated_follow_up_scheduled() {
    use crm_shared::domain::hsm::TriggerKind;
    use crm_shared::domain::ids::TenantId;
    let m = webhook_env().await;
    connect(&m, 1).await;
    enable_rule(&m.env, 1, TriggerKind::LeadFollowup).await;
    let a1 = add_lead(&m, "120200000000000011", "120200000000001011", "Ana Gómez");
    // Delivered two hours after the lead was created at Meta: the follow-up counts from creation.
    m.env.clock.advance(chrono::Duration::hours(2));
    let resp = deliver(&m, &[&a1.id]).await;
    assert_eq!(resp.status(), 200, "{:?}", body_json(&resp));
    let lead_id = format!("meta:{}", a1.id);
    let due = m.env.app.due.due_item(TenantId(1), TriggerKind::LeadFollowup, &lead_id).await.expect("due");
    let due = due.expect("the lead-ads lead's follow-up is scheduled");
    let created = chrono::DateTime::from_timestamp(a1.created_time, 0).expect("created_time");
    assert_eq!(due.due_at, created + chrono::Duration::hours(24), "lead_followup: 24 h after creation");
    assert_eq!((due.attempts, due.note), (0, None));
}
