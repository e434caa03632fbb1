//! The Meta login end to end: our login URL, Sandbox Meta's dialog over real HTTP and our OAuth
//! callback (with the browser's binding cookie) against moto. The login's hardening (cookie
//! binding, single code exchange, time budget, follow-up job) is in `meta_login_hardening`.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use chrono::Duration;
use crm_shared::api::http::body_json;
use crm_shared::domain::ids::TenantId;
use crm_shared::meta::oauth_state::{self, StateClaims, StateKey};
use crm_shared::platform::secrets::SecretString;
use integration_tests::*;
use lambda_http::{Body, Request, Response};
use local_stack::sandbox_meta::{ad_account_id, LONG_LIVED_SECS};
use serde_json::{json, Value};
use url::Url;

pub(crate) type Item = HashMap<String, AttributeValue>;

/// A JWT valid at the env's current (manual) time.
pub(crate) fn jwt_now(env: &TestEnv, tenant: i64, role: &str) -> String {
    jwt_at_clock(env, tenant, role)
}

pub(crate) fn get_as(env: &TestEnv, uri: &str, tenant: i64, role: &str) -> Request {
    request("GET", uri, Some(&jwt_now(env, tenant, role)), Some(ADMIN_TOKEN), None)
}

pub(crate) fn location(resp: &Response<Body>) -> Url {
    assert_eq!(resp.status(), 302, "expected a redirect, got {} {:?}", resp.status(), resp.body());
    let loc = resp.headers().get("location").and_then(|v| v.to_str().ok()).expect("location header");
    Url::parse(loc).expect("absolute location")
}

pub(crate) fn query_of(url: &Url) -> HashMap<String, String> {
    url.query_pairs().into_owned().collect()
}

/// A login a browser started: the dialog URL and the binding cookie `/url` set in that browser.
pub(crate) struct Started {
    pub auth_url: Url,
    pub cookie: String,
}

/// `GET /crm/auth/meta/url` for `tenant` (with the frontend's ignored `state=tenant_x`).
pub(crate) async fn start(env: &TestEnv, tenant: i64) -> Started {
    let uri = format!("/crm/auth/meta/url?state=tenant_{tenant}");
    let resp = meta_auth_url::handle(&env.app, get_as(env, &uri, tenant, "admin")).await;
    assert_eq!(resp.status(), 200, "{:?}", body_json(&resp));
    let auth_url = Url::parse(body_json(&resp)["data"]["auth_url"].as_str().expect("auth_url")).expect("url");
    Started { auth_url, cookie: login_cookie(&resp) }
}

/// The browser at Sandbox Meta's dialog: returns where Meta redirects it (our callback URL).
pub(crate) async fn follow_dialog(auth_url: &Url) -> Url {
    crm_shared::platform::http_client::install_crypto_provider();
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let resp = client.get(auth_url.clone()).send().await.expect("dialog");
    assert_eq!(resp.status().as_u16(), 302, "dialog must redirect");
    let loc = resp.headers().get("location").and_then(|v| v.to_str().ok()).expect("location");
    let url = Url::parse(loc).expect("callback url");
    assert_eq!(url.path(), "/crm/auth/meta/callback");
    url
}

/// A login through the dialog: the callback URL Meta sends the browser to, and its cookie.
pub(crate) struct Login {
    pub cb: Url,
    pub cookie: String,
}

pub(crate) async fn dialog(env: &TestEnv, tenant: i64) -> Login {
    let started = start(env, tenant).await;
    Login { cb: follow_dialog(&started.auth_url).await, cookie: started.cookie }
}

/// Meta's redirect arriving at our callback from the browser holding `cookie`.
pub(crate) async fn callback(env: &TestEnv, callback_url: &Url, cookie: &str) -> Response<Body> {
    let uri = format!("{}?{}", callback_url.path(), callback_url.query().unwrap_or(""));
    meta_auth_callback::handle(
        &env.app.restricted(meta_auth_callback::SECRETS, meta_auth_callback::WIRING),
        callback_request(&uri, Some(cookie)),
    )
    .await
}

