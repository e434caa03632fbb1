//! One error enum for every endpoint, one JSON shape for every error.
//!
//! The body is the frontend's: `{"success":false,"error":{"code","message"},"detail":"<message>"}`.
//! 4xx are the caller's fault and say why; 5xx never carry internals (the cause is logged with the
//! request id instead).

use http::StatusCode;
use serde_json::{json, Value};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("{message}")]
    Unauthorized { code: &'static str, message: String },
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("request body exceeds {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("content type must be application/json")]
    UnsupportedMediaType,
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("rate limit exceeded, retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// A peer (Meta, YCloud) answered with an error we cannot turn into success.
    #[error("{message}")]
    BadGateway { code: &'static str, message: String },
    /// A dependency is down or throttling us; the client may retry later.
    #[error("{message}")]
    Unavailable { code: &'static str, message: String, retry_after_secs: Option<u64> },
    /// Our bug or a broken dependency. The source is logged, never sent.
    #[error("internal error")]
    Internal(#[source] BoxError),
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest { code, message: message.into() }
    }
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::Unauthorized { code, message: message.into() }
    }
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::Forbidden { code, message: message.into() }
    }
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::NotFound { code, message: message.into() }
    }
    pub fn internal(err: impl Into<BoxError>) -> Self {
        Self::Internal(err.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::BadGateway { .. } => StatusCode::BAD_GATEWAY,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Stable machine-readable code (also used in audit records and redirects).
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. }
            | Self::Unauthorized { code, .. }
            | Self::Forbidden { code, .. }
            | Self::NotFound { code, .. }
            | Self::Conflict { code, .. }
            | Self::BadGateway { code, .. }
            | Self::Unavailable { code, .. } => code,
            Self::MethodNotAllowed => "method_not_allowed",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::RateLimited { .. } => "rate_limited",
            Self::Internal(_) => "internal_error",
        }
    }

    /// Seconds the client should wait, for `Retry-After`.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::RateLimited { retry_after_secs } => Some(*retry_after_secs),
            Self::Unavailable { retry_after_secs, .. } => *retry_after_secs,
            _ => None,
        }
    }

    /// The JSON body. `detail` repeats the message because the frontend shows `detail`.
    pub fn body(&self) -> Value {
        let message = self.to_string();
        json!({
            "success": false,
            "error": { "code": self.code(), "message": message },
            "detail": message,
        })
    }
}

/// What kind of failure a domain error is: the one table from which every feature's errors
/// get their HTTP status (features never build [`ApiError`] themselves).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The caller's input is wrong (400); the message says why.
    BadRequest,
    /// The caller did not prove who it is (401), e.g. a webhook without a valid signature.
    Unauthorized,
    Forbidden,
    NotFound,
    /// The request conflicts with the current state (409), e.g. Meta not connected.
    Conflict,
    /// A peer (Meta, YCloud) answered with an error we cannot turn into success (502).
    BadGateway,
    /// A dependency is down or throttling us (503); the client may retry.
    Unavailable {
        retry_after_secs: Option<u64>,
    },
    /// Our bug or a broken dependency (500): the error is logged, never sent.
    Internal,
}

/// A feature's error enum: says what kind of failure each variant is and gives it a stable code;
/// its `Display` is the message the caller reads (4xx, 502, 503) or the log line (500).
pub trait DomainError: std::error::Error + Send + Sync + 'static {
    fn failure(&self) -> Failure;
    fn code(&self) -> &'static str;
}

impl<E: DomainError> From<E> for ApiError {
    fn from(e: E) -> Self {
        let (code, message) = (e.code(), e.to_string());
        match e.failure() {
            Failure::BadRequest => ApiError::BadRequest { code, message },
            Failure::Unauthorized => ApiError::Unauthorized { code, message },
            Failure::Forbidden => ApiError::Forbidden { code, message },
            Failure::NotFound => ApiError::NotFound { code, message },
            Failure::Conflict => ApiError::Conflict { code, message },
            Failure::BadGateway => ApiError::BadGateway { code, message },
            Failure::Unavailable { retry_after_secs } => ApiError::Unavailable { code, message, retry_after_secs },
            Failure::Internal => ApiError::Internal(Box::new(e)),
        }
    }
}

/// A range query the API cannot accept.
impl DomainError for crate::domain::period::InvalidRange {
    fn failure(&self) -> Failure {
        Failure::BadRequest
    }
    fn code(&self) -> &'static str {
        "invalid_parameter"
    }
}

