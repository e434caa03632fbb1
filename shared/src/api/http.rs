//! The request pipeline every HTTP Lambda runs, and the frontend's response envelope.
//!
//! [`run_endpoint`]: request id + span → CORS preflight → method check → auth (admin token, JWT,
//! role) → per-tenant rate limit → body size limit → the endpoint's function → envelope + CORS +
//! `Retry-After` → audit record. The endpoint's function only sees a [`RequestCtx`] and returns a
//! [`Reply`] or an [`ApiError`].

use std::future::Future;
use std::time::Instant;

use chrono::{DateTime, SecondsFormat, Utc};
use http::header::{HeaderName, HeaderValue, CACHE_CONTROL, CONTENT_TYPE, LOCATION, ORIGIN, RETRY_AFTER, VARY};
use http::{HeaderMap, Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};
use tracing::Instrument;

use crate::api::app::App;
use crate::platform::auth::{self, Access, Caller};
use crate::platform::error::ApiError;
use crate::platform::secrets::SecretName;
use crate::store::audit::{AuditEntry, Outcome};
use crate::store::ratelimit::RateDecision;

/// One HTTP endpoint: its name (= crate, binary and audit action), route and who may call it.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub name: &'static str,
    pub method: Method,
    /// The API Gateway route, e.g. `/crm/marketing/token-status`.
    pub path: &'static str,
    pub access: Access,
}

pub const ALLOWED_HEADERS: &str = "authorization, content-type, x-admin-token, x-tenant-id";
pub const ALLOWED_METHODS: &str = "GET, POST, PUT, DELETE, OPTIONS";
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What an endpoint's function receives.
#[derive(Debug)]
pub struct RequestCtx {
    pub request_id: String,
    pub caller: Option<Caller>,
    pub method: Method,
    pub headers: HeaderMap,
    pub query: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub now: DateTime<Utc>,
}

impl RequestCtx {
    /// The verified caller (always present on non-public endpoints).
    pub fn caller(&self) -> Result<&Caller, ApiError> {
        self.caller.as_ref().ok_or_else(|| ApiError::unauthorized("missing_token", "authentication required"))
    }

    /// First value of a query parameter.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The JSON body as `T`, with a clear 4xx for a wrong content type, malformed JSON or a
    /// field of the wrong type.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        if let Some(ct) = self.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
            let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
            if mime != "application/json" && !mime.ends_with("+json") {
                return Err(ApiError::UnsupportedMediaType);
            }
        }
        if self.body.is_empty() {
            return Err(ApiError::bad_request("invalid_json", "request body must be a JSON object"));
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            let code = if e.is_data() { "invalid_body" } else { "invalid_json" };
            ApiError::bad_request(code, format!("request body is not valid: {e}"))
        })
    }
}

/// A successful response: `data` inside the envelope (plus optional extra top-level keys), or a
/// browser redirect.
#[derive(Debug)]
pub struct Reply {
    status: StatusCode,
    body: ReplyBody,
    audit: Option<AuditNote>,
}

/// What a public endpoint learned about its caller, for the audit record (e.g. the OAuth
/// callback's tenant and user from its signed state, and the error it redirected with).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditNote {
    pub tenant_id: Option<crate::domain::ids::TenantId>,
    pub user_id: Option<String>,
    /// Set when the reply stands for a failure (a redirect carrying `?error=`).
    pub error_code: Option<&'static str>,
}

#[derive(Debug)]
enum ReplyBody {
    Data {
        data: Value,
        extra: Map<String, Value>,
    },
    Redirect(String),
    /// `text/plain` (the Meta webhook handshake echoes `hub.challenge` this way).
    Text(String),
}

impl Reply {
    pub fn ok<T: Serialize>(data: &T) -> Result<Self, ApiError> {
        let data = serde_json::to_value(data).map_err(ApiError::internal)?;
        Ok(Self { status: StatusCode::OK, body: ReplyBody::Data { data, extra: Map::new() }, audit: None })
    }

    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// Adds a top-level key beside `data` (the frontend reads e.g. `next_cursor`, `needs_reconnect`).
    pub fn with_top_level(mut self, key: &str, value: Value) -> Self {
        if let ReplyBody::Data { extra, .. } = &mut self.body {
            extra.insert(key.to_string(), value);
        }
        self
    }

    /// `302 Found` to `location` (OAuth callback back to the frontend).
    pub fn redirect(location: impl Into<String>) -> Self {
        Self { status: StatusCode::FOUND, body: ReplyBody::Redirect(location.into()), audit: None }
    }

    /// `200` with a plain-text body (no envelope).
    pub fn text(body: impl Into<String>) -> Self {
        Self { status: StatusCode::OK, body: ReplyBody::Text(body.into()), audit: None }
    }

    /// Attaches what the audit record should say (public endpoints that identify the caller
    /// themselves).
    pub fn with_audit(mut self, note: AuditNote) -> Self {
        self.audit = Some(note);
        self
    }
}

