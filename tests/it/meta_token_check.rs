//! The live check of the stored Meta token end to end: `GET /crm/auth/meta/debug/token` and
//! `/test-connection` against moto (connection, KMS) and Sandbox Meta over real HTTP — Meta's
//! facts, 409 without a connection, a token Meta calls invalid marked expired (never over a newer
//! login), peers throttled or down, tenants and roles, and the token in no body and no log line.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use crm_shared::api::http::body_json;
use crm_shared::domain::ids::TenantId;
use crm_shared::meta::access::stored_token;
use crm_shared::meta::graph::appsecret_proof;
use crm_shared::meta::token_check::check_connection;
use crm_shared::platform::error::ApiError;
use crm_shared::platform::secrets::SecretString;
use crm_shared::store::{ConnectionStatus, MetaConnection};
use integration_tests::*;
use lambda_http::{Body, Response};
use local_stack::sandbox_meta::{ad_account_id, DATA_ACCESS_SECS, LONG_LIVED_SECS, SANDBOX_USER_ID};
use serde_json::{json, Value};

use crate::meta_login::{get_as, jwt_now, token_status};

const DEBUG: &str = "/crm/auth/meta/debug/token";
const TEST: &str = "/crm/auth/meta/test-connection";

async fn debug_token(env: &TestEnv, tenant: i64, role: &str) -> Response<Body> {
    meta_debug_token::handle(&env.app, get_as(env, DEBUG, tenant, role)).await
}

async fn test_connection(env: &TestEnv, tenant: i64, role: &str) -> Response<Body> {
    meta_test_connection::handle(&env.app, get_as(env, TEST, tenant, role)).await
}

/// `data` of a 200.
fn data(resp: &Response<Body>) -> Value {
    let body = body_json(resp);
    assert_eq!(resp.status(), 200, "{body}");
    body["data"].clone()
}

fn error_code(resp: &Response<Body>) -> (u16, Value) {
    (resp.status().as_u16(), body_json(resp)["error"]["code"].clone())
}

fn at(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("a date: {v}"))).expect("rfc3339").to_utc()
}

async fn live(env: &TestEnv, tenant: i64) -> MetaConnection {
    env.app.connections.get_connection(TenantId(tenant)).await.expect("read").expect("connected")
}

/// The token the tenant's connection holds (decrypted as the product does).
async fn token_of(env: &TestEnv, tenant: i64) -> SecretString {
    stored_token((&env.app).into(), &live(env, tenant).await).await.expect("decrypt")
}

/// Connects `tenant` and selects the sandbox's first owned account of business 1.
async fn connect_with_account(m: &MetaTestEnv, tenant: i64) -> String {
    oauth_connect(&m.env, tenant).await;
    let act = ad_account_id(1, true, 1);
    let req = request(
        "POST",
        "/crm/marketing/connect",
        Some(&jwt_now(&m.env, tenant, "ceo")),
        Some(ADMIN_TOKEN),
        Some(json!({"account_id": act})),
    );
    let resp = meta_connect::handle(&m.env.app, req).await;
    assert_eq!(resp.status(), 200, "{}", body_json(&resp));
    act
}

// ---------------------------------------------------------------------------- what Meta says

#[tokio::test]
async fn debug_token_reports_what_meta_says_of_the_stored_token() {
    let m = MetaTestEnv::new().await;
    oauth_connect(&m.env, 1).await;
    let before = live(&m.env, 1).await;
    let d = data(&debug_token(&m.env, 1, "marketing").await);
    assert_eq!((d["valid"].clone(), d["app_id_matches"].clone()), (json!(true), json!(true)));
    assert_eq!((d["status"].clone(), d["needs_reconnect"].clone()), (json!("connected"), json!(false)));
    assert_eq!((d["app_id"].clone(), d["meta_user_id"].clone()), (json!(META_APP_ID), json!(SANDBOX_USER_ID)));
    // What the sandbox user granted, written out (not the product's list, which it is checked against).
    let granted: Vec<&str> = "ads_read business_management leads_retrieval pages_show_list \
        pages_read_engagement pages_manage_metadata pages_manage_ads ads_management"
        .split_whitespace()
        .collect();
    assert_eq!(d["scopes"], json!(granted));
    assert_eq!(d["missing_scopes"], json!([]));
    assert_eq!(at(&d["expires_at"]), t0() + Duration::seconds(LONG_LIVED_SECS));
    assert_eq!(at(&d["data_access_expires_at"]), t0() + Duration::seconds(DATA_ACCESS_SECS));
    assert_eq!((d["marked_expired"].clone(), at(&d["checked_at"])), (json!(false), t0()));
    assert_eq!(m.sandbox.with(|s| s.count_calls("/debug_token")), 2, "the login's, then this check's");
    assert_eq!(live(&m.env, 1).await, before, "Meta said what is stored: nothing written");
}