/// A secret that could not be resolved or is not configured: our deployment's fault (500, the
/// variable named in the log, never in the body).
impl DomainError for crate::platform::secrets::SecretError {
    fn failure(&self) -> Failure {
        Failure::Internal
    }
    fn code(&self) -> &'static str {
        "internal_error"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_variant_maps_to_its_status_and_code() {
        let cases: Vec<(ApiError, u16, &str)> = vec![
            (ApiError::bad_request("invalid_json", "bad"), 400, "invalid_json"),
            (ApiError::unauthorized("missing_token", "no"), 401, "missing_token"),
            (ApiError::forbidden("role_not_allowed", "no"), 403, "role_not_allowed"),
            (ApiError::not_found("route_not_found", "no"), 404, "route_not_found"),
            (ApiError::MethodNotAllowed, 405, "method_not_allowed"),
            (ApiError::PayloadTooLarge { limit: 10 }, 413, "payload_too_large"),
            (ApiError::UnsupportedMediaType, 415, "unsupported_media_type"),
            (ApiError::RateLimited { retry_after_secs: 7 }, 429, "rate_limited"),
            (ApiError::BadGateway { code: "meta_error", message: "x".into() }, 502, "meta_error"),
            (
                ApiError::Unavailable { code: "meta_throttled", message: "x".into(), retry_after_secs: Some(3) },
                503,
                "meta_throttled",
            ),
            (ApiError::internal("boom"), 500, "internal_error"),
        ];
        for (err, status, code) in cases {
            assert_eq!(err.status().as_u16(), status, "{err:?}");
            assert_eq!(err.code(), code);
        }
    }

    #[derive(Debug, thiserror::Error)]
    enum Probe {
        #[error("from must not be after to")]
        Reversed,
        #[error("table t-123 is gone")]
        Broken,
        #[error("peer is busy")]
        Busy,
    }

    impl DomainError for Probe {
        fn failure(&self) -> Failure {
            match self {
                Probe::Reversed => Failure::BadRequest,
                Probe::Broken => Failure::Internal,
                Probe::Busy => Failure::Unavailable { retry_after_secs: Some(4) },
            }
        }
        fn code(&self) -> &'static str {
            "probe"
        }
    }

    #[test]
    fn domain_errors_map_to_status_in_one_place() {
        let bad = ApiError::from(Probe::Reversed);
        assert_eq!((bad.status().as_u16(), bad.code()), (400, "probe"));
        assert_eq!(bad.body()["detail"], "from must not be after to");
        let internal = ApiError::from(Probe::Broken);
        assert_eq!(internal.status().as_u16(), 500);
        assert!(!internal.body().to_string().contains("t-123"));
        let busy = ApiError::from(Probe::Busy);
        assert_eq!((busy.status().as_u16(), busy.retry_after()), (503, Some(4)));
    }

    #[test]
    fn an_invalid_range_is_a_400_invalid_parameter() {
        let err = ApiError::from(crate::domain::period::InvalidRange("from must not be after to".into()));
        assert_eq!((err.status().as_u16(), err.code()), (400, "invalid_parameter"));
    }

    #[test]
    fn internal_error_body_never_leaks_the_cause() {
        let err = ApiError::internal("dynamodb: table crm-secret-name not found at 10.0.0.1");
        let body = err.body().to_string();
        assert!(!body.contains("crm-secret-name"), "{body}");
        assert!(body.contains("\"internal_error\""));
        assert_eq!(err.body()["success"], false);
        assert_eq!(err.body()["detail"], "internal error");
    }

    #[test]
    fn body_has_the_frontend_shape_with_detail() {
        let body = ApiError::bad_request("invalid_parameter", "time_range must be one of 7d, 30d").body();
        assert_eq!(body["success"], false);
        assert_eq!(body["error"]["code"], "invalid_parameter");
        assert_eq!(body["error"]["message"], "time_range must be one of 7d, 30d");
        assert_eq!(body["detail"], "time_range must be one of 7d, 30d");
    }

    #[test]
    fn retry_after_is_given_for_rate_limit_and_throttling_only() {
        assert_eq!(ApiError::RateLimited { retry_after_secs: 12 }.retry_after(), Some(12));
        assert_eq!(ApiError::bad_request("x", "y").retry_after(), None);
    }
}