pub(crate) fn with_state(callback_url: &Url, state: &str) -> Url {
    let mut u = callback_url.clone();
    let pairs: Vec<(String, String)> = callback_url.query_pairs().into_owned().filter(|(k, _)| k != "state").collect();
    u.set_query(None);
    u.query_pairs_mut().extend_pairs(pairs).append_pair("state", state);
    u
}

pub(crate) fn s(i: &Item, k: &str) -> String {
    i.get(k).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default()
}

pub(crate) async fn connection_items(env: &TestEnv, tenant: i64) -> Vec<Item> {
    env.items_with(&format!("T#{tenant}"), "META#CONN").await
}

pub(crate) async fn index_items(env: &TestEnv) -> Vec<Item> {
    env.items_with("META#CONNECTED", "T#").await
}

pub(crate) async fn token_status(env: &TestEnv, tenant: i64) -> Value {
    body_json(&meta_token_status::handle(&env.app, get_as(env, "/crm/marketing/token-status", tenant, "setter")).await)
}

pub(crate) fn redirect_error(resp: &Response<Body>) -> Option<String> {
    query_of(&location(resp)).get("error").cloned()
}

/// The precise outcome of a refused login: `reason` when the frontend's `error` is the general
/// `auth_failed` (which must then be the `error`), else the `error` itself.
pub(crate) fn redirect_reason(resp: &Response<Body>) -> Option<String> {
    let q = query_of(&location(resp));
    match q.get("reason") {
        Some(reason) => {
            assert_eq!(q.get("error").map(String::as_str), Some("auth_failed"), "a reason comes with auth_failed");
            Some(reason.clone())
        }
        None => q.get("error").cloned(),
    }
}

// ---------------------------------------------------------------------------------- login URL

#[tokio::test]
async fn auth_url_points_at_the_dialog_with_our_own_signed_state() {
    let m = MetaTestEnv::new().await;
    let resp =
        meta_auth_url::handle(&m.env.app, get_as(&m.env, "/crm/auth/meta/url?state=tenant_1", 1, "marketing")).await;
    assert_eq!(resp.status(), 200);
    let body = body_json(&resp);
    assert!(body["data"]["expires_in"].as_i64().is_some_and(|s| s > 0 && s <= 600));
    let url = Url::parse(body["data"]["auth_url"].as_str().expect("auth_url")).expect("url");
    assert_eq!(url.path(), "/v21.0/dialog/oauth");
    let q = query_of(&url);
    assert_eq!(q["client_id"], META_APP_ID);
    assert_eq!(q["redirect_uri"], META_REDIRECT_URI);
    assert_eq!(q["response_type"], "code");
    for scope in ["ads_read", "business_management", "leads_retrieval"] {
        assert!(q["scope"].split(',').any(|s| s == scope), "missing scope {scope}");
    }
    assert_ne!(q["state"], "tenant_1", "the incoming state is ignored");
    assert!(q["state"].len() > 60, "state is unguessable");

    let stored = m.env.items_with("OAUTH#", "OAUTH").await;
    assert_eq!(stored.len(), 1);
    let ttl: i64 = stored[0].get("ttl").and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok()).expect("ttl");
    assert!(ttl > t0().timestamp() && ttl <= t0().timestamp() + 600, "state lives at most 10 minutes");
}

#[tokio::test]
async fn auth_url_needs_a_managing_role() {
    let m = MetaTestEnv::new().await;
    let resp = meta_auth_url::handle(&m.env.app, get_as(&m.env, "/crm/auth/meta/url", 1, "setter")).await;
    assert_eq!(resp.status(), 403);
    assert!(m.env.items_with("OAUTH#", "OAUTH").await.is_empty());
}

// ----------------------------------------------------------------------------------- callback