#[tokio::test]
async fn a_check_stores_the_data_access_expiry_meta_moved() {
    let m = MetaTestEnv::new().await;
    oauth_connect(&m.env, 1).await;
    // Two days later the user has been active: Meta's data-access deadline moved with them.
    m.env.clock.advance(Duration::days(2));
    m.sandbox.with(|s| s.now = Some((t0() + Duration::days(2)).timestamp()));
    let moved = t0() + Duration::days(2) + Duration::seconds(DATA_ACCESS_SECS);
    let d = data(&debug_token(&m.env, 1, "admin").await);
    assert_eq!(at(&d["data_access_expires_at"]), moved);
    let status = token_status(&m.env, 1).await;
    assert_eq!(at(&status["data"]["data_access_expires_at"]), moved, "token-status shows what Meta said");
    assert_eq!(at(&status["data"]["expires_at"]), t0() + Duration::seconds(LONG_LIVED_SECS), "expiry unchanged");
}

#[tokio::test]
async fn test_connection_reads_the_primary_ad_account_once_one_is_selected() {
    let m = MetaTestEnv::new().await;
    oauth_connect(&m.env, 1).await;
    let d = data(&test_connection(&m.env, 1, "setter").await);
    assert_eq!((d["connected"].clone(), d["valid"].clone()), (json!(true), json!(true)));
    assert_eq!((d["ad_account_id"].clone(), d["ad_account_reachable"].clone()), (Value::Null, Value::Null));
    assert!(d["message"].as_str().is_some_and(|t| t.contains("no ad account is selected")), "{d}");

    let act = connect_with_account(&m, 1).await;
    let reads = m.sandbox.with(|s| s.count_calls(&format!("/{act}")));
    let d = data(&test_connection(&m.env, 1, "closer").await);
    assert_eq!((d["ad_account_id"].clone(), d["ad_account_reachable"].clone()), (json!(act), json!(true)));
    assert_eq!(at(&d["expires_at"]), t0() + Duration::seconds(LONG_LIVED_SECS));
    assert_eq!(m.sandbox.with(|s| s.count_calls(&format!("/{act}"))), reads + 1, "one read of the account");

    // The user lost access to the account: still connected, the account not reachable.
    m.sandbox.with(|s| s.hidden_accounts.push(act.clone()));
    let d = data(&test_connection(&m.env, 1, "ceo").await);
    assert_eq!((d["valid"].clone(), d["ad_account_reachable"].clone()), (json!(true), json!(false)));
    assert!(d["message"].as_str().is_some_and(|t| t.contains("not reachable")), "{d}");
    assert_eq!(token_status(&m.env, 1).await["data"]["status"], "connected");
}

// ------------------------------------------------------------------------------ no connection

#[tokio::test]
async fn without_a_connection_both_answer_409_without_asking_meta() {
    let m = MetaTestEnv::new().await;
    for resp in [debug_token(&m.env, 1, "ceo").await, test_connection(&m.env, 1, "setter").await] {
        assert_eq!(error_code(&resp), (409, json!("meta_not_connected")));
        assert!(body_json(&resp)["detail"].as_str().is_some_and(|d| d.contains("connect")));
    }
    // After a disconnect (only a tombstone is left): the same.
    oauth_connect(&m.env, 1).await;
    let req = request(
        "POST",
        "/crm/auth/meta/disconnect",
        Some(&jwt_now(&m.env, 1, "ceo")),
        Some(ADMIN_TOKEN),
        Some(json!({})),
    );
    assert_eq!(meta_auth_disconnect::handle(&m.env.app, req).await.status(), 200);
    let calls = m.sandbox.with(|s| s.count_calls("/debug_token"));
    assert_eq!(error_code(&debug_token(&m.env, 1, "admin").await), (409, json!("meta_not_connected")));
    assert_eq!(error_code(&test_connection(&m.env, 1, "admin").await), (409, json!("meta_not_connected")));
    assert_eq!(m.sandbox.with(|s| s.count_calls("/debug_token")), calls);
}

// ------------------------------------------------------------------------ token Meta rejects

