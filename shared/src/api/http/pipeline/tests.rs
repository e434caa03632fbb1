//! Round trips and metrics of the pipeline, on the in-memory app.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{json, Value};
use tokio::sync::Notify;

use super::super::{body_json, with_source_address};
use super::*;
use crate::platform::metrics::{captured, start_capture};
use crate::store::ratelimit::RateLimiter;
use crate::store::StoreError;
use crate::testing::{caller_request, unit_app_at, unit_now};

fn app(extra: &[(&str, &str)]) -> App {
    let mut env = vec![("RATE_LIMIT_PER_MINUTE", "3"), ("TENANT_RATE_LIMIT_PER_MINUTE", "4")];
    env.extend_from_slice(extra);
    unit_app_at(unit_now() + chrono::Duration::seconds(30), &env).0
}

fn get(user: &str) -> Request {
    let claims = json!({"user_id": user, "role": "admin", "tenant_id": 9, "exp": unit_now().timestamp() + 86_400});
    let token = crate::platform::auth::sign_hs256(&claims, crate::testing::UNIT_JWT_KEY.as_bytes());
    let bearer = format!("Bearer {token}");
    crate::testing::unit_request(
        "GET",
        "/crm/read",
        &[("authorization", bearer.as_str()), ("x-admin-token", crate::testing::UNIT_ADMIN_TOKEN)],
        "",
    )
}

const READ: Endpoint = Endpoint { name: "probe-read", method: Method::GET, path: "/crm/read", access: Access::AnyRole };

/// A limiter whose checks finish only once the endpoint's function has started (or never).
struct WaitsForHandler {
    inner: Arc<dyn RateLimiter>,
    handler_started: Arc<Notify>,
}

#[async_trait]
impl RateLimiter for WaitsForHandler {
    async fn check(&self, b: &RateBucket, now: DateTime<Utc>, limit: u32) -> Result<RateDecision, StoreError> {
        self.handler_started.notified().await;
        self.inner.check(b, now, limit).await
    }
    async fn release(&self, b: &RateBucket, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.inner.release(b, now).await
    }
}

#[tokio::test]
async fn a_read_endpoint_reads_beside_the_rate_limit_and_a_refusal_discards_the_reads() {
    let mut app = app(&[]);
    let started = Arc::new(Notify::new());
    app.rate_limiter = crate::api::port::Port::other(Arc::new(WaitsForHandler {
        inner: app.rate_limiter.shared(),
        handler_started: started.clone(),
    }));
    let runs = AtomicUsize::new(0);
    let read = || async {
        runs.fetch_add(1, Ordering::SeqCst);
        // Both buckets' checks wait for this: the test hangs (and times out) if they ran first.
        started.notify_waiters();
        started.notify_one();
        tokio::task::yield_now().await;
        Reply::ok(&json!({"n": 1}))
    };
    let within = std::time::Duration::from_secs(5);
    for _ in 0..3 {
        let resp = tokio::time::timeout(within, run_read_endpoint(&app, &READ, get("u"), |_| read())).await;
        assert_eq!(resp.expect("rate limit ran beside the function").status(), 200);
    }
    let resp = tokio::time::timeout(within, run_read_endpoint(&app, &READ, get("u"), |_| read())).await;
    let resp = resp.expect("answered");
    assert_eq!(resp.status(), 429, "the limit refuses; the read's result is not sent");
    assert_eq!(runs.load(Ordering::SeqCst), 4, "the read started beside the check");
    assert_eq!(body_json(&resp)["error"]["code"], "rate_limited");
}

#[tokio::test]
async fn a_refused_user_gives_back_the_tenant_ceiling() {
    let app = app(&[]);
    let call = |user: &'static str| run_read_endpoint(&app, &READ, get(user), |_| async { Reply::ok(&1) });
    for _ in 0..3 {
        assert_eq!(call("noisy").await.status(), 200);
    }
    for _ in 0..5 {
        assert_eq!(call("noisy").await.status(), 429, "over the user's budget of 3");
    }
    // The tenant's ceiling (4) still has the one slot the noisy user did not get to use.
    assert_eq!(call("quiet").await.status(), 200);
    assert_eq!(call("quiet").await.status(), 429, "now the tenant's ceiling");
}

