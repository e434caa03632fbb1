//! Meta connection end to end: the handlers against moto (AWS) and Sandbox Meta over real HTTP.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use chrono::Duration;
use crm_shared::api::http::body_json;
use crm_shared::domain::ids::TenantId;
use crm_shared::domain::zone::Zone;
use crm_shared::meta::oauth_state::{self, StateClaims, StateKey};
use crm_shared::platform::clock::Clock;
use crm_shared::platform::secrets::SecretString;
use crm_shared::store::{ConnectionStatus, TenantProfile};
use crm_shared::App;
use integration_tests::*;
use lambda_http::{Body, Request, Response};
use local_stack::sandbox_meta::{ad_account_id, business_id, LONG_LIVED_SECS};
use serde_json::{json, Value};
use url::Url;

type Item = HashMap<String, AttributeValue>;

/// A JWT valid at the env's current (manual) time.
fn jwt_now(env: &TestEnv, tenant: i64, role: &str) -> String {
    crm_shared::platform::auth::sign_hs256(
        &json!({"user_id": "user-1", "email": "u@x.io", "role": role, "tenant_id": tenant, "exp": env.clock.now().timestamp() + 600}),
        JWT_KEY.as_bytes(),
    )
}

fn get_as(env: &TestEnv, uri: &str, tenant: i64, role: &str) -> Request {
    request("GET", uri, Some(&jwt_now(env, tenant, role)), Some(ADMIN_TOKEN), None)
}

fn post_as(env: &TestEnv, uri: &str, tenant: i64, role: &str, body: Value) -> Request {
    request("POST", uri, Some(&jwt_now(env, tenant, role)), Some(ADMIN_TOKEN), Some(body))
}

fn location(resp: &Response<Body>) -> Url {
    assert_eq!(resp.status(), 302, "expected a redirect, got {} {:?}", resp.status(), resp.body());
    let loc = resp.headers().get("location").and_then(|v| v.to_str().ok()).expect("location header");
    Url::parse(loc).expect("absolute location")
}

fn query_of(url: &Url) -> HashMap<String, String> {
    url.query_pairs().into_owned().collect()
}

/// `GET /crm/auth/meta/url` for `tenant` (with the frontend's ignored `state=tenant_x`).
async fn auth_url(env: &TestEnv, tenant: i64) -> Url {
    let uri = format!("/crm/auth/meta/url?state=tenant_{tenant}");
    let resp = meta_auth_url::handle(&env.app, get_as(env, &uri, tenant, "admin")).await;
    assert_eq!(resp.status(), 200, "{:?}", body_json(&resp));
    Url::parse(body_json(&resp)["data"]["auth_url"].as_str().expect("auth_url")).expect("url")
}

/// The browser at Sandbox Meta's dialog: returns where Meta redirects it (our callback URL).
async fn follow_dialog(auth_url: &Url) -> Url {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let resp = client.get(auth_url.clone()).send().await.expect("dialog");
    assert_eq!(resp.status().as_u16(), 302, "dialog must redirect");
    let loc = resp.headers().get("location").and_then(|v| v.to_str().ok()).expect("location");
    let url = Url::parse(loc).expect("callback url");
    assert_eq!(url.path(), "/crm/auth/meta/callback");
    url
}

/// Meta's redirect arriving at our callback (no JWT, no admin token: it is the browser).
async fn callback(env: &TestEnv, callback_url: &Url) -> Response<Body> {
    let uri = format!("{}?{}", callback_url.path(), callback_url.query().unwrap_or(""));
    meta_auth_callback::handle(&env.app.restricted(meta_auth_callback::SECRETS), request("GET", &uri, None, None, None))
        .await
}

fn with_state(callback_url: &Url, state: &str) -> Url {
    let mut u = callback_url.clone();
    let pairs: Vec<(String, String)> = callback_url.query_pairs().into_owned().filter(|(k, _)| k != "state").collect();
    u.set_query(None);
    u.query_pairs_mut().extend_pairs(pairs).append_pair("state", state);
    u
}

/// The whole connect flow; asserts it lands on `?success=connected`.
async fn connect(m: &MetaTestEnv, tenant: i64) {
    let cb = follow_dialog(&auth_url(&m.env, tenant).await).await;
    let to = location(&callback(&m.env, &cb).await);
    assert_eq!(query_of(&to).get("success").map(String::as_str), Some("connected"), "{to}");
}

fn s(i: &Item, k: &str) -> String {
    i.get(k).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default()
}

