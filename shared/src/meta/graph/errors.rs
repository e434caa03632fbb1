//! Meta failures typed by what the caller should do about them: Graph error codes classified
//! ([`classify`]: 190 → re-auth, 10/200-299 → permission, 4/17/32/613/80000-80014 → throttling,
//! 1/2/`is_transient` → transient) and the wait Meta's usage headers ask for ([`throttle_wait`]).
//! What each becomes for the API caller is `meta::error`'s.

use std::time::Duration;

use http::HeaderMap;
use serde::Deserialize;
use serde_json::Value;

use crate::platform::clock::peer_wait;
use crate::platform::telemetry::peer_text;

/// A Meta failure, typed by what the caller should do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetaError {
    /// Code 190: the token is invalid or expired; needs a new login, never retried.
    #[error("Meta rejected the access token (code 190, subcode {subcode:?})")]
    InvalidToken { subcode: Option<i64> },
    /// Code 10 or 200-299: the token lacks a permission for this object.
    #[error("Meta denied permission (code {code})")]
    Permission { code: i64 },
    /// Rate limited; `retry_after` when Meta said how long.
    #[error("Meta is throttling requests (code {code})")]
    Throttled { code: i64, retry_after: Option<Duration> },
    /// Codes 1/2, `is_transient`, or a 5xx without a Graph error.
    #[error("Meta had a transient failure (code {code})")]
    Transient { code: i64 },
    #[error("Meta did not answer in time")]
    Timeout,
    #[error("Meta could not be reached")]
    Unreachable,
    /// Any other Graph error (bad parameter, used code, …). `message` is Meta's, for logs only.
    #[error("Meta refused the request (code {code}, subcode {subcode:?}): {message}")]
    Request { code: i64, subcode: Option<i64>, message: String },
    #[error("Meta answered with an unexpected body")]
    InvalidResponse,
    /// A `paging.next` that does not point at the configured Graph host (never followed).
    #[error("paging.next points outside the configured Graph base URL")]
    ForeignPagingUrl,
    /// Not sent: Meta's usage headers of the last answer were at or above the client's ceiling
    /// (FIELD-NOTES 9: slow down before the wall). Not retried by the client; the caller defers.
    #[error("Meta usage is at {usage_pct} % of the limit; calls stop until it recovers")]
    NearLimit { usage_pct: u32, retry_after: Duration },
}

impl MetaError {
    /// Whether another attempt may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Throttled { .. } | Self::Transient { .. } | Self::Timeout | Self::Unreachable)
    }
}

/// Maps a Graph error code to its kind (`retry_after` is filled in from the usage headers).
pub fn classify(code: i64, subcode: Option<i64>, is_transient: bool, message: &str) -> MetaError {
    match code {
        190 => MetaError::InvalidToken { subcode },
        10 | 200..=299 => MetaError::Permission { code },
        4 | 17 | 32 | 613 | 80000..=80014 => MetaError::Throttled { code, retry_after: None },
        1 | 2 => MetaError::Transient { code },
        _ if is_transient => MetaError::Transient { code },
        _ => MetaError::Request { code, subcode, message: peer_text(message) },
    }
}

/// The longest wait Meta asks for in its usage headers, if any.
pub fn throttle_wait(headers: &HeaderMap) -> Option<Duration> {
    let json = |name: &str| {
        headers.get(name).and_then(|v| v.to_str().ok()).and_then(|s| serde_json::from_str::<Value>(s).ok())
    };
    let mut wait: Option<Duration> = None;
    let mut take = |d: Duration| wait = Some(wait.map_or(d, |w| w.max(d)));
    // {"<business id>": [{"type": "ads_insights", "call_count": 98, "estimated_time_to_regain_access": 5}]} (minutes)
    if let Some(Value::Object(map)) = json("x-business-use-case-usage") {
        for entries in map.values() {
            for e in entries.as_array().into_iter().flatten() {
                if let Some(min) = e.get("estimated_time_to_regain_access").and_then(Value::as_u64) {
                    if min > 0 {
                        take(peer_wait(min.saturating_mul(60)));
                    }
                }
            }
        }
    }
    // {"acc_id_util_pct": 99.5, "reset_time_duration": 120} (seconds)
    if let Some(v) = json("x-ad-account-usage") {
        let pct = v.get("acc_id_util_pct").and_then(Value::as_f64).unwrap_or(0.0);
        if let Some(secs) = v.get("reset_time_duration").and_then(Value::as_u64) {
            if pct >= 100.0 && secs > 0 {
                take(peer_wait(secs));
            }
        }
    }
    // {"call_count": 100, "total_cputime": 12, "total_time": 40} (percent of a rolling hour):
    // no time is given; a full bucket means "not within a request's budget".
    if let Some(v) = json("x-app-usage") {
        let full = ["call_count", "total_cputime", "total_time"]
            .iter()
            .any(|k| v.get(*k).and_then(Value::as_f64).is_some_and(|p| p >= 100.0));
        if full {
            take(Duration::from_secs(60));
        }
    }
    wait
}

