//! The Meta Graph API client every Meta call of the product goes through.
//!
//! - versioned base URL from config (`META_GRAPH_BASE_URL` + `META_GRAPH_API_VERSION`);
//! - `appsecret_proof` (HMAC-SHA256 of the access token with the app secret) on every call that
//!   carries a token;
//! - cursor paging until `paging.next` is absent, following `next` only when its scheme, host and
//!   port equal the configured base URL (FIELD-NOTES 22: `next` carries the token);
//! - Meta error codes mapped to [`MetaError`] (190 → re-auth, 10/200-299 → permission,
//!   4/17/32/613/80000-80014 → throttling, 1/2/`is_transient` → transient);
//! - retries with exponential backoff on transient errors and throttling, honouring
//!   `estimated_time_to_regain_access` (`X-Business-Use-Case-Usage`), `X-Ad-Account-Usage` and
//!   `X-App-Usage`; a wait longer than the configured budget gives up at once with the wait as
//!   `Retry-After` instead of holding a Lambda;
//! - a timeout on every request.
//!
//! Graph URLs are never logged (`reqwest` errors are stripped of their URL) and tokens, codes and
//! secrets never leave this module except as [`SecretString`].

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use http::{HeaderMap, Method};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use url::Url;

use crate::platform::crypto::hmac_sha256;
use crate::platform::error::ApiError;
pub use crate::platform::retry::{RetryPolicy, Sleeper, TokioSleeper};
use crate::platform::secrets::SecretString;

/// Scopes the product asks for: insights (`ads_read`), business listing (`business_management`)
/// and lead-ads retrieval (`leads_retrieval` plus the page permissions it depends on).
pub const OAUTH_SCOPES: &[&str] =
    &["ads_read", "business_management", "leads_retrieval", "pages_show_list", "pages_read_engagement"];

/// Fields of a Facebook Page the product reads (never the page's own access token).
pub const PAGE_FIELDS: &str = "id,name";
/// Fields of a lead-ads lead (`GET /{leadgen_id}`) the product reads.
pub const LEADGEN_FIELDS: &str = "created_time,field_data,campaign_id,campaign_name,ad_id,ad_name";
/// Fields of an ad account the product reads.
pub const AD_ACCOUNT_FIELDS: &str = "id,account_id,name,currency,timezone_name,account_status";
/// Page size asked of Meta for list calls.
pub const PAGE_LIMIT: &str = "100";
/// Guard against a peer that pages forever.
const MAX_PAGES: usize = 500;

/// Everything the client needs besides the HTTP client.
#[derive(Debug, Clone)]
pub struct GraphSettings {
    pub base_url: Url,
    pub api_version: String,
    pub app_id: String,
    pub app_secret: SecretString,
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
}

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
        _ => MetaError::Request { code, subcode, message: message.chars().take(300).collect() },
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
                        take(Duration::from_secs(min * 60));
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
                take(Duration::from_secs(secs));
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

/// `paging.next` is followed only on the configured Graph origin.
pub fn same_origin(base: &Url, candidate: &Url) -> bool {
    base.scheme() == candidate.scheme()
        && base.host_str() == candidate.host_str()
        && base.port_or_known_default() == candidate.port_or_known_default()
}

/// The proof Meta requires with every token: hex HMAC-SHA256(app_secret, access_token).
pub fn appsecret_proof(app_secret: &SecretString, token: &SecretString) -> String {
    hex::encode(hmac_sha256(app_secret.expose().as_bytes(), token.expose().as_bytes()))
}

/// An access token as Meta hands it out.
#[derive(Debug, Clone)]
pub struct AccessToken {
    pub token: SecretString,
    pub expires_in: Option<i64>,
}

/// What `debug_token` says about a token.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenInfo {
    pub is_valid: bool,
    pub app_id: Option<String>,
    pub user_id: Option<String>,
    /// `None` = never expires (Meta sends 0).
    pub expires_at: Option<DateTime<Utc>>,
    pub data_access_expires_at: Option<DateTime<Utc>>,
    pub scopes: Vec<String>,
}