async fn connection_items(env: &TestEnv, tenant: i64) -> Vec<Item> {
    env.items_with(&format!("T#{tenant}"), "META#CONN").await
}

async fn index_items(env: &TestEnv) -> Vec<Item> {
    env.items_with("META#CONNECTED", "T#").await
}

async fn token_status(env: &TestEnv, tenant: i64) -> Value {
    body_json(&meta_token_status::handle(&env.app, get_as(env, "/crm/marketing/token-status", tenant, "setter")).await)
}

fn redirect_error(resp: &Response<Body>) -> Option<String> {
    query_of(&location(resp)).get("error").cloned()
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
    let cb = follow_dialog(&auth_url(&m.env, 1).await).await;
    let resp = callback(&m.env, &cb).await;
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
    let cb = follow_dialog(&auth_url(&m.env, 1).await).await;
    assert_eq!(redirect_error(&callback(&m.env, &cb).await), None);
    let before = m.env.all_items().await.len();
    let exchanges = m.sandbox.with(|s| s.count_calls("/oauth/access_token"));

    let replay = callback(&m.env, &cb).await;
    assert_eq!(redirect_error(&replay).as_deref(), Some("invalid_state"));
    assert_eq!(m.sandbox.with(|s| s.count_calls("/oauth/access_token")), exchanges, "no exchange on a reused state");
    // Only the audit record of the replay was added.
    assert_eq!(m.env.all_items().await.len(), before + 1);
}

#[tokio::test]
async fn rejects_expired_oauth_state() {
    let m = MetaTestEnv::new().await;
    let cb = follow_dialog(&auth_url(&m.env, 1).await).await;
    m.env.clock.advance(Duration::minutes(11));
    assert_eq!(redirect_error(&callback(&m.env, &cb).await).as_deref(), Some("invalid_state"));
    assert!(connection_items(&m.env, 1).await.is_empty());
    assert!(index_items(&m.env).await.is_empty());
    assert_eq!(m.sandbox.with(|s| s.count_calls("/oauth/access_token")), 0);
}

#[tokio::test]
async fn rejects_forged_oauth_state() {
    let m = MetaTestEnv::new().await;
    let cb = follow_dialog(&auth_url(&m.env, 1).await).await;
    let real = query_of(&cb)["state"].clone();
    let mut tampered = real.clone();
    tampered.pop();
    tampered.push(if real.ends_with('A') { 'B' } else { 'A' });
    for forged in ["tenant_1", "", tampered.as_str()] {
        let resp = callback(&m.env, &with_state(&cb, forged)).await;
        assert_eq!(redirect_error(&resp).as_deref(), Some("invalid_state"), "{forged:?}");
    }
    // A state signed with another key (a guessed app secret) is refused too.
    let (other, _) = oauth_state::issue(&StateKey::derive(&SecretString::new("guess")), TenantId(1), "user-1", t0());
    assert_eq!(redirect_error(&callback(&m.env, &with_state(&cb, &other)).await).as_deref(), Some("invalid_state"));
    assert!(connection_items(&m.env, 1).await.is_empty());
    assert!(index_items(&m.env).await.is_empty());
    assert_eq!(m.sandbox.with(|s| s.count_calls("/oauth/access_token")), 0);
    // The real state was not burnt by the forgeries.
    assert_eq!(redirect_error(&callback(&m.env, &cb).await), None);
}

