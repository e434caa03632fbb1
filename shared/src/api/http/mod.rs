//! The request pipeline every HTTP Lambda runs, and the frontend's response envelope.
//!
//! [`run_endpoint`]: request id + span → CORS preflight → method check → auth (admin token, JWT,
//! role) → per-tenant rate limit → body size limit → the endpoint's function → envelope + CORS +
//! `Retry-After` → audit record. The endpoint's function only sees a [`RequestCtx`] and returns a
//! [`Reply`] or an [`ApiError`].

use std::future::Future;
use std::time::Instant;

use chrono::{DateTime, Utc};
use http::header::{HeaderName, HeaderValue, CACHE_CONTROL, CONTENT_TYPE, ORIGIN, VARY};
use http::{HeaderMap, Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tracing::Instrument;

use crate::api::app::App;
use crate::platform::auth::{self, Access, Caller, JwtRules};
use crate::platform::error::ApiError;
use crate::platform::secrets::SecretName;

mod reply;
use crate::store::audit::{AuditEntry, Outcome};
use crate::store::ratelimit::{RateBucket, RateDecision};
use reply::render_reply;
pub use reply::{render_error, timestamp, AuditNote, Reply};

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
pub const ALLOWED_METHODS: &str = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What an endpoint's function receives.
#[derive(Debug)]
pub struct RequestCtx {
    pub request_id: String,
    pub caller: Option<Caller>,
    pub method: Method,
    pub headers: HeaderMap,
    pub query: Vec<(String, String)>,
    /// The request's path (what `{param}` segments of the route are read from).
    pub path: String,
    pub body: Vec<u8>,
    pub now: DateTime<Utc>,
}

impl RequestCtx {
    /// The verified caller (always present on non-public endpoints).
    pub fn caller(&self) -> Result<&Caller, ApiError> {
        self.caller.as_ref().ok_or_else(|| ApiError::unauthorized("missing_token", "authentication required"))
    }

    /// The `{name}` segment of `route` (e.g. `/crm/marketing/campaigns/{id}`) in this request's
    /// path, as sent (not decoded: callers validate it, e.g. Meta ids are digits); `None` when the
    /// path does not match the route.
    pub fn path_param(&self, route: &str, name: &str) -> Option<String> {
        let want = format!("{{{name}}}");
        let (r, p) = (route.trim_end_matches('/'), self.path.trim_end_matches('/'));
        let (rs, ps): (Vec<&str>, Vec<&str>) = (r.split('/').collect(), p.split('/').collect());
        if rs.len() != ps.len() {
            return None;
        }
        let mut found = None;
        for (a, b) in rs.iter().zip(&ps) {
            if *a == want {
                found = Some((*b).to_string());
            } else if !(a.starts_with('{') && a.ends_with('}')) && a != b {
                return None;
            }
        }
        found
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
        if req.method() == Method::OPTIONS {
            return preflight(req.headers(), &app.config.cors_allowed_origins);
        }
        let mut progress = Progress::default();
        let result = async {
            admit(app, endpoint, &req, now, &mut progress).await?;
            let ctx = request_ctx(&req, &rid, progress.caller.clone(), max_body_bytes, now)?;
            progress.reached_handler = true;
            handler(ctx).await
        }
        .await;
        let (resp, entry) = respond(app, endpoint, &req, &rid, now, progress, result);
        if let Err(e) = app.audit.record(&entry, app.config.audit_retention_days).await {
            // The response stands; a lost audit record is an alarm, not a user-facing failure.
            tracing::error!(error = %e, "audit record could not be written");
        }
        tracing::info!(
            status = resp.status().as_u16(),
            latency_ms = started.elapsed().as_millis() as u64,
            "request completed"
        );
        resp
    }
    .instrument(span)
    .await
}

/// How far a request got, for its audit record.
#[derive(Default)]
struct Progress {
    caller: Option<Caller>,
    reached_handler: bool,
}

/// Method, then (unless public) admin token + JWT, role and the tenant's rate limit.
async fn admit(
    app: &App,
    endpoint: &Endpoint,
    req: &Request,
    now: DateTime<Utc>,
    progress: &mut Progress,
) -> Result<(), ApiError> {
    if req.method() != endpoint.method {
        return Err(ApiError::MethodNotAllowed);
    }
    if endpoint.access == Access::Public {
        return Ok(());
    }
    let jwt_key = app.required_secret(SecretName::JwtSecretKey).await?;
    let admin = app.secrets().await?.get(SecretName::AdminToken).map(|s| s.expose());
    let jwt = &app.config.jwt;
    let rules = JwtRules::new(jwt_key.expose().as_bytes())
        .with_issuer(jwt.issuer.as_deref())
        .with_audience(jwt.audience.as_deref());
    let who = auth::identify(req.headers(), &rules, admin, now)?;
    let span = tracing::Span::current();
    span.record("tenant_id", who.tenant_id.0);
    span.record("user_id", who.user_id.as_str());
    // Recorded before the role check, so a refused role is audited under its tenant.
    progress.caller = Some(who.clone());
    auth::authorize(&who, endpoint.access)?;
    // The user's own budget on this route first, so a user already over it spends none of the
    // tenant's ceiling; then the ceiling over all the tenant's users.
    let limits = [
        (RateBucket::user_route(who.tenant_id, &who.user_id, endpoint.name), app.config.rate_limit_per_minute),
        (RateBucket::tenant(who.tenant_id), app.config.tenant_rate_limit_per_minute),
    ];
    for (bucket, limit) in limits {
        if let RateDecision::Limited { retry_after_secs } = app.rate_limiter.check(&bucket, now, limit).await? {
            return Err(ApiError::RateLimited { retry_after_secs });
        }
    }
    Ok(())
}

/// What the endpoint's function receives (the body within its limit).
fn request_ctx(
    req: &Request,
    rid: &str,
    caller: Option<Caller>,
    max_body_bytes: usize,
    now: DateTime<Utc>,
) -> Result<RequestCtx, ApiError> {
    let body = req.body().as_ref();
    if body.len() > max_body_bytes {
        return Err(ApiError::PayloadTooLarge { limit: max_body_bytes });
    }
    Ok(RequestCtx {
        request_id: rid.to_string(),
        caller,
        method: req.method().clone(),
        headers: req.headers().clone(),
        query: parse_query(req),
        path: req.uri().path().to_string(),
        body: body.to_vec(),
        now,
    })
}

/// The response (envelope or error, CORS, request id, no-store) and its audit record.
fn respond(
    app: &App,
    endpoint: &Endpoint,
    req: &Request,
    rid: &str,
    now: DateTime<Utc>,
    progress: Progress,
    result: Result<Reply, ApiError>,
) -> (Response<Body>, AuditEntry) {
    let mut note = AuditNote::default();
    let (mut resp, outcome, error_code) = match result {
        Ok(mut reply) => {
            note = reply.audit.take().unwrap_or_default();
            let outcome = if note.error_code.is_some() { Outcome::Failed } else { Outcome::Success };
            (render_reply(reply, now), outcome, note.error_code.map(str::to_string))
        }
        Err(err) => {
            if err.status().is_server_error() {
                tracing::error!(error = %err, source = ?std::error::Error::source(&err).map(ToString::to_string), code = err.code(), "request failed");
            } else {
                tracing::info!(code = err.code(), status = err.status().as_u16(), "request refused");
            }
            let outcome = if progress.reached_handler { Outcome::Failed } else { Outcome::Denied };
            (render_error(&err), outcome, Some(err.code().to_string()))
        }
    };
    add_cors(&mut resp, allowed_origin(req.headers(), &app.config.cors_allowed_origins));
    if let Ok(v) = HeaderValue::from_str(rid) {
        resp.headers_mut().insert(REQUEST_ID, v);
    }
    resp.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let caller = progress.caller.as_ref();
    let entry = AuditEntry {
        id: uuid::Uuid::new_v4().simple().to_string(),
        at: now,
        request_id: rid.to_string(),
        tenant_id: caller.map(|c| c.tenant_id).or(note.tenant_id),
        user_id: caller.map(|c| c.user_id.clone()).or(note.user_id),
        role: caller.map(|c| c.role.as_str().to_string()),
        action: endpoint.name.to_string(),
        method: endpoint.method.to_string(),
        route: endpoint.path.to_string(),
        status: resp.status().as_u16(),
        outcome,
        error_code,
    };
    (resp, entry)
}

/// Body of a response as JSON (tests and the local stack).
pub fn body_json(resp: &Response<Body>) -> Value {
    serde_json::from_slice(resp.body().as_ref()).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests;
