//! The Meta login's hardening end to end (moto + Sandbox Meta over real HTTP): the browser binding
//! cookie, the single code exchange, the callback's time budget, the follow-up job after the
//! redirect, and callbacks racing other connection writers.

use std::time::{Duration as StdDuration, Instant};

use crm_shared::api::http::body_json;
use crm_shared::domain::ids::TenantId;
use crm_shared::meta::graph::MetaError;
use crm_shared::meta::login_cookie;
use crm_shared::meta::oauth_state::{self, StateKey};
use crm_shared::platform::secrets::SecretString;
use crm_shared::store::ConnectionStatus;
use integration_tests::*;
use local_stack::sandbox_meta::SANDBOX_PAGE_ID;
use meta_spend_sync::Summary;

use crate::meta_login::{
    callback, connection_items, dialog, follow_dialog, get_as, location, query_of, redirect_error, redirect_reason, s,
    start, token_status,
};

const CLEARED: &str = "crm_meta_oauth=; Max-Age=0; Path=/crm/auth/meta/callback; HttpOnly; Secure; SameSite=Lax";

fn set_cookies(resp: &lambda_http::Response<lambda_http::Body>) -> Vec<String> {
    resp.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).map(str::to_string).collect()
}

async fn exchanges(m: &MetaTestEnv) -> usize {
    m.sandbox.with(|s| s.count_calls("/oauth/access_token"))
}

// ------------------------------------------------------------------------------ browser binding

#[tokio::test]
async fn the_login_url_binds_the_browser_with_a_cookie_carrying_a_hash_of_the_nonce() {
    let m = MetaTestEnv::new().await;
    let mut req = get_as(&m.env, "/crm/auth/meta/url", 1, "admin");
    req.headers_mut().insert("origin", "http://localhost:5173".parse().expect("origin"));
    let resp = meta_auth_url::handle(&m.env.app, req).await;
    assert_eq!(resp.status(), 200);
    // The frontend's credentialed fetch may store it: credentials allowed for its exact origin.
    assert_eq!(resp.headers()["access-control-allow-origin"], "http://localhost:5173");
    assert_eq!(resp.headers()["access-control-allow-credentials"], "true");
    let url = url::Url::parse(body_json(&resp)["data"]["auth_url"].as_str().expect("url")).expect("url");
    let state = query_of(&url)["state"].clone();
    let claims =
        oauth_state::verify(&StateKey::derive(&SecretString::new(META_APP_SECRET)), &state, t0()).expect("our state");
    let cookies = set_cookies(&resp);
    assert_eq!(cookies.len(), 1);
    assert_eq!(
        cookies[0],
        format!(
            "crm_meta_oauth={}; Max-Age=600; Path=/crm/auth/meta/callback; HttpOnly; Secure; SameSite=Lax",
            login_cookie::binding(&claims.nonce)
        ),
        "as long-lived as the state, only for the callback path"
    );
    assert!(!cookies[0].contains(&claims.nonce), "never the nonce itself");
}

#[tokio::test]
async fn a_callback_without_the_binding_cookie_is_refused_and_spends_the_state() {
    let m = MetaTestEnv::new().await;
    let login = dialog(&m.env, 1).await;
    let uri = format!("{}?{}", login.cb.path(), login.cb.query().unwrap_or(""));
    let resp = meta_auth_callback::handle(
        &m.env.app.restricted(meta_auth_callback::SECRETS, meta_auth_callback::WIRING),
        callback_request(&uri, None),
    )
    .await;
    assert_eq!(redirect_error(&resp).as_deref(), Some("invalid_state"));
    assert_eq!(set_cookies(&resp), vec![CLEARED.to_string()]);
    assert_eq!(exchanges(&m).await, 0, "the code is never exchanged");
    assert!(connection_items(&m.env, 1).await.is_empty());
    // Spent: the state works once, even for the browser that holds the cookie.
    assert!(m.env.items_with("OAUTH#", "OAUTH").await.is_empty());
    let resp = callback(&m.env, &login.cb, &login.cookie).await;
    assert_eq!(redirect_error(&resp).as_deref(), Some("invalid_state"));
    assert!(connection_items(&m.env, 1).await.is_empty());
    let audit = m.env.items_with("T#1", "AUDIT#").await;
    let refused = audit.iter().filter(|i| s(i, "action") == "meta-auth-callback").count();
    assert_eq!(refused, 2, "both refusals audited under the state's tenant");
}