#[tokio::test]
async fn full_connect_flow_stores_an_encrypted_token_and_indexes_the_tenant() {
    let m = MetaTestEnv::new().await;
    let login = dialog(&m.env, 1).await;
    let cb = login.cb.clone();
    let resp = callback(&m.env, &cb, &login.cookie).await;
    let to = location(&resp);
    assert_eq!(to.as_str(), "http://localhost:5173/crm/marketing?success=connected");
    assert!(resp.body().as_ref().is_empty(), "a redirect, never a JSON page");

    // The token is stored as KMS ciphertext bound to the tenant.
    let tokens = m.sandbox.with(|s| s.long_lived_tokens());
    assert_eq!(tokens.len(), 1);
    let items = connection_items(&m.env, 1).await;
    assert_eq!(items.len(), 1);
    let dump = format!("{:?}", m.env.all_items().await);
    assert!(!dump.contains(&tokens[0]), "the token is never stored in clear");
    let code = query_of(&cb)["code"].clone();
    assert!(!dump.contains(&code), "the code is never stored");
    let ct = base64::engine::general_purpose::STANDARD.decode(s(&items[0], "token_ciphertext_b64")).expect("base64");
    assert_eq!(m.env.app.cipher.decrypt(TenantId(1), &ct).await.expect("decrypts").expose(), tokens[0]);
    assert!(m.env.app.cipher.decrypt(TenantId(2), &ct).await.is_err(), "another tenant's context must not decrypt it");

    // Expiry and scopes from debug_token; tenant in the connected index; state consumed.
    let status = token_status(&m.env, 1).await;
    assert_eq!(status["data"]["status"], "connected");
    assert_eq!(status["days_left"], LONG_LIVED_SECS / 86_400);
    assert!(status["data"]["data_access_expires_at"].is_string());
    assert!(status["data"]["scopes"].as_array().is_some_and(|s| s.contains(&json!("ads_read"))));
    assert_eq!(index_items(&m.env).await.iter().map(|i| s(i, "SK")).collect::<Vec<_>>(), vec!["T#1"]);
    assert!(m.env.items_with("OAUTH#", "OAUTH").await.is_empty());

    // Short-lived exchange, long-lived exchange (POST forms) and debug_token each happened once.
    assert_eq!(m.sandbox.with(|s| s.count_calls("POST /v21.0/oauth/access_token")), 2);
    assert_eq!(m.sandbox.with(|s| s.count_calls("/debug_token")), 1);
    // The callback is audited under the tenant and user its state proved.
    let audit = m.env.items_with("T#1", "AUDIT#").await;
    let cb_audit = audit.iter().find(|i| s(i, "action") == "meta-auth-callback").expect("callback audited");
    assert_eq!((s(cb_audit, "user_id"), s(cb_audit, "outcome")), ("user-1".to_string(), "success".to_string()));
}

#[tokio::test]
async fn rejects_reused_oauth_state() {
    let m = MetaTestEnv::new().await;
    let login = dialog(&m.env, 1).await;
    let cb = login.cb.clone();
    assert_eq!(redirect_error(&callback(&m.env, &cb, &login.cookie).await), None);
    let before = m.env.all_items().await.len();
    let exchanges = m.sandbox.with(|s| s.count_calls("/oauth/access_token"));

    let replay = callback(&m.env, &cb, &login.cookie).await;
    assert_eq!(redirect_error(&replay).as_deref(), Some("invalid_state"));
    assert_eq!(m.sandbox.with(|s| s.count_calls("/oauth/access_token")), exchanges, "no exchange on a reused state");
    // Only the audit record of the replay was added.
    assert_eq!(m.env.all_items().await.len(), before + 1);
}

#[tokio::test]
async fn rejects_expired_oauth_state() {
    let m = MetaTestEnv::new().await;
    let login = dialog(&m.env, 1).await;
    let cb = login.cb.clone();
    m.env.clock.advance(Duration::minutes(11));
    assert_eq!(redirect_error(&callback(&m.env, &cb, &login.cookie).await).as_deref(), Some("invalid_state"));
    assert!(connection_items(&m.env, 1).await.is_empty());
    assert!(index_items(&m.env).await.is_empty());
    assert_eq!(m.sandbox.with(|s| s.count_calls("/oauth/access_token")), 0);
}

