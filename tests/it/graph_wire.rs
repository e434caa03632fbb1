//! What travels on the wire to Meta: tokens only in `Authorization: Bearer`, the code exchange as
//! a POST form, no secret in any URL. Sandbox Meta refuses a token, code or app secret in a query
//! string, so every flow that passes here (and in `meta_connection`, `meta_webhook`, `spend_sync`)
//! proves none was sent in one.

use crm_shared::api::http::body_json;
use integration_tests::*;
use serde_json::json;

fn admin_get(env: &TestEnv, uri: &str) -> lambda_http::Request {
    request("GET", uri, Some(&jwt_at_clock(env, 1, "admin")), Some(ADMIN_TOKEN), None)
}

#[tokio::test]
async fn sandbox_meta_refuses_secrets_in_urls_and_a_get_token_exchange() {
    let m = MetaTestEnv::new().await;
    let base = m.sandbox.base_url();
    let http = reqwest::Client::new();
    for query in [
        "me/businesses?access_token=EAAL123",
        "debug_token?input_token=x&access_token=app%7Csecret",
        "oauth/access_token?client_id=a&client_secret=s&code=c&redirect_uri=r",
        "oauth/access_token?grant_type=fb_exchange_token&fb_exchange_token=EAAS1",
    ] {
        let resp = http.get(format!("{base}/v21.0/{query}")).send().await.expect("sandbox");
        assert_eq!(resp.status(), 400, "{query}");
        let body: serde_json::Value = resp.json().await.expect("json");
        assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("query string")), "{query}: {body}");
    }
    // The exchange without secrets in the URL, but as a GET: refused too (it must be a POST form).
    let resp = http.get(format!("{base}/v21.0/oauth/access_token")).send().await.expect("sandbox");
    assert_eq!(resp.status(), 400);
    // A header token is accepted where the query one was not (it is unknown here: Meta's 190).
    let resp = http.get(format!("{base}/v21.0/me/businesses")).bearer_auth("EAAL123").send().await.expect("sandbox");
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["error"]["code"], 190);
}

#[tokio::test]
async fn the_login_exchanges_by_post_and_graph_calls_carry_the_token_in_the_header() {
    let m = MetaTestEnv::new().await;
    oauth_connect(&m.env, 1).await;
    let calls = m.sandbox.with(|s| s.calls.clone());
    let exchanges: Vec<&String> = calls.iter().filter(|c| c.ends_with("/oauth/access_token")).collect();
    assert_eq!(exchanges.len(), 2, "{calls:?}");
    assert!(exchanges.iter().all(|c| c.starts_with("POST ")), "code and long-lived exchanges are POSTs: {calls:?}");

    // Paged lists: Meta's `paging.next` carries the token in its query (the sandbox puts it there
    // as Meta does); the client strips it and sends the header, else the sandbox would refuse.
    m.sandbox.with(|s| {
        s.businesses = 5;
        s.page_size = 2;
    });
    let resp = meta_portfolios::handle(&m.env.app, admin_get(&m.env, "/crm/marketing/meta-portfolios")).await;
    assert_eq!(resp.status(), 200, "{:?}", body_json(&resp));
    assert_eq!(body_json(&resp)["data"].as_array().map(Vec::len), Some(5));
    assert_eq!(m.sandbox.with(|s| s.count_calls("/me/businesses")), 3, "three pages followed");

    // Disconnect revokes with the header token (DELETE /me/permissions).
    let resp = disconnect_as_admin(&m.env, 1).await;
    assert_eq!(resp.status(), 200, "{:?}", body_json(&resp));
    assert_eq!(m.sandbox.with(|s| s.permissions_revoked), 1);
}

#[tokio::test]
async fn a_hostile_expires_in_connects_without_an_expiry_and_never_panics() {
    let m = MetaTestEnv::new().await;
    // debug_token says "never" (0), so the product reads the exchange's expires_in.
    m.sandbox.with(|s| {
        s.debug_never_expires = true;
        s.long_lived_expires_in = Some(json!(i64::MAX));
    });
    oauth_connect(&m.env, 1).await;
    let status = meta_token_status::handle(&m.env.app, admin_get(&m.env, "/crm/marketing/token-status")).await;
    let body = body_json(&status);
    assert_eq!(body["data"]["status"], "connected", "{body}");
    assert_eq!(body["data"]["expires_at"], json!(null), "an expiry past any date is no expiry: {body}");

    // A sane expires_in is still used when debug_token says nothing.
    let m = MetaTestEnv::new().await;
    m.sandbox.with(|s| {
        s.debug_never_expires = true;
        s.long_lived_expires_in = Some(json!(86_400 * 30));
    });
    oauth_connect(&m.env, 1).await;
    let status = meta_token_status::handle(&m.env.app, admin_get(&m.env, "/crm/marketing/token-status")).await;
    let expected = (t0() + chrono::Duration::days(30)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let got = body_json(&status)["data"]["expires_at"].as_str().unwrap_or_default().to_string();
    assert_eq!(got.get(..19), expected.get(..19), "{got} vs {expected}");
}