/// A Business Manager (portfolio), as the frontend reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Business {
    pub id: String,
    #[serde(default)]
    pub name: String,
}

/// An ad account, as the frontend reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdAccount {
    /// `act_<account_id>`.
    pub id: String,
    pub account_id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub timezone_name: Option<String>,
    /// 1 = active, 2 = disabled, 3 = unsettled, … (Meta's numbers).
    #[serde(default)]
    pub account_status: i64,
}

/// A Facebook Page the connected user manages (lead-ads webhooks are per page).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FacebookPage {
    pub id: String,
    #[serde(default)]
    pub name: String,
}

/// One answer of a lead-ads form field (`field_data[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadField {
    pub name: String,
    #[serde(default)]
    pub values: Vec<String>,
}

/// A lead-ads lead as `GET /{leadgen_id}?fields=`[`LEADGEN_FIELDS`] returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leadgen {
    pub id: String,
    /// Meta's `2026-11-24T12:00:00+0000` (no colon in the offset).
    pub created_time: String,
    #[serde(default)]
    pub field_data: Vec<LeadField>,
    #[serde(default)]
    pub campaign_id: Option<String>,
    #[serde(default)]
    pub campaign_name: Option<String>,
    #[serde(default)]
    pub ad_id: Option<String>,
    #[serde(default)]
    pub ad_name: Option<String>,
}

#[derive(Deserialize)]
struct GraphErrorBody {
    error: GraphError,
}

#[derive(Deserialize)]
struct GraphError {
    #[serde(default)]
    message: String,
    #[serde(default)]
    code: i64,
    #[serde(default)]
    error_subcode: Option<i64>,
    #[serde(default)]
    is_transient: bool,
}

#[derive(Deserialize)]
struct Page<T> {
    #[serde(default = "Vec::new")]
    data: Vec<T>,
    #[serde(default)]
    paging: Option<Paging>,
}

#[derive(Deserialize)]
struct Paging {
    #[serde(default)]
    next: Option<String>,
}

fn epoch(secs: Option<i64>) -> Option<DateTime<Utc>> {
    secs.filter(|s| *s > 0).and_then(|s| Utc.timestamp_opt(s, 0).single())
}

/// The Graph API client. Cheap to build per request (the `reqwest::Client` is shared).
pub struct GraphClient {
    http: reqwest::Client,
    settings: GraphSettings,
    sleeper: std::sync::Arc<dyn Sleeper>,
}

