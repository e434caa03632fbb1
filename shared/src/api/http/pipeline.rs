//! [`run_endpoint`] and [`run_read_endpoint`]: request id + span → CORS preflight → method check →
//! auth (admin token, JWT, role; a refused authentication spends its source address's budget,
//! and past it is a `429` with no audit record) → per-user and per-tenant rate limits (public
//! endpoints: per source address) → body size limit → the
//! endpoint's function → envelope + CORS + `Retry-After` → audit record → one `Requests` metric
//! line (route, status class, latency).
//!
//! Round trips: JWT verification is local; the two rate-limit buckets are checked at once; a
//! read-only endpoint's function runs beside them ([`run_read_endpoint`]), so a dashboard
//! request waits for its reads and its rate limit together, then for its audit record.

use std::future::Future;
use std::time::Instant;

use chrono::{DateTime, Utc};
use futures_util::future::{select, Either};
use http::header::{HeaderValue, CACHE_CONTROL};
use http::Method;
use lambda_http::{Body, Request, Response};
use tracing::Instrument;

use super::reply::render_reply;
use super::{add_cors, allowed_origin, parse_query, preflight, request_id, AuditNote, Endpoint, Reply, RequestCtx};
use super::{render_error, source_address, REQUEST_ID};
use crate::api::app::App;
use crate::platform::auth::{self, Access, Caller, JwtRules};
use crate::platform::error::ApiError;
use crate::platform::metrics::{dims, names, status_class, MetricLine, Unit};
use crate::platform::secrets::SecretName;
use crate::store::audit::{AuditEntry, Outcome};
use crate::store::ratelimit::{RateBucket, RateDecision};

/// When the endpoint's function runs relative to the rate limit.
#[derive(Debug, Clone, Copy)]
enum Handling {
    /// After the rate limit admitted the request (functions that write or call out). `limited`:
    /// the reply a refusal becomes instead of the JSON `429` (landing endpoints only).
    AfterRateLimit { limited: Option<fn(&App) -> Reply> },
    /// Beside the rate limit; its result is discarded when the limit refuses (read-only functions).
    BesideRateLimit,
}

/// Functions that write or call out, refused with the JSON `429`.
const AFTER_RATE_LIMIT: Handling = Handling::AfterRateLimit { limited: None };

/// Runs `handler` for `endpoint` inside the shared pipeline. Never fails: every error becomes
/// the JSON error response. Bodies are limited to `MAX_BODY_BYTES`.
pub async fn run_endpoint<F, Fut>(app: &App, endpoint: &Endpoint, req: Request, handler: F) -> Response<Body>
where
    F: FnOnce(RequestCtx) -> Fut,
    Fut: Future<Output = Result<Reply, ApiError>>,
{
    pipeline::<_, _, false>(app, endpoint, app.config.max_body_bytes, AFTER_RATE_LIMIT, req, handler).await
}

/// [`run_endpoint`] for a function that only **reads our own store** (no write, no call to Meta
/// or YCloud): it starts beside the rate-limit check instead of after it, once the caller is
/// authenticated and authorised. When the limit refuses, the function is dropped unfinished and
/// the answer is the 429 — nothing it did needs undoing.
pub async fn run_read_endpoint<F, Fut>(app: &App, endpoint: &Endpoint, req: Request, handler: F) -> Response<Body>
where
    F: FnOnce(RequestCtx) -> Fut,
    Fut: Future<Output = Result<Reply, ApiError>>,
{
    pipeline::<_, _, false>(app, endpoint, app.config.max_body_bytes, Handling::BesideRateLimit, req, handler).await
}

/// [`run_endpoint`] for a public endpoint a **browser** lands on (the OAuth callback), which must
/// never show a JSON page: when its per-source limit refuses, the answer is `limited`'s reply (a
/// redirect) instead of a JSON `429`, and the function does not run.
pub async fn run_landing_endpoint<F, Fut>(
    app: &App,
    endpoint: &Endpoint,
    req: Request,
    limited: fn(&App) -> Reply,
    handler: F,
) -> Response<Body>
where
    F: FnOnce(RequestCtx) -> Fut,
    Fut: Future<Output = Result<Reply, ApiError>>,
{
    pipeline::<_, _, true>(
        app,
        endpoint,
        app.config.max_body_bytes,
        Handling::AfterRateLimit { limited: Some(limited) },
        req,
        handler,
    )
    .await
}

