//! The Graph client itself: versioned URLs, `appsecret_proof` on every call with a token, one
//! call with the retry policy (backoff, Meta's own waits, the budget), cursor paging on the
//! configured origin only, and the calls the product makes.

use std::time::Duration;

use http::Method;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use url::Url;

use super::errors::{throttle_wait, usage, GraphErrorBody, MetaError, Usage};
use super::wire::{
    epoch, parse_token, AccessToken, AdAccount, Business, FacebookPage, Page, TokenInfo, AD_ACCOUNT_FIELDS,
    PAGE_FIELDS, PAGE_LIMIT,
};
use crate::platform::crypto::hmac_sha256;
use crate::platform::http_client::{read_capped, BodyError};
use crate::platform::metrics::{self, names, MetricLine};
use crate::platform::retry::{RetryPolicy, Sleeper, TokioSleeper};
use crate::platform::secrets::SecretString;

/// A Graph object id used in a path must be numeric (never a path of its own).
pub(super) fn numeric(id: &str, what: &str) -> Result<(), MetaError> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(MetaError::Request { code: 100, subcode: None, message: format!("{what} is not numeric") });
    }
    Ok(())
}

/// Guard against a peer that pages forever.
const MAX_PAGES: usize = 500;

/// The largest Graph answer read (a page of 25–100 objects is a few kB; an insights report
/// page well under 1 MiB): a longer body is [`MetaError::InvalidResponse`], never buffered whole.
pub const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

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

/// `paging.next` is followed only on the configured Graph origin.
pub fn same_origin(base: &Url, candidate: &Url) -> bool {
    base.scheme() == candidate.scheme()
        && base.host_str() == candidate.host_str()
        && base.port_or_known_default() == candidate.port_or_known_default()
}

/// The proof Meta requires with every token: hex HMAC-SHA256(app_secret, access_token).
/// The metric line of one Graph request: `MetaCalls` 1, and `MetaThrottles` / `MetaTokenExpired`
/// 1 when Meta throttled it / rejected the token (code 190). Dimensionless: no tenant, no URL.
fn call_metric(result: &Result<Value, MetaError>) -> MetricLine {
    let (throttled, expired) = match result {
        Err(MetaError::Throttled { .. }) => (1, 0),
        Err(MetaError::InvalidToken { .. }) => (0, 1),
        _ => (0, 0),
    };
    MetricLine::new()
        .count(names::META_CALLS, 1)
        .count(names::META_THROTTLES, throttled)
        .count(names::META_TOKEN_EXPIRED, expired)
}

pub fn appsecret_proof(app_secret: &SecretString, token: &SecretString) -> String {
    hex::encode(hmac_sha256(app_secret.expose().as_bytes(), token.expose().as_bytes()))
}

/// The Graph API client. Cheap to build per request (the `reqwest::Client` is shared).
#[derive(Clone)]
pub struct GraphClient {
    http: reqwest::Client,
    settings: GraphSettings,
    sleeper: std::sync::Arc<dyn Sleeper>,
    /// Usage (percent) at or above which no call is sent ([`MetaError::NearLimit`]); `None`
    /// for request paths, which rely on Meta's own throttling errors.
    usage_ceiling: Option<u32>,
    /// The usage Meta's last answer reported, shared by the clones of this client.
    last_usage: std::sync::Arc<std::sync::Mutex<Option<Usage>>>,
}