/// Meta's usage as its headers report it: the highest percentage of any limit, and how long
/// until it recovers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub pct: u32,
    pub regain: Duration,
}

/// How long a nearly full bucket is given to drain when Meta says nothing (its windows roll
/// over an hour; a few minutes take the edge off).
pub const USAGE_DEFAULT_REGAIN: Duration = Duration::from_secs(300);

/// The highest usage percentage in `X-Business-Use-Case-Usage` (`call_count`, `total_cputime`,
/// `total_time` of every entry), `X-Ad-Account-Usage` (`acc_id_util_pct`), `X-App-Usage` and
/// `x-fb-ads-insights-throttle` (`app_id_util_pct`, `acc_id_util_pct`); `None` without any.
pub fn usage(headers: &HeaderMap) -> Option<Usage> {
    let json = |name: &str| {
        headers.get(name).and_then(|v| v.to_str().ok()).and_then(|s| serde_json::from_str::<Value>(s).ok())
    };
    let pct_of = |v: &Value, keys: &[&str]| -> Option<f64> {
        keys.iter().filter_map(|k| v.get(*k).and_then(Value::as_f64)).reduce(f64::max)
    };
    let mut pct: Option<f64> = None;
    let mut regain = Duration::ZERO;
    let mut take = |p: Option<f64>| {
        if let Some(p) = p {
            pct = Some(pct.map_or(p, |q| q.max(p)));
        }
    };
    const BUCKETS: [&str; 3] = ["call_count", "total_cputime", "total_time"];
    if let Some(Value::Object(map)) = json("x-business-use-case-usage") {
        for e in map.values().filter_map(Value::as_array).flatten() {
            take(pct_of(e, &BUCKETS));
            if let Some(min) = e.get("estimated_time_to_regain_access").and_then(Value::as_u64) {
                regain = regain.max(peer_wait(min.saturating_mul(60)));
            }
        }
    }
    if let Some(v) = json("x-ad-account-usage") {
        take(pct_of(&v, &["acc_id_util_pct"]));
        if let Some(secs) = v.get("reset_time_duration").and_then(Value::as_u64) {
            regain = regain.max(peer_wait(secs));
        }
    }
    if let Some(v) = json("x-app-usage") {
        take(pct_of(&v, &BUCKETS));
    }
    if let Some(v) = json("x-fb-ads-insights-throttle") {
        take(pct_of(&v, &["app_id_util_pct", "acc_id_util_pct"]));
    }
    let pct = pct?;
    let regain = if regain.is_zero() { USAGE_DEFAULT_REGAIN } else { regain };
    Some(Usage { pct: pct.clamp(0.0, 1000.0).ceil() as u32, regain })
}

/// `{"error": {...}}` as Graph answers a failed call.
#[derive(Deserialize)]
pub(super) struct GraphErrorBody {
    pub(super) error: GraphError,
}

#[derive(Deserialize)]
pub(super) struct GraphError {
    #[serde(default)]
    pub(super) message: String,
    #[serde(default)]
    pub(super) code: i64,
    #[serde(default)]
    pub(super) error_subcode: Option<i64>,
    #[serde(default)]
    pub(super) is_transient: bool,
}