#[tokio::test]
async fn a_login_link_opened_in_another_browser_is_refused() {
    let m = MetaTestEnv::new().await;
    // The manager's link, opened by someone whose browser started its own login (its own cookie).
    let managers = start(&m.env, 1).await;
    let others = start(&m.env, 2).await;
    let cb = follow_dialog(&managers.auth_url).await;
    let nonce_of = |u: &url::Url| query_of(u)["state"].split('.').next().unwrap_or_default().to_string();
    for case in ["another browser's cookie", "the raw nonce", "an empty cookie"] {
        let login = dialog(&m.env, 1).await;
        let cookie = match case {
            "another browser's cookie" => others.cookie.clone(),
            "the raw nonce" => format!("crm_meta_oauth={}", nonce_of(&login.cb)),
            _ => "crm_meta_oauth=".to_string(),
        };
        let resp = callback(&m.env, &login.cb, &cookie).await;
        assert_eq!(redirect_error(&resp).as_deref(), Some("invalid_state"), "{case}");
    }
    assert_eq!(exchanges(&m).await, 0);
    assert!(connection_items(&m.env, 1).await.is_empty());
    // The manager's own browser (its cookie among others) connects.
    let resp = callback(&m.env, &cb, &format!("theme=dark; {}; access_token=x", managers.cookie)).await;
    assert_eq!(query_of(&location(&resp)).get("success").map(String::as_str), Some("connected"));
    assert_eq!(set_cookies(&resp), vec![CLEARED.to_string()], "cleared on success too");
}

// ------------------------------------------------------------------------ code exchange, budget

#[tokio::test]
async fn a_code_exchange_answered_with_a_5xx_is_not_retried() {
    let m = MetaTestEnv::new().await;
    let login = dialog(&m.env, 1).await;
    m.sandbox.with(|s| s.transient_next = 1);
    let resp = callback(&m.env, &login.cb, &login.cookie).await;
    assert_eq!(redirect_error(&resp).as_deref(), Some("token_exchange_failed"));
    assert_eq!(exchanges(&m).await, 1, "exactly one exchange request reached Meta");
    assert!(connection_items(&m.env, 1).await.is_empty());
}

#[tokio::test]
async fn a_code_exchange_that_times_out_is_not_retried() {
    let m = MetaTestEnv::with_env(&[("META_HTTP_TIMEOUT_MS", "200")]).await;
    let login = dialog(&m.env, 1).await;
    m.sandbox.with(|s| {
        s.delay_next = 1;
        s.delay_ms = 600;
    });
    let resp = callback(&m.env, &login.cb, &login.cookie).await;
    assert_eq!(redirect_error(&resp).as_deref(), Some("token_exchange_failed"));
    assert_eq!(exchanges(&m).await, 1, "a retry would only be told the code was used");
    assert!(connection_items(&m.env, 1).await.is_empty());
}

#[tokio::test]
async fn a_callback_past_its_time_budget_redirects_with_meta_timeout() {
    assert_eq!(TestEnv::new().await.app.config.meta.callback_budget, StdDuration::from_secs(20), "default");
    let m = MetaTestEnv::with_env(&[("META_CALLBACK_BUDGET_MS", "400"), ("META_HTTP_TIMEOUT_MS", "5000")]).await;
    let login = dialog(&m.env, 1).await;
    m.sandbox.with(|s| {
        s.delay_next = 1;
        s.delay_ms = 2_000;
    });
    let began = Instant::now();
    let resp = callback(&m.env, &login.cb, &login.cookie).await;
    assert!(began.elapsed() < StdDuration::from_millis(1_500), "answered at the budget: {:?}", began.elapsed());
    assert_eq!(redirect_reason(&resp).as_deref(), Some("meta_timeout"));
    assert_eq!(set_cookies(&resp), vec![CLEARED.to_string()]);
    assert_eq!(exchanges(&m).await, 1);
    assert!(connection_items(&m.env, 1).await.is_empty());
    let audit = m.env.items_with("T#1", "AUDIT#").await;
    let cb = audit.iter().find(|i| s(i, "action") == "meta-auth-callback").expect("audited");
    assert_eq!(s(cb, "error_code"), "meta_timeout");
}

// ----------------------------------------------------------------------- follow-up after redirect