/// [`run_endpoint`] for an [`Access::Public`] endpoint (signed webhooks), with its own body limit
/// (e.g. the Meta webhook, whose deliveries batch up to 1,000 changes; a larger body is a 413):
/// the same pipeline with per-source rate limits, built without the JWT and per-user paths, so a
/// webhook's bootstrap does not link them. An endpoint that is not public is refused with a 500,
/// never served unchecked.
pub async fn run_public_endpoint<F, Fut>(
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
    pipeline::<_, _, true>(app, endpoint, max_body_bytes, AFTER_RATE_LIMIT, req, handler).await
}

/// `PUBLIC`: the endpoint is [`Access::Public`] (checked), so no caller is identified.
async fn pipeline<F, Fut, const PUBLIC: bool>(
    app: &App,
    endpoint: &Endpoint,
    max_body_bytes: usize,
    handling: Handling,
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
        let resp = if req.method() == Method::OPTIONS {
            preflight(req.headers(), &app.config.cors_allowed_origins)
        } else {
            answer::<F, Fut, PUBLIC>(app, endpoint, max_body_bytes, handling, &req, &rid, handler).await
        };
        let status = resp.status().as_u16();
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        request_metric(endpoint.name, status, latency_ms).emit();
        tracing::info!(status, latency_ms = latency_ms as u64, "request completed");
        resp
    }
    .instrument(span)
    .await
}

/// The request's metric line: `Requests` (and `LatencyMs`) by route and status class.
fn request_metric(route: &'static str, status: u16, latency_ms: f64) -> MetricLine {
    MetricLine::new()
        .dimension(dims::ROUTE, route)
        .dimension(dims::STATUS_CLASS, status_class(status))
        .count(names::REQUESTS, 1)
        .value(names::LATENCY_MS, Unit::Milliseconds, latency_ms)
}

/// Everything after the preflight: admission, the function, the response and its audit record.
async fn answer<F, Fut, const PUBLIC: bool>(
    app: &App,
    endpoint: &Endpoint,
    max_body_bytes: usize,
    handling: Handling,
    req: &Request,
    rid: &str,
    handler: F,
) -> Response<Body>
where
    F: FnOnce(RequestCtx) -> Fut,
    Fut: Future<Output = Result<Reply, ApiError>>,
{
    let now = app.clock.now();
    let mut progress = Progress::default();
    let result = async {
        let admitted =
            if PUBLIC { admit_public(endpoint, req) } else { admit(app, endpoint, req, now, &mut progress).await };
        let caller = match admitted {
            Err(refused @ ApiError::Unauthorized { .. }) => {
                if let Err(limited) = refused_auth_limit(app, req, now).await {
                    progress.flood = true;
                    return Err(limited);
                }
                return Err(refused);
            }
            admitted => admitted?,
        };
        let limit = async {
            match &caller {
                Some(who) if !PUBLIC => rate_limit(app, endpoint, who, now).await,
                // Only a public endpoint has no caller.
                _ => source_limit(app, endpoint, req, now).await,
            }
        };
        let out = match handling {
            Handling::AfterRateLimit { limited: landing } => match (limit.await, landing) {
                (Err(ApiError::RateLimited { .. }), Some(limited)) => {
                    let note = AuditNote { error_code: Some("rate_limited"), ..AuditNote::default() };
                    return Ok(limited(app).with_audit(note));
                }
                (admitted, _) => {
                    admitted?;
                    handler(request_ctx(req, rid, caller.clone(), max_body_bytes, now)?).await
                }
            },
            Handling::BesideRateLimit => {
                let ctx = request_ctx(req, rid, caller.clone(), max_body_bytes, now)?;
                gated(limit, handler(ctx)).await?
            }
        };
        progress.reached_handler = true;
        out
    }
    .await;
    let flood = progress.flood;
    let (resp, entry) = respond(app, endpoint, req, rid, now, progress, result);
    if flood {
        return resp;
    }
    if let Err(e) = app.audit.record(&entry, app.config.audit_retention_days).await {
        // The response stands; a lost audit record is an alarm, not a user-facing failure.
        tracing::error!(error = %e, "audit record could not be written");
    }
    resp
}

/// Runs `gate` and `work` together: `work`'s output once `gate` passes; `gate`'s error (with
/// `work` dropped, finished or not) when it fails.
async fn gated<T>(
    gate: impl Future<Output = Result<(), ApiError>>,
    work: impl Future<Output = T>,
) -> Result<T, ApiError> {
    let (gate, work) = (std::pin::pin!(gate), std::pin::pin!(work));
    match select(gate, work).await {
        Either::Left((passed, work)) => {
            passed?;
            Ok(work.await)
        }
        Either::Right((out, gate)) => {
            gate.await?;
            Ok(out)
        }
    }
}

