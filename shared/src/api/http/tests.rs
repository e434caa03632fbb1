//! The pipeline's behaviour, on the in-memory app.

use serde_json::json;

use super::*;
use crate::api::app::{App, InMemory};
use crate::store::audit::Outcome;
use crate::testing::{unit_app_at, unit_jwt, unit_now, unit_request, UNIT_ADMIN_TOKEN};

const EP: Endpoint = Endpoint { name: "probe", method: Method::POST, path: "/crm/probe", access: Access::Manage };

fn app_with(extra: &[(&str, &str)]) -> (App, InMemory) {
    let mut env = vec![("RATE_LIMIT_PER_MINUTE", "3"), ("MAX_BODY_BYTES", "64")];
    env.extend_from_slice(extra);
    unit_app_at(unit_now() + chrono::Duration::seconds(30), &env)
}

fn jwt(role: &str) -> String {
    unit_jwt(9, role)
}

fn req(method: Method, headers: &[(&str, &str)], body: &str) -> Request {
    unit_request(method.as_str(), "/crm/probe?x=1&y=%C3%B1", headers, body)
}

fn authed(role: &str) -> Vec<(&'static str, String)> {
    vec![
        ("authorization", format!("Bearer {}", jwt(role))),
        ("x-admin-token", UNIT_ADMIN_TOKEN.into()),
        ("content-type", "application/json".into()),
    ]
}

async fn call(app: &App, r: Request) -> Response<Body> {
    run_endpoint(app, &EP, r, |ctx| async move {
        let v: Value = ctx.json()?;
        Reply::ok(&json!({"echo": v, "x": ctx.query("x"), "y": ctx.query("y"), "tenant": ctx.caller()?.tenant_id}))
    })
    .await
}