#[tokio::test]
async fn pages_are_claimed_by_the_connected_job_after_the_redirect() {
    let m = MetaTestEnv::new().await;
    let login = dialog(&m.env, 1).await;
    let resp = callback(&m.env, &login.cb, &login.cookie).await;
    assert_eq!(query_of(&location(&resp)).get("success").map(String::as_str), Some("connected"));
    // The callback itself neither listed pages nor claimed any: that is the job's.
    assert_eq!(m.sandbox.with(|s| s.count_calls("/me/accounts")), 0);
    assert!(m.env.items_with("META#PAGE#", "OWNER").await.is_empty());

    let ran = run_connect_jobs(&m.env).await;
    assert_eq!(ran.len(), 1, "one meta.connected job per connect");
    let Summary::Connected(done) = &ran[0] else { panic!("{ran:?}") };
    assert_eq!((done.tenant_id, done.skipped, done.pages.claimed, done.pages.subscribed), (1, None, 1, 1));
    let owner = m.env.items_with(&format!("META#PAGE#{SANDBOX_PAGE_ID}"), "OWNER").await;
    assert_eq!(owner.len(), 1);
    assert_eq!(m.sandbox.with(|s| s.count_calls("/me/accounts")), 1);
    // A job after a disconnect does nothing.
    assert_eq!(disconnect_as_admin(&m.env, 1).await.status(), 200);
    assert!(m
        .env
        .app
        .job_bus
        .put_events(&[crm_shared::meta::follow_up::job(TenantId(1))])
        .await
        .expect("put")
        .is_empty());
    let ran = run_connect_jobs(&m.env).await;
    assert!(matches!(&ran[..], [Summary::Connected(d)] if d.skipped == Some("meta_not_connected")), "{ran:?}");
}