/// RFC 3339 timestamp as the envelope carries it.
pub fn timestamp(now: DateTime<Utc>) -> String {
    now.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    let mut resp = Response::new(Body::Text(body.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

fn render_reply(reply: Reply, now: DateTime<Utc>) -> Response<Body> {
    match reply.body {
        ReplyBody::Data { data, extra } => {
            let mut body = Map::new();
            body.insert("success".into(), Value::Bool(true));
            body.insert("data".into(), data);
            body.insert("timestamp".into(), Value::String(timestamp(now)));
            body.extend(extra);
            json_response(reply.status, &Value::Object(body))
        }
        ReplyBody::Redirect(location) => {
            let mut resp = Response::new(Body::Empty);
            *resp.status_mut() = reply.status;
            if let Ok(v) = HeaderValue::from_str(&location) {
                resp.headers_mut().insert(LOCATION, v);
            }
            resp
        }
        ReplyBody::Text(text) => {
            let mut resp = Response::new(Body::Text(text));
            *resp.status_mut() = reply.status;
            resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
            resp
        }
    }
}

/// The error as the frontend reads it, with `Retry-After` where it applies.
pub fn render_error(err: &ApiError) -> Response<Body> {
    let mut resp = json_response(err.status(), &err.body());
    if let Some(secs) = err.retry_after() {
        resp.headers_mut().insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

/// The request's `Origin` if it is on the allow-list.
fn allowed_origin<'a>(headers: &'a HeaderMap, allow: &[String]) -> Option<&'a str> {
    let origin = headers.get(ORIGIN)?.to_str().ok()?;
    allow.iter().any(|a| a == origin).then_some(origin)
}

fn add_cors(resp: &mut Response<Body>, origin: Option<&str>) {
    let h = resp.headers_mut();
    h.insert(VARY, HeaderValue::from_static("Origin"));
    if let Some(v) = origin.and_then(|o| HeaderValue::from_str(o).ok()) {
        h.insert("access-control-allow-origin", v);
        h.insert("access-control-allow-credentials", HeaderValue::from_static("true"));
        h.insert("access-control-expose-headers", HeaderValue::from_static("retry-after, x-request-id"));
    }
}

/// Answers a CORS preflight: 204 with the allow headers for a listed origin, 403 otherwise.
pub fn preflight(headers: &HeaderMap, allow: &[String]) -> Response<Body> {
    match allowed_origin(headers, allow) {
        Some(origin) => {
            let mut resp = Response::new(Body::Empty);
            *resp.status_mut() = StatusCode::NO_CONTENT;
            add_cors(&mut resp, Some(origin));
            let h = resp.headers_mut();
            h.insert("access-control-allow-methods", HeaderValue::from_static(ALLOWED_METHODS));
            h.insert("access-control-allow-headers", HeaderValue::from_static(ALLOWED_HEADERS));
            h.insert("access-control-max-age", HeaderValue::from_static("600"));
            resp
        }
        None => {
            let mut resp = render_error(&ApiError::forbidden("origin_not_allowed", "origin is not allowed"));
            add_cors(&mut resp, None);
            resp
        }
    }
}

fn request_id(req: &Request) -> String {
    req.lambda_context_ref()
        .map(|c| c.request_id.clone())
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

fn parse_query(req: &Request) -> Vec<(String, String)> {
    req.uri().query().map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default()
}

/// Runs `handler` for `endpoint` inside the shared pipeline. Never fails: every error becomes
/// the JSON error response. Bodies are limited to `MAX_BODY_BYTES`.
pub async fn run_endpoint<F, Fut>(app: &App, endpoint: &Endpoint, req: Request, handler: F) -> Response<Body>
where
    F: FnOnce(RequestCtx) -> Fut,
    Fut: Future<Output = Result<Reply, ApiError>>,
{
    run_endpoint_with_body_limit(app, endpoint, app.config.max_body_bytes, req, handler).await
}

/// [`run_endpoint`] with an endpoint-specific body limit (e.g. the Meta webhook, whose deliveries
/// batch up to 1,000 changes). Still bounded: a larger body is a 413.
pub async fn run_endpoint_with_body_limit<F, Fut>(
    app: &App,
    endpoint: &Endpoint,
    max_body_bytes: usize,
    req: Request,
    handler: F,
) -> Response<Body>
where
    F: FnOnce(RequestCtx) -> Fut,
    Fut: Future<Output = Result<Reply, ApiError>>,
{
    let rid = request_id(&req);
    let span = tracing::info_span!(
        "request",
        request_id = %rid,
        route = endpoint.name,
        tenant_id = tracing::field::Empty,
        user_id = tracing::field::Empty,
    );
    async move {
        let started = Instant::now();
        let now = app.clock.now();
        let origin = allowed_origin(req.headers(), &app.config.cors_allowed_origins).map(str::to_owned);
        if req.method() == Method::OPTIONS {
            return preflight(req.headers(), &app.config.cors_allowed_origins);
        }

        let mut caller: Option<Caller> = None;
        let mut reached_handler = false;
        let result = async {
            if req.method() != endpoint.method {
                return Err(ApiError::MethodNotAllowed);
            }
            if endpoint.access != Access::Public {
                let jwt_key = app.required_secret(SecretName::JwtSecretKey).await?;
                let admin = app.secrets().await?.get(SecretName::AdminToken).map(|s| s.expose());
                let who = auth::identify(req.headers(), jwt_key.expose().as_bytes(), admin, now)?;
                let span = tracing::Span::current();
                span.record("tenant_id", who.tenant_id.0);
                span.record("user_id", who.user_id.as_str());
                // Recorded before the role check, so a refused role is audited under its tenant.
                caller = Some(who.clone());
                auth::authorize(&who, endpoint.access)?;
                match app.rate_limiter.check(who.tenant_id, now, app.config.rate_limit_per_minute).await? {
                    RateDecision::Allowed { .. } => {}
                    RateDecision::Limited { retry_after_secs } => return Err(ApiError::RateLimited { retry_after_secs }),
                }
            }
            let body = req.body().as_ref();
            if body.len() > max_body_bytes {
                return Err(ApiError::PayloadTooLarge { limit: max_body_bytes });
            }
            let ctx = RequestCtx {
                request_id: rid.clone(),
                caller: caller.clone(),
                method: req.method().clone(),
                headers: req.headers().clone(),
                query: parse_query(&req),
                body: body.to_vec(),
                now,
            };
            reached_handler = true;
            handler(ctx).await
        }
        .await;

        let mut note = AuditNote::default();
        let (mut resp, outcome, error_code) = match result {
            Ok(mut reply) => {
                note = reply.audit.take().unwrap_or_default();
                match note.error_code {
                    Some(code) => (render_reply(reply, now), Outcome::Failed, Some(code.to_string())),
                    None => (render_reply(reply, now), Outcome::Success, None),
                }
            }
            Err(err) => {
                if err.status().is_server_error() {
                    tracing::error!(error = %err, source = ?std::error::Error::source(&err).map(ToString::to_string), code = err.code(), "request failed");
                } else {
                    tracing::info!(code = err.code(), status = err.status().as_u16(), "request refused");
                }
                let outcome = if reached_handler { Outcome::Failed } else { Outcome::Denied };
                (render_error(&err), outcome, Some(err.code().to_string()))
            }
        };
        add_cors(&mut resp, origin.as_deref());
        if let Ok(v) = HeaderValue::from_str(&rid) {
            resp.headers_mut().insert(REQUEST_ID, v);
        }
        resp.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));

        let entry = AuditEntry {
            id: uuid::Uuid::new_v4().simple().to_string(),
            at: now,
            request_id: rid.clone(),
            tenant_id: caller.as_ref().map(|c| c.tenant_id).or(note.tenant_id),
            user_id: caller.as_ref().map(|c| c.user_id.clone()).or(note.user_id),
            role: caller.as_ref().map(|c| c.role.as_str().to_string()),
            action: endpoint.name.to_string(),
            method: endpoint.method.to_string(),
            route: endpoint.path.to_string(),
            status: resp.status().as_u16(),
            outcome,
            error_code,
        };
        if let Err(e) = app.audit.record(&entry, app.config.audit_retention_days).await {
            // The response stands; a lost audit record is an alarm, not a user-facing failure.
            tracing::error!(error = %e, "audit record could not be written");
        }
        tracing::info!(status = resp.status().as_u16(), latency_ms = started.elapsed().as_millis() as u64, "request completed");
        resp
    }
    .instrument(span)
    .await
}

/// Body of a response as JSON (tests and the local stack).
pub fn body_json(resp: &Response<Body>) -> Value {
    serde_json::from_slice(resp.body().as_ref()).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::api::app::InMemory;
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
        assert_eq!(
            (audit[0].outcome, audit[0].status, audit[0].tenant_id.map(|t| t.0)),
            (Outcome::Success, 200, Some(9))
        );
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
        let resp = run_endpoint(
            &app,
            &PUBLIC,
            http::Request::builder().uri("/cb").body(Body::Empty).expect("req"),
            |_| async { Ok(Reply::redirect("http://localhost:5173/crm/marketing?success=connected")) },
        )
        .await;
        assert_eq!(resp.status(), 302);
        assert_eq!(resp.headers()["location"], "http://localhost:5173/crm/marketing?success=connected");
    }

    #[tokio::test]
    async fn text_reply_is_plain_text_without_envelope() {
        let (app, _) = app_with(&[]);
        const PUBLIC: Endpoint = Endpoint { name: "hook", method: Method::GET, path: "/hook", access: Access::Public };
        let resp = run_endpoint(
            &app,
            &PUBLIC,
            http::Request::builder().uri("/hook").body(Body::Empty).expect("req"),
            |_| async { Ok(Reply::text("1158201444")) },
        )
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
            run_endpoint_with_body_limit(&app, &PUBLIC, limit, req, |ctx| async move { Reply::ok(&ctx.body.len()) })
        };
        assert_eq!(call(128).await.status(), 200);
        assert_eq!(call(99).await.status(), 413);
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
        let resp = run_endpoint(
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
}