#[tokio::test]
async fn a_token_meta_calls_invalid_is_reported_and_marked_expired() {
    let m = MetaTestEnv::new().await;
    connect_with_account(&m, 1).await;
    let token = token_of(&m.env, 1).await;
    m.sandbox.with(|s| s.revoke_token(token.expose()));

    let d = data(&debug_token(&m.env, 1, "ceo").await);
    assert_eq!((d["valid"].clone(), d["marked_expired"].clone()), (json!(false), json!(true)));
    assert_eq!((d["status"].clone(), d["needs_reconnect"].clone()), (json!("expired"), json!(true)));
    assert_eq!(live(&m.env, 1).await.status, ConnectionStatus::Invalid);
    let status = token_status(&m.env, 1).await;
    assert_eq!((status["data"]["status"].clone(), status["needs_reconnect"].clone()), (json!("expired"), json!(true)));

    // Checked again: still invalid, marked already; the account is not read with a dead token.
    let account_reads = m.sandbox.with(|s| s.count_calls(&format!("/{}", ad_account_id(1, true, 1))));
    let d = data(&test_connection(&m.env, 1, "setter").await);
    assert_eq!((d["connected"].clone(), d["valid"].clone()), (json!(false), json!(false)));
    assert_eq!(d["ad_account_reachable"], Value::Null);
    assert!(d["message"].as_str().is_some_and(|t| t.contains("reconnect")), "{d}");
    assert_eq!(m.sandbox.with(|s| s.count_calls(&format!("/{}", ad_account_id(1, true, 1)))), account_reads);
    let again = data(&debug_token(&m.env, 1, "ceo").await);
    assert_eq!((again["valid"].clone(), again["marked_expired"].clone()), (json!(false), json!(false)));
}

#[tokio::test]
async fn a_rejection_of_every_token_is_seen_by_the_connection_test_too() {
    let m = MetaTestEnv::new().await;
    connect_with_account(&m, 1).await;
    m.sandbox.with(|s| s.reject_tokens = true);
    let d = data(&test_connection(&m.env, 1, "setter").await);
    assert_eq!(
        (d["connected"].clone(), d["valid"].clone(), d["status"].clone()),
        (json!(false), json!(false), json!("expired"))
    );
    assert_eq!(token_status(&m.env, 1).await["data"]["status"], "expired");
    // The other Meta routes now say reconnect without calling Meta.
    let resp = meta_portfolios::handle(&m.env.app, get_as(&m.env, "/crm/marketing/meta-portfolios", 1, "ceo")).await;
    assert_eq!(error_code(&resp), (409, json!("meta_token_expired")));
}

#[tokio::test]
async fn a_newer_login_during_the_check_is_never_marked_expired() {
    let m = MetaTestEnv::new().await;
    oauth_connect(&m.env, 1).await;
    let old = live(&m.env, 1).await;
    let old_token = token_of(&m.env, 1).await;
    // The check read token A; Meta has revoked it; the user logs in again (token B) before the
    // check records Meta's answer about A.
    m.sandbox.with(|s| s.revoke_token(old_token.expose()));
    oauth_connect(&m.env, 1).await;
    let new = live(&m.env, 1).await;
    assert_ne!(new.token_ciphertext_b64, old.token_ciphertext_b64);
    let err = check_connection((&m.env.app).into(), &old, t0()).await.err().expect("the login changed meanwhile");
    let api = ApiError::from(err);
    assert_eq!((api.status().as_u16(), api.code()), (409, "meta_connection_changed"));
    assert_eq!(live(&m.env, 1).await, new, "the newer login is untouched");
    assert_eq!(token_status(&m.env, 1).await["data"]["status"], "connected");
    // Checked now, it is the new login's token Meta is asked about: valid.
    assert_eq!(data(&debug_token(&m.env, 1, "admin").await)["valid"], true);
}

// ----------------------------------------------------------------------- Meta throttled, down

#[tokio::test]
async fn meta_throttled_or_down_is_a_503_that_marks_nothing() {
    let m = MetaTestEnv::new().await;
    connect_with_account(&m, 1).await;
    let before = live(&m.env, 1).await;
    m.sandbox.with(|s| s.throttle_next = 100);
    for resp in [debug_token(&m.env, 1, "ceo").await, test_connection(&m.env, 1, "ceo").await] {
        assert_eq!(error_code(&resp), (503, json!("meta_throttled")));
        assert!(resp.headers().get("retry-after").is_some(), "Retry-After");
    }
    m.sandbox.with(|s| {
        s.throttle_next = 0;
        s.transient_next = 100;
    });
    for resp in [debug_token(&m.env, 1, "ceo").await, test_connection(&m.env, 1, "ceo").await] {
        assert_eq!(error_code(&resp), (503, json!("meta_unavailable")));
    }
    assert_eq!(live(&m.env, 1).await, before, "nothing marked or refreshed");
    assert_eq!(token_status(&m.env, 1).await["data"]["status"], "connected");
}