#[tokio::test]
async fn a_write_endpoint_runs_only_after_the_rate_limit() {
    let app = app(&[]);
    const WRITE: Endpoint =
        Endpoint { name: "probe-write", method: Method::POST, path: "/crm/write", access: Access::Manage };
    let runs = AtomicUsize::new(0);
    for expected in [200, 200, 200, 429] {
        let req = caller_request("POST", "/crm/write", 9, "admin", "{}");
        let resp = run_endpoint(&app, &WRITE, req, |_| async {
            runs.fetch_add(1, Ordering::SeqCst);
            Reply::ok(&1)
        })
        .await;
        assert_eq!(resp.status(), expected);
    }
    assert_eq!(runs.load(Ordering::SeqCst), 3, "the refused request never reached its function");
}

fn lines_of(route: &str) -> Vec<Value> {
    captured()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v[crate::platform::metrics::dims::ROUTE] == route)
        .collect()
}

#[tokio::test]
async fn every_request_emits_one_emf_line_by_route_and_status_class() {
    start_capture();
    let app = app(&[]);
    const ROUTE: Endpoint =
        Endpoint { name: "probe-metrics", method: Method::GET, path: "/crm/read", access: Access::AnyRole };
    let ok = run_endpoint(&app, &ROUTE, get("m"), |_| async { Reply::ok(&1) }).await;
    let failed = run_endpoint(&app, &ROUTE, get("m"), |_| async { Err::<Reply, _>(ApiError::internal("boom")) }).await;
    let unauth = run_endpoint(&app, &ROUTE, crate::testing::unit_request("GET", "/crm/read", &[], ""), |_| async {
        Reply::ok(&1)
    })
    .await;
    assert_eq!((ok.status().as_u16(), failed.status().as_u16(), unauth.status().as_u16()), (200, 500, 401));
    let lines = lines_of("probe-metrics");
    assert_eq!(lines.len(), 3, "one line per request: {lines:?}");
    let classes: Vec<&str> = lines.iter().filter_map(|l| l["StatusClass"].as_str()).collect();
    assert_eq!(classes, ["2xx", "5xx", "4xx"]);
    for l in &lines {
        let directive = &l["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "CrmMarketing");
        assert_eq!(directive["Dimensions"], json!([["Route", "StatusClass"]]));
        assert_eq!(directive["Metrics"][0], json!({"Name": "Requests", "Unit": "Count"}));
        assert_eq!(directive["Metrics"][1], json!({"Name": "LatencyMs", "Unit": "Milliseconds"}));
        assert!(l["_aws"]["Timestamp"].is_i64());
        assert_eq!(l["Requests"], 1.0);
        assert!(l["LatencyMs"].as_f64().is_some_and(|ms| ms >= 0.0));
    }
}

const HOOK: Endpoint = Endpoint { name: "probe-hook", method: Method::POST, path: "/crm/hook", access: Access::Public };

fn hook_from(ip: Option<&str>) -> Request {
    let req = crate::testing::unit_request("POST", "/crm/hook", &[], "{}");
    match ip {
        Some(ip) => with_source_address(req, ip),
        None => req,
    }
}

#[tokio::test]
async fn a_public_endpoint_is_limited_per_source_address_before_its_function() {
    let app = app(&[("PUBLIC_RATE_LIMIT_PER_MINUTE", "2")]);
    let runs = AtomicUsize::new(0);
    let call = |ip: Option<&'static str>| {
        run_endpoint(&app, &HOOK, hook_from(ip), |_| async {
            runs.fetch_add(1, Ordering::SeqCst);
            Reply::ok(&1)
        })
    };
    assert_eq!(call(Some("203.0.113.7")).await.status(), 200);
    assert_eq!(call(Some("203.0.113.7")).await.status(), 200);
    let refused = call(Some("203.0.113.7")).await;
    assert_eq!(refused.status(), 429, "{:?}", body_json(&refused));
    assert!(refused.headers().get("retry-after").is_some_and(|v| v.to_str().is_ok_and(|s| s.parse::<u64>().is_ok())));
    assert_eq!(body_json(&refused)["error"]["code"], "rate_limited");
    assert_eq!(runs.load(Ordering::SeqCst), 2, "the refused request never reached its function");
    // Another address has its own budget; requests without one share the `unknown` bucket.
    assert_eq!(call(Some("198.51.100.4")).await.status(), 200);
    assert_eq!(call(None).await.status(), 200);
    assert_eq!(call(None).await.status(), 200);
    assert_eq!(call(None).await.status(), 429);
    // A forwarded-for header is the caller's to write: it never picks the bucket.
    let mut spoofed = hook_from(Some("203.0.113.7"));
    spoofed.headers_mut().insert("x-forwarded-for", http::HeaderValue::from_static("192.0.2.99"));
    assert_eq!(run_endpoint(&app, &HOOK, spoofed, |_| async { Reply::ok(&1) }).await.status(), 429);
}

