//! Lead ads as Meta really works them, end to end on moto + Sandbox Meta (strict about Page tokens,
//! subscriptions and scopes): pages claimed with their own tokens and subscribed to `leadgen`,
//! released on disconnect, a page's failure kept to the page, and every Meta lead handed to the
//! CRM once — the same lead through webhook, sweep and the CRM's own `lead.created` counted once,
//! followed up once.

use std::sync::Arc;
use std::time::Duration;

use crm_shared::api::http::body_json;
use crm_shared::domain::hsm::TriggerKind;
use crm_shared::domain::ids::TenantId;
use crm_shared::marketing::aggregates::counter;
use crm_shared::meta::insights::TenantOutcome;
use crm_shared::meta::leadgen::handoff::LEAD_RECEIVED;
use crm_shared::platform::clock::Clock;
use crm_shared::platform::retry::Sleeper;
use integration_tests::*;
use local_stack::sandbox_meta::{ad_account_id, SANDBOX_PAGE_ID};
use meta_spend_sync::{handle_event_with, Summary};
use serde_json::{json, Value};

struct NoWait;

#[async_trait::async_trait]
impl Sleeper for NoWait {
    async fn sleep(&self, _: Duration) {}
}

/// OAuth connect of `tenant` (the `meta.connected` job claims and subscribes the pages), then the
/// selection of an ad account, as the wizard does.
async fn connect(m: &MetaTestEnv, tenant: i64) {
    oauth_connect(&m.env, tenant).await;
    let body = json!({"account_id": ad_account_id(1, true, 2), "account_name": "Sandbox"});
    let token = jwt_at_clock(&m.env, tenant, "admin");
    let req = request("POST", "/crm/marketing/connect", Some(&token), Some(ADMIN_TOKEN), Some(body));
    let resp = meta_connect::handle(&m.env.app, req).await;
    assert_eq!(resp.status(), 200, "{:?}", body_json(&resp));
}

async fn sync(m: &MetaTestEnv, tenant: i64) -> crm_shared::meta::insights::TenantSync {
    let event = json!({"version": "0", "id": "r", "detail-type": "spend-sync.requested",
                       "source": "crm-marketing.spend-sync", "detail": {"tenant_id": tenant}});
    match handle_event_with(&m.env.app, event, Arc::new(NoWait)).await {
        Ok(Summary::Tenant(t)) => t,
        other => panic!("tenant sync: {other:?}"),
    }
}

async fn deliver(m: &MetaTestEnv, ids: &[&str]) -> lambda_http::Response<lambda_http::Body> {
    let (body, sig) = m.sandbox.signed_leadgen_delivery(ids);
    meta_webhook::handle(
        &m.env.app.restricted(meta_webhook::SECRETS, meta_webhook::WIRING),
        meta_webhook_post(body, &sig),
    )
    .await
}

async fn token_status(m: &MetaTestEnv, tenant: i64) -> Value {
    let token = jwt_at_clock(&m.env, tenant, "setter");
    let req = request("GET", "/crm/marketing/token-status", Some(&token), Some(ADMIN_TOKEN), None);
    let resp = meta_token_status::handle(&m.env.app, req).await;
    assert_eq!(resp.status(), 200, "{:?}", body_json(&resp));
    body_json(&resp)
}

fn handoffs(m: &MetaTestEnv) -> Vec<Value> {
    m.env.jobs.published(LEAD_RECEIVED).iter().map(|e| serde_json::from_str(&e.detail).expect("detail")).collect()
}

async fn enable_lead_followup(m: &MetaTestEnv, tenant: i64) {
    enable_rule(&m.env, tenant, TriggerKind::LeadFollowup).await;
}

#[tokio::test]
async fn a_connect_claims_each_page_with_its_page_token_and_subscribes_it_to_leadgen() {
    let m = MetaTestEnv::new().await;
    connect(&m, 1).await;
    assert!(m.sandbox.with(|s| s.subscribed_to_leadgen(SANDBOX_PAGE_ID)), "Meta now delivers the page's leads");
    let status = token_status(&m, 1).await;
    let page = &status["data"]["lead_ads"]["pages"][0];
    assert_eq!(page["page_id"], SANDBOX_PAGE_ID);
    assert_eq!((page["subscribed"].as_bool(), page["has_page_token"].as_bool()), (Some(true), Some(true)));
    assert_eq!(page["problem"], Value::Null);
    assert_eq!(status["data"]["lead_ads"]["pages_ok"], true);
    let lead_ads = status["data"]["lead_ads"]["features"].as_array().expect("features").clone();
    assert!(lead_ads.iter().all(|f| f["ok"] == true), "the login asked for every scope: {lead_ads:?}");
    // The stored item holds the Page token sealed under the tenant's KMS context, never in clear.
    let item = m.env.items_with(&format!("META#PAGE#{SANDBOX_PAGE_ID}"), "OWNER").await.remove(0);
    let sealed = item.get("token_ciphertext_b64").and_then(|v| v.as_s().ok()).expect("sealed token");
    let live = m.sandbox.with(|s| s.live_page_tokens(SANDBOX_PAGE_ID));
    assert!(!live.is_empty() && live.iter().all(|t| !sealed.contains(t.as_str())));
    assert!(!status.to_string().contains("EAAP"), "no token in token-status");
}

