//! The foundation: store, KMS, secrets, rate limit, audit, token-status end to end on moto.

use std::sync::Arc;

use chrono::Duration;
use crm_shared::api::http::body_json;
use crm_shared::domain::ids::TenantId;
use crm_shared::domain::money::Currency;
use crm_shared::domain::zone::Zone;
use crm_shared::platform::secrets::SecretString;
use crm_shared::store::audit::AuditLog;
use crm_shared::store::ratelimit::{RateBucket, RateDecision, RateLimiter};
use crm_shared::store::{ConnectionStatus, MetaConnection, TenantProfile};
use crm_shared::App;
use integration_tests::*;
use serde_json::json;

fn connection(tenant: i64, ciphertext_b64: String, expires_in: Option<Duration>) -> MetaConnection {
    MetaConnection {
        tenant_id: TenantId(tenant),
        token_ciphertext_b64: ciphertext_b64,
        status: ConnectionStatus::Active,
        meta_user_id: Some("10001".into()),
        expires_at: expires_in.map(|d| t0() + d),
        data_access_expires_at: None,
        scopes: vec!["ads_read".into(), "business_management".into()],
        business_id: Some("b-1".into()),
        business_name: Some("Demo BM".into()),
        ad_account_ids: vec!["act_111".into()],
        ad_account_name: Some("Main".into()),
        connected_at: t0(),
        connected_by: "user-1".into(),
        updated_at: t0(),
        revision: None,
    }
}

#[tokio::test]
async fn store_round_trips_profiles_and_connections() {
    let env = TestEnv::new().await;
    let profile = TenantProfile {
        tenant_id: TenantId(3),
        display_name: "Clínica Sur".into(),
        reporting_time_zone: Zone::parse("America/Bogota").ok(),
        currency: Currency::parse("COP").ok(),
        updated_at: t0(),
    };
    env.app.profiles.put_profile(&profile).await.expect("put profile");
    assert_eq!(env.app.profiles.get_profile(TenantId(3)).await.expect("get"), Some(profile));
    assert_eq!(env.app.profiles.get_profile(TenantId(4)).await.expect("get"), None);

    let conn = connection(3, "Y2lwaGVy".into(), Some(Duration::days(60)));
    let rev = env.app.connections.put_connection(&conn).await.expect("put conn").expect("created");
    let read = env.app.connections.get_connection(TenantId(3)).await.expect("get");
    assert_eq!(read, Some(MetaConnection { revision: Some(rev), ..conn }));
    let read = read.expect("live");
    env.app.connections.delete_connection(&read, t0()).await.expect("delete").expect("deleted");
    assert_eq!(env.app.connections.get_connection(TenantId(3)).await.expect("get"), None);
}

#[tokio::test]
async fn kms_ciphertext_decrypts_only_with_its_tenant_context() {
    let env = TestEnv::new().await;
    let token = SecretString::new("EAAB-long-lived-token-123");
    let ct = env.app.cipher.encrypt(TenantId(1), &token).await.expect("encrypt");
    assert!(!String::from_utf8_lossy(&ct).contains("EAAB-long-lived"), "ciphertext must not contain the token");
    assert_eq!(env.app.cipher.decrypt(TenantId(1), &ct).await.expect("decrypt").expose(), token.expose());
    assert!(env.app.cipher.decrypt(TenantId(2), &ct).await.is_err(), "another tenant's context must not decrypt it");
    let mut tampered = ct.clone();
    if let Some(last) = tampered.last_mut() {
        *last ^= 0xff;
    }
    assert!(env.app.cipher.decrypt(TenantId(1), &tampered).await.is_err());
}

#[tokio::test]
async fn rate_limit_across_two_instances_allows_exactly_the_limit() {
    let env = TestEnv::new().await;
    // A second "Lambda instance": its own SDK clients and App over the same table.
    let sdk2 = sdk_config().await;
    let other: Arc<dyn RateLimiter> =
        App::with_aws((*env.app.config).clone(), &sdk2, env.clock.clone()).expect("app").rate_limiter.shared();
    let mine = env.app.rate_limiter.shared();
    let limit = 10;
    let mut tasks = Vec::new();
    for i in 0..30 {
        let rl = if i % 2 == 0 { mine.clone() } else { other.clone() };
        tasks.push(tokio::spawn(async move { rl.check(&RateBucket::tenant(TenantId(5)), t0(), limit).await }));
    }
    let mut allowed = 0;
    for t in tasks {
        if let RateDecision::Allowed { .. } = t.await.expect("join").expect("check") {
            allowed += 1;
        }
    }
    assert_eq!(allowed, limit);
    // Another tenant is unaffected; the next minute starts afresh.
    assert!(matches!(
        mine.check(&RateBucket::tenant(TenantId(6)), t0(), limit).await.expect("check"),
        RateDecision::Allowed { .. }
    ));
    assert!(matches!(
        mine.check(&RateBucket::tenant(TenantId(5)), t0() + Duration::seconds(60), limit).await.expect("check"),
        RateDecision::Allowed { .. }
    ));
}