#[tokio::test]
async fn rejects_forged_oauth_state() {
    let m = MetaTestEnv::new().await;
    let login = dialog(&m.env, 1).await;
    let cb = login.cb.clone();
    let real = query_of(&cb)["state"].clone();
    let mut tampered = real.clone();
    tampered.pop();
    tampered.push(if real.ends_with('A') { 'B' } else { 'A' });
    for forged in ["tenant_1", "", tampered.as_str()] {
        let resp = callback(&m.env, &with_state(&cb, forged), &login.cookie).await;
        assert_eq!(redirect_error(&resp).as_deref(), Some("invalid_state"), "{forged:?}");
    }
    // A state signed with another key (a guessed app secret) is refused too.
    let (other, _) = oauth_state::issue(&StateKey::derive(&SecretString::new("guess")), TenantId(1), "user-1", t0());
    assert_eq!(
        redirect_error(&callback(&m.env, &with_state(&cb, &other), &login.cookie).await).as_deref(),
        Some("invalid_state")
    );
    assert!(connection_items(&m.env, 1).await.is_empty());
    assert!(index_items(&m.env).await.is_empty());
    assert_eq!(m.sandbox.with(|s| s.count_calls("/oauth/access_token")), 0);
    // The real state was not burnt by the forgeries.
    assert_eq!(redirect_error(&callback(&m.env, &cb, &login.cookie).await), None);
}

#[tokio::test]
async fn rejects_state_bound_to_another_tenant() {
    let m = MetaTestEnv::new().await;
    let login = dialog(&m.env, 1).await;
    let cb = login.cb.clone();
    let real = query_of(&cb)["state"].clone();
    // Rewriting the tenant breaks the signature.
    let mut parts: Vec<String> = real.split('.').map(String::from).collect();
    parts[1] = "2".into();
    assert_eq!(
        redirect_error(&callback(&m.env, &with_state(&cb, &parts.join(".")), &login.cookie).await).as_deref(),
        Some("invalid_state")
    );
    // Even a correctly signed state for tenant 2 cannot use tenant 1's stored nonce.
    let key = StateKey::derive(&SecretString::new(META_APP_SECRET));
    let claims = oauth_state::verify(&key, &real, t0()).expect("real state verifies");
    let for_tenant_2 = oauth_state::sign(&key, &StateClaims { tenant_id: TenantId(2), ..claims });
    assert_eq!(
        redirect_error(&callback(&m.env, &with_state(&cb, &for_tenant_2), &login.cookie).await).as_deref(),
        Some("invalid_state")
    );
    assert!(connection_items(&m.env, 2).await.is_empty());
    assert!(connection_items(&m.env, 1).await.is_empty());
    assert_eq!(m.env.items_with("OAUTH#", "OAUTH").await.len(), 1, "tenant 1's state is still unused");
}

#[tokio::test]
async fn declined_login_redirects_with_access_denied_and_writes_nothing() {
    let m = MetaTestEnv::new().await;
    m.sandbox.with(|s| s.decline_next_dialog = 1);
    let login = dialog(&m.env, 1).await;
    let cb = login.cb.clone();
    assert_eq!(query_of(&cb).get("error_reason").map(String::as_str), Some("user_denied"));
    assert_eq!(redirect_error(&callback(&m.env, &cb, &login.cookie).await).as_deref(), Some("access_denied"));
    assert!(connection_items(&m.env, 1).await.is_empty());
    assert!(index_items(&m.env).await.is_empty());
    assert!(m.env.items_with("OAUTH#", "OAUTH").await.is_empty(), "the declined state cannot be replayed");
}

#[tokio::test]
async fn failed_code_exchange_redirects_with_token_exchange_failed() {
    let m = MetaTestEnv::new().await;
    m.sandbox.with(|s| s.fail_exchange_next = 1);
    let login = dialog(&m.env, 1).await;
    let cb = login.cb.clone();
    assert_eq!(redirect_error(&callback(&m.env, &cb, &login.cookie).await).as_deref(), Some("token_exchange_failed"));
    assert!(connection_items(&m.env, 1).await.is_empty());
    assert!(index_items(&m.env).await.is_empty());
    let audit = m.env.items_with("T#1", "AUDIT#").await;
    let failed = audit.iter().find(|i| s(i, "action") == "meta-auth-callback").expect("callback audited");
    assert_eq!(
        (s(failed, "outcome"), s(failed, "error_code")),
        ("failed".to_string(), "token_exchange_failed".to_string())
    );
}