impl std::fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphClient").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl GraphClient {
    pub fn new(http: reqwest::Client, settings: GraphSettings) -> Self {
        Self { http, settings, sleeper: std::sync::Arc::new(TokioSleeper) }
    }

    pub fn with_sleeper(mut self, sleeper: std::sync::Arc<dyn Sleeper>) -> Self {
        self.sleeper = sleeper;
        self
    }

    pub fn settings(&self) -> &GraphSettings {
        &self.settings
    }

    /// `{base}/{version}/{path}?{params}`.
    fn url(&self, path: &str, params: &[(&str, &str)]) -> Result<Url, MetaError> {
        let mut url = self.settings.base_url.clone();
        let base_path = url.path().trim_end_matches('/').to_string();
        url.set_path(&format!("{base_path}/{}/{}", self.settings.api_version, path.trim_start_matches('/')));
        url.set_query(None);
        if !params.is_empty() {
            url.query_pairs_mut().extend_pairs(params);
        }
        Ok(url)
    }

    /// Replaces `access_token`/`appsecret_proof` in `url` with ours.
    fn authorize(&self, url: &mut Url, token: &SecretString) {
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| k != "access_token" && k != "appsecret_proof")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        url.set_query(None);
        let mut q = url.query_pairs_mut();
        q.extend_pairs(kept);
        q.append_pair("access_token", token.expose());
        q.append_pair("appsecret_proof", &appsecret_proof(&self.settings.app_secret, token));
    }

    async fn send_once(&self, method: &Method, url: &Url) -> Result<Value, MetaError> {
        let resp = self
            .http
            .request(method.clone(), url.clone())
            .timeout(self.settings.request_timeout)
            .send()
            .await
            .map_err(|e| {
            let e = e.without_url();
            if e.is_timeout() {
                MetaError::Timeout
            } else {
                tracing::warn!(error = %e, "Meta request failed before an answer");
                MetaError::Unreachable
            }
        })?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes =
            resp.bytes().await.map_err(|e| if e.is_timeout() { MetaError::Timeout } else { MetaError::Unreachable })?;
        let body: Option<Value> = serde_json::from_slice(&bytes).ok();
        if let Some(err) = body.as_ref().and_then(|b| serde_json::from_value::<GraphErrorBody>(b.clone()).ok()) {
            let e = err.error;
            let mut mapped = classify(e.code, e.error_subcode, e.is_transient, &e.message);
            if let MetaError::Throttled { retry_after, .. } = &mut mapped {
                *retry_after = throttle_wait(&headers);
            }
            return Err(mapped);
        }
        if status.is_server_error() {
            return Err(MetaError::Transient { code: i64::from(status.as_u16()) });
        }
        if status.as_u16() == 429 {
            return Err(MetaError::Throttled { code: 429, retry_after: throttle_wait(&headers) });
        }
        match body {
            Some(v) if status.is_success() => Ok(v),
            _ => Err(MetaError::InvalidResponse),
        }
    }

    /// One call with the retry policy applied.
    async fn send(&self, method: Method, url: &Url, what: &'static str) -> Result<Value, MetaError> {
        let policy = &self.settings.retry;
        let mut attempt = 1;
        loop {
            let err = match self.send_once(&method, url).await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            if !err.is_retryable() {
                tracing::warn!(call = what, error = %err, "Meta call failed");
                return Err(err);
            }
            let backoff = policy.backoff(attempt);
            let wait = match &err {
                MetaError::Throttled { retry_after: Some(w), .. } => (*w).max(backoff),
                _ => backoff,
            };
            if !policy.allows_another(attempt) || wait > policy.max_delay {
                tracing::warn!(call = what, error = %err, attempts = attempt, "Meta call gave up");
                return Err(match err {
                    MetaError::Throttled { code, retry_after } => {
                        MetaError::Throttled { code, retry_after: retry_after.or(Some(wait)) }
                    }
                    other => other,
                });
            }
            tracing::info!(call = what, error = %err, attempt, wait_ms = wait.as_millis() as u64, "Meta call will be retried");
            self.sleeper.sleep(wait).await;
            attempt += 1;
        }
    }

    /// GET of one object with the token.
    pub async fn get(
        &self,
        path: &str,
        params: &[(&str, &str)],
        token: &SecretString,
        what: &'static str,
    ) -> Result<Value, MetaError> {
        let mut url = self.url(path, params)?;
        self.authorize(&mut url, token);
        self.send(Method::GET, &url, what).await
    }

    /// Every element of a paged edge, following `paging.next` until it is absent.
    pub async fn get_all<T: DeserializeOwned>(
        &self,
        path: &str,
        params: &[(&str, &str)],
        token: &SecretString,
        what: &'static str,
    ) -> Result<Vec<T>, MetaError> {
        let mut url = self.url(path, params)?;
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            self.authorize(&mut url, token);
            let page: Page<T> = serde_json::from_value(self.send(Method::GET, &url, what).await?)
                .map_err(|_| MetaError::InvalidResponse)?;
            out.extend(page.data);
            let Some(next) = page.paging.and_then(|p| p.next) else {
                return Ok(out);
            };
            let next = Url::parse(&next).map_err(|_| MetaError::InvalidResponse)?;
            if !same_origin(&self.settings.base_url, &next) {
                tracing::error!(call = what, "refusing to follow a paging.next outside the Graph base URL");
                return Err(MetaError::ForeignPagingUrl);
            }
            url = next;
        }
        tracing::warn!(call = what, pages = MAX_PAGES, "stopped paging at the page cap");
        Ok(out)
    }

    /// Step 1 of the login: the dialog's `code` → short-lived user token.
    pub async fn exchange_code(&self, code: &str, redirect_uri: &Url) -> Result<AccessToken, MetaError> {
        let url = self.url(
            "oauth/access_token",
            &[
                ("client_id", &self.settings.app_id),
                ("redirect_uri", redirect_uri.as_str()),
                ("client_secret", self.settings.app_secret.expose()),
                ("code", code),
            ],
        )?;
        parse_token(self.send(Method::GET, &url, "oauth.exchange_code").await?)
    }

    /// Step 2: short-lived → long-lived (~60 days) token (`grant_type=fb_exchange_token`).
    pub async fn exchange_long_lived(&self, short: &SecretString) -> Result<AccessToken, MetaError> {
        let url = self.url(
            "oauth/access_token",
            &[
                ("grant_type", "fb_exchange_token"),
                ("client_id", &self.settings.app_id),
                ("client_secret", self.settings.app_secret.expose()),
                ("fb_exchange_token", short.expose()),
            ],
        )?;
        parse_token(self.send(Method::GET, &url, "oauth.exchange_long_lived").await?)
    }

    /// Expiry, data-access expiry, scopes and user of `token` (asked with the app token).
    pub async fn debug_token(&self, token: &SecretString) -> Result<TokenInfo, MetaError> {
        let app_token = SecretString::new(format!("{}|{}", self.settings.app_id, self.settings.app_secret.expose()));
        let v = self.get("debug_token", &[("input_token", token.expose())], &app_token, "debug_token").await?;
        #[derive(Deserialize)]
        struct Envelope {
            data: Data,
        }
        #[derive(Deserialize)]
        struct Data {
            #[serde(default)]
            is_valid: bool,
            #[serde(default)]
            app_id: Option<String>,
            #[serde(default)]
            user_id: Option<String>,
            #[serde(default)]
            expires_at: Option<i64>,
            #[serde(default)]
            data_access_expires_at: Option<i64>,
            #[serde(default)]
            scopes: Vec<String>,
        }
        let d = serde_json::from_value::<Envelope>(v).map_err(|_| MetaError::InvalidResponse)?.data;
        Ok(TokenInfo {
            is_valid: d.is_valid,
            app_id: d.app_id,
            user_id: d.user_id,
            expires_at: epoch(d.expires_at),
            data_access_expires_at: epoch(d.data_access_expires_at),
            scopes: d.scopes,
        })
    }

    /// Business Managers of the token's user (`/me/businesses`), all pages.
    pub async fn businesses(&self, token: &SecretString) -> Result<Vec<Business>, MetaError> {
        self.get_all("me/businesses", &[("fields", "id,name"), ("limit", PAGE_LIMIT)], token, "me.businesses").await
    }

    /// Ad accounts of one business: owned, then client accounts (deduplicated), all pages.
    pub async fn business_ad_accounts(
        &self,
        token: &SecretString,
        business_id: &str,
    ) -> Result<Vec<AdAccount>, MetaError> {
        let params = [("fields", AD_ACCOUNT_FIELDS), ("limit", PAGE_LIMIT)];
        let mut all: Vec<AdAccount> = self
            .get_all(&format!("{business_id}/owned_ad_accounts"), &params, token, "business.owned_ad_accounts")
            .await?;
        let client: Vec<AdAccount> = self
            .get_all(&format!("{business_id}/client_ad_accounts"), &params, token, "business.client_ad_accounts")
            .await?;
        for a in client {
            if !all.iter().any(|b| b.id == a.id) {
                all.push(a);
            }
        }
        Ok(all)
    }

    /// Ad accounts of the token's user (`/me/adaccounts`), all pages.
    pub async fn user_ad_accounts(&self, token: &SecretString) -> Result<Vec<AdAccount>, MetaError> {
        self.get_all("me/adaccounts", &[("fields", AD_ACCOUNT_FIELDS), ("limit", PAGE_LIMIT)], token, "me.adaccounts")
            .await
    }

    /// Facebook Pages the token's user manages (`/me/accounts`), all pages of results.
    pub async fn managed_pages(&self, token: &SecretString) -> Result<Vec<FacebookPage>, MetaError> {
        self.get_all("me/accounts", &[("fields", PAGE_FIELDS), ("limit", PAGE_LIMIT)], token, "me.accounts").await
    }

    /// One lead-ads lead (`GET /{leadgen_id}`); `leadgen_id` must be numeric (never a path).
    pub async fn leadgen(&self, token: &SecretString, leadgen_id: &str) -> Result<Leadgen, MetaError> {
        if leadgen_id.is_empty() || !leadgen_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(MetaError::Request { code: 100, subcode: None, message: "leadgen id is not numeric".into() });
        }
        let v = self.get(leadgen_id, &[("fields", LEADGEN_FIELDS)], token, "leadgen.get").await?;
        serde_json::from_value(v).map_err(|_| MetaError::InvalidResponse)
    }

    /// Revokes the app's permissions for the user (`DELETE /me/permissions`).
    pub async fn revoke_permissions(&self, token: &SecretString) -> Result<(), MetaError> {
        let mut url = self.url("me/permissions", &[])?;
        self.authorize(&mut url, token);
        self.send(Method::DELETE, &url, "me.permissions.delete").await.map(|_| ())
    }
}

