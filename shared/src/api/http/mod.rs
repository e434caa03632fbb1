//! The request pipeline every HTTP Lambda runs, and the frontend's response envelope.
//!
//! [`run_endpoint`] (in [`pipeline`]): request id + span → CORS preflight → method check → auth
//! (admin token, JWT, role) → per-user and per-tenant rate limits → body size limit → the
//! endpoint's function → envelope + CORS + `Retry-After` → audit record → metric line. The
//! endpoint's function only sees a [`RequestCtx`] and returns a [`Reply`] or an [`ApiError`].

use chrono::{DateTime, Utc};
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE, ORIGIN, VARY};
use http::{HeaderMap, Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::platform::auth::{Access, Caller};
use crate::platform::error::ApiError;

mod pipeline;
mod reply;
pub use pipeline::{run_endpoint, run_landing_endpoint, run_public_endpoint, run_read_endpoint};
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

/// The caller's address as API Gateway saw it (the HTTP API's `requestContext.http.sourceIp`),
/// `unknown` without one. Never taken from a header: `X-Forwarded-For` is the caller's to write.
pub fn source_address(req: &Request) -> String {
    use lambda_http::request::RequestContext;
    let ip = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(c)) => c.http.source_ip.clone(),
        _ => None,
    };
    ip.filter(|s| !s.is_empty()).unwrap_or_else(|| "unknown".to_string())
}

/// `req` as API Gateway hands it over from `ip` (the local stack's front door and tests).
pub fn with_source_address(req: Request, ip: &str) -> Request {
    use lambda_http::aws_lambda_events::apigw::{
        ApiGatewayV2httpRequestContext as Context, ApiGatewayV2httpRequestContextHttpDescription as Http,
    };
    let mut http = Http::default();
    http.method = req.method().clone();
    http.source_ip = Some(ip.to_string());
    let mut context = Context::default();
    context.http = http;
    req.with_request_context(lambda_http::request::RequestContext::ApiGatewayV2(context))
}

fn parse_query(req: &Request) -> Vec<(String, String)> {
    req.uri().query().map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default()
}

/// Body of a response as JSON (tests and the local stack).
pub fn body_json(resp: &Response<Body>) -> Value {
    serde_json::from_slice(resp.body().as_ref()).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests;