#[tokio::test]
async fn two_concurrent_callbacks_with_one_state_connect_once() {
    let m = MetaTestEnv::new().await;
    let login = dialog(&m.env, 1).await;
    let cb = login.cb.clone();
    let (a, b) = tokio::join!(callback(&m.env, &cb, &login.cookie), callback(&m.env, &cb, &login.cookie));
    let mut outcomes = vec![redirect_error(&a), redirect_error(&b)];
    outcomes.sort();
    assert_eq!(outcomes, vec![None, Some("invalid_state".to_string())]);
    assert_eq!(m.sandbox.with(|s| s.long_lived_tokens()).len(), 1, "the code was exchanged once");
}

#[tokio::test]
async fn callback_without_code_or_state_still_redirects() {
    let m = MetaTestEnv::new().await;
    let resp = meta_auth_callback::handle(
        &m.env.app.restricted(meta_auth_callback::SECRETS, meta_auth_callback::WIRING),
        request("GET", "/crm/auth/meta/callback", None, None, None),
    )
    .await;
    assert_eq!(redirect_error(&resp).as_deref(), Some("invalid_state"));
    let login = dialog(&m.env, 1).await;
    let cb = login.cb.clone();
    let state = query_of(&cb)["state"].clone();
    let no_code = format!(
        "/crm/auth/meta/callback?state={}",
        url::form_urlencoded::byte_serialize(state.as_bytes()).collect::<String>()
    );
    let resp = meta_auth_callback::handle(
        &m.env.app.restricted(meta_auth_callback::SECRETS, meta_auth_callback::WIRING),
        callback_request(&no_code, Some(&login.cookie)),
    )
    .await;
    assert_eq!(redirect_error(&resp).as_deref(), Some("auth_failed"));
}

// --------------------------------------------------------------------------- local stack, events

#[tokio::test]
async fn local_stack_serves_the_connect_flow_at_the_real_routes() {
    let m = MetaTestEnv::new().await;
    let api = local_stack::server::LocalApi::new(m.env.app.clone());
    let resp = api.dispatch(get_as(&m.env, "/crm/auth/meta/url", 1, "admin")).await;
    assert_eq!(resp.status(), 200);
    let cookie = login_cookie(&resp);
    let auth = Url::parse(body_json(&resp)["data"]["auth_url"].as_str().expect("url")).expect("url");
    let cb = follow_dialog(&auth).await;
    let uri = format!("{}?{}", cb.path(), cb.query().unwrap_or(""));
    let resp = api.dispatch(callback_request(&uri, Some(&cookie))).await;
    assert_eq!(query_of(&location(&resp)).get("success").map(String::as_str), Some("connected"));
}

#[tokio::test]
async fn sample_api_gateway_events_drive_callback_and_connect() {
    let m = MetaTestEnv::new().await;
    let login = dialog(&m.env, 1).await;
    let q = query_of(&login.cb);
    let mut event = sample_event("apigw-meta-auth-callback.json");
    event["rawQueryString"] = json!(login.cb.query().unwrap_or(""));
    event["queryStringParameters"] = json!({"code": q["code"], "state": q["state"]});
    // API Gateway (v2) hands the browser's cookies over as `cookies`.
    event["cookies"] = json!([login.cookie]);
    let req = lambda_http::request::from_str(&event.to_string()).expect("API Gateway v2 event");
    let resp =
        meta_auth_callback::handle(&m.env.app.restricted(meta_auth_callback::SECRETS, meta_auth_callback::WIRING), req)
            .await;
    assert_eq!(query_of(&location(&resp)).get("success").map(String::as_str), Some("connected"));

    let mut event = sample_event("apigw-meta-connect.json");
    event["cookies"] = json!([format!("access_token={}", jwt_now(&m.env, 1, "ceo"))]);
    event["headers"]["x-admin-token"] = json!(ADMIN_TOKEN);
    event["body"] =
        json!(json!({"account_id": ad_account_id(2, true, 1), "account_name": "Cuenta principal"}).to_string());
    let req = lambda_http::request::from_str(&event.to_string()).expect("API Gateway v2 event");
    let resp = meta_connect::handle(&m.env.app, req).await;
    assert_eq!(resp.status(), 200, "{:?}", body_json(&resp));
    assert_eq!(resp.headers()["access-control-allow-origin"], "http://localhost:5173");
    assert_eq!(token_status(&m.env, 1).await["data"]["ad_account_ids"], json!([ad_account_id(2, true, 1)]));
}