/// How far a request got, for its audit record.
#[derive(Default)]
struct Progress {
    caller: Option<Caller>,
    reached_handler: bool,
    /// A refused authentication past its source's budget: answered `429`, not audited.
    flood: bool,
}

/// Method, then (unless public) admin token + JWT and role: the caller, `None` on a public
/// endpoint. No round trip (secrets are resolved once per container, the JWT is checked locally).
async fn admit(
    app: &App,
    endpoint: &Endpoint,
    req: &Request,
    now: DateTime<Utc>,
    progress: &mut Progress,
) -> Result<Option<Caller>, ApiError> {
    if req.method() != endpoint.method {
        return Err(ApiError::MethodNotAllowed);
    }
    if endpoint.access == Access::Public {
        return Ok(None);
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
    Ok(Some(who))
}

/// [`admit`] for the public pipeline: the method, and the endpoint must be public.
fn admit_public(endpoint: &Endpoint, req: &Request) -> Result<Option<Caller>, ApiError> {
    if endpoint.access != Access::Public {
        return Err(ApiError::Internal(format!("{} is not public: it needs run_endpoint", endpoint.name).into()));
    }
    if req.method() != endpoint.method {
        return Err(ApiError::MethodNotAllowed);
    }
    Ok(None)
}

/// The user's own budget on this route and the ceiling over all the tenant's users, checked in
/// one round trip. A request the user's budget refuses gives back what it took of the tenant's
/// ceiling, so a user already over their budget spends none of it.
async fn rate_limit(app: &App, endpoint: &Endpoint, who: &Caller, now: DateTime<Utc>) -> Result<(), ApiError> {
    let user = RateBucket::user_route(who.tenant_id, &who.user_id, endpoint.name);
    let tenant = RateBucket::tenant(who.tenant_id);
    let limiter = app.rate_limiter.as_ref();
    let (user_says, tenant_says) = tokio::join!(
        limiter.check(&user, now, app.config.rate_limit_per_minute),
        limiter.check(&tenant, now, app.config.tenant_rate_limit_per_minute),
    );
    let user_admits = matches!(user_says, Ok(RateDecision::Allowed { .. }));
    if !user_admits && matches!(tenant_says, Ok(RateDecision::Allowed { .. })) {
        if let Err(e) = limiter.release(&tenant, now).await {
            tracing::warn!(error = %e, "tenant rate-limit slot could not be given back");
        }
    }
    for says in [user_says, tenant_says] {
        if let RateDecision::Limited { retry_after_secs } = says? {
            return Err(ApiError::RateLimited { retry_after_secs });
        }
    }
    Ok(())
}

/// A public endpoint's budget per source address and route (`PUBLIC_RATE_LIMIT_PER_MINUTE`): no
/// tenant is proven before its function runs, so a flood from one address is refused before any
/// signature check, store write or peer call. Meta and YCloud retry a `429` later.
async fn source_limit(app: &App, endpoint: &Endpoint, req: &Request, now: DateTime<Utc>) -> Result<(), ApiError> {
    source_budget(app, endpoint.name, req, now).await
}

/// The bucket name, beside the public routes' names, of refused authentications.
pub const REFUSED_AUTH_BUCKET: &str = "refused-auth";

/// A request whose admin token or JWT was refused proves no tenant, so no user or tenant budget
/// applies: it spends its source address's budget of refused authentications, over every route
/// (`PUBLIC_RATE_LIMIT_PER_MINUTE`). Within it, the refusal is the `401` and its audit record;
/// past it, a `429` with no audit record — a flood of forged tokens writes no audit items. A
/// limiter that cannot answer leaves the `401` standing (logged).
async fn refused_auth_limit(app: &App, req: &Request, now: DateTime<Utc>) -> Result<(), ApiError> {
    match source_budget(app, REFUSED_AUTH_BUCKET, req, now).await {
        Err(limited @ ApiError::RateLimited { .. }) => Err(limited),
        Err(e) => {
            tracing::warn!(error = %e, "refused-authentication budget could not be checked");
            Ok(())
        }
        Ok(()) => Ok(()),
    }
}

/// `route`'s budget for the request's source address.
async fn source_budget(app: &App, route: &str, req: &Request, now: DateTime<Utc>) -> Result<(), ApiError> {
    let bucket = RateBucket::source_route(route, &source_address(req));
    match app.rate_limiter.check(&bucket, now, app.config.public_rate_limit_per_minute).await? {
        RateDecision::Limited { retry_after_secs } => Err(ApiError::RateLimited { retry_after_secs }),
        RateDecision::Allowed { .. } => Ok(()),
    }
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

#[cfg(test)]
mod tests;