fn hdrs<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test]
async fn success_is_wrapped_in_the_envelope_and_audited() {
    let (app, mem) = app_with(&[]);
    let h = authed("admin");
    let resp = call(&app, req(Method::POST, &hdrs(&h), r#"{"a":1}"#)).await;
    assert_eq!(resp.status(), 200);
    let body = body_json(&resp);
    assert_eq!(body["success"], true);
    assert_eq!(body["data"]["echo"]["a"], 1);
    assert_eq!(body["data"]["y"], "ñ");
    assert_eq!(body["data"]["tenant"], 9);
    assert_eq!(body["timestamp"], "2026-11-24T12:00:30.000Z");
    assert!(resp.headers().contains_key("x-request-id"));
    let audit = mem.audit.entries();
    assert_eq!(audit.len(), 1);
    assert_eq!((audit[0].outcome, audit[0].status, audit[0].tenant_id.map(|t| t.0)), (Outcome::Success, 200, Some(9)));
    assert_eq!(audit[0].route, "/crm/probe");
}

#[tokio::test]
async fn cors_echoes_allowed_origin_with_credentials() {
    let (app, _) = app_with(&[]);
    let mut h = authed("admin");
    h.push(("origin", "http://localhost:5173".into()));
    let resp = call(&app, req(Method::POST, &hdrs(&h), "{}")).await;
    assert_eq!(resp.headers()["access-control-allow-origin"], "http://localhost:5173");
    assert_eq!(resp.headers()["access-control-allow-credentials"], "true");
}

#[tokio::test]
async fn cors_ignores_foreign_origin() {
    let (app, _) = app_with(&[]);
    let mut h = authed("admin");
    h.push(("origin", "https://evil.example".into()));
    let resp = call(&app, req(Method::POST, &hdrs(&h), "{}")).await;
    assert_eq!(resp.status(), 200);
    assert!(!resp.headers().contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn preflight_is_answered_for_allowed_origin_only() {
    let (app, mem) = app_with(&[]);
    let ok = call(
        &app,
        req(Method::OPTIONS, &[("origin", "http://localhost:3000"), ("access-control-request-method", "POST")], ""),
    )
    .await;
    assert_eq!(ok.status(), 204);
    assert_eq!(ok.headers()["access-control-allow-origin"], "http://localhost:3000");
    assert_eq!(ok.headers()["access-control-allow-credentials"], "true");
    assert!(ok.headers()["access-control-allow-headers"].to_str().expect("ascii").contains("x-admin-token"));
    let bad = call(&app, req(Method::OPTIONS, &[("origin", "https://evil.example")], "")).await;
    assert_eq!(bad.status(), 403);
    assert!(!bad.headers().contains_key("access-control-allow-origin"));
    assert!(mem.audit.entries().is_empty(), "preflights are not audited");
}

#[tokio::test]
async fn role_not_allowed_is_403_and_audited_with_tenant() {
    let (app, mem) = app_with(&[]);
    let h = authed("setter");
    let resp = call(&app, req(Method::POST, &hdrs(&h), "{}")).await;
    assert_eq!(resp.status(), 403);
    assert_eq!(body_json(&resp)["error"]["code"], "role_not_allowed");
    let audit = mem.audit.entries();
    assert_eq!((audit[0].outcome, audit[0].tenant_id.map(|t| t.0)), (Outcome::Denied, Some(9)));
}

#[tokio::test]
async fn missing_jwt_is_401_with_detail() {
    let (app, mem) = app_with(&[]);
    let resp = call(&app, req(Method::POST, &[("x-admin-token", UNIT_ADMIN_TOKEN)], "{}")).await;
    assert_eq!(resp.status(), 401);
    let body = body_json(&resp);
    assert_eq!(body["success"], false);
    assert_eq!(body["detail"], "authentication required");
    assert_eq!(mem.audit.entries()[0].tenant_id, None);
}

#[tokio::test]
async fn unset_admin_token_refuses_valid_jwt() {
    let (app, _) = app_with(&[("ADMIN_TOKEN", "")]);
    let h = authed("admin");
    assert_eq!(call(&app, req(Method::POST, &hdrs(&h), "{}")).await.status(), 403);
}

#[tokio::test]
async fn rate_limit_gives_429_with_retry_after() {
    let (app, mem) = app_with(&[]);
    let h = authed("admin");
    for _ in 0..3 {
        assert_eq!(call(&app, req(Method::POST, &hdrs(&h), "{}")).await.status(), 200);
    }
    let resp = call(&app, req(Method::POST, &hdrs(&h), "{}")).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "30");
    assert_eq!(body_json(&resp)["error"]["code"], "rate_limited");
    assert_eq!(mem.audit.entries().len(), 4);
}

/// Headers of user `user` of tenant 9 (the fixtures' other callers are user `u`).
fn as_user(user: &str) -> Vec<(&'static str, String)> {
    let claims = json!({"user_id": user, "role": "admin", "tenant_id": 9, "exp": unit_now().timestamp() + 86_400});
    let token = crate::platform::auth::sign_hs256(&claims, crate::testing::UNIT_JWT_KEY.as_bytes());
    vec![
        ("authorization", format!("Bearer {token}")),
        ("x-admin-token", UNIT_ADMIN_TOKEN.into()),
        ("content-type", "application/json".into()),
    ]
}

#[tokio::test]
async fn one_noisy_user_does_not_lock_out_another_user_of_the_tenant() {
    let (app, _) = app_with(&[]);
    let (noisy, quiet) = (as_user("noisy"), as_user("quiet"));
    for _ in 0..3 {
        assert_eq!(call(&app, req(Method::POST, &hdrs(&noisy), "{}")).await.status(), 200);
    }
    assert_eq!(call(&app, req(Method::POST, &hdrs(&noisy), "{}")).await.status(), 429);
    assert_eq!(call(&app, req(Method::POST, &hdrs(&quiet), "{}")).await.status(), 200, "own budget");
    // The noisy user's other routes are their own budgets too.
    const OTHER: Endpoint =
        Endpoint { name: "other", method: Method::POST, path: "/crm/other", access: Access::Manage };
    let other = run_endpoint(&app, &OTHER, req(Method::POST, &hdrs(&noisy), "{}"), |_| async { Reply::ok(&1) }).await;
    assert_eq!(other.status(), 200);
}

#[tokio::test]
async fn the_tenant_ceiling_holds_over_all_its_users() {
    let (app, _) = app_with(&[("TENANT_RATE_LIMIT_PER_MINUTE", "4")]);
    for user in ["a", "a", "b", "c"] {
        assert_eq!(call(&app, req(Method::POST, &hdrs(&as_user(user)), "{}")).await.status(), 200, "{user}");
    }
    let resp = call(&app, req(Method::POST, &hdrs(&as_user("d")), "{}")).await;
    assert_eq!((resp.status().as_u16(), resp.headers()["retry-after"].to_str().ok()), (429, Some("30")));
    // Another tenant has its own ceiling.
    let claims = json!({"user_id": "d", "role": "admin", "tenant_id": 10, "exp": unit_now().timestamp() + 86_400});
    let token = crate::platform::auth::sign_hs256(&claims, crate::testing::UNIT_JWT_KEY.as_bytes());
    let bearer = format!("Bearer {token}");
    let h =
        [("authorization", bearer.as_str()), ("x-admin-token", UNIT_ADMIN_TOKEN), ("content-type", "application/json")];
    assert_eq!(call(&app, req(Method::POST, &h, "{}")).await.status(), 200);
}

#[tokio::test]
async fn bad_bodies_are_4xx() {
    let (app, _) = app_with(&[]);
    let h = authed("admin");
    let resp = call(&app, req(Method::POST, &hdrs(&h), "{not json")).await;
    assert_eq!((resp.status().as_u16(), body_json(&resp)["error"]["code"].clone()), (400, json!("invalid_json")));
    let big = format!("{{\"a\":\"{}\"}}", "x".repeat(100));
    assert_eq!(call(&app, req(Method::POST, &hdrs(&h), &big)).await.status(), 413);
    let mut h2 = authed("admin");
    h2[2].1 = "text/plain".into();
    assert_eq!(call(&app, req(Method::POST, &hdrs(&h2), "{}")).await.status(), 415);
}

#[tokio::test]
async fn wrong_method_is_405() {
    let (app, _) = app_with(&[]);
    let h = authed("admin");
    assert_eq!(call(&app, req(Method::GET, &hdrs(&h), "")).await.status(), 405);
}

#[tokio::test]
async fn handler_errors_keep_their_status_and_never_leak() {
    let (app, mem) = app_with(&[]);
    let h = authed("admin");
    let resp = run_endpoint(&app, &EP, req(Method::POST, &hdrs(&h), "{}"), |_ctx| async {
        Err::<Reply, _>(ApiError::internal("secret table name t-123 failed"))
    })
    .await;
    assert_eq!(resp.status(), 500);
    assert!(!String::from_utf8_lossy(resp.body().as_ref()).contains("t-123"));
    assert_eq!(mem.audit.entries()[0].outcome, Outcome::Failed);
}

#[tokio::test]
async fn redirect_reply_sets_location() {
    let (app, _) = app_with(&[]);
    const PUBLIC: Endpoint = Endpoint { name: "cb", method: Method::GET, path: "/cb", access: Access::Public };
    let resp =
        run_endpoint(&app, &PUBLIC, http::Request::builder().uri("/cb").body(Body::Empty).expect("req"), |_| async {
            Ok(Reply::redirect("http://localhost:5173/crm/marketing?success=connected"))
        })
        .await;
    assert_eq!(resp.status(), 302);
    assert_eq!(resp.headers()["location"], "http://localhost:5173/crm/marketing?success=connected");
}

#[tokio::test]
async fn text_reply_is_plain_text_without_envelope() {
    let (app, _) = app_with(&[]);
    const PUBLIC: Endpoint = Endpoint { name: "hook", method: Method::GET, path: "/hook", access: Access::Public };
    let resp =
        run_endpoint(&app, &PUBLIC, http::Request::builder().uri("/hook").body(Body::Empty).expect("req"), |_| async {
            Ok(Reply::text("1158201444"))
        })
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.body().as_ref(), b"1158201444");
    assert_eq!(resp.headers()["content-type"], "text/plain; charset=utf-8");
}

#[tokio::test]
async fn endpoint_body_limit_overrides_the_default() {
    let (app, _) = app_with(&[]);
    const PUBLIC: Endpoint = Endpoint { name: "hook", method: Method::POST, path: "/hook", access: Access::Public };
    let body = "x".repeat(100); // over MAX_BODY_BYTES=64 of this app
    let call = |limit: usize| {
        let req = http::Request::builder().method("POST").uri("/hook").body(Body::Text(body.clone())).expect("req");
        run_public_endpoint(&app, &PUBLIC, limit, req, |ctx| async move { Reply::ok(&ctx.body.len()) })
    };
    assert_eq!(call(128).await.status(), 200);
    assert_eq!(call(99).await.status(), 413);
}

#[tokio::test]
async fn the_public_pipeline_refuses_an_endpoint_that_is_not_public_and_other_methods() {
    let (app, mem) = app_with(&[]);
    const GUARDED: Endpoint = Endpoint { name: "guarded", method: Method::POST, path: "/g", access: Access::AnyRole };
    const HOOK: Endpoint = Endpoint { name: "hook", method: Method::POST, path: "/hook", access: Access::Public };
    let ran = std::sync::atomic::AtomicUsize::new(0);
    let call = |endpoint: &'static Endpoint, method: &str| {
        let req = http::Request::builder().method(method).uri(endpoint.path).body(Body::Empty).expect("req");
        run_public_endpoint(&app, endpoint, 1024, req, |_| async {
            ran.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Reply::ok(&"ran")
        })
    };
    // A guarded endpoint handed to the public runner is never served without its JWT check.
    let misused = call(&GUARDED, "POST").await;
    assert_eq!(misused.status(), 500);
    assert_eq!(body_json(&misused)["error"]["code"], "internal_error");
    assert_eq!(call(&HOOK, "GET").await.status(), 405);
    assert_eq!(ran.load(std::sync::atomic::Ordering::SeqCst), 0, "the function never ran");
    assert_eq!(call(&HOOK, "POST").await.status(), 200);
    assert_eq!(ran.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(mem.audit.entries().len(), 3, "every answer audited");
}

#[tokio::test]
async fn audit_note_of_a_public_reply_names_tenant_and_failure() {
    let (app, mem) = app_with(&[]);
    const PUBLIC: Endpoint = Endpoint { name: "cb", method: Method::GET, path: "/cb", access: Access::Public };
    let note = AuditNote {
        tenant_id: Some(crate::domain::ids::TenantId(4)),
        user_id: Some("u4".into()),
        error_code: Some("invalid_state"),
    };
    let resp =
        run_endpoint(
            &app,
            &PUBLIC,
            http::Request::builder().uri("/cb").body(Body::Empty).expect("req"),
            |_| async move {
                Ok(Reply::redirect("http://localhost:5173/crm/marketing?error=invalid_state").with_audit(note))
            },
        )
        .await;
    assert_eq!(resp.status(), 302);
    let audit = mem.audit.entries();
    assert_eq!(audit[0].tenant_id.map(|t| t.0), Some(4));
    assert_eq!(audit[0].user_id.as_deref(), Some("u4"));
    assert_eq!((audit[0].outcome, audit[0].error_code.as_deref()), (Outcome::Failed, Some("invalid_state")));
}

#[tokio::test]
async fn extra_headers_are_appended_and_invalid_values_dropped() {
    let (app, _) = app_with(&[]);
    let h = authed("admin");
    let resp = run_endpoint(&app, &EP, req(Method::POST, &hdrs(&h), "{}"), |_| async {
        Ok(Reply::redirect("http://localhost:5173/x")
            .with_header(http::header::SET_COOKIE, "a=1; Path=/cb; HttpOnly")
            .with_header(http::header::SET_COOKIE, "b=2")
            .with_header(http::header::SET_COOKIE, "bad\nvalue"))
    })
    .await;
    assert_eq!(resp.status(), 302);
    let cookies: Vec<&str> = resp.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).collect();
    assert_eq!(cookies, vec!["a=1; Path=/cb; HttpOnly", "b=2"], "both kept apart, the invalid one dropped");
    assert_eq!(resp.headers()["location"], "http://localhost:5173/x");
}
