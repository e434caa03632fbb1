//! CloudWatch EMF lines from real flows: the Meta connection (tokens, app secret, 190s,
//! throttling), an HSM send (phone numbers, YCloud key) and a dashboard request. Every line is a
//! valid EMF record with the `_aws` block, carries only declared metrics and dimensions with
//! values from our own tables, and holds no token, secret, phone number or tenant id.
//!
//! Capture is per thread (each `#[tokio::test]` runs on its own), so the counts are exact: the
//! lines this test's flows emitted, no other test's.

use std::collections::{BTreeSet, HashMap};

use base64::Engine;
use chrono::Duration;
use crm_shared::automation::evaluator::{self, Settings};
use crm_shared::domain::hsm::TriggerKind;
use crm_shared::domain::ids::TenantId;
use crm_shared::platform::metrics::{captured, start_capture, NAMESPACE};
use crm_shared::store::automation::rules::{AutomationRule, RuleSet};
use integration_tests::*;
use serde_json::{json, Value};

/// Dimension values a line may carry: our route names, status classes and webhook sources.
fn allowed_dimension_values() -> BTreeSet<String> {
    let mut v: BTreeSet<String> = local_stack::routes::routes().iter().map(|r| r.endpoint.name.to_string()).collect();
    v.extend(["1xx", "2xx", "3xx", "4xx", "5xx", "meta", "ycloud"].map(String::from));
    v
}