fn parse_token(v: Value) -> Result<AccessToken, MetaError> {
    let token =
        v.get("access_token").and_then(Value::as_str).filter(|t| !t.is_empty()).ok_or(MetaError::InvalidResponse)?;
    Ok(AccessToken { token: SecretString::new(token), expires_in: v.get("expires_in").and_then(Value::as_i64) })
}

/// The API error a Meta failure becomes when no better handling applies (502/503 for peer trouble,
/// never a 500: it is not our bug).
pub fn api_error(err: &MetaError) -> ApiError {
    match err {
        MetaError::InvalidToken { .. } => ApiError::Conflict {
            code: "meta_token_expired",
            message: "Meta no longer accepts the stored token; reconnect the Meta account".into(),
        },
        MetaError::Permission { .. } => ApiError::forbidden(
            "meta_permission_denied",
            "the connected Meta user lacks permission for this; reconnect granting the requested permissions",
        ),
        MetaError::Throttled { retry_after, .. } => ApiError::Unavailable {
            code: "meta_throttled",
            message: "Meta is rate limiting this account; retry later".into(),
            retry_after_secs: Some(retry_after.map_or(60, |d| d.as_secs().max(1))),
        },
        MetaError::Transient { .. } | MetaError::Timeout | MetaError::Unreachable => ApiError::Unavailable {
            code: "meta_unavailable",
            message: "Meta is temporarily unavailable; retry shortly".into(),
            retry_after_secs: Some(5),
        },
        MetaError::Request { .. } | MetaError::InvalidResponse | MetaError::ForeignPagingUrl => {
            ApiError::BadGateway { code: "meta_error", message: "Meta answered with an error".into() }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use http::HeaderValue;

    use super::*;

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
    fn paging_next_is_followed_only_on_the_graph_origin() {
        let base = Url::parse("https://graph.facebook.com").expect("url");
        let ok = Url::parse("https://graph.facebook.com/v21.0/me/businesses?after=x").expect("url");
        assert!(same_origin(&base, &ok));
        assert!(same_origin(&base, &Url::parse("https://graph.facebook.com:443/x").expect("url")));
        for bad in [
            "http://graph.facebook.com/v21.0/me",
            "https://graph.facebook.com.evil.example/v21.0/me",
            "https://evil.example/v21.0/me",
            "https://graph.facebook.com:8443/v21.0/me",
        ] {
            assert!(!same_origin(&base, &Url::parse(bad).expect("url")), "{bad}");
        }
        let local = Url::parse("http://127.0.0.1:4000").expect("url");
        assert!(same_origin(&local, &Url::parse("http://127.0.0.1:4000/v21.0/me?after=1").expect("url")));
        assert!(!same_origin(&local, &Url::parse("http://127.0.0.1:4001/v21.0/me").expect("url")));
    }

    #[test]
    fn appsecret_proof_is_hex_hmac_of_the_token() {
        let proof = appsecret_proof(&SecretString::new("secret"), &SecretString::new("token"));
        assert_eq!(proof.len(), 64);
        assert_eq!(proof, hex::encode(hmac_sha256(b"secret", b"token")));
        assert_ne!(proof, appsecret_proof(&SecretString::new("secret"), &SecretString::new("token2")));
    }

    fn client(base: &str) -> GraphClient {
        GraphClient::new(
            reqwest::Client::new(),
            GraphSettings {
                base_url: Url::parse(base).expect("url"),
                api_version: "v21.0".into(),
                app_id: "app".into(),
                app_secret: SecretString::new("s3cr3t"),
                request_timeout: Duration::from_millis(200),
                retry: RetryPolicy {
                    max_attempts: 3,
                    base_delay: Duration::from_millis(1),
                    max_delay: Duration::from_millis(5),
                    jitter: crate::platform::retry::Jitter::Proportional,
                },
            },
        )
    }

    #[test]
    fn urls_carry_version_token_and_proof_and_replace_foreign_ones() {
        let c = client("http://127.0.0.1:9/prefix/");
        let mut url = c.url("me/businesses", &[("fields", "id,name")]).expect("url");
        assert_eq!(url.path(), "/prefix/v21.0/me/businesses");
        let token = SecretString::new("tok");
        url.query_pairs_mut().append_pair("access_token", "someone-elses").append_pair("appsecret_proof", "zz");
        c.authorize(&mut url, &token);
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        assert_eq!(pairs.iter().filter(|(k, _)| k == "access_token").count(), 1);
        assert!(pairs.contains(&("access_token".into(), "tok".into())));
        assert!(pairs.contains(&("appsecret_proof".into(), appsecret_proof(&SecretString::new("s3cr3t"), &token))));
        assert!(pairs.contains(&("fields".into(), "id,name".into())));
    }

    #[derive(Default)]
    struct RecordingSleeper(Mutex<Vec<Duration>>);

    #[async_trait::async_trait]
    impl Sleeper for RecordingSleeper {
        async fn sleep(&self, d: Duration) {
            self.0.lock().unwrap_or_else(|p| p.into_inner()).push(d);
        }
    }

    #[tokio::test]
    async fn unreachable_meta_is_retried_then_reported() {
        // A port that was free a moment ago: connection refused, no real waiting.
        let port =
            std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("port");
        let sleeper = std::sync::Arc::new(RecordingSleeper::default());
        let c = client(&format!("http://127.0.0.1:{port}")).with_sleeper(sleeper.clone());
        let err = c.businesses(&SecretString::new("t")).await.expect_err("must fail");
        assert!(matches!(err, MetaError::Unreachable | MetaError::Timeout), "{err:?}");
        assert_eq!(sleeper.0.lock().map(|v| v.len()).unwrap_or(0), 2, "3 attempts = 2 waits");
        assert_eq!(api_error(&err).status().as_u16(), 503);
    }

    #[test]
    fn api_errors_are_502_503_or_reconnect() {
        assert_eq!(api_error(&MetaError::InvalidToken { subcode: None }).code(), "meta_token_expired");
        let t = api_error(&MetaError::Throttled { code: 17, retry_after: Some(Duration::from_secs(300)) });
        assert_eq!((t.status().as_u16(), t.retry_after()), (503, Some(300)));
        assert_eq!(api_error(&MetaError::InvalidResponse).status().as_u16(), 502);
        assert_eq!(
            api_error(&MetaError::Request { code: 100, subcode: None, message: "x".into() }).status().as_u16(),
            502
        );
    }
}