#[tokio::test]
async fn endpoint_answers_429_with_retry_after_past_the_limit() {
    let env = TestEnv::with_env(&[("RATE_LIMIT_PER_MINUTE", "2")]).await;
    for _ in 0..2 {
        let resp = meta_token_status::handle(&env.app, get("/crm/marketing/token-status", 8, "setter")).await;
        assert_eq!(resp.status(), 200);
    }
    let resp = meta_token_status::handle(&env.app, get("/crm/marketing/token-status", 8, "setter")).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "60");
    assert_eq!(body_json(&resp)["error"]["code"], "rate_limited");
}

#[tokio::test]
async fn token_status_reports_missing_connected_and_expired() {
    let env = TestEnv::new().await;
    let uri = "/crm/marketing/token-status";
    let body = body_json(&meta_token_status::handle(&env.app, get(uri, 11, "closer")).await);
    assert_eq!(body["data"]["status"], "missing");

    let ct = env.app.cipher.encrypt(TenantId(11), &SecretString::new("tok")).await.expect("encrypt");
    let b64 = base64_encode(&ct);
    let conn = connection(11, b64.clone(), Some(Duration::days(45)));
    env.app.connections.put_connection(&conn).await.expect("put").expect("created");
    let resp = meta_token_status::handle(&env.app, get(uri, 11, "closer")).await;
    assert_eq!(resp.status(), 200);
    let body = body_json(&resp);
    assert_eq!(body["success"], true);
    assert_eq!(body["data"]["status"], "connected");
    assert_eq!(body["data"]["ad_account_ids"], json!(["act_111"]));
    assert_eq!(body["days_left"], 45);
    assert_eq!(body["needs_reconnect"], false);
    assert!(!body.to_string().contains(&b64), "token-status must not echo the ciphertext");

    env.clock.advance(Duration::days(46));
    let fresh = |t| request("GET", uri, Some(&jwt_at(t, "closer", env.clock.as_ref())), Some(ADMIN_TOKEN), None);
    let body = body_json(&meta_token_status::handle(&env.app, fresh(11)).await);
    assert_eq!(body["data"]["status"], "expired");
    assert_eq!(body["needs_reconnect"], true);
}