impl GraphError {
    /// The kind of this error; `retry_after` comes from the answer's usage headers.
    pub(super) fn classify(&self, headers: &HeaderMap) -> MetaError {
        let mut mapped = classify(self.code, self.error_subcode, self.is_transient, &self.message);
        if let MetaError::Throttled { retry_after, .. } = &mut mapped {
            *retry_after = throttle_wait(headers);
        }
        mapped
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn usage_is_the_highest_bucket_of_any_header_with_its_regain_time() {
        let mut h = HeaderMap::new();
        assert_eq!(usage(&h), None);
        h.insert(
            "x-app-usage",
            HeaderValue::from_static(r#"{"call_count": 12, "total_cputime": 3, "total_time": 40}"#),
        );
        assert_eq!(usage(&h), Some(Usage { pct: 40, regain: USAGE_DEFAULT_REGAIN }));
        h.insert(
            "x-business-use-case-usage",
            HeaderValue::from_static(
                r#"{"1": [{"type": "ads_insights", "call_count": 20, "total_cputime": 86, "total_time": 5, "estimated_time_to_regain_access": 0}]}"#,
            ),
        );
        assert_eq!(usage(&h).map(|u| u.pct), Some(86));
        h.insert(
            "x-ad-account-usage",
            HeaderValue::from_static(r#"{"acc_id_util_pct": 91.2, "reset_time_duration": 120}"#),
        );
        assert_eq!(usage(&h), Some(Usage { pct: 92, regain: Duration::from_secs(120) }));
        h.insert(
            "x-business-use-case-usage",
            HeaderValue::from_static(r#"{"1": [{"call_count": 50, "estimated_time_to_regain_access": 7}]}"#),
        );
        assert_eq!(usage(&h), Some(Usage { pct: 92, regain: Duration::from_secs(420) }));
        h.insert(
            "x-fb-ads-insights-throttle",
            HeaderValue::from_static(r#"{"app_id_util_pct": 99, "acc_id_util_pct": 3}"#),
        );
        assert_eq!(usage(&h).map(|u| u.pct), Some(99));
        let mut garbage = HeaderMap::new();
        garbage.insert("x-app-usage", HeaderValue::from_static("not json"));
        assert_eq!(usage(&garbage), None);
    }

    #[test]
    fn error_codes_map_to_their_kind() {
        assert_eq!(classify(190, Some(463), false, ""), MetaError::InvalidToken { subcode: Some(463) });
        assert_eq!(classify(10, None, false, ""), MetaError::Permission { code: 10 });
        assert_eq!(classify(200, None, false, ""), MetaError::Permission { code: 200 });
        assert_eq!(classify(299, None, false, ""), MetaError::Permission { code: 299 });
        for code in [4, 17, 32, 613, 80000, 80004, 80014] {
            assert_eq!(classify(code, None, false, ""), MetaError::Throttled { code, retry_after: None }, "{code}");
        }
        assert_eq!(classify(1, None, false, ""), MetaError::Transient { code: 1 });
        assert_eq!(classify(2, None, false, ""), MetaError::Transient { code: 2 });
        assert_eq!(classify(100, Some(33), true, ""), MetaError::Transient { code: 100 });
        assert!(matches!(classify(100, Some(36009), false, "used code"), MetaError::Request { code: 100, .. }));
        assert!(matches!(classify(80015, None, false, ""), MetaError::Request { .. }));
    }

    #[test]
    fn invalid_token_and_permission_are_never_retried() {
        assert!(!MetaError::InvalidToken { subcode: None }.is_retryable());
        assert!(!MetaError::Permission { code: 10 }.is_retryable());
        assert!(MetaError::Throttled { code: 17, retry_after: None }.is_retryable());
        assert!(MetaError::Transient { code: 2 }.is_retryable());
    }

    #[test]
    fn throttle_wait_reads_business_use_case_minutes() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-business-use-case-usage",
            HeaderValue::from_static(
                r#"{"123":[{"type":"ads_insights","call_count":98,"total_cputime":10,"total_time":20,"estimated_time_to_regain_access":5},{"type":"ads_management","estimated_time_to_regain_access":2}]}"#,
            ),
        );
        assert_eq!(throttle_wait(&h), Some(Duration::from_secs(300)));
    }

    #[test]
    fn throttle_wait_ignores_zero_and_reads_ad_account_and_app_usage() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-business-use-case-usage",
            HeaderValue::from_static(r#"{"1":[{"estimated_time_to_regain_access":0}]}"#),
        );
        h.insert("x-app-usage", HeaderValue::from_static(r#"{"call_count":20,"total_cputime":5,"total_time":5}"#));
        assert_eq!(throttle_wait(&h), None);
        h.insert("x-ad-account-usage", HeaderValue::from_static(r#"{"acc_id_util_pct":100,"reset_time_duration":90}"#));
        assert_eq!(throttle_wait(&h), Some(Duration::from_secs(90)));
        h.insert("x-app-usage", HeaderValue::from_static(r#"{"call_count":100,"total_cputime":5,"total_time":5}"#));
        assert_eq!(throttle_wait(&h), Some(Duration::from_secs(90)));
        h.remove("x-ad-account-usage");
        assert_eq!(throttle_wait(&h), Some(Duration::from_secs(60)));
        h.insert("x-app-usage", HeaderValue::from_static("not json"));
        assert_eq!(throttle_wait(&h), None);
    }

    #[test]
    fn huge_waits_from_meta_are_capped_not_overflowed() {
        use crate::platform::clock::MAX_PEER_WAIT;
        let mut h = HeaderMap::new();
        let minutes = format!(r#"{{"1":[{{"call_count":100,"estimated_time_to_regain_access":{}}}]}}"#, u64::MAX);
        h.insert("x-business-use-case-usage", HeaderValue::from_str(&minutes).expect("header"));
        assert_eq!(throttle_wait(&h), Some(MAX_PEER_WAIT));
        assert_eq!(usage(&h).map(|u| u.regain), Some(MAX_PEER_WAIT));
        let secs = format!(r#"{{"acc_id_util_pct":100,"reset_time_duration":{}}}"#, u64::MAX);
        let mut h = HeaderMap::new();
        h.insert("x-ad-account-usage", HeaderValue::from_str(&secs).expect("header"));
        assert_eq!(throttle_wait(&h), Some(MAX_PEER_WAIT));
        assert_eq!(usage(&h).map(|u| u.regain), Some(MAX_PEER_WAIT));
    }
}
