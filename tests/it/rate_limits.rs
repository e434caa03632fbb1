//! Rate limits through the real handlers against moto: per user per route under the tenant's
//! ceiling (one noisy user never locks the team out), and per source address on the public
//! webhooks (a flood refused before any signature check, write or call to Meta).

use crm_shared::api::http::{body_json, with_source_address};
use crm_shared::platform::auth::sign_hs256;
use integration_tests::*;
use lambda_http::{Body, Request};
use serde_json::json;

const TOKEN_STATUS: &str = "/crm/marketing/token-status";

/// A frontend GET as `user` of tenant 21.
fn get_as_user(user: &str) -> Request {
    let claims = json!({"user_id": user, "role": "setter", "tenant_id": 21, "exp": t0().timestamp() + 3600});
    let token = sign_hs256(&claims, JWT_KEY.as_bytes());
    request("GET", TOKEN_STATUS, Some(&token), Some(ADMIN_TOKEN), None)
}

#[tokio::test]
async fn one_noisy_user_does_not_lock_out_another_user_of_the_tenant() {
    let env = TestEnv::with_env(&[("RATE_LIMIT_PER_MINUTE", "3"), ("TENANT_RATE_LIMIT_PER_MINUTE", "5")]).await;
    let app = &env.app;
    let status =
        |user: &'static str| async move { meta_token_status::handle(app, get_as_user(user)).await.status().as_u16() };
    let mut noisy = Vec::new();
    for _ in 0..10 {
        noisy.push(status("noisy").await);
    }
    assert_eq!(noisy, [200, 200, 200, 429, 429, 429, 429, 429, 429, 429], "the noisy user gets their own 3");
    // The refused requests gave their tenant slots back: the tenant's ceiling of 5 has 2 left.
    assert_eq!(status("quiet").await, 200, "another user of the same tenant is still served");
    assert_eq!(status("third").await, 200);
    let over = meta_token_status::handle(&env.app, get_as_user("fourth")).await;
    assert_eq!(over.status(), 429, "then the tenant's ceiling");
    assert_eq!(body_json(&over)["error"]["code"], "rate_limited");
    // The next minute starts afresh.
    env.clock.advance(chrono::Duration::seconds(60));
    assert_eq!(status("noisy").await, 200);
}

/// Audit items in the table (a refused authentication is audited under no tenant).
async fn audit_items(env: &TestEnv) -> usize {
    let s = |i: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>, k: &str| {
        i.get(k).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default()
    };
    env.all_items()
        .await
        .iter()
        .filter(|i| s(i, "PK").starts_with("AUDIT#") || s(i, "SK").starts_with("AUDIT#"))
        .count()
}

#[tokio::test]
async fn a_flood_of_forged_jwts_from_one_address_is_429_and_writes_no_audit_items() {
    let env = TestEnv::with_env(&[("PUBLIC_RATE_LIMIT_PER_MINUTE", "3")]).await;
    let forged = |ip: &str| {
        let claims = json!({"user_id": "u", "role": "admin", "tenant_id": 21, "exp": t0().timestamp() + 3600});
        let token = sign_hs256(&claims, b"a-guessed-key");
        with_source_address(request("GET", TOKEN_STATUS, Some(&token), Some(ADMIN_TOKEN), None), ip)
    };
    for _ in 0..3 {
        assert_eq!(meta_token_status::handle(&env.app, forged("203.0.113.7")).await.status(), 401);
    }
    assert_eq!(audit_items(&env).await, 3, "refusals within the address's budget are audited");
    for _ in 0..10 {
        let resp = meta_token_status::handle(&env.app, forged("203.0.113.7")).await;
        assert_eq!(resp.status(), 429, "{:?}", body_json(&resp));
        assert!(resp.headers().contains_key("retry-after"));
    }
    // The budget spans routes: the flooded address is refused on another endpoint too.
    let other = with_source_address(
        request("GET", "/crm/marketing/meta-accounts", Some("not.a.jwt"), Some(ADMIN_TOKEN), None),
        "203.0.113.7",
    );
    assert_eq!(meta_accounts::handle(&env.app, other).await.status(), 429);
    assert_eq!(audit_items(&env).await, 3, "the flood wrote no audit item");
    // Another address, and a genuine user from the flooded one, are answered as before.
    assert_eq!(meta_token_status::handle(&env.app, forged("198.51.100.9")).await.status(), 401);
    let genuine = with_source_address(get_as_user("ana"), "203.0.113.7");
    assert_eq!(meta_token_status::handle(&env.app, genuine).await.status(), 200);
    assert_eq!(audit_items(&env).await, 5);
}