fn jwt_at(tenant: i64, role: &str, clock: &crm_shared::platform::clock::ManualClock) -> String {
    use crm_shared::platform::clock::Clock;
    crm_shared::platform::auth::sign_hs256(
        &json!({"user_id": "u", "role": role, "tenant_id": tenant, "exp": clock.now().timestamp() + 600}),
        JWT_KEY.as_bytes(),
    )
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

#[tokio::test]
async fn audit_is_written_for_success_and_for_denied_requests() {
    let env = TestEnv::new().await;
    let uri = "/crm/marketing/token-status";
    assert_eq!(meta_token_status::handle(&env.app, get(uri, 21, "admin")).await.status(), 200);
    assert_eq!(
        meta_token_status::handle(&env.app, request("GET", uri, None, Some(ADMIN_TOKEN), None)).await.status(),
        401
    );

    let tenant_audit = env.items_with("T#21", "AUDIT#").await;
    assert_eq!(tenant_audit.len(), 1);
    let s = |i: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>, k: &str| {
        i.get(k).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default()
    };
    assert_eq!(s(&tenant_audit[0], "outcome"), "success");
    assert_eq!(s(&tenant_audit[0], "action"), "meta-token-status");
    assert_eq!(s(&tenant_audit[0], "user_id"), "user-1");
    assert!(tenant_audit[0].contains_key("ttl"), "audit records expire by TTL");

    let anon = env.items_with("AUDIT#UNAUTH#", "AUDIT#").await;
    assert_eq!(anon.len(), 1);
    assert_eq!(s(&anon[0], "outcome"), "denied");
    assert_eq!(s(&anon[0], "error_code"), "missing_token");
    // Under its day's shard of the request id, and read back by the day's reader.
    let rid = s(&anon[0], "request_id");
    let pk = crm_shared::store::keys::unauthenticated_audit_pk(
        t0().date_naive(),
        crm_shared::store::keys::unauthenticated_audit_shard(&rid),
    );
    assert_eq!(s(&anon[0], "PK"), pk);
    let read = env.store.unauthenticated(t0().date_naive(), 10).await.expect("read");
    assert_eq!(read.iter().map(|e| e.request_id.clone()).collect::<Vec<_>>(), vec![rid]);
    // Audit never stores tokens or headers.
    let dump = format!("{:?}", env.all_items().await);
    assert!(!dump.contains(ADMIN_TOKEN) && !dump.contains("Bearer"));
}

#[tokio::test]
async fn a_flood_of_unauthenticated_requests_spreads_over_the_audit_shards() {
    let env = TestEnv::new().await;
    let uri = "/crm/marketing/token-status";
    for _ in 0..48 {
        let resp =
            meta_token_status::handle(&env.app, request("GET", uri, Some("not-a-jwt"), Some(ADMIN_TOKEN), None)).await;
        assert_eq!(resp.status(), 401);
    }
    let anon = env.items_with("AUDIT#UNAUTH#", "AUDIT#").await;
    assert_eq!(anon.len(), 48, "each refusal audited");
    let mut per_partition: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for item in &anon {
        let pk = item.get("PK").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
        assert!(pk.starts_with(&format!("AUDIT#UNAUTH#{}#", t0().format("%Y-%m-%d"))), "{pk}");
        *per_partition.entry(pk).or_default() += 1;
    }
    // 48 random request ids over 16 shards: never one hot partition (p < 1e-9 of < 8 shards used).
    assert!(per_partition.len() >= 8, "{per_partition:?}");
    assert!(per_partition.values().all(|n| *n <= 12), "{per_partition:?}");
    assert_eq!(env.store.unauthenticated(t0().date_naive(), 1000).await.expect("read").len(), 48);
}

#[tokio::test]
async fn bad_credentials_get_4xx_json_and_write_nothing_but_audit() {
    let env = TestEnv::new().await;
    let uri = "/crm/marketing/token-status";
    let expired = crm_shared::platform::auth::sign_hs256(
        &json!({"user_id": "u", "role": "admin", "tenant_id": 1, "exp": t0().timestamp() - 5}),
        JWT_KEY.as_bytes(),
    );
    let forged = crm_shared::platform::auth::sign_hs256(
        &json!({"user_id": "u", "role": "admin", "tenant_id": 1, "exp": t0().timestamp() + 60}),
        b"wrong-key",
    );
    let string_tenant = crm_shared::platform::auth::sign_hs256(
        &json!({"user_id": "u", "role": "admin", "tenant_id": "1", "exp": t0().timestamp() + 60}),
        JWT_KEY.as_bytes(),
    );
    let cases: Vec<(Option<&str>, Option<&str>, u16, &str)> = vec![
        (None, Some(ADMIN_TOKEN), 401, "missing_token"),
        (Some(&expired), Some(ADMIN_TOKEN), 401, "token_expired"),
        (Some(&forged), Some(ADMIN_TOKEN), 401, "invalid_token"),
        (Some(&string_tenant), Some(ADMIN_TOKEN), 401, "invalid_token"),
        (Some("garbage"), Some(ADMIN_TOKEN), 401, "invalid_token"),
        (None, None, 401, "missing_admin_token"),
        (None, Some("wrong-admin"), 401, "invalid_admin_token"),
    ];
    for (token, admin, status, code) in &cases {
        let resp = meta_token_status::handle(&env.app, request("GET", uri, *token, *admin, None)).await;
        assert_eq!(resp.status().as_u16(), *status, "{code}");
        assert_eq!(resp.headers()["content-type"], "application/json");
        let body = body_json(&resp);
        assert_eq!(body["success"], false);
        assert_eq!(body["error"]["code"], *code);
        assert!(body["detail"].is_string());
    }
    // One audit record per refused request, and the source address's window of refused
    // authentications (the rate limiter's counter) — nothing else.
    let s = |i: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>, k: &str| {
        i.get(k).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default()
    };
    let items = env.all_items().await;
    let (windows, audits): (Vec<_>, Vec<_>) = items.iter().partition(|i| s(i, "PK").starts_with("RL#"));
    assert_eq!(audits.len(), cases.len(), "one audit record per refused request");
    assert!(audits.iter().all(|i| s(i, "SK").starts_with("AUDIT#")));
    assert_eq!(windows.len(), 1, "one rate-limit window");
    assert!(s(windows[0], "PK").contains("refused-auth"), "{}", s(windows[0], "PK"));
}

#[tokio::test]
async fn secrets_are_resolved_from_secrets_manager_arns() {
    let env = TestEnv::new().await;
    assert!(env.resources.secret_arns.iter().all(|(_, arn)| arn.starts_with("arn:aws:secretsmanager:")));
    // The App was configured with *_ARN variables only; a 200 proves they were resolved.
    assert_eq!(meta_token_status::handle(&env.app, get("/crm/marketing/token-status", 1, "admin")).await.status(), 200);

    let mut config = (*env.app.config).clone();
    for (name, source) in config.secret_sources.iter_mut() {
        if *name == crm_shared::platform::secrets::SecretName::JwtSecretKey {
            *source = crm_shared::platform::secrets::SecretSource::Arn(
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing".into(),
            );
        }
    }
    let broken = App::with_aws(config, &env.sdk, env.clock.clone()).expect("app");
    let resp = meta_token_status::handle(&broken, get("/crm/marketing/token-status", 1, "admin")).await;
    assert_eq!(resp.status(), 500, "a secret that cannot be read fails loudly, never falls back");
    assert_eq!(body_json(&resp)["error"]["code"], "internal_error");
}

#[tokio::test]
async fn a_jwt_key_under_32_bytes_in_secrets_manager_is_refused_when_resolved() {
    let env = TestEnv::new().await;
    let sm = aws_sdk_secretsmanager::Client::new(&env.sdk);
    let short = sm
        .create_secret()
        .name(format!("{}/short-jwt-key", env.resources.table))
        .secret_string("only-31-bytes-of-jwt-key-here!!")
        .send()
        .await
        .expect("create secret");
    let arn = short.arn().expect("arn").to_string();
    let mut config = (*env.app.config).clone();
    for (name, source) in config.secret_sources.iter_mut() {
        if *name == crm_shared::platform::secrets::SecretName::JwtSecretKey {
            *source = crm_shared::platform::secrets::SecretSource::Arn(arn.clone());
        }
    }
    let app = App::with_aws(config, &env.sdk, env.clock.clone()).expect("app");
    // Signed with that very key: still refused, loudly, before any token is looked at.
    let token = crm_shared::platform::auth::sign_hs256(
        &json!({"user_id": "u", "role": "admin", "tenant_id": 1, "exp": t0().timestamp() + 60}),
        b"only-31-bytes-of-jwt-key-here!!",
    );
    let req = request("GET", "/crm/marketing/token-status", Some(&token), Some(ADMIN_TOKEN), None);
    let resp = meta_token_status::handle(&app, req).await;
    assert_eq!(resp.status(), 500);
    assert_eq!(body_json(&resp)["error"]["code"], "internal_error");
}

#[tokio::test]
async fn jwt_issuer_and_audience_are_enforced_when_configured() {
    let env = TestEnv::with_env(&[("JWT_ISSUER", "https://crm.example.com"), ("JWT_AUDIENCE", "marketing-hub")]).await;
    let uri = "/crm/marketing/token-status";
    let token = |extra: serde_json::Value| {
        let mut c = json!({"user_id": "u", "role": "admin", "tenant_id": 41, "exp": t0().timestamp() + 60});
        if let (Some(c), Some(extra)) = (c.as_object_mut(), extra.as_object()) {
            c.extend(extra.clone());
        }
        crm_shared::platform::auth::sign_hs256(&c, JWT_KEY.as_bytes())
    };
    let call = |t: String| meta_token_status::handle(&env.app, request("GET", uri, Some(&t), Some(ADMIN_TOKEN), None));
    // The harness's own JWTs carry neither claim: refused once the deployment pins them.
    assert_eq!(call(jwt(41, "admin")).await.status(), 401);
    assert_eq!(call(token(json!({"iss": "https://crm.example.com"}))).await.status(), 401, "no aud");
    assert_eq!(call(token(json!({"iss": "https://other.example.com", "aud": "marketing-hub"}))).await.status(), 401);
    assert_eq!(call(token(json!({"iss": "https://crm.example.com", "aud": "billing"}))).await.status(), 401);
    let ok = call(token(json!({"iss": "https://crm.example.com", "aud": ["billing", "marketing-hub"]}))).await;
    assert_eq!(ok.status(), 200, "{:?}", body_json(&ok));
    let refused = env.items_with("AUDIT#UNAUTH#", "AUDIT#").await;
    assert_eq!(refused.len(), 4, "every refusal audited");
}

#[tokio::test]
async fn sample_api_gateway_event_is_served_with_cookie_auth() {
    let env = TestEnv::new().await;
    let mut event = sample_event("apigw-token-status.json");
    event["cookies"] = json!([format!("access_token={}", jwt(31, "marketing"))]);
    event["headers"]["x-admin-token"] = json!(ADMIN_TOKEN);
    let req = lambda_http::request::from_str(&event.to_string()).expect("API Gateway v2 event");
    let resp = meta_token_status::handle(&env.app, req).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["access-control-allow-origin"], "http://localhost:5173");
    assert_eq!(body_json(&resp)["data"]["status"], "missing");
    assert_eq!(env.items_with("T#31", "AUDIT#").await.len(), 1);
}
