//! Meta connection end to end (after the login, `meta_login`): disconnect, token status, listings,
//! account selection, retries, auth and rate limits — the handlers against moto (AWS) and Sandbox
//! Meta over real HTTP.

use chrono::Duration;
use crm_shared::api::http::body_json;
use crm_shared::domain::ids::TenantId;
use crm_shared::domain::zone::Zone;
use crm_shared::platform::secrets::SecretString;
use crm_shared::store::{ConnectionStatus, TenantProfile};
use crm_shared::App;
use integration_tests::*;
use lambda_http::Request;
use local_stack::sandbox_meta::{ad_account_id, business_id};
use serde_json::{json, Value};

use crate::meta_login::{
    callback, connection_items, dialog, get_as, index_items, jwt_now, redirect_reason, s, token_status,
};

fn post_as(env: &TestEnv, uri: &str, tenant: i64, role: &str, body: Value) -> Request {
    request("POST", uri, Some(&jwt_now(env, tenant, role)), Some(ADMIN_TOKEN), Some(body))
}

/// The whole connect flow (with its follow-up job); asserts it lands on `?success=connected`.
async fn connect(m: &MetaTestEnv, tenant: i64) {
    oauth_connect(&m.env, tenant).await;
}

// --------------------------------------------------------------------------------- disconnect

/// After a disconnect only the tombstone is left (no token; it keeps stale writers out).
async fn assert_token_gone(env: &TestEnv) {
    let items = connection_items(env, 1).await;
    assert_eq!(items.len(), 1, "the tombstone");
    assert!(!items[0].contains_key("token_ciphertext_b64"), "the ciphertext is gone");
    assert!(!s(&items[0], "disconnected_at").is_empty());
    assert_eq!(env.app.connections.get_connection(TenantId(1)).await.expect("get"), None);
}

#[tokio::test]
async fn disconnect_revokes_at_meta_and_leaves_only_a_tombstone() {
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
    assert_token_gone(&m.env).await;
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
    assert_token_gone(&m.env).await;
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
    let graph = crm_shared::meta::connect::graph_client((&m.env.app).into()).await.expect("graph");
    assert!(graph.businesses(&token).await.is_ok());
    let wrong = crm_shared::meta::graph::GraphClient::new(
        m.env.app.http.get().clone(),
        crm_shared::meta::graph::GraphSettings { app_secret: SecretString::new("wrong"), ..graph.settings().clone() },
    );
    let err = wrong.businesses(&token).await.expect_err("wrong proof must be refused");
    assert!(matches!(err, crm_shared::meta::graph::MetaError::Request { code: 100, .. }), "{err:?}");
}

// ------------------------------------------------------------------------- deployment config

async fn deployment(env: &TestEnv, tenant: i64) -> (u16, Value) {
    let resp =
        admin_deployment_config::handle(&env.app, get_as(env, "/admin/config/deployment", tenant, "setter")).await;
    (resp.status().as_u16(), body_json(&resp))
}

#[tokio::test]
async fn deployment_config_serves_the_company_name_at_the_top_level_with_or_without_a_profile() {
    let m = MetaTestEnv::new().await;
    local_stack::demo::seed(m.env.app.profiles.as_ref(), t0()).await.expect("seed");
    let (status, body) = deployment(&m.env, 1).await;
    assert_eq!(status, 200);
    // The wizard reads `response.data.company_name`: the body's top level.
    assert_eq!(
        (body["company_name"].clone(), body["data"]["company_name"].clone()),
        (json!("Demo Clinic"), json!("Demo Clinic"))
    );
    assert_eq!(body["profile_stored"], true);
    // A tenant without a stored profile: a default name, never a 404 (the wizard would stop).
    let (status, body) = deployment(&m.env, 2).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["company_name"], crm_shared::meta::connect::DEFAULT_COMPANY_NAME);
    assert_eq!(body["data"]["company_name"], body["company_name"]);
    assert_eq!((body["profile_stored"].clone(), body["tenant_id"].clone()), (json!(false), json!(2)));
    assert_eq!(m.env.app.profiles.get_profile(TenantId(2)).await.expect("get"), None, "nothing written");
}

// ------------------------------------------------------------------- no ad account chosen yet

async fn combined_stats(env: &TestEnv, tenant: i64) -> Value {
    let req = get_as(env, "/crm/marketing/combined-stats?time_range=last_30d", tenant, "setter");
    body_json(&marketing_combined_stats::handle(&env.app, req).await)
}

#[tokio::test]
async fn a_login_without_an_account_choice_is_connected_but_says_so_until_connect() {
    let m = MetaTestEnv::new().await;
    connect(&m, 1).await;
    // The wizard abandoned after the login: connected, but nothing chosen.
    let status = token_status(&m.env, 1).await;
    assert_eq!(
        (status["data"]["status"].clone(), status["needs_reconnect"].clone()),
        (json!("connected"), json!(false))
    );
    assert_eq!(status["data"]["ad_account_selected"], false);
    assert_eq!(status["data"]["reason"], "no_ad_account_selected");
    let body = combined_stats(&m.env, 1).await;
    let meta = &body["data"]["meta"];
    assert_eq!(
        (meta["meta_connected"].clone(), meta["ad_account_selected"].clone()),
        (json!(false), json!(false)),
        "the hub's badge does not say 'account active' before an account is chosen"
    );
    assert_eq!(meta["connection"]["reason"], "no_ad_account_selected");
    assert_eq!(body["data"]["roi"], meta["roi"]);

    let account = ad_account_id(1, true, 1);
    let choice = json!({"account_id": account, "account_name": "Owned account 1"});
    let resp = meta_connect::handle(&m.env.app, post_as(&m.env, "/crm/marketing/connect", 1, "ceo", choice)).await;
    assert_eq!(resp.status(), 200, "{:?}", body_json(&resp));
    let status = token_status(&m.env, 1).await;
    assert_eq!(
        (status["data"]["ad_account_selected"].clone(), status["data"]["reason"].clone()),
        (json!(true), Value::Null)
    );
    let body = combined_stats(&m.env, 1).await;
    let meta = &body["data"]["meta"];
    assert_eq!((meta["ad_account_selected"].clone(), meta["connection"]["reason"].clone()), (json!(true), Value::Null));
    assert_eq!(meta["meta_connected"], true);
    assert_eq!(body["data"]["roi"], meta["roi"]);
    assert_eq!(body["data"]["roi"]["ad_account_id"], json!(account));
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
        // What each answers a fresh tenant (no Meta connection yet) — served, not limited.
        let expected = match name {
            "meta-auth-url" | "admin-deployment-config" => 200,
            "meta-auth-disconnect" => 200,
            "meta-portfolios" | "meta-accounts" => 409,
            "meta-connect" => 400,
            other => panic!("no expectation for {other}"),
        };
        assert_eq!(first.status(), expected, "{name}: {}", body_json(&first));
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
    let login = dialog(&m.env, 200).await;
    assert_eq!(redirect_reason(&callback(&m.env, &login.cb, &login.cookie).await).as_deref(), Some("rate_limited"));
    assert!(connection_items(&m.env, 200).await.is_empty());
}