fn delivery(body: &[u8], signature: &str, ip: &str) -> Request {
    let req = lambda_http::http::Request::builder()
        .method("POST")
        .uri("/crm/webhooks/meta")
        .header("content-type", "application/json")
        .header("x-hub-signature-256", signature)
        .body(Body::Binary(body.to_vec()))
        .expect("request");
    with_source_address(req, ip)
}

#[tokio::test]
async fn a_webhook_flood_from_one_address_is_refused_before_any_work() {
    let m = MetaTestEnv::with_env(&[
        ("PUBLIC_RATE_LIMIT_PER_MINUTE", "3"),
        ("YCLOUD_WEBHOOK_SECRET", YCLOUD_WEBHOOK_SECRET),
    ])
    .await;
    oauth_connect(&m.env, 1).await;
    let app = m.env.app.restricted(meta_webhook::SECRETS, meta_webhook::WIRING);
    let lead = m.sandbox.with(|s| {
        s.add_lead(
            local_stack::sandbox_meta::SANDBOX_PAGE_ID,
            Some("120200000000000031"),
            Some("120200000000001031"),
            "Eva",
        )
    });
    let (body, signature) = m.sandbox.signed_leadgen_delivery(&[lead.id.as_str()]);
    let forged = format!("sha256={}", "ab".repeat(32));
    for _ in 0..3 {
        let resp = meta_webhook::handle(&app, delivery(&body, &forged, "203.0.113.7")).await;
        assert_eq!(resp.status(), 401, "forged deliveries spend the address's budget too");
    }
    // Even a genuine delivery from that address now waits: 429 + Retry-After, nothing fetched.
    let refused = meta_webhook::handle(&app, delivery(&body, &signature, "203.0.113.7")).await;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(m.sandbox.with(|s| s.count_calls(&format!("/{}", lead.id))), 0, "no call to Meta");
    assert!(m.env.items_with("T#1", "LEAD#").await.is_empty(), "no lead written");
    // `X-Forwarded-For` does not move a request to another budget.
    let mut spoofed = delivery(&body, &signature, "203.0.113.7");
    spoofed.headers_mut().insert("x-forwarded-for", lambda_http::http::HeaderValue::from_static("198.51.100.9"));
    assert_eq!(meta_webhook::handle(&app, spoofed).await.status(), 429);
    // Meta's delivery from another address goes through and creates the lead.
    let ok = meta_webhook::handle(&app, delivery(&body, &signature, "198.51.100.9")).await;
    assert_eq!(ok.status(), 200, "{:?}", body_json(&ok));
    assert_eq!(m.env.items_with("T#1", "LEAD#").await.len(), 1);
    // The budget is per route: the YCloud webhook from the flooded address is still answered.
    let ycloud = ycloud_webhook::handle(
        &m.env.app.restricted(ycloud_webhook::SECRETS, ycloud_webhook::WIRING),
        with_source_address(request("POST", "/crm/webhooks/ycloud", None, None, Some(json!({}))), "203.0.113.7"),
    )
    .await;
    assert_eq!(ycloud.status(), 401, "unsigned: refused by its signature check, not limited: {:?}", body_json(&ycloud));
}
