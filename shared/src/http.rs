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
use serde_json::{json, Map, Value};
use tracing::Instrument;

use crate::app::App;
use crate::audit::{AuditEntry, Outcome};
use crate::auth::{self, Access, Caller};
use crate::error::ApiError;
use crate::ratelimit::RateDecision;
use crate::secrets::SecretName;

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
}

#[derive(Debug)]
enum ReplyBody {
    Data { data: Value, extra: Map<String, Value> },
    Redirect(String),
}

impl Reply {
    pub fn ok<T: Serialize>(data: &T) -> Result<Self, ApiError> {
        let data = serde_json::to_value(data).map_err(ApiError::internal)?;
        Ok(Self { status: StatusCode::OK, body: ReplyBody::Data { data, extra: Map::new() } })
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
        Self { status: StatusCode::FOUND, body: ReplyBody::Redirect(location.into()) }
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
    req.uri()
        .query()
        .map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

/// Runs `handler` for `endpoint` inside the shared pipeline. Never fails: every error becomes
/// the JSON error response.
pub async fn run_endpoint<F, Fut>(app: &App, endpoint: &Endpoint, req: Request, handler: F) -> Response<Body>
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
                let secrets = app.secrets.get().await.map_err(|e| {
                    tracing::error!(error = %e, "secrets unavailable");
                    ApiError::internal(e)
                })?;
                let jwt_key = secrets
                    .get(SecretName::JwtSecretKey)
                    .ok_or_else(|| ApiError::internal("JWT_SECRET_KEY is not configured"))?;
                let admin = secrets.get(SecretName::AdminToken).map(|s| s.expose());
                let who = auth::authenticate(req.headers(), endpoint.access, jwt_key.expose().as_bytes(), admin, now);
                // A valid token with a forbidden role still tells us whose request was refused.
                let who = who?;
                let span = tracing::Span::current();
                span.record("tenant_id", who.tenant_id.0);
                span.record("user_id", who.user_id.as_str());
                caller = Some(who.clone());
                match app.rate_limiter.check(who.tenant_id, now, app.config.rate_limit_per_minute).await? {
                    RateDecision::Allowed { .. } => {}
                    RateDecision::Limited { retry_after_secs } => return Err(ApiError::RateLimited { retry_after_secs }),
                }
            }
            let body = req.body().as_ref();
            if body.len() > app.config.max_body_bytes {
                return Err(ApiError::PayloadTooLarge { limit: app.config.max_body_bytes });
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

        let (mut resp, outcome, error_code) = match result {
            Ok(reply) => (render_reply(reply, now), Outcome::Success, None),
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
            tenant_id: caller.as_ref().map(|c| c.tenant_id),
            user_id: caller.as_ref().map(|c| c.user_id.clone()),
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
    serde_json::from_slice(resp.body().as_ref()).unwrap_or_else(|_| json!(null))
}
