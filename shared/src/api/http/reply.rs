//! What an endpoint answers: [`Reply`] (the frontend's `{success, data, timestamp}` envelope, a
//! redirect or plain text) and [`render_error`] for every [`ApiError`].

use chrono::{DateTime, SecondsFormat, Utc};
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use http::StatusCode;
use lambda_http::{Body, Response};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::platform::error::ApiError;

/// A successful response: `data` inside the envelope (plus optional extra top-level keys), or a
/// browser redirect.
#[derive(Debug)]
pub struct Reply {
    status: StatusCode,
    body: ReplyBody,
    /// Extra response headers (e.g. the OAuth login's `Set-Cookie`), appended as given.
    headers: Vec<(HeaderName, HeaderValue)>,
    pub(super) audit: Option<AuditNote>,
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
        Ok(Self {
            status: StatusCode::OK,
            body: ReplyBody::Data { data, extra: Map::new() },
            headers: vec![],
            audit: None,
        })
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
        Self { status: StatusCode::FOUND, body: ReplyBody::Redirect(location.into()), headers: vec![], audit: None }
    }

    /// `200` with a plain-text body (no envelope).
    pub fn text(body: impl Into<String>) -> Self {
        Self { status: StatusCode::OK, body: ReplyBody::Text(body.into()), headers: vec![], audit: None }
    }

    /// Adds a response header (appended: several `Set-Cookie` headers stay apart). A value that is
    /// not a valid header value is our bug: it is dropped and logged, never sent half-formed.
    pub fn with_header(mut self, name: HeaderName, value: &str) -> Self {
        match HeaderValue::from_str(value) {
            Ok(v) => self.headers.push((name, v)),
            Err(_) => tracing::error!(header = %name, "invalid response header value dropped"),
        }
        self
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

pub(super) fn render_reply(reply: Reply, now: DateTime<Utc>) -> Response<Body> {
    let mut resp = render_body(reply.status, reply.body, now);
    for (name, value) in reply.headers {
        resp.headers_mut().append(name, value);
    }
    resp
}

fn render_body(status: StatusCode, body: ReplyBody, now: DateTime<Utc>) -> Response<Body> {
    match body {
        ReplyBody::Data { data, extra } => {
            let mut body = Map::new();
            body.insert("success".into(), Value::Bool(true));
            body.insert("data".into(), data);
            body.insert("timestamp".into(), Value::String(timestamp(now)));
            body.extend(extra);
            json_response(status, &Value::Object(body))
        }
        ReplyBody::Redirect(location) => {
            let mut resp = Response::new(Body::Empty);
            *resp.status_mut() = status;
            if let Ok(v) = HeaderValue::from_str(&location) {
                resp.headers_mut().insert(LOCATION, v);
            }
            resp
        }
        ReplyBody::Text(text) => {
            let mut resp = Response::new(Body::Text(text));
            *resp.status_mut() = status;
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