/// Asserts `line` is EMF with only declared, static content; returns it parsed.
fn check_line(line: &str, allowed: &BTreeSet<String>) -> Value {
    let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    let aws = &v["_aws"];
    assert!(aws["Timestamp"].is_i64(), "{line}");
    let directive = &aws["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], NAMESPACE, "{line}");
    let dims: Vec<&str> =
        directive["Dimensions"][0].as_array().expect("dimension set").iter().filter_map(Value::as_str).collect();
    let metrics: Vec<&str> =
        directive["Metrics"].as_array().expect("metrics").iter().filter_map(|m| m["Name"].as_str()).collect();
    assert!(!metrics.is_empty(), "{line}");
    for (key, value) in v.as_object().expect("object") {
        match key.as_str() {
            "_aws" => {}
            k if dims.contains(&k) => {
                let s = value.as_str().unwrap_or_else(|| panic!("dimension {k} not a string: {line}"));
                assert!(allowed.contains(s), "dimension value {s:?} is not one of ours: {line}");
            }
            k if metrics.contains(&k) => assert!(value.is_number(), "{line}"),
            k => panic!("undeclared member {k:?}: {line}"),
        }
    }
    v
}

fn sum(lines: &[Value], metric: &str) -> f64 {
    lines.iter().filter_map(|v| v[metric].as_f64()).sum()
}

/// The tenant's Meta token, as stored (decrypted through moto's KMS).
async fn stored_token(m: &MetaTestEnv, tenant: i64) -> String {
    let conn = m.env.app.connections.get_connection(TenantId(tenant)).await.expect("get").expect("connected");
    let ct = base64::engine::general_purpose::STANDARD.decode(conn.token_ciphertext_b64).expect("b64");
    m.env.app.cipher.decrypt(TenantId(tenant), &ct).await.expect("decrypt").expose().to_string()
}

#[tokio::test]
async fn emf_lines_of_real_flows_are_valid_and_carry_no_token_secret_phone_or_tenant() {
    start_capture();
    let allowed = allowed_dimension_values();
    // Tenant ids no other test uses, so a line naming one could only come from this test.
    let (meta_tenant, hsm_tenant) = (918_273_645_i64, 918_273_646_i64);

    // Meta: a connection (token exchange, debug_token, accounts), a throttled call retried, a 190.
    let m = MetaTestEnv::new().await;
    oauth_connect(&m.env, meta_tenant).await;
    let token = stored_token(&m, meta_tenant).await;
    m.sandbox.with(|s| s.throttle_next = 1);
    let portfolios =
        || meta_portfolios::handle(&m.env.app, get("/crm/marketing/meta-portfolios", meta_tenant, "admin"));
    assert_eq!(portfolios().await.status(), 200, "throttled once, then answered");
    m.sandbox.with(|s| s.reject_tokens = true);
    assert_eq!(portfolios().await.status(), 409, "190");
    let stats = marketing_stats::handle(&m.env.app, get("/crm/marketing/stats", meta_tenant, "admin")).await;
    assert_eq!(stats.status(), 200);

    // HSM: a lead with a phone, its follow-up sent through Sandbox YCloud.
    let h = HsmTestEnv::new().await;
    let phone = "+5491155559876";
    let rules = RuleSet {
        tenant_id: TenantId(hsm_tenant),
        rules: vec![AutomationRule {
            trigger: TriggerKind::LeadFollowup,
            enabled: true,
            template_name: TriggerKind::LeadFollowup.as_str().into(),
            language: "es".into(),
            delay_minutes: None,
            quiet_hours: None,
            variables: vec![],
        }],
        contact_window_hours: None,
        daily_recipient_cap: None,
        updated_at: t0(),
        updated_by: "it".into(),
    };
    h.env.app.automation_rules.put_rules(&rules).await.expect("rules");
    let at = t0().to_rfc3339();
    let body = json!({"id": "L-metrics", "version": 1, "created_at": at, "source": "META_ADS", "status": "new",
        "name": "Ana Pérez", "phone": phone, "opted_out": false});
    crm_events::handle_event(&h.env.app, crm_event("lead.created", hsm_tenant, "e-L-metrics", &at, "lead", body))
        .await
        .expect("lead");
    h.env.clock.advance(Duration::hours(25));
    let client = crm_shared::automation::sender::platform_client((&h.env.app).into()).await.expect("client");
    let summary = evaluator::run((&h.env.app).into(), &client, &Settings::default(), None).await.expect("run");
    assert_eq!(summary.count(evaluator::Outcome::Sent), 1, "{summary:?}");

    let lines = captured();
    let parsed: Vec<Value> = lines.iter().map(|l| check_line(l, &allowed)).collect();
    // Each emission site is there, exactly as often as it ran: capture is per thread (the test's
    // own lines only), so the counts are exact.
    let mut requests: Vec<(&str, &str)> =
        parsed.iter().filter_map(|v| Some((v["Route"].as_str()?, v["StatusClass"].as_str()?))).collect();
    requests.sort_unstable();
    assert_eq!(
        requests,
        [
            ("marketing-stats", "2xx"),
            ("meta-auth-callback", "3xx"),
            ("meta-auth-url", "2xx"),
            ("meta-portfolios", "2xx"),
            ("meta-portfolios", "4xx"),
        ]
    );
    // Every Graph call Sandbox Meta received (the login dialog is the browser's, not ours).
    let graph_calls = m.sandbox.with(|s| s.calls.iter().filter(|c| !c.contains("/dialog/")).count());
    assert_eq!(sum(&parsed, "MetaCalls"), graph_calls as f64, "one count per Graph call");
    assert_eq!(sum(&parsed, "MetaThrottles"), 1.0, "the one throttled answer");
    assert_eq!(sum(&parsed, "MetaTokenExpired"), 1.0, "the one 190");
    assert_eq!(sum(&parsed, "HsmSends"), 1.0, "the one follow-up");
    assert_eq!(h.ycloud.with(|s| s.messages.len()), 1, "and YCloud accepted one");
    // Nothing private anywhere.
    let secrets: HashMap<&str, String> = HashMap::from([
        ("Meta token", token),
        ("Meta app secret", META_APP_SECRET.into()),
        ("JWT key", JWT_KEY.into()),
        ("admin token", ADMIN_TOKEN.into()),
        ("YCloud key", YCLOUD_API_KEY.into()),
        ("YCloud webhook secret", YCLOUD_WEBHOOK_SECRET.into()),
        ("phone", phone.into()),
        ("phone digits", phone.trim_start_matches('+').into()),
        ("sender number", YCLOUD_SENDER.trim_start_matches('+').into()),
        ("Meta tenant", meta_tenant.to_string()),
        ("HSM tenant", hsm_tenant.to_string()),
    ]);
    for line in &lines {
        for (what, value) in &secrets {
            assert!(!line.contains(value.as_str()), "{what} in an EMF line: {line}");
        }
    }
}