// ---------------------------------------------------------------------------- tenants, roles

#[tokio::test]
async fn another_tenant_or_a_seller_gets_nothing_of_the_connection() {
    let m = MetaTestEnv::new().await;
    oauth_connect(&m.env, 1).await;
    let calls = m.sandbox.with(|s| s.count_calls("/debug_token"));
    // Tenant 2 (the X-Tenant-ID header says nothing): its own, missing connection.
    for role in ["ceo", "admin"] {
        assert_eq!(error_code(&debug_token(&m.env, 2, role).await), (409, json!("meta_not_connected")));
        assert_eq!(error_code(&test_connection(&m.env, 2, role).await), (409, json!("meta_not_connected")));
    }
    // Reading is for every CRM role (FRONTEND-CONTRACT), both routes.
    for role in ["setter", "closer", "secretary", "professional"] {
        assert_eq!(data(&debug_token(&m.env, 1, role).await)["valid"], true, "{role}");
        assert_eq!(data(&test_connection(&m.env, 1, role).await)["valid"], true, "{role}");
    }
    // No admin token, or no JWT: refused before anything is read.
    let no_admin = request("GET", DEBUG, Some(&jwt_now(&m.env, 1, "ceo")), None, None);
    assert_eq!(meta_debug_token::handle(&m.env.app, no_admin).await.status(), 401);
    let no_jwt = request("GET", TEST, None, Some(ADMIN_TOKEN), None);
    assert_eq!(meta_test_connection::handle(&m.env.app, no_jwt).await.status(), 401);
    assert_eq!(m.sandbox.with(|s| s.count_calls("/debug_token")), calls + 8, "one check per allowed call");
}

// -------------------------------------------------------------------- the token stays hidden

/// Log lines written while it is the thread's subscriber (the tests run on one thread).
#[derive(Clone, Default)]
pub(crate) struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Every log line of this thread from now on (JSON, DEBUG and up) until the guard drops.
pub fn capture_logs() -> (Logs, tracing::subscriber::DefaultGuard) {
    let logs = Logs::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::DEBUG)
        .with_current_span(true)
        .with_writer(logs.clone())
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    // Callsites first hit by a parallel test (no subscriber there) may have cached "never":
    // re-evaluate them now that this thread has one.
    tracing::callsite::rebuild_interest_cache();
    (logs, guard)
}

#[tokio::test]
async fn neither_a_body_nor_a_log_line_carries_the_token_or_its_proof() {
    let m = MetaTestEnv::new().await;
    connect_with_account(&m, 1).await;
    let token = token_of(&m.env, 1).await;
    assert!(m.sandbox.with(|s| s.long_lived_tokens()).contains(&token.expose().to_string()), "the sandbox's token");
    let proof = appsecret_proof(&SecretString::new(META_APP_SECRET), &token);
    let (logs, _capture) = capture_logs();

    let seen = |resp: Response<Body>| (resp.status().as_u16(), body_json(&resp));
    let mut bodies = vec![seen(debug_token(&m.env, 1, "ceo").await), seen(test_connection(&m.env, 1, "ceo").await)];
    // Meta throttling, then the token revoked (both marked and already-marked answers).
    m.sandbox.with(|s| s.throttle_next = 100);
    bodies.push(seen(test_connection(&m.env, 1, "admin").await));
    m.sandbox.with(|s| {
        s.throttle_next = 0;
        s.revoke_token(token.expose());
    });
    bodies.push(seen(debug_token(&m.env, 1, "admin").await));
    bodies.push(seen(test_connection(&m.env, 1, "admin").await));

    assert_eq!(bodies.iter().map(|(s, _)| *s).collect::<Vec<_>>(), vec![200, 200, 503, 200, 200]);
    let logged = logs.text();
    assert!(logged.contains("Meta token checked"), "the checks were logged: {logged}");
    assert!(logged.contains("marked expired"), "the mark was logged");
    for (status, body) in &bodies {
        let text = body.to_string();
        assert!(!text.contains(token.expose()), "{status}: the token in a body: {text}");
        assert!(!text.contains(&proof), "{status}: the appsecret_proof in a body");
    }
    assert!(!logged.contains(token.expose()), "the token in a log line");
    assert!(!logged.contains(&proof), "the appsecret_proof in a log line");
}