impl std::fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphClient").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl GraphClient {
    pub fn new(http: reqwest::Client, settings: GraphSettings) -> Self {
        Self {
            http,
            settings,
            sleeper: std::sync::Arc::new(TokioSleeper),
            usage_ceiling: None,
            last_usage: std::sync::Arc::default(),
        }
    }

    /// Stops sending once an answer reports usage at or above `pct` percent (FIELD-NOTES 9).
    pub fn with_usage_ceiling(mut self, pct: u32) -> Self {
        self.usage_ceiling = Some(pct);
        self
    }

    /// The usage Meta's last answer reported (any usage header), if any.
    pub fn last_usage(&self) -> Option<Usage> {
        *self.last_usage.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `Err(NearLimit)` when the last answer's usage reached the ceiling.
    fn check_headroom(&self) -> Result<(), MetaError> {
        match (self.usage_ceiling, self.last_usage()) {
            (Some(ceiling), Some(u)) if u.pct >= ceiling => {
                Err(MetaError::NearLimit { usage_pct: u.pct, retry_after: u.regain })
            }
            _ => Ok(()),
        }
    }

    pub fn with_sleeper(mut self, sleeper: std::sync::Arc<dyn Sleeper>) -> Self {
        self.sleeper = sleeper;
        self
    }

    pub fn settings(&self) -> &GraphSettings {
        &self.settings
    }

    /// `{base}/{version}/{path}?{params}`.
    pub(super) fn url(&self, path: &str, params: &[(&str, &str)]) -> Result<Url, MetaError> {
        let mut url = self.settings.base_url.clone();
        let base_path = url.path().trim_end_matches('/').to_string();
        url.set_path(&format!("{base_path}/{}/{}", self.settings.api_version, path.trim_start_matches('/')));
        url.set_query(None);
        if !params.is_empty() {
            url.query_pairs_mut().extend_pairs(params);
        }
        Ok(url)
    }

    /// Prepares `url` for a call with `token`: any `access_token` (Meta puts one in `paging.next`)
    /// and `appsecret_proof` removed, our proof added. The token itself travels in the
    /// `Authorization` header ([`Auth::Bearer`]), never in a URL.
    pub(super) fn authorize(&self, url: &mut Url, token: &SecretString) {
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| k != "access_token" && k != "appsecret_proof")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        url.set_query(None);
        let mut q = url.query_pairs_mut();
        q.extend_pairs(kept);
        q.append_pair("appsecret_proof", &appsecret_proof(&self.settings.app_secret, token));
    }

    /// One HTTP request to Graph, counted in the `MetaCalls` metric line.
    async fn send_once(&self, call: &Call<'_>) -> Result<Value, MetaError> {
        let result = self.request_once(call).await;
        call_metric(&result).emit();
        result
    }

    async fn request_once(&self, call: &Call<'_>) -> Result<Value, MetaError> {
        let mut req = self.http.request(call.method.clone(), call.url.clone()).timeout(self.settings.request_timeout);
        if let Some(token) = call.bearer {
            req = req.bearer_auth(token.expose());
        }
        if let Some(form) = &call.form {
            let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form.iter()).finish();
            req = req.header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded").body(body);
        }
        if let Some(json) = &call.json {
            req = req.header(http::header::CONTENT_TYPE, "application/json").body(json.clone());
        }
        let resp = req.send().await.map_err(|e| {
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
        // Every answer replaces the reading (Meta sends the headers on each one; none = no limit near).
        *self.last_usage.lock().unwrap_or_else(|p| p.into_inner()) = usage(&headers);
        let bytes = read_capped(resp, MAX_RESPONSE_BYTES).await.map_err(|e| match e {
            BodyError::TooLarge { limit } => {
                tracing::warn!(limit, "Meta answered a body over the cap; not read");
                MetaError::InvalidResponse
            }
            BodyError::Read(e) if e.is_timeout() => MetaError::Timeout,
            BodyError::Read(_) => MetaError::Unreachable,
        })?;
        let body: Option<Value> = serde_json::from_slice(&bytes).ok();
        if let Some(err) = body.as_ref().and_then(|b| serde_json::from_value::<GraphErrorBody>(b.clone()).ok()) {
            return Err(err.error.classify(&headers));
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
    pub(super) async fn send(&self, call: Call<'_>, what: &'static str) -> Result<Value, MetaError> {
        let policy = &self.settings.retry;
        let mut attempt = 1;
        loop {
            // Before a new call only: retries of a throttled call follow the retry policy.
            if let (1, Err(near)) = (attempt, self.check_headroom()) {
                metrics::count(names::META_THROTTLES, 1);
                tracing::warn!(call = what, error = %near, "Meta call not sent");
                return Err(near);
            }
            let err = match self.send_once(&call).await {
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
        self.send(Call::bearer(Method::GET, url, token), what).await
    }

    /// POST with the parameters in the query (as Graph takes them) and the token in the header.
    pub async fn post(
        &self,
        path: &str,
        params: &[(&str, &str)],
        token: &SecretString,
        what: &'static str,
    ) -> Result<Value, MetaError> {
        let mut url = self.url(path, params)?;
        self.authorize(&mut url, token);
        self.send(Call::bearer(Method::POST, url, token), what).await
    }

    /// How this client waits (between attempts, and for callers that poll Meta).
    pub fn sleeper(&self) -> &dyn Sleeper {
        self.sleeper.as_ref()
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
            let page: Page<T> =
                serde_json::from_value(self.send(Call::bearer(Method::GET, url.clone(), token), what).await?)
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

    /// Step 1 of the login: the dialog's `code` → short-lived user token. A POST with a form body:
    /// the code and the app secret never appear in a URL.
    pub async fn exchange_code(&self, code: &str, redirect_uri: &Url) -> Result<AccessToken, MetaError> {
        let url = self.url("oauth/access_token", &[])?;
        let form = vec![
            ("client_id", self.settings.app_id.as_str()),
            ("redirect_uri", redirect_uri.as_str()),
            ("client_secret", self.settings.app_secret.expose()),
            ("code", code),
        ];
        parse_token(self.send(Call::form(url, form), "oauth.exchange_code").await?)
    }

    /// Step 2: short-lived → long-lived (~60 days) token (`grant_type=fb_exchange_token`), a POST
    /// with a form body like step 1.
    pub async fn exchange_long_lived(&self, short: &SecretString) -> Result<AccessToken, MetaError> {
        let url = self.url("oauth/access_token", &[])?;
        let form = vec![
            ("grant_type", "fb_exchange_token"),
            ("client_id", self.settings.app_id.as_str()),
            ("client_secret", self.settings.app_secret.expose()),
            ("fb_exchange_token", short.expose()),
        ];
        parse_token(self.send(Call::form(url, form), "oauth.exchange_long_lived").await?)
    }

    /// Expiry, data-access expiry, scopes and user of `token` (asked with the app token, which
    /// travels in the header). `input_token` stays in the query: it is the only form Meta
    /// documents for `debug_token` (a GET).
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

    /// Facebook Pages the token's user manages (`/me/accounts`, a user-token edge), all pages of
    /// results, each with its own Page token and the user's tasks on it.
    pub async fn managed_pages(&self, token: &SecretString) -> Result<Vec<FacebookPage>, MetaError> {
        self.get_all("me/accounts", &[("fields", PAGE_FIELDS), ("limit", PAGE_LIMIT)], token, "me.accounts").await
    }

    /// Revokes the app's permissions for the user (`DELETE /me/permissions`).
    pub async fn revoke_permissions(&self, token: &SecretString) -> Result<(), MetaError> {
        let mut url = self.url("me/permissions", &[])?;
        self.authorize(&mut url, token);
        self.send(Call::bearer(Method::DELETE, url, token), "me.permissions.delete").await.map(|_| ())
    }
}

/// One Graph request: method and URL (no secret in it), the token for the `Authorization`
/// header, and a form body (the token exchanges).
pub(super) struct Call<'a> {
    method: Method,
    url: Url,
    bearer: Option<&'a SecretString>,
    form: Option<Vec<(&'a str, &'a str)>>,
    /// A JSON body (the Conversions API's `data`).
    json: Option<Vec<u8>>,
}

impl<'a> Call<'a> {
    pub(super) fn bearer(method: Method, url: Url, token: &'a SecretString) -> Self {
        Self { method, url, bearer: Some(token), form: None, json: None }
    }

    fn form(url: Url, form: Vec<(&'a str, &'a str)>) -> Self {
        Self { method: Method::POST, url, bearer: None, form: Some(form), json: None }
    }

    /// This call with `body` as its JSON body.
    pub(super) fn with_json(self, body: Vec<u8>) -> Self {
        Self { json: Some(body), ..self }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn each_graph_request_counts_a_call_and_its_throttle_or_190() {
        let line = |r: Result<Value, MetaError>| -> Value {
            serde_json::from_str(&call_metric(&r).render(0)).expect("EMF JSON")
        };
        let counts = |v: &Value| (v["MetaCalls"].clone(), v["MetaThrottles"].clone(), v["MetaTokenExpired"].clone());
        let ok = line(Ok(Value::Null));
        assert_eq!(counts(&ok), (1.0.into(), 0.0.into(), 0.0.into()));
        assert_eq!(ok["_aws"]["CloudWatchMetrics"][0]["Dimensions"], serde_json::json!([[]]));
        let throttled = line(Err(MetaError::Throttled { code: 17, retry_after: None }));
        assert_eq!(counts(&throttled), (1.0.into(), 1.0.into(), 0.0.into()));
        let expired = line(Err(MetaError::InvalidToken { subcode: Some(463) }));
        assert_eq!(counts(&expired), (1.0.into(), 0.0.into(), 1.0.into()));
        let other = line(Err(MetaError::Permission { code: 200 }));
        assert_eq!(counts(&other), (1.0.into(), 0.0.into(), 0.0.into()));
    }

    #[test]
    fn appsecret_proof_is_hex_hmac_of_the_token() {
        let proof = appsecret_proof(&SecretString::new("secret"), &SecretString::new("token"));
        assert_eq!(proof.len(), 64);
        assert_eq!(proof, hex::encode(hmac_sha256(b"secret", b"token")));
        assert_ne!(proof, appsecret_proof(&SecretString::new("secret"), &SecretString::new("token2")));
    }

    fn client(base: &str) -> GraphClient {
        crate::platform::http_client::install_crypto_provider();
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
    fn urls_carry_version_and_proof_but_never_a_token() {
        let c = client("http://127.0.0.1:9/prefix/");
        let mut url = c.url("me/businesses", &[("fields", "id,name")]).expect("url");
        assert_eq!(url.path(), "/prefix/v21.0/me/businesses");
        let token = SecretString::new("tok");
        // As in a `paging.next` from Meta: its token and proof are dropped, ours is not added.
        url.query_pairs_mut().append_pair("access_token", "someone-elses").append_pair("appsecret_proof", "zz");
        c.authorize(&mut url, &token);
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        assert!(!pairs.iter().any(|(k, _)| k == "access_token"), "{pairs:?}");
        assert!(!url.as_str().contains("tok&") && !url.as_str().ends_with("tok"));
        assert_eq!(pairs.iter().filter(|(k, _)| k == "appsecret_proof").count(), 1);
        assert!(pairs.contains(&("appsecret_proof".into(), appsecret_proof(&SecretString::new("s3cr3t"), &token))));
        assert!(pairs.contains(&("fields".into(), "id,name".into())));
    }

    #[tokio::test]
    async fn an_answer_over_the_cap_is_an_invalid_response_not_read_whole() {
        use crate::platform::http_client::tests::serve_once;
        // `{"data":[...]}` just over the cap, streamed without a length.
        let mut body = br#"{"data":[""#.to_vec();
        body.resize(MAX_RESPONSE_BYTES, b'x');
        body.extend_from_slice(br#""]}"#);
        let c = client(&serve_once(body, false));
        let err = c.get("me", &[], &SecretString::new("t"), "me").await.expect_err("over the cap");
        assert!(matches!(err, MetaError::InvalidResponse), "{err:?}");
        assert!(!err.is_retryable(), "the same answer would come again");
        let fits = client(&serve_once(br#"{"id":"1"}"#.to_vec(), true));
        assert_eq!(fits.get("me", &[], &SecretString::new("t"), "me").await.expect("small answer")["id"], "1");
    }

    #[tokio::test]
    async fn unreachable_meta_is_retried_then_reported() {
        // A port that was free a moment ago: connection refused, no real waiting.
        let port =
            std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("port");
        let sleeper = std::sync::Arc::new(crate::testing::RecordingSleeper::default());
        let c = client(&format!("http://127.0.0.1:{port}")).with_sleeper(sleeper.clone());
        let err = c.businesses(&SecretString::new("t")).await.expect_err("must fail");
        assert!(matches!(err, MetaError::Unreachable | MetaError::Timeout), "{err:?}");
        assert_eq!(sleeper.waits().len(), 2, "3 attempts = 2 waits");
        assert!(err.is_retryable(), "a peer that may recover (503, meta::error)");
    }
}