#[test]
fn the_source_address_comes_from_the_request_context_only() {
    assert_eq!(source_address(&hook_from(Some("203.0.113.7"))), "203.0.113.7");
    assert_eq!(source_address(&hook_from(None)), "unknown");
    assert_eq!(source_address(&hook_from(Some(""))), "unknown");
}

/// A GET of [`READ`] from `ip` with a JWT signed by another key.
fn forged_from(ip: &str) -> Request {
    let claims = json!({"user_id": "u", "role": "admin", "tenant_id": 9, "exp": unit_now().timestamp() + 86_400});
    let token = crate::platform::auth::sign_hs256(&claims, b"not-the-key");
    let bearer = format!("Bearer {token}");
    let req = crate::testing::unit_request(
        "GET",
        "/crm/read",
        &[("authorization", bearer.as_str()), ("x-admin-token", crate::testing::UNIT_ADMIN_TOKEN)],
        "",
    );
    with_source_address(req, ip)
}

#[tokio::test]
async fn refused_authentications_spend_their_source_budget_and_a_flood_writes_no_audit_items() {
    let (app, mem) = unit_app_at(unit_now() + chrono::Duration::seconds(30), &[("PUBLIC_RATE_LIMIT_PER_MINUTE", "2")]);
    let runs = AtomicUsize::new(0);
    let call = |req: Request| {
        run_endpoint(&app, &READ, req, |_| async {
            runs.fetch_add(1, Ordering::SeqCst);
            Reply::ok(&1)
        })
    };
    for _ in 0..2 {
        let resp = call(forged_from("203.0.113.7")).await;
        assert_eq!(resp.status(), 401, "{}", body_json(&resp));
    }
    assert_eq!(mem.audit.entries().len(), 2, "refusals within the budget are audited");
    for _ in 0..5 {
        let resp = call(forged_from("203.0.113.7")).await;
        assert_eq!(resp.status(), 429, "{}", body_json(&resp));
        assert!(resp.headers().contains_key("retry-after"));
    }
    assert_eq!(mem.audit.entries().len(), 2, "the flood past it writes no audit item");
    assert!(mem.audit.entries().iter().all(|e| e.status == 401 && e.tenant_id.is_none()));
    // The budget is the address's, over every route: another address is still answered 401.
    assert_eq!(call(forged_from("198.51.100.4")).await.status(), 401);
    // A genuine caller from the flooded address is served: only refusals spend that budget.
    assert_eq!(call(with_source_address(get("ana"), "203.0.113.7")).await.status(), 200);
    assert_eq!(runs.load(Ordering::SeqCst), 1, "no refused request reached the function");
}