#[tokio::test]
async fn disconnect_unsubscribes_and_drops_the_pages_and_another_tenant_takes_them_over() {
    let m = MetaTestEnv::new().await;
    connect(&m, 1).await;
    connect(&m, 2).await; // same Meta user: the page stays tenant 1's while it is connected
    async fn owner(m: &MetaTestEnv) -> Option<String> {
        let items = m.env.items_with(&format!("META#PAGE#{SANDBOX_PAGE_ID}"), "OWNER").await;
        items.first().and_then(|i| i.get("tenant_id")).and_then(|v| v.as_n().ok()).cloned()
    }
    assert_eq!(owner(&m).await.as_deref(), Some("1"));
    assert_eq!(disconnect_as_admin(&m.env, 1).await.status(), 200);
    assert!(!m.sandbox.with(|s| s.subscribed_to_leadgen(SANDBOX_PAGE_ID)), "unsubscribed with the page's token");
    assert_eq!(owner(&m).await, None, "the page and its token are gone");
    assert_eq!(m.sandbox.with(|s| s.count_calls(&format!("DELETE /v21.0/{SANDBOX_PAGE_ID}/subscribed_apps"))), 1);
    // Tenant 2's next connect (token check, selection or reconnect) takes the page over and subscribes it again.
    connect(&m, 2).await;
    assert_eq!(owner(&m).await.as_deref(), Some("2"));
    assert!(m.sandbox.with(|s| s.subscribed_to_leadgen(SANDBOX_PAGE_ID)));
    assert_eq!(token_status(&m, 2).await["data"]["lead_ads"]["pages"][0]["subscribed"], true);
}

#[tokio::test]
async fn a_page_edge_refusal_leaves_the_connection_connected_and_the_spend_syncing() {
    let m = MetaTestEnv::new().await;
    connect(&m, 1).await;
    m.env.clock.advance(chrono::Duration::hours(1));
    // Meta kills the page's tokens (code 190 on page edges): the user token is fine.
    m.sandbox.with(|s| s.revoke_page_tokens(SANDBOX_PAGE_ID));
    let t = sync(&m, 1).await;
    assert_eq!(t.outcome, TenantOutcome::Synced, "{t:?}");
    assert!(t.accounts.iter().all(|a| a.error.is_none()), "spend rows still sync: {:?}", t.accounts);
    assert_eq!(t.leads.as_ref().map(|l| (l.pages, l.pages_refused)), Some((1, 1)));
    let status = token_status(&m, 1).await;
    assert_eq!(
        (status["data"]["status"].as_str(), status["needs_reconnect"].as_bool()),
        (Some("connected"), Some(false))
    );
    assert_eq!(status["data"]["lead_ads"]["pages"][0]["problem"], "page_token_invalid");
    // A Leads Access Manager refusal on another run is the page's too.
    connect(&m, 1).await;
    m.sandbox.with(|s| s.no_lead_access.push(SANDBOX_PAGE_ID.into()));
    m.env.clock.advance(chrono::Duration::hours(1));
    assert_eq!(sync(&m, 1).await.outcome, TenantOutcome::Synced);
    let page = token_status(&m, 1).await["data"]["lead_ads"]["pages"][0].clone();
    assert_eq!((page["problem"].as_str(), page["lead_access"].as_bool()), (Some("no_lead_access"), Some(false)));
    // The business gives the app lead access again: the next sweep reads the page and says so.
    m.sandbox.with(|s| s.no_lead_access.clear());
    m.env.clock.advance(chrono::Duration::hours(1));
    assert_eq!(sync(&m, 1).await.outcome, TenantOutcome::Synced);
    let page = token_status(&m, 1).await["data"]["lead_ads"]["pages"][0].clone();
    assert_eq!((page["problem"].clone(), page["lead_access"].as_bool()), (Value::Null, Some(true)));
}

#[tokio::test]
async fn a_week_of_hourly_syncs_keeps_the_connection_connected() {
    // A 2-day spend window keeps 168 runs quick; the lead sweep and every page edge run as usual.
    let m = MetaTestEnv::with_env(&[("META_SYNC_WINDOW_DAYS", "2")]).await;
    connect(&m, 1).await;
    let mut leads = 0;
    for hour in 0..(7 * 24) {
        m.env.clock.advance(chrono::Duration::hours(1));
        m.sandbox.with(|s| s.now = Some(m.env.clock.now().timestamp()));
        if hour % 24 == 5 {
            m.sandbox.with(|s| s.add_lead(SANDBOX_PAGE_ID, None, None, &format!("Day {hour}")));
            leads += 1;
        }
        let t = sync(&m, 1).await;
        assert_eq!(t.outcome, TenantOutcome::Synced, "hour {hour}: {t:?}");
    }
    let status = token_status(&m, 1).await;
    assert_eq!(status["data"]["status"], "connected");
    assert_eq!(status["data"]["lead_ads"]["pages"][0]["problem"], Value::Null);
    assert_eq!(m.env.items_with("T#1", "LEAD#").await.len(), leads, "each swept lead counted once");
    assert_eq!(handoffs(&m).len(), leads, "each handed to the CRM once");
}