#[tokio::test]
async fn the_local_stack_runs_the_connected_job_in_the_background_after_the_redirect() {
    let m = MetaTestEnv::new().await;
    // As `make dev` wires it: jobs run by a background task, the API served by the local server.
    let mut app = m.env.app.clone();
    let jobs = local_stack::jobs::wire(&mut app);
    let runner = jobs.spawn(app.clone());
    let api = local_stack::server::LocalApi::new(app);
    let resp = api.dispatch(get_as(&m.env, "/crm/auth/meta/url", 1, "admin")).await;
    let cookie = login_cookie(&resp);
    let auth = url::Url::parse(body_json(&resp)["data"]["auth_url"].as_str().expect("url")).expect("url");
    let cb = follow_dialog(&auth).await;
    let uri = format!("{}?{}", cb.path(), cb.query().unwrap_or(""));
    let resp = api.dispatch(callback_request(&uri, Some(&cookie))).await;
    assert_eq!(query_of(&location(&resp)).get("success").map(String::as_str), Some("connected"));
    let deadline = Instant::now() + StdDuration::from_secs(10);
    while m.env.items_with(&format!("META#PAGE#{SANDBOX_PAGE_ID}"), "OWNER").await.is_empty() {
        assert!(Instant::now() < deadline, "the background job never claimed the page");
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
    runner.abort();
}

// --------------------------------------------------------------------- callbacks racing writers

/// Starts a second login for tenant 1 whose code exchange Meta answers only after `delay_ms`,
/// and returns once that exchange has reached Meta (the callback has read the connection).
async fn slow_callback(
    m: &MetaTestEnv,
    delay_ms: u64,
) -> tokio::task::JoinHandle<lambda_http::Response<lambda_http::Body>> {
    let login = dialog(&m.env, 1).await;
    let before = exchanges(m).await;
    m.sandbox.with(|s| {
        s.delay_next = 1;
        s.delay_ms = delay_ms;
    });
    let app = m.env.app.restricted(meta_auth_callback::SECRETS, meta_auth_callback::WIRING);
    let uri = format!("{}?{}", login.cb.path(), login.cb.query().unwrap_or(""));
    let task =
        tokio::spawn(
            async move { meta_auth_callback::handle(&app, callback_request(&uri, Some(&login.cookie))).await },
        );
    while exchanges(m).await == before {
        tokio::time::sleep(StdDuration::from_millis(5)).await;
    }
    task
}

async fn stored_ciphertext(env: &TestEnv) -> Option<String> {
    connection_items(env, 1).await.first().map(|i| s(i, "token_ciphertext_b64"))
}

#[tokio::test]
async fn a_slow_callback_does_not_revive_a_connection_disconnected_meanwhile() {
    let m = MetaTestEnv::new().await;
    oauth_connect(&m.env, 1).await;
    let slow = slow_callback(&m, 700).await;
    assert_eq!(disconnect_as_admin(&m.env, 1).await.status(), 200);
    let resp = slow.await.expect("callback");
    assert_eq!(redirect_reason(&resp).as_deref(), Some("connection_changed"));
    assert_eq!(token_status(&m.env, 1).await["data"]["status"], "missing");
    assert!(connection_items(&m.env, 1).await.iter().all(|i| !i.contains_key("token_ciphertext_b64")));
    // (Its connected-index entry, written before the connection, may stay: the spend sync finds no
    // connection behind it and does nothing.)
    // A login started after the disconnect connects.
    oauth_connect(&m.env, 1).await;
    assert_eq!(token_status(&m.env, 1).await["data"]["status"], "connected");
}

#[tokio::test]
async fn a_slow_callback_loses_to_a_login_stored_after_it_began() {
    let m = MetaTestEnv::new().await;
    oauth_connect(&m.env, 1).await;
    let slow = slow_callback(&m, 700).await;
    oauth_connect(&m.env, 1).await;
    let newer = stored_ciphertext(&m.env).await;
    let resp = slow.await.expect("callback");
    assert_eq!(redirect_reason(&resp).as_deref(), Some("connection_changed"));
    assert_eq!(stored_ciphertext(&m.env).await, newer, "the newer login stays");
}

#[tokio::test]
async fn a_slow_callback_still_connects_when_the_old_token_is_marked_expired_meanwhile() {
    let m = MetaTestEnv::new().await;
    oauth_connect(&m.env, 1).await;
    let old = m.env.app.connections.get_connection(TenantId(1)).await.expect("get").expect("live");
    let slow = slow_callback(&m, 700).await;
    // A webhook gets code 190 on the old token while the user reconnects.
    let _ = crm_shared::meta::access::meta_failure(
        m.env.app.connections.as_ref(),
        &old,
        MetaError::InvalidToken { subcode: Some(460) },
        t0(),
    )
    .await;
    let marked = m.env.app.connections.get_connection(TenantId(1)).await.expect("get").expect("live");
    assert_eq!(marked.status, ConnectionStatus::Invalid);
    let resp = slow.await.expect("callback");
    assert_eq!(query_of(&location(&resp)).get("success").map(String::as_str), Some("connected"));
    let now = m.env.app.connections.get_connection(TenantId(1)).await.expect("get").expect("live");
    assert_eq!(now.status, ConnectionStatus::Active);
    assert_ne!(now.token_ciphertext_b64, old.token_ciphertext_b64, "the new login's token");
    assert_eq!(token_status(&m.env, 1).await["data"]["status"], "connected");
}

// ------------------------------------------------------------------------------- rate limiting

#[tokio::test]
async fn a_callback_flood_from_one_address_still_lands_on_the_frontend_and_spends_no_state() {
    let m = MetaTestEnv::with_env(&[("PUBLIC_RATE_LIMIT_PER_MINUTE", "2")]).await;
    let app = m.env.app.restricted(meta_auth_callback::SECRETS, meta_auth_callback::WIRING);
    let from = |uri: &str, cookie: Option<&str>, ip: &str| {
        crm_shared::api::http::with_source_address(callback_request(uri, cookie), ip)
    };
    for _ in 0..2 {
        let resp = meta_auth_callback::handle(&app, from("/crm/auth/meta/callback", None, "203.0.113.5")).await;
        assert_eq!(redirect_error(&resp).as_deref(), Some("invalid_state"));
    }
    let login = dialog(&m.env, 1).await;
    let uri = format!("{}?{}", login.cb.path(), login.cb.query().unwrap_or(""));
    let refused = meta_auth_callback::handle(&app, from(&uri, Some(&login.cookie), "203.0.113.5")).await;
    assert_eq!(refused.status(), 302, "a redirect, never a JSON page");
    assert_eq!(redirect_reason(&refused).as_deref(), Some("rate_limited"));
    assert_eq!(exchanges(&m).await, 0, "the code is not exchanged");
    // The state was not spent: the same browser finishes from its own address.
    let resp = meta_auth_callback::handle(&app, from(&uri, Some(&login.cookie), "198.51.100.20")).await;
    assert_eq!(query_of(&location(&resp)).get("success").map(String::as_str), Some("connected"));
}