#[tokio::test]
async fn rejects_state_bound_to_another_tenant() {
    let m = MetaTestEnv::new().await;
    let cb = follow_dialog(&auth_url(&m.env, 1).await).await;
    let real = query_of(&cb)["state"].clone();
    // Rewriting the tenant breaks the signature.
    let mut parts: Vec<String> = real.split('.').map(String::from).collect();
    parts[1] = "2".into();
    assert_eq!(
        redirect_error(&callback(&m.env, &with_state(&cb, &parts.join("."))).await).as_deref(),
        Some("invalid_state")
    );
    // Even a correctly signed state for tenant 2 cannot use tenant 1's stored nonce.
    let key = StateKey::derive(&SecretString::new(META_APP_SECRET));
    let claims = oauth_state::verify(&key, &real, t0()).expect("real state verifies");
    let for_tenant_2 = oauth_state::sign(&key, &StateClaims { tenant_id: TenantId(2), ..claims });
    assert_eq!(
        redirect_error(&callback(&m.env, &with_state(&cb, &for_tenant_2)).await).as_deref(),
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
    let cb = follow_dialog(&auth_url(&m.env, 1).await).await;
    assert_eq!(query_of(&cb).get("error_reason").map(String::as_str), Some("user_denied"));
    assert_eq!(redirect_error(&callback(&m.env, &cb).await).as_deref(), Some("access_denied"));
    assert!(connection_items(&m.env, 1).await.is_empty());
    assert!(index_items(&m.env).await.is_empty());
    assert!(m.env.items_with("OAUTH#", "OAUTH").await.is_empty(), "the declined state cannot be replayed");
}

#[tokio::test]
async fn failed_code_exchange_redirects_with_token_exchange_failed() {
    let m = MetaTestEnv::new().await;
    m.sandbox.with(|s| s.fail_exchange_next = 1);
    let cb = follow_dialog(&auth_url(&m.env, 1).await).await;
    assert_eq!(redirect_error(&callback(&m.env, &cb).await).as_deref(), Some("token_exchange_failed"));
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
    let cb = follow_dialog(&auth_url(&m.env, 1).await).await;
    let (a, b) = tokio::join!(callback(&m.env, &cb), callback(&m.env, &cb));
    let mut outcomes = vec![redirect_error(&a), redirect_error(&b)];
    outcomes.sort();
    assert_eq!(outcomes, vec![None, Some("invalid_state".to_string())]);
    assert_eq!(m.sandbox.with(|s| s.long_lived_tokens()).len(), 1, "the code was exchanged once");
}

#[tokio::test]
async fn callback_without_code_or_state_still_redirects() {
    let m = MetaTestEnv::new().await;
    let resp = meta_auth_callback::handle(
        &m.env.app.restricted(meta_auth_callback::SECRETS),
        request("GET", "/crm/auth/meta/callback", None, None, None),
    )
    .await;
    assert_eq!(redirect_error(&resp).as_deref(), Some("invalid_state"));
    let cb = follow_dialog(&auth_url(&m.env, 1).await).await;
    let state = query_of(&cb)["state"].clone();
    let no_code = format!(
        "/crm/auth/meta/callback?state={}",
        url::form_urlencoded::byte_serialize(state.as_bytes()).collect::<String>()
    );
    let resp = meta_auth_callback::handle(
        &m.env.app.restricted(meta_auth_callback::SECRETS),
        request("GET", &no_code, None, None, None),
    )
    .await;
    assert_eq!(redirect_error(&resp).as_deref(), Some("auth_failed"));
}

// --------------------------------------------------------------------------------- disconnect

#[tokio::test]
async fn disconnect_revokes_at_meta_and_deletes_the_connection() {
    let m = MetaTestEnv::new().await;
    connect(&m, 1).await;
    let resp =
        meta_auth_disconnect::handle(&m.env.app, post_as(&m.env, "/crm/auth/meta/disconnect", 1, "ceo", json!({})))
            .await;
    assert_eq!(resp.status(), 200);
    let body = body_json(&resp);
    assert_eq!(
        (body["data"]["disconnected"].clone(), body["data"]["revoked_at_meta"].clone()),
        (json!(true), json!(true))
    );
    assert_eq!(m.sandbox.with(|s| s.permissions_revoked), 1);
    assert!(connection_items(&m.env, 1).await.is_empty());
    assert!(index_items(&m.env).await.is_empty());
    assert_eq!(token_status(&m.env, 1).await["data"]["status"], "missing");
}

#[tokio::test]
async fn disconnect_succeeds_locally_when_meta_is_unreachable_and_says_so() {
    let m = MetaTestEnv::new().await;
    connect(&m, 1).await;
    m.sandbox.with(|s| s.transient_next = 100);
    let resp =
        meta_auth_disconnect::handle(&m.env.app, post_as(&m.env, "/crm/auth/meta/disconnect", 1, "admin", json!({})))
            .await;
    assert_eq!(resp.status(), 200);
    let body = body_json(&resp);
    assert_eq!(body["data"]["revoked_at_meta"], false);
    assert!(body["data"]["message"].as_str().is_some_and(|m| m.contains("failed")));
    assert!(connection_items(&m.env, 1).await.is_empty());
    assert!(index_items(&m.env).await.is_empty());
}

// ------------------------------------------------------------------------------- token status

#[tokio::test]
async fn token_status_reports_missing_then_connected_then_expired() {
    let m = MetaTestEnv::new().await;
    assert_eq!(token_status(&m.env, 1).await["data"]["status"], "missing");
    connect(&m, 1).await;
    let connected = token_status(&m.env, 1).await;
    assert_eq!(connected["data"]["status"], "connected");
    assert_eq!(connected["needs_reconnect"], false);
    m.env.clock.advance(Duration::days(55));
    let soon = token_status(&m.env, 1).await;
    assert_eq!((soon["data"]["expires_soon"].clone(), soon["needs_reconnect"].clone()), (json!(true), json!(true)));
    m.env.clock.advance(Duration::days(6));
    let expired = token_status(&m.env, 1).await;
    assert_eq!(expired["data"]["status"], "expired");
    assert_eq!(expired["days_left"], 0);
}

#[tokio::test]
async fn token_rejected_with_190_is_marked_expired_and_never_retried() {
    let m = MetaTestEnv::new().await;
    connect(&m, 1).await;
    m.sandbox.with(|s| s.reject_tokens = true);
    let resp = meta_portfolios::handle(&m.env.app, get_as(&m.env, "/crm/marketing/meta-portfolios", 1, "admin")).await;
    assert_eq!(resp.status(), 409);
    assert_eq!(body_json(&resp)["error"]["code"], "meta_token_expired");
    assert!(body_json(&resp)["detail"].as_str().is_some_and(|d| d.contains("reconnect")));
    assert_eq!(m.sandbox.with(|s| s.count_calls("/me/businesses")), 1, "190 is never retried");
    let conn = m.env.app.connections.get_connection(TenantId(1)).await.expect("get").expect("still stored");
    assert_eq!(conn.status, ConnectionStatus::Invalid);
    let status = token_status(&m.env, 1).await;
    assert_eq!((status["data"]["status"].clone(), status["needs_reconnect"].clone()), (json!("expired"), json!(true)));
    // Further reads do not call Meta with the dead token.
    let again = meta_portfolios::handle(&m.env.app, get_as(&m.env, "/crm/marketing/meta-portfolios", 1, "admin")).await;
    assert_eq!(again.status(), 409);
    assert_eq!(m.sandbox.with(|s| s.count_calls("/me/businesses")), 1);
}

// ------------------------------------------------------------------------ portfolios, accounts

#[tokio::test]
async fn portfolios_are_listed_across_pages() {
    let m = MetaTestEnv::new().await;
    connect(&m, 1).await;
    m.sandbox.with(|s| {
        s.businesses = 7;
        s.page_size = 2;
    });
    let resp = meta_portfolios::handle(&m.env.app, get_as(&m.env, "/crm/marketing/meta-portfolios", 1, "closer")).await;
    assert_eq!(resp.status(), 200);
    let data = body_json(&resp)["data"].clone();
    let list = data.as_array().expect("data is an array");
    assert_eq!(list.len(), 7);
    assert_eq!(list[0], json!({"id": business_id(1), "name": "Sandbox Business 1"}));
    assert_eq!(list[6]["id"], business_id(7));
    assert_eq!(m.sandbox.with(|s| s.count_calls("/me/businesses")), 4, "7 items in pages of 2");
}

#[tokio::test]
async fn ad_accounts_of_a_business_combine_owned_and_client_across_pages() {
    let m = MetaTestEnv::new().await;
    connect(&m, 1).await;
    m.sandbox.with(|s| {
        s.owned_accounts_per_business = 5;
        s.client_accounts_per_business = 3;
        s.page_size = 2;
    });
    let uri = format!("/crm/marketing/meta-accounts?portfolio_id={}", business_id(2));
    let resp = meta_accounts::handle(&m.env.app, get_as(&m.env, &uri, 1, "secretary")).await;
    assert_eq!(resp.status(), 200);
    let data = body_json(&resp)["data"].clone();
    let list = data.as_array().expect("array");
    assert_eq!(list.len(), 8);
    let first = &list[0];
    assert_eq!(first["id"], ad_account_id(2, true, 1));
    assert!(first["account_id"].as_str().is_some_and(|a| !a.starts_with("act_")));
    assert_eq!(first["currency"], "ARS");
    assert_eq!(first["timezone_name"], "America/Argentina/Buenos_Aires");
    assert_eq!(first["account_status"], 1, "account_status is a number");
    assert_eq!(list[4]["account_status"], 2);
    assert!(list.iter().any(|a| a["id"] == ad_account_id(2, false, 3)));
    assert_eq!(m.sandbox.with(|s| s.count_calls("/owned_ad_accounts")), 3);
    assert_eq!(m.sandbox.with(|s| s.count_calls("/client_ad_accounts")), 2);
}

#[tokio::test]
async fn ad_accounts_of_the_user_are_listed_across_pages() {
    let m = MetaTestEnv::new().await;
    connect(&m, 1).await;
    m.sandbox.with(|s| {
        s.businesses = 3;
        s.owned_accounts_per_business = 2;
        s.client_accounts_per_business = 1;
        s.page_size = 2;
    });
    let resp = meta_accounts::handle(&m.env.app, get_as(&m.env, "/crm/marketing/meta-accounts", 1, "admin")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(body_json(&resp)["data"].as_array().map(Vec::len), Some(9));
    assert_eq!(m.sandbox.with(|s| s.count_calls("/me/adaccounts")), 5);
}

#[tokio::test]
async fn ad_accounts_refuse_a_portfolio_id_that_is_not_an_id() {
    let m = MetaTestEnv::new().await;
    connect(&m, 1).await;
    let resp = meta_accounts::handle(
        &m.env.app,
        get_as(&m.env, "/crm/marketing/meta-accounts?portfolio_id=..%2Fme", 1, "admin"),
    )
    .await;
    assert_eq!(resp.status(), 400);
    assert!(body_json(&resp)["detail"].as_str().is_some_and(|d| d.contains("portfolio_id")));
}

#[tokio::test]
async fn lists_without_a_connection_say_connect_first() {
    let m = MetaTestEnv::new().await;
    let resp = meta_portfolios::handle(&m.env.app, get_as(&m.env, "/crm/marketing/meta-portfolios", 1, "admin")).await;
    assert_eq!(resp.status(), 409);
    assert_eq!(body_json(&resp)["error"]["code"], "meta_not_connected");
}

#[tokio::test]
async fn poisoned_paging_next_is_never_followed() {
    let m = MetaTestEnv::new().await;
    connect(&m, 1).await;
    m.sandbox.with(|s| {
        s.businesses = 3;
        s.page_size = 1;
        s.poison_next = true;
    });
    let resp = meta_portfolios::handle(&m.env.app, get_as(&m.env, "/crm/marketing/meta-portfolios", 1, "admin")).await;
    assert_eq!(resp.status(), 502);
    assert_eq!(body_json(&resp)["error"]["code"], "meta_error");
}

// ------------------------------------------------------------------------------------ connect

#[tokio::test]
async fn connect_stores_the_frontends_selection_and_defaults_time_zone_and_currency() {
    let m = MetaTestEnv::new().await;
    connect(&m, 1).await;
    let account = ad_account_id(1, true, 2);
    let body = json!({"account_id": account, "account_name": "typed by the user"});
    let resp = meta_connect::handle(&m.env.app, post_as(&m.env, "/crm/marketing/connect", 1, "marketing", body)).await;
    assert_eq!(resp.status(), 200, "{:?}", body_json(&resp));
    let data = body_json(&resp)["data"].clone();
    assert_eq!(data["ad_account_ids"], json!([account]));
    assert_eq!(data["reporting_time_zone"], "America/Argentina/Buenos_Aires");
    assert_eq!(data["currency"], "ARS");

    let status = token_status(&m.env, 1).await;
    assert_eq!(status["data"]["ad_account_ids"], json!([account]));
    assert_eq!(status["data"]["ad_account_name"], "Owned account 2 of business 1");
    let profile = m.env.app.profiles.get_profile(TenantId(1)).await.expect("get").expect("profile");
    assert_eq!(profile.reporting_time_zone.map(|z| z.name()), Some("America/Argentina/Buenos_Aires"));
    assert_eq!(profile.currency.as_ref().map(|c| c.code()), Some("ARS"));
}

#[tokio::test]
async fn connect_keeps_a_reporting_time_zone_already_set() {
    let m = MetaTestEnv::new().await;
    m.env
        .app
        .profiles
        .put_profile(&TenantProfile {
            tenant_id: TenantId(1),
            display_name: "Ventas Sur".into(),
            reporting_time_zone: Zone::parse("Europe/Madrid").ok(),
            currency: None,
            updated_at: t0(),
        })
        .await
        .expect("profile");
    connect(&m, 1).await;
    let body = json!({"business_id": business_id(1), "ad_account_ids": [ad_account_id(1, false, 1), ad_account_id(1, true, 1)]});
    let resp = meta_connect::handle(&m.env.app, post_as(&m.env, "/crm/marketing/connect", 1, "admin", body)).await;
    assert_eq!(resp.status(), 200, "{:?}", body_json(&resp));
    let data = body_json(&resp)["data"].clone();
    assert_eq!(data["business_id"], business_id(1));
    assert_eq!(data["business_name"], "Sandbox Business 1");
    assert_eq!(data["reporting_time_zone"], "Europe/Madrid", "an existing zone is kept");
    assert_eq!(data["currency"], "USD", "from the primary (first) account");
    let profile = m.env.app.profiles.get_profile(TenantId(1)).await.expect("get").expect("profile");
    assert_eq!(profile.display_name, "Ventas Sur");
}

#[tokio::test]
async fn connect_rejects_ids_the_token_cannot_see() {
    let m = MetaTestEnv::new().await;
    connect(&m, 1).await;
    let cases = [
        (json!({"account_id": "act_999", "account_name": "x"}), "act_999"),
        (json!({"account_id": "not-an-id"}), "ad account id"),
        (json!({"business_id": "42", "ad_account_ids": [ad_account_id(1, true, 1)]}), "business"),
        (json!({"business_id": business_id(2), "ad_account_ids": [ad_account_id(1, true, 1)]}), "act_"),
        (json!({}), "account_id"),
    ];
    for (body, needle) in cases {
        let resp =
            meta_connect::handle(&m.env.app, post_as(&m.env, "/crm/marketing/connect", 1, "admin", body.clone())).await;
        assert_eq!(resp.status(), 400, "{body}");
        let detail = body_json(&resp)["detail"].as_str().unwrap_or_default().to_string();
        assert!(detail.contains(needle), "{body}: {detail}");
    }
    let status = token_status(&m.env, 1).await;
    assert_eq!(status["data"]["ad_account_ids"], json!([]), "nothing was selected");
    assert_eq!(m.env.app.profiles.get_profile(TenantId(1)).await.expect("get"), None);
}

// ------------------------------------------------------------------------ retries and failures

#[tokio::test]
async fn throttled_meta_responses_are_retried_then_succeed() {
    let m = MetaTestEnv::new().await;
    connect(&m, 1).await;
    m.sandbox.with(|s| s.throttle_next = 2);
    let resp = meta_portfolios::handle(&m.env.app, get_as(&m.env, "/crm/marketing/meta-portfolios", 1, "admin")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(m.sandbox.with(|s| s.count_calls("/me/businesses")), 3);
}

#[tokio::test]
async fn transient_meta_failures_are_retried_then_succeed() {
    let m = MetaTestEnv::new().await;
    connect(&m, 1).await;
    m.sandbox.with(|s| s.transient_next = 2);
    let resp = meta_accounts::handle(&m.env.app, get_as(&m.env, "/crm/marketing/meta-accounts", 1, "admin")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(m.sandbox.with(|s| s.count_calls("/me/adaccounts")), 3);
}

#[tokio::test]
async fn throttling_with_a_long_regain_time_gives_503_with_retry_after_at_once() {
    let m = MetaTestEnv::new().await;
    connect(&m, 1).await;
    m.sandbox.with(|s| {
        s.throttle_next = 100;
        s.throttle_wait_minutes = 5;
    });
    let resp = meta_portfolios::handle(&m.env.app, get_as(&m.env, "/crm/marketing/meta-portfolios", 1, "admin")).await;
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "300");
    assert_eq!(body_json(&resp)["error"]["code"], "meta_throttled");
    assert_eq!(m.sandbox.with(|s| s.count_calls("/me/businesses")), 1, "no hammering while Meta says wait");
}

#[tokio::test]
async fn persistent_throttling_gives_503_after_the_retry_budget() {
    let m = MetaTestEnv::new().await;
    connect(&m, 1).await;
    m.sandbox.with(|s| s.throttle_next = 100);
    let resp = meta_portfolios::handle(&m.env.app, get_as(&m.env, "/crm/marketing/meta-portfolios", 1, "admin")).await;
    assert_eq!(resp.status(), 503);
    assert!(resp.headers().contains_key("retry-after"));
    assert_eq!(m.sandbox.with(|s| s.count_calls("/me/businesses")), 3);
}

#[tokio::test]
async fn persistent_transient_failures_give_503() {
    let m = MetaTestEnv::new().await;
    connect(&m, 1).await;
    m.sandbox.with(|s| s.transient_next = 100);
    let resp = meta_accounts::handle(&m.env.app, get_as(&m.env, "/crm/marketing/meta-accounts", 1, "admin")).await;
    assert_eq!(resp.status(), 503);
    assert_eq!(body_json(&resp)["error"]["code"], "meta_unavailable");
    assert_eq!(m.sandbox.with(|s| s.count_calls("/me/adaccounts")), 3);
}

#[tokio::test]
async fn a_meta_call_that_times_out_is_retried_then_succeeds() {
    let m = MetaTestEnv::with_env(&[("META_HTTP_TIMEOUT_MS", "100")]).await;
    connect(&m, 1).await;
    m.sandbox.with(|s| {
        s.delay_next = 1;
        s.delay_ms = 400;
    });
    let resp = meta_portfolios::handle(&m.env.app, get_as(&m.env, "/crm/marketing/meta-portfolios", 1, "admin")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(m.sandbox.with(|s| s.count_calls("/me/businesses")), 2, "the timed-out call was retried once");
}

#[tokio::test]
async fn sandbox_rejects_a_wrong_appsecret_proof() {
    let m = MetaTestEnv::new().await;
    connect(&m, 1).await;
    let token = SecretString::new(m.sandbox.with(|s| s.long_lived_tokens()).remove(0));
    let graph = crm_shared::meta::connect::graph_client(&m.env.app).await.expect("graph");
    assert!(graph.businesses(&token).await.is_ok());
    let wrong = crm_shared::meta::graph::GraphClient::new(
        m.env.app.http.get().clone(),
        crm_shared::meta::graph::GraphSettings { app_secret: SecretString::new("wrong"), ..graph.settings().clone() },
    );
    let err = wrong.businesses(&token).await.expect_err("wrong proof must be refused");
    assert!(matches!(err, crm_shared::meta::graph::MetaError::Request { code: 100, .. }), "{err:?}");
}

// ------------------------------------------------------------------------- deployment config

#[tokio::test]
async fn deployment_config_serves_the_company_name() {
    let m = MetaTestEnv::new().await;
    local_stack::demo::seed(m.env.app.profiles.as_ref(), t0()).await.expect("seed");
    let resp =
        admin_deployment_config::handle(&m.env.app, get_as(&m.env, "/admin/config/deployment", 1, "setter")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(body_json(&resp)["data"]["company_name"], "Demo Clinic");
    let missing =
        admin_deployment_config::handle(&m.env.app, get_as(&m.env, "/admin/config/deployment", 2, "setter")).await;
    assert_eq!(missing.status(), 404);
    assert_eq!(body_json(&missing)["error"]["code"], "tenant_profile_missing");
}

// --------------------------------------------------------------------- auth, rate limit, audit

type Handler = for<'a> fn(&'a App, Request) -> local_stack::routes::HandlerFuture<'a>;

fn authenticated_endpoints() -> Vec<(&'static str, &'static str, &'static str, Handler)> {
    vec![
        ("GET", "/crm/auth/meta/url", "meta-auth-url", |a, r| Box::pin(meta_auth_url::handle(a, r))),
        ("POST", "/crm/auth/meta/disconnect", "meta-auth-disconnect", |a, r| {
            Box::pin(meta_auth_disconnect::handle(a, r))
        }),
        ("GET", "/crm/marketing/meta-portfolios", "meta-portfolios", |a, r| Box::pin(meta_portfolios::handle(a, r))),
        ("GET", "/crm/marketing/meta-accounts", "meta-accounts", |a, r| Box::pin(meta_accounts::handle(a, r))),
        ("POST", "/crm/marketing/connect", "meta-connect", |a, r| Box::pin(meta_connect::handle(a, r))),
        ("GET", "/admin/config/deployment", "admin-deployment-config", |a, r| {
            Box::pin(admin_deployment_config::handle(a, r))
        }),
    ]
}

#[tokio::test]
async fn every_endpoint_rejects_missing_or_invalid_credentials() {
    let m = MetaTestEnv::new().await;
    let bad_jwt = crm_shared::platform::auth::sign_hs256(
        &json!({"user_id": "u", "role": "admin", "tenant_id": 1, "exp": 4_000_000_000_i64}),
        b"wrong-key",
    );
    for (method, path, name, handler) in authenticated_endpoints() {
        let body = (method == "POST").then(|| json!({}));
        let cases = [
            (None, Some(ADMIN_TOKEN), 401),
            (Some(bad_jwt.as_str()), Some(ADMIN_TOKEN), 401),
            (Some(&*jwt_now(&m.env, 1, "admin")), None, 401),
            (Some(&*jwt_now(&m.env, 1, "admin")), Some("wrong-admin-token"), 401),
        ];
        for (token, admin, status) in cases {
            let resp = handler(&m.env.app, request(method, path, token, admin, body.clone())).await;
            assert_eq!(resp.status(), status, "{name} token={} admin={admin:?}", token.is_some());
            assert_eq!(body_json(&resp)["success"], false);
        }
    }
    // Managing endpoints refuse read-only roles.
    for (method, path, name, handler) in authenticated_endpoints() {
        let manage = matches!(name, "meta-auth-url" | "meta-auth-disconnect" | "meta-connect");
        if manage {
            let body = (method == "POST").then(|| json!({}));
            let resp = handler(
                &m.env.app,
                request(method, path, Some(&jwt_now(&m.env, 1, "closer")), Some(ADMIN_TOKEN), body),
            )
            .await;
            assert_eq!(resp.status(), 403, "{name}");
        }
    }
    assert!(connection_items(&m.env, 1).await.is_empty());
    assert!(m.env.items_with("OAUTH#", "OAUTH").await.is_empty());
}

#[tokio::test]
async fn every_endpoint_is_rate_limited_and_audited() {
    let m = MetaTestEnv::with_env(&[("RATE_LIMIT_PER_MINUTE", "1"), ("TENANT_RATE_LIMIT_PER_MINUTE", "1")]).await;
    for (i, (method, path, name, handler)) in authenticated_endpoints().into_iter().enumerate() {
        let tenant = 100 + i as i64;
        let body = (method == "POST").then(|| json!({}));
        let first = handler(
            &m.env.app,
            request(method, path, Some(&jwt_now(&m.env, tenant, "admin")), Some(ADMIN_TOKEN), body.clone()),
        )
        .await;
        assert_ne!(first.status(), 429, "{name}");
        let second = handler(
            &m.env.app,
            request(method, path, Some(&jwt_now(&m.env, tenant, "admin")), Some(ADMIN_TOKEN), body),
        )
        .await;
        assert_eq!(second.status(), 429, "{name}");
        assert!(second.headers().contains_key("retry-after"));
        let audit = m.env.items_with(&format!("T#{tenant}"), "AUDIT#").await;
        assert_eq!(audit.len(), 2, "{name}");
        assert!(audit.iter().all(|a| s(a, "action") == name));
    }
    // The callback has no JWT: it is limited under the tenant its signed state names (here the
    // login URL's request already used the tenant's ceiling of 1).
    let cb = follow_dialog(&auth_url(&m.env, 200).await).await;
    assert_eq!(redirect_error(&callback(&m.env, &cb).await).as_deref(), Some("rate_limited"));
    assert!(connection_items(&m.env, 200).await.is_empty());
}

#[tokio::test]
async fn local_stack_serves_the_connect_flow_at_the_real_routes() {
    let m = MetaTestEnv::new().await;
    let api = local_stack::server::LocalApi::new(m.env.app.clone());
    let resp = api.dispatch(get_as(&m.env, "/crm/auth/meta/url", 1, "admin")).await;
    assert_eq!(resp.status(), 200);
    let auth = Url::parse(body_json(&resp)["data"]["auth_url"].as_str().expect("url")).expect("url");
    let cb = follow_dialog(&auth).await;
    let uri = format!("{}?{}", cb.path(), cb.query().unwrap_or(""));
    let resp = api.dispatch(request("GET", &uri, None, None, None)).await;
    assert_eq!(query_of(&location(&resp)).get("success").map(String::as_str), Some("connected"));
}

#[tokio::test]
async fn sample_api_gateway_events_drive_callback_and_connect() {
    let m = MetaTestEnv::new().await;
    let cb = follow_dialog(&auth_url(&m.env, 1).await).await;
    let q = query_of(&cb);
    let mut event = sample_event("apigw-meta-auth-callback.json");
    event["rawQueryString"] = json!(cb.query().unwrap_or(""));
    event["queryStringParameters"] = json!({"code": q["code"], "state": q["state"]});
    let req = lambda_http::request::from_str(&event.to_string()).expect("API Gateway v2 event");
    let resp = meta_auth_callback::handle(&m.env.app.restricted(meta_auth_callback::SECRETS), req).await;
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