#[tokio::test]
async fn webhook_sweep_and_the_crms_own_copy_are_one_lead_one_follow_up_one_hand_off() {
    let m = MetaTestEnv::new().await;
    connect(&m, 1).await;
    enable_lead_followup(&m, 1).await;
    let lead = m.sandbox.with(|s| {
        s.now = Some((t0() + chrono::Duration::minutes(30)).timestamp());
        s.add_lead(SANDBOX_PAGE_ID, None, None, "Ana Gómez")
    });
    m.env.clock.advance(chrono::Duration::hours(1));
    // The webhook, twice (Meta re-delivers), then the sweep reads it back.
    assert_eq!(deliver(&m, &[&lead.id]).await.status(), 200);
    assert_eq!(deliver(&m, &[&lead.id]).await.status(), 200);
    let t = sync(&m, 1).await;
    assert_eq!(t.leads.as_ref().map(|l| (l.listed, l.created, l.already_known)), Some((1, 0, 1)));
    // The CRM's own lead-ads handler created the same person, carrying the leadgen id.
    let crm_copy = crm_event(
        "lead.created",
        1,
        "crm-lead-900",
        "2026-11-24T12:31:00Z",
        "lead",
        json!({"id": "L-900", "created_at": "2026-11-24T12:30:00Z", "source": "META_ADS", "leadgen_id": lead.id}),
    );
    let summary = crm_events::handle_event(&m.env.app, crm_copy).await.expect("applied");
    assert_eq!((summary.applied, summary.stale), (0, 1), "the CRM's copy is an alias, not a second lead");

    let day = m.env.item(1, "AGG#D#2026-11-24").await.expect("day");
    assert_eq!(num(&day, counter::LEADS), 1, "one count");
    let meta_id = format!("meta:{}", lead.id);
    let due = |id: String| {
        let app = m.env.app.clone();
        async move { app.due.due_item(TenantId(1), TriggerKind::LeadFollowup, &id).await.expect("due") }
    };
    let scheduled = due(meta_id.clone()).await.expect("one follow-up");
    assert_eq!(scheduled.due_at, t0() + chrono::Duration::minutes(30) + chrono::Duration::hours(24));
    assert_eq!(due("L-900".into()).await, None, "no second follow-up for the CRM's id");
    let sent = handoffs(&m);
    assert_eq!(sent.len(), 1, "one event to the CRM");
    assert_eq!((sent[0]["leadgen_id"].as_str(), sent[0]["name"].as_str()), (Some(lead.id.as_str()), Some("Ana Gómez")));

    // The seller calls the lead in the CRM (its own id): the Meta lead's follow-up is cancelled.
    let contacted = crm_event(
        "lead.updated",
        1,
        "crm-lead-900-v2",
        "2026-11-24T13:00:00Z",
        "lead",
        json!({"id": "L-900", "version": 2, "status": "contacted"}),
    );
    crm_events::handle_event(&m.env.app, contacted).await.expect("applied");
    assert_eq!(due(meta_id).await, None, "cancelled through the CRM's id");
}

#[tokio::test]
async fn a_crm_lead_first_then_the_webhook_is_still_one_lead() {
    let m = MetaTestEnv::new().await;
    connect(&m, 1).await;
    enable_lead_followup(&m, 1).await;
    let lead = m.sandbox.with(|s| s.add_lead(SANDBOX_PAGE_ID, None, None, "Bea"));
    let crm_first = crm_event(
        "lead.created",
        1,
        "crm-lead-901",
        "2026-11-24T12:00:00Z",
        "lead",
        json!({"id": "L-901", "created_at": "2026-11-24T12:00:00Z", "source": "META_ADS", "leadgen_id": lead.id}),
    );
    assert_eq!(crm_events::handle_event(&m.env.app, crm_first).await.expect("applied").applied, 1);
    let resp = deliver(&m, &[&lead.id]).await;
    assert_eq!(resp.status(), 200, "{:?}", body_json(&resp));
    assert_eq!(body_json(&resp)["data"]["duplicates"], 1);
    assert_eq!(num(&m.env.item(1, "AGG#D#2026-11-24").await.expect("day"), counter::LEADS), 1);
    let due = m.env.app.due.due_item(TenantId(1), TriggerKind::LeadFollowup, "L-901").await.expect("due");
    assert!(due.is_some(), "the CRM's lead keeps its one follow-up");
    let meta_due = m
        .env
        .app
        .due
        .due_item(TenantId(1), TriggerKind::LeadFollowup, &format!("meta:{}", lead.id))
        .await
        .expect("due");
    assert_eq!(meta_due, None);
    assert_eq!(handoffs(&m).len(), 1, "still handed to the CRM once, with the leadgen id to join on");
}
