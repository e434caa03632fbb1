//! Sandbox Meta: a local stand-in of the parts of Meta the product calls, over real HTTP.
//!
//! - `GET /{v}/dialog/oauth`: the login dialog; consents at once and redirects the browser to
//!   `redirect_uri?code=…&state=…` (or `?error=access_denied&error_reason=user_denied…` when told
//!   to decline);
//! - `GET /{v}/oauth/access_token`: `code` → short-lived token, `grant_type=fb_exchange_token` →
//!   long-lived token (`{access_token, token_type, expires_in}`);
//! - `GET /{v}/debug_token`: `{data: {app_id, is_valid, expires_at, data_access_expires_at, scopes,
//!   user_id}}` (asked with the app token `app_id|app_secret`);
//! - `GET /{v}/me/businesses`, `/{v}/{business}/owned_ad_accounts`, `/client_ad_accounts`,
//!   `/{v}/me/adaccounts`: cursor-paged (`paging.cursors`, `paging.next` with the token in it, as
//!   Meta does);
//! - `DELETE /{v}/me/permissions`: revokes every token of the user;
//! - `GET /{v}/me/accounts`: the Facebook Pages the user manages (cursor-paged, `id`, `name`);
//! - `GET /{v}/{leadgen_id}`: a lead-ads lead (`created_time`, `field_data`, `form_id`,
//!   `campaign_id`/`_name`, `adset_id`, `ad_id`/`_name`; only the asked `fields`), created with
//!   [`SandboxState::add_lead`] or `POST /__sandbox/leads?page_id=&campaign_id=&ad_id=&name=`;
//!   [`SandboxMeta::signed_leadgen_delivery`] builds the webhook delivery Meta would post for
//!   them, signed (`X-Hub-Signature-256`) with the app secret;
//! - `POST /{v}/act_{n}/insights` starts an async report job (`report_run_id`); `GET
//!   /{v}/{report_run_id}` answers "Job Running" [`SandboxState::async_job_polls`] times (the last
//!   at 100 %) then "Job Completed" (or "Job Failed", `fail_async_jobs`; 2601 on a poll,
//!   `async_2601_next`; never done over `slow_jobs_above_days`), and
//!   `/{v}/{report_run_id}/insights` the job's rows, paged;
//! - `GET /{v}/{page_id}/leadgen_forms` (the forms of the page's leads, the sandbox form on the
//!   user's pages) and `GET /{v}/{form_id}/leads` (newest first, cursor-paged, `filtering` on
//!   `time_created` `GREATER_THAN` — any other filter is refused), for the lead reconciliation.
//!
//! - `GET /{v}/act_{n}` (currency, time zone), `/{v}/act_{n}/campaigns` and `/ads` (with
//!   `effective_status`: campaign 1 ACTIVE, 2 PAUSED, 3 ARCHIVED) and `/{v}/act_{n}/insights`
//!   (`level=campaign|ad`, `time_increment=1`, `time_range`): one row per campaign (or ad) and day
//!   of the range, deterministic values, spend as a decimal string in the account currency, ads
//!   covering 90 % of their campaign's spend (as at Meta, not all spend is attributed to an ad),
//!   cursor-paged. The demo account serves the demo's campaigns (spend on the demo's scale). Switches: `restated_days`
//!   (those days answer higher numbers, as when Meta restates), `max_insights_days` (longer ranges
//!   answer code 100 / subcode 1487534), [`SandboxState::revoke_token`] (one token → 190).
//!
//! Every call with a user token must carry the right `appsecret_proof`. Errors have Meta's shape
//! (`{"error": {message, type, code, error_subcode, fbtrace_id}}`) and responses carry
//! `x-app-usage` / `x-business-use-case-usage`. Switches ([`SandboxState`], held by tests, or
//! `POST /__sandbox/configure?…` for a browser session) make it throttle, fail transiently,
//! reject tokens (190), decline the dialog, fail the code exchange, poison `paging.next`, and set
//! how many businesses/accounts exist and the page size.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use http::{header, Method, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use rand::RngCore;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use url::Url;

/// The sandbox's Meta user (who "logs in" in the dialog).
pub const SANDBOX_USER_ID: &str = "10000000000001";
/// Short-lived token lifetime (Meta: about an hour or two).
pub const SHORT_LIVED_SECS: i64 = 7_200;
/// Long-lived token lifetime (Meta: about 60 days).
pub const LONG_LIVED_SECS: i64 = 60 * 24 * 3600;
/// Data access lapses 90 days after the user was last active.
pub const DATA_ACCESS_SECS: i64 = 90 * 24 * 3600;

/// The Facebook Page the sandbox user manages by default (lead-ads webhooks are per page).
pub const SANDBOX_PAGE_ID: &str = "1080000000000001";
/// The lead form of the sandbox's leads.
pub const SANDBOX_FORM_ID: &str = "1090000000000001";
/// Campaign / ad set / ad the sandbox's leads are attributed to unless told otherwise.
pub const SANDBOX_CAMPAIGN_ID: &str = "120200000000000001";
pub const SANDBOX_ADSET_ID: &str = "120200000000000101";
pub const SANDBOX_AD_ID: &str = "120200000000001001";
/// Leadgen ids of `events/meta-leadgen-webhook.json`, seeded by [`SandboxState::seed_demo_leads`].
pub const DEMO_LEADGEN_IDS: [&str; 2] = ["1100000000000001", "1100000000000002"];

/// An async insights report job (`POST /{act}/insights`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxJob {
    pub act: String,
    /// The query it was started with (what `/{report_run_id}/insights` answers).
    pub query: HashMap<String, String>,
    pub polls_left: u32,
    pub fails: bool,
    pub never_completes: bool,
}

/// A lead-ads lead held by the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxLead {
    pub id: String,
    pub page_id: String,
    pub form_id: String,
    pub campaign_id: String,
    pub adset_id: String,
    pub ad_id: String,
    /// Epoch seconds.
    pub created_time: i64,
    /// `(field name, answer)` pairs, e.g. `("full_name", "Ana Gómez")`.
    pub answers: Vec<(String, String)>,
}

impl SandboxLead {
    /// The object `GET /{leadgen_id}` returns (before `fields` filtering).
    fn graph_object(&self) -> Value {
        let created = chrono::DateTime::from_timestamp(self.created_time, 0)
            .map(|t| t.format("%Y-%m-%dT%H:%M:%S+0000").to_string())
            .unwrap_or_default();
        json!({
            "id": self.id,
            "created_time": created,
            "form_id": self.form_id,
            "campaign_id": self.campaign_id,
            "campaign_name": format!("Sandbox campaign {}", self.campaign_id),
            "adset_id": self.adset_id,
            "adset_name": format!("Sandbox ad set {}", self.adset_id),
            "ad_id": self.ad_id,
            "ad_name": format!("Sandbox ad {}", self.ad_id),
            "is_organic": false,
            "platform": "fb",
            "field_data": self.answers.iter().map(|(k, v)| json!({"name": k, "values": [v]})).collect::<Vec<_>>(),
        })
    }

    /// The `value` of the `leadgen` change Meta posts for this lead.
    pub fn change_value(&self) -> Value {
        json!({
            "leadgen_id": self.id,
            "page_id": self.page_id,
            "form_id": self.form_id,
            "ad_id": self.ad_id,
            "adgroup_id": self.adset_id,
            "created_time": self.created_time,
        })
    }
}

/// Business `i` (1-based) of the sandbox.
pub fn business_id(i: u32) -> String {
    format!("{}", 9_100_000_000_000u64 + u64::from(i))
}

fn account_number(business: u32, owned: bool, j: u32) -> u64 {
    let base = if owned { 5_100_000_000_000u64 } else { 5_200_000_000_000u64 };
    base + u64::from(business) * 1_000 + u64::from(j)
}

/// `act_…` id of owned (or client) account `j` of business `i`.
pub fn ad_account_id(business: u32, owned: bool, j: u32) -> String {
    format!("act_{}", account_number(business, owned, j))
}

#[derive(Debug, Clone)]
struct CodeGrant {
    redirect_uri: String,
    scopes: Vec<String>,
    used: bool,
}

#[derive(Debug, Clone)]
struct TokenGrant {
    user_id: String,
    scopes: Vec<String>,
    expires_at: i64,
    revoked: bool,
}

/// The sandbox's switches and what it recorded. Tests change it through [`SandboxMeta::with`].
#[derive(Debug)]
pub struct SandboxState {
    /// The next N Graph calls answer a throttling error (`throttle_code`).
    pub throttle_next: u32,
    pub throttle_code: i64,
    /// `estimated_time_to_regain_access` (minutes) sent with throttling errors.
    pub throttle_wait_minutes: u64,
    /// The next N Graph calls answer a transient error (code 2, HTTP 500).
    pub transient_next: u32,
    /// Every user token is answered with code 190 (expired/invalidated session).
    pub reject_tokens: bool,
    /// The next N code exchanges fail (code 100, subcode 36009).
    pub fail_exchange_next: u32,
    /// The next N dialogs are declined by the user.
    pub decline_next_dialog: u32,
    /// `paging.next` points at another host (a poisoned response).
    pub poison_next: bool,
    /// The next N Graph calls answer only after `delay_ms` (to exercise client timeouts).
    pub delay_next: u32,
    pub delay_ms: u64,
    pub businesses: u32,
    pub owned_accounts_per_business: u32,
    pub client_accounts_per_business: u32,
    /// Largest page served (`limit` is capped to it).
    pub page_size: usize,
    /// Scopes the user grants in the dialog.
    pub granted_scopes: Vec<String>,
    /// `(id, name)` of the Facebook Pages the user manages (`/me/accounts`).
    pub pages: Vec<(String, String)>,
    /// Lead-ads leads by leadgen id.
    pub leads: HashMap<String, SandboxLead>,
    /// Seconds since the epoch the sandbox thinks it is (`None` = wall clock).
    pub now: Option<i64>,
    /// `METHOD /path` of every call (never the query: it carries tokens).
    pub calls: Vec<String>,
    pub permissions_revoked: u32,
    /// Days whose insights answer restated (higher) numbers.
    pub restated_days: Vec<chrono::NaiveDate>,
    /// Insights ranges longer than this answer "reduce the amount of data" (100 / 1487534).
    pub max_insights_days: Option<i64>,
    /// Every Graph call takes at least this long (benchmarks); concurrent calls overlap.
    pub latency_ms: u64,
    /// Async report jobs by `report_run_id`.
    pub report_jobs: HashMap<String, SandboxJob>,
    /// Polls a new job answers "Job Running" before "Job Completed" (the last of them at 100 %).
    pub async_job_polls: u32,
    /// The next this many jobs end "Job Failed".
    pub fail_async_jobs: u32,
    /// The next this many polls answer error 2601 (transient "error accessing adreport job").
    pub async_2601_next: u32,
    /// Jobs over more days than this never complete (they run "too long").
    pub slow_jobs_above_days: Option<i64>,
    /// Every Graph answer carries usage headers at this percent (`X-Business-Use-Case-Usage`,
    /// `X-Ad-Account-Usage` with a 240 s reset, `X-App-Usage`); `None` = no usage headers.
    pub usage_pct: Option<u32>,
    /// `(currency, time zone)` of an ad account, overriding owned = ARS / client = USD.
    pub account_overrides: HashMap<String, (String, String)>,
    /// The query of every insights call (without token and proof).
    pub insights_queries: Vec<HashMap<String, String>>,
    codes: HashMap<String, CodeGrant>,
    tokens: HashMap<String, TokenGrant>,
}

impl Default for SandboxState {
    fn default() -> Self {
        Self {
            throttle_next: 0,
            throttle_code: 80004,
            throttle_wait_minutes: 0,
            transient_next: 0,
            reject_tokens: false,
            fail_exchange_next: 0,
            decline_next_dialog: 0,
            poison_next: false,
            delay_next: 0,
            delay_ms: 0,
            businesses: 2,
            owned_accounts_per_business: 2,
            client_accounts_per_business: 1,
            page_size: 25,
            granted_scopes: crm_shared::meta::graph::OAUTH_SCOPES.iter().map(|s| s.to_string()).collect(),
            pages: vec![(SANDBOX_PAGE_ID.to_string(), "Sandbox Clinic".to_string())],
            leads: HashMap::new(),
            now: None,
            calls: Vec::new(),
            permissions_revoked: 0,
            restated_days: Vec::new(),
            max_insights_days: None,
            usage_pct: None,
            latency_ms: 0,
            report_jobs: HashMap::new(),
            async_job_polls: 2,
            fail_async_jobs: 0,
            async_2601_next: 0,
            slow_jobs_above_days: None,
            account_overrides: HashMap::new(),
            insights_queries: Vec::new(),
            codes: HashMap::new(),
            tokens: HashMap::new(),
        }
    }
}

impl SandboxState {
    fn now(&self) -> i64 {
        self.now.unwrap_or_else(|| chrono::Utc::now().timestamp())
    }

    /// Calls whose `METHOD /path` ends with `suffix`.
    pub fn count_calls(&self, suffix: &str) -> usize {
        self.calls.iter().filter(|c| c.ends_with(suffix)).count()
    }

    /// Long-lived tokens the sandbox issued (tests compare them with what the product stored).
    pub fn long_lived_tokens(&self) -> Vec<String> {
        self.tokens.keys().filter(|t| t.starts_with("EAAL")).cloned().collect()
    }

    /// A long-lived token for `user_id` with the product's scopes, valid 60 days (benchmarks
    /// connect thousands of tenants without the dialog).
    pub fn issue_token(&mut self, token: &str, user_id: &str) {
        let grant = TokenGrant {
            user_id: user_id.to_string(),
            scopes: crm_shared::meta::graph::OAUTH_SCOPES.iter().map(|s| s.to_string()).collect(),
            expires_at: self.now() + 60 * 24 * 3600,
            revoked: false,
        };
        self.tokens.insert(token.to_string(), grant);
    }

    /// Meta invalidates this one token (its calls answer 190 from now on).
    pub fn revoke_token(&mut self, token: &str) {
        if let Some(g) = self.tokens.get_mut(token) {
            g.revoked = true;
        }
    }

    /// `(currency, time zone)` of an ad account: overrides, else owned accounts (`act_51…`) ARS,
    /// others USD (as [`Self::account`] lists them).
    pub fn account_currency_zone(&self, act: &str) -> (String, String) {
        if let Some(o) = self.account_overrides.get(act) {
            return o.clone();
        }
        if act.starts_with("act_51") {
            ("ARS".into(), "America/Argentina/Buenos_Aires".into())
        } else {
            ("USD".into(), "America/New_York".into())
        }
    }

    /// Creates a lead on `page_id` attributed to `campaign_id` / `ad_id` (sandbox defaults when
    /// `None`), created now; returns it. Ids are sequential, numeric, as at Meta.
    pub fn add_lead(
        &mut self,
        page_id: &str,
        campaign_id: Option<&str>,
        ad_id: Option<&str>,
        name: &str,
    ) -> SandboxLead {
        let id = (1_100_000_000_000_001u64 + self.leads.len() as u64 + 100).to_string();
        self.add_lead_with_id(&id, page_id, campaign_id, ad_id, name)
    }

    /// [`Self::add_lead`] with a given leadgen id.
    pub fn add_lead_with_id(
        &mut self,
        id: &str,
        page_id: &str,
        campaign_id: Option<&str>,
        ad_id: Option<&str>,
        name: &str,
    ) -> SandboxLead {
        let slug: String = name.to_ascii_lowercase().chars().filter(char::is_ascii_alphanumeric).collect();
        let lead = SandboxLead {
            id: id.to_string(),
            page_id: page_id.to_string(),
            form_id: SANDBOX_FORM_ID.to_string(),
            campaign_id: campaign_id.unwrap_or(SANDBOX_CAMPAIGN_ID).to_string(),
            adset_id: SANDBOX_ADSET_ID.to_string(),
            ad_id: ad_id.unwrap_or(SANDBOX_AD_ID).to_string(),
            created_time: self.now(),
            answers: vec![
                ("full_name".into(), name.to_string()),
                ("email".into(), format!("{slug}@example.com")),
                ("phone_number".into(), "+5491100000000".into()),
            ],
        };
        self.leads.insert(lead.id.clone(), lead.clone());
        lead
    }

    /// The leads of `events/meta-leadgen-webhook.json` (for `make dev`).
    pub fn seed_demo_leads(&mut self) {
        for (i, id) in DEMO_LEADGEN_IDS.iter().enumerate() {
            if !self.leads.contains_key(*id) {
                self.add_lead_with_id(id, SANDBOX_PAGE_ID, None, None, &format!("Demo Lead {}", i + 1));
            }
        }
    }

    fn business_exists(&self, id: &str) -> Option<u32> {
        (1..=self.businesses).find(|i| business_id(*i) == id)
    }

    fn account(&self, business: u32, owned: bool, j: u32) -> Value {
        let n = account_number(business, owned, j);
        let (currency, tz) =
            if owned { ("ARS", "America/Argentina/Buenos_Aires") } else { ("USD", "America/New_York") };
        json!({
            "id": format!("act_{n}"),
            "account_id": n.to_string(),
            "name": format!("{} account {j} of business {business}", if owned { "Owned" } else { "Client" }),
            "currency": currency,
            "timezone_name": tz,
            "account_status": if j.is_multiple_of(5) { 2 } else { 1 },
        })
    }

    fn owned(&self, business: u32) -> Vec<Value> {
        (1..=self.owned_accounts_per_business).map(|j| self.account(business, true, j)).collect()
    }

    fn client(&self, business: u32) -> Vec<Value> {
        (1..=self.client_accounts_per_business).map(|j| self.account(business, false, j)).collect()
    }
}

/// A running sandbox.
#[derive(Clone)]
pub struct SandboxMeta {
    pub url: Url,
    pub app_id: String,
    app_secret: String,
    state: Arc<Mutex<SandboxState>>,
}

impl std::fmt::Debug for SandboxMeta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxMeta").field("url", &self.url.as_str()).finish_non_exhaustive()
    }
}

fn lock(m: &Mutex<SandboxState>) -> MutexGuard<'_, SandboxState> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn random_token(prefix: &str) -> String {
    let mut b = [0u8; 24];
    rand::rng().fill_bytes(&mut b);
    format!("{prefix}{}", hex::encode(b))
}

type Resp = Response<Full<Bytes>>;

fn fbtrace() -> String {
    let mut b = [0u8; 8];
    rand::rng().fill_bytes(&mut b);
    format!("A{}", hex::encode(b))
}

fn json_resp(status: StatusCode, body: Value) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json; charset=UTF-8"));
    h.insert("x-app-usage", header::HeaderValue::from_static(r#"{"call_count":4,"total_cputime":1,"total_time":2}"#));
    if let Ok(v) = header::HeaderValue::from_str(&fbtrace()) {
        h.insert("x-fb-trace-id", v);
    }
    r
}

/// Meta's error body.
fn graph_error(status: StatusCode, code: i64, subcode: Option<i64>, kind: &str, message: &str) -> Resp {
    let mut err = json!({"message": message, "type": kind, "code": code, "fbtrace_id": fbtrace()});
    if let Some(s) = subcode {
        err["error_subcode"] = json!(s);
    }
    if code == 1 || code == 2 {
        err["is_transient"] = json!(true);
    }
    json_resp(status, json!({ "error": err }))
}

fn redirect(location: &str) -> Resp {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = StatusCode::FOUND;
    if let Ok(v) = header::HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

fn html(status: StatusCode, text: &str) -> Resp {
    let mut r =
        Response::new(Full::new(Bytes::from(format!("<!doctype html><title>Sandbox Meta</title><p>{text}</p>"))));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/html; charset=utf-8"));
    r
}

impl SandboxMeta {
    /// Starts on `addr` (port 0 = any free port) in the background.
    pub async fn start(addr: SocketAddr, app_id: &str, app_secret: &str) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let bound = listener.local_addr()?;
        let url = Url::parse(&format!("http://{bound}")).map_err(std::io::Error::other)?;
        let sandbox = Self {
            url,
            app_id: app_id.to_string(),
            app_secret: app_secret.to_string(),
            state: Arc::new(Mutex::new(SandboxState::default())),
        };
        let server = sandbox.clone();
        tokio::spawn(crate::http1::serve(listener, move |req| {
            let s = server.clone();
            async move { Ok::<_, Infallible>(s.handle(req).await) }
        }));
        Ok(sandbox)
    }

    /// Reads or changes the switches.
    pub fn with<R>(&self, f: impl FnOnce(&mut SandboxState) -> R) -> R {
        f(&mut lock(&self.state))
    }

    /// The base URL as the product's config wants it (`META_GRAPH_BASE_URL`/`META_DIALOG_BASE_URL`).
    pub fn base_url(&self) -> String {
        self.url.as_str().trim_end_matches('/').to_string()
    }

    /// `X-Hub-Signature-256` of `body` as Meta computes it (HMAC-SHA256 with the app secret).
    pub fn sign_webhook(&self, body: &[u8]) -> String {
        crm_shared::meta::leadgen::sign(&self.app_secret, body)
    }

    /// The delivery Meta posts for these leads: one `entry` per page, one `leadgen` change per
    /// lead (unknown ids are skipped).
    pub fn leadgen_delivery(&self, leadgen_ids: &[&str]) -> Value {
        let state = lock(&self.state);
        let mut entries: Vec<(String, Vec<Value>)> = Vec::new();
        for lead in leadgen_ids.iter().filter_map(|id| state.leads.get(*id)) {
            let change = json!({"field": "leadgen", "value": lead.change_value()});
            match entries.iter_mut().find(|(p, _)| *p == lead.page_id) {
                Some((_, changes)) => changes.push(change),
                None => entries.push((lead.page_id.clone(), vec![change])),
            }
        }
        let time = state.now();
        json!({
            "object": "page",
            "entry": entries.into_iter().map(|(id, changes)| json!({"id": id, "time": time, "changes": changes})).collect::<Vec<_>>(),
        })
    }

    /// [`Self::leadgen_delivery`] serialized, with its signature: `(raw body, X-Hub-Signature-256)`.
    pub fn signed_leadgen_delivery(&self, leadgen_ids: &[&str]) -> (Vec<u8>, String) {
        let body = self.leadgen_delivery(leadgen_ids).to_string().into_bytes();
        let signature = self.sign_webhook(&body);
        (body, signature)
    }

    fn proof(&self, token: &str) -> String {
        hex::encode(crm_shared::platform::crypto::hmac_sha256(self.app_secret.as_bytes(), token.as_bytes()))
    }

    /// Every Graph answer, with usage headers when [`SandboxState::usage_pct`] is set.
    async fn handle(&self, req: hyper::Request<Incoming>) -> Resp {
        let control = req.uri().path().starts_with("/__sandbox/");
        let mut resp = self.answer(req).await;
        let usage = lock(&self.state).usage_pct;
        if let (false, Some(pct)) = (control, usage) {
            let headers = [
                (
                    "x-business-use-case-usage",
                    json!({ business_id(1): [{"type": "ads_insights", "call_count": pct, "total_cputime": pct / 2,
                            "total_time": pct / 2, "estimated_time_to_regain_access": 0}]}),
                ),
                ("x-ad-account-usage", json!({"acc_id_util_pct": pct, "reset_time_duration": 240})),
                ("x-app-usage", json!({"call_count": pct / 3, "total_cputime": 1, "total_time": 1})),
            ];
            for (name, v) in headers {
                if let Ok(v) = header::HeaderValue::from_str(&v.to_string()) {
                    resp.headers_mut().insert(name, v);
                }
            }
        }
        resp
    }

    async fn answer(&self, req: hyper::Request<Incoming>) -> Resp {
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let query: HashMap<String, String> = req
            .uri()
            .query()
            .map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        if let Some(control) = path.strip_prefix("/__sandbox/") {
            return self.control(&method, control, &query);
        }
        let delay = {
            let mut state = lock(&self.state);
            state.calls.push(format!("{method} {path}"));
            if state.delay_next > 0 {
                state.delay_next -= 1;
                Some(std::time::Duration::from_millis(state.delay_ms))
            } else {
                (state.latency_ms > 0).then(|| std::time::Duration::from_millis(state.latency_ms))
            }
        };
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
        let mut state = lock(&self.state);
        let segs: Vec<&str> = path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
        // The version prefix is optional, as at Meta.
        let segs: &[&str] = match segs.first() {
            Some(v) if v.starts_with('v') && v[1..].contains('.') => &segs[1..],
            _ => &segs[..],
        };
        if method == Method::GET && segs == ["dialog", "oauth"] {
            return self.dialog(&mut state, &query);
        }
        if state.transient_next > 0 {
            state.transient_next -= 1;
            return graph_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                2,
                None,
                "OAuthException",
                "An unexpected error has occurred. Please retry your request later.",
            );
        }
        if state.throttle_next > 0 {
            state.throttle_next -= 1;
            let mut r = graph_error(
                StatusCode::BAD_REQUEST,
                state.throttle_code,
                None,
                "OAuthException",
                "There have been too many calls from this ad-account. Please wait a bit and try again.",
            );
            let usage = json!({ business_id(1): [{
                "type": "ads_management", "call_count": 100, "total_cputime": 40, "total_time": 60,
                "estimated_time_to_regain_access": state.throttle_wait_minutes,
            }]});
            if let Ok(v) = header::HeaderValue::from_str(&usage.to_string()) {
                r.headers_mut().insert("x-business-use-case-usage", v);
            }
            return r;
        }
        match (method.clone(), segs) {
            (Method::GET, ["oauth", "access_token"]) => self.access_token(&mut state, &query),
            (Method::GET, ["debug_token"]) => self.debug_token(&state, &query),
            (m, rest) => {
                let user = match self.authenticate(&state, &query) {
                    Ok(u) => u,
                    Err(resp) => return *resp,
                };
                match (m, rest) {
                    (Method::GET, ["me", "businesses"]) => {
                        let all: Vec<Value> = (1..=state.businesses)
                            .map(|i| json!({"id": business_id(i), "name": format!("Sandbox Business {i}")}))
                            .collect();
                        self.page(&state, &path, &query, all)
                    }
                    (Method::GET, ["me", "adaccounts"]) => {
                        let mut all = Vec::new();
                        for i in 1..=state.businesses {
                            all.extend(state.owned(i));
                            all.extend(state.client(i));
                        }
                        self.page(&state, &path, &query, all)
                    }
                    (Method::GET, [b, edge @ ("owned_ad_accounts" | "client_ad_accounts")]) => {
                        match state.business_exists(b) {
                            Some(i) => {
                                let all = if *edge == "owned_ad_accounts" { state.owned(i) } else { state.client(i) };
                                self.page(&state, &path, &query, all)
                            }
                            None => graph_error(
                                StatusCode::BAD_REQUEST,
                                100,
                                Some(33),
                                "GraphMethodException",
                                &format!("Unsupported get request. Object with ID '{b}' does not exist, cannot be loaded due to missing permissions, or does not support this operation."),
                            ),
                        }
                    }
                    (Method::GET, ["me", "accounts"]) => {
                        let all: Vec<Value> =
                            state.pages.iter().map(|(id, name)| json!({"id": id, "name": name})).collect();
                        self.page(&state, &path, &query, all)
                    }
                    (Method::GET, [act]) if is_act(act) => {
                        let (currency, tz) = state.account_currency_zone(act);
                        json_resp(StatusCode::OK, json!({"id": act, "currency": currency, "timezone_name": tz}))
                    }
                    (Method::GET, [act, edge @ ("campaigns" | "ads")]) if is_act(act) => {
                        let all: Vec<Value> = sandbox_campaigns(act)
                            .iter()
                            .enumerate()
                            .flat_map(|(k, c)| {
                                if *edge == "campaigns" {
                                    vec![sandbox_campaign_object(k, c)]
                                } else {
                                    c.ads.iter().map(|a| json!({"id": a.id, "name": a.name, "effective_status": a.status, "campaign_id": c.id})).collect()
                                }
                            })
                            .collect();
                        self.page(&state, &path, &query, all)
                    }
                    (Method::GET, [act, "insights"]) if is_act(act) => {
                        let mut recorded = query.clone();
                        recorded.remove("access_token");
                        recorded.remove("appsecret_proof");
                        state.insights_queries.push(recorded);
                        match insights(&state, act, &query) {
                            Ok(all) => self.page(&state, &path, &query, all),
                            Err(resp) => *resp,
                        }
                    }
                    (Method::POST, [act, "insights"]) if is_act(act) => {
                        let mut recorded = query.clone();
                        recorded.remove("access_token");
                        recorded.remove("appsecret_proof");
                        state.insights_queries.push(recorded.clone());
                        let days = match insights(&state, act, &query) {
                            Ok(_) => range_days(&query),
                            Err(resp) => return *resp,
                        };
                        let id = (2_300_000_000_000_001u64 + state.report_jobs.len() as u64).to_string();
                        let fails = state.fail_async_jobs > 0;
                        state.fail_async_jobs = state.fail_async_jobs.saturating_sub(1);
                        let job = SandboxJob {
                            act: act.to_string(),
                            query: recorded,
                            polls_left: state.async_job_polls,
                            fails,
                            never_completes: state.slow_jobs_above_days.is_some_and(|max| days > max),
                        };
                        state.report_jobs.insert(id.clone(), job);
                        json_resp(StatusCode::OK, json!({"report_run_id": id}))
                    }
                    (Method::GET, [job]) if state.report_jobs.contains_key(*job) => {
                        if state.async_2601_next > 0 {
                            state.async_2601_next -= 1;
                            return graph_error(
                                StatusCode::BAD_REQUEST,
                                2601,
                                None,
                                "OAuthException",
                                "Error accessing adreport job.",
                            );
                        }
                        let Some(j) = state.report_jobs.get_mut(*job) else {
                            return graph_error(StatusCode::BAD_REQUEST, 100, None, "OAuthException", "no such job");
                        };
                        let (status, pct) = if j.never_completes {
                            ("Job Running", 50)
                        } else if j.polls_left > 0 {
                            j.polls_left -= 1;
                            ("Job Running", if j.polls_left == 0 { 100 } else { 50 })
                        } else if j.fails {
                            ("Job Failed", 100)
                        } else {
                            ("Job Completed", 100)
                        };
                        json_resp(
                            StatusCode::OK,
                            json!({"id": job, "async_status": status, "async_percent_completion": pct}),
                        )
                    }
                    (Method::GET, [job, "insights"]) if state.report_jobs.contains_key(*job) => {
                        let Some(j) = state.report_jobs.get(*job).cloned() else {
                            return graph_error(StatusCode::BAD_REQUEST, 100, None, "OAuthException", "no such job");
                        };
                        if j.polls_left > 0 || j.fails || j.never_completes {
                            return graph_error(StatusCode::BAD_REQUEST, 100, None, "OAuthException", "job not completed");
                        }
                        match insights(&state, &j.act, &j.query) {
                            Ok(all) => self.page(&state, &path, &query, all),
                            Err(resp) => *resp,
                        }
                    }
                    (Method::GET, [page, "leadgen_forms"]) if is_numeric(page) => {
                        let mut forms: Vec<String> =
                            state.leads.values().filter(|l| l.page_id == *page).map(|l| l.form_id.clone()).collect();
                        if state.pages.iter().any(|(id, _)| id == page) {
                            forms.push(SANDBOX_FORM_ID.to_string());
                        }
                        forms.sort();
                        forms.dedup();
                        let all = forms
                            .iter()
                            .map(|f| json!({"id": f, "name": format!("Sandbox form {f}"), "status": "ACTIVE"}))
                            .collect();
                        self.page(&state, &path, &query, all)
                    }
                    (Method::GET, [form, "leads"]) if is_numeric(form) => {
                        let after = match created_after(&query) {
                            Ok(a) => a,
                            Err(resp) => return *resp,
                        };
                        let mut leads: Vec<&SandboxLead> = state
                            .leads
                            .values()
                            .filter(|l| l.form_id == *form && after.is_none_or(|a| l.created_time > a))
                            .collect();
                        // Newest first, as Meta lists them.
                        leads.sort_by(|a, b| b.created_time.cmp(&a.created_time).then_with(|| a.id.cmp(&b.id)));
                        let all = leads.iter().map(|l| with_fields(l, &query)).collect();
                        self.page(&state, &path, &query, all)
                    }
                    (Method::GET, [id]) if id.bytes().all(|b| b.is_ascii_digit()) => match state.leads.get(*id) {
                        Some(lead) => json_resp(StatusCode::OK, with_fields(lead, &query)),
                        None => graph_error(
                            StatusCode::BAD_REQUEST,
                            100,
                            Some(33),
                            "GraphMethodException",
                            &format!("Unsupported get request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation."),
                        ),
                    },
                    (Method::DELETE, ["me", "permissions"]) => {
                        for t in state.tokens.values_mut().filter(|t| t.user_id == user) {
                            t.revoked = true;
                        }
                        state.permissions_revoked += 1;
                        json_resp(StatusCode::OK, json!({"success": true}))
                    }
                    _ => graph_error(StatusCode::BAD_REQUEST, 2500, None, "OAuthException", "Unknown path components"),
                }
            }
        }
    }

    fn dialog(&self, state: &mut SandboxState, q: &HashMap<String, String>) -> Resp {
        if q.get("client_id") != Some(&self.app_id) {
            return html(StatusCode::BAD_REQUEST, "Invalid App ID: the app id is not valid.");
        }
        let Some(redirect_uri) = q.get("redirect_uri").and_then(|r| Url::parse(r).ok()) else {
            return html(StatusCode::BAD_REQUEST, "URL blocked: redirect_uri is missing or invalid.");
        };
        let mut target = redirect_uri.clone();
        {
            let mut pairs = target.query_pairs_mut();
            if state.decline_next_dialog > 0 {
                state.decline_next_dialog -= 1;
                pairs
                    .append_pair("error", "access_denied")
                    .append_pair("error_code", "200")
                    .append_pair("error_description", "Permissions error")
                    .append_pair("error_reason", "user_denied");
            } else {
                let code = random_token("AQ");
                let requested: Vec<String> =
                    q.get("scope").map(|s| s.split(',').map(|x| x.trim().to_string()).collect()).unwrap_or_default();
                let scopes = requested.into_iter().filter(|s| state.granted_scopes.contains(s)).collect();
                state
                    .codes
                    .insert(code.clone(), CodeGrant { redirect_uri: redirect_uri.to_string(), scopes, used: false });
                pairs.append_pair("code", &code);
            }
            if let Some(s) = q.get("state") {
                pairs.append_pair("state", s);
            }
        }
        redirect(target.as_str())
    }

    fn access_token(&self, state: &mut SandboxState, q: &HashMap<String, String>) -> Resp {
        if q.get("client_id") != Some(&self.app_id) {
            return graph_error(
                StatusCode::BAD_REQUEST,
                101,
                None,
                "OAuthException",
                "Error validating application. Invalid application ID.",
            );
        }
        if q.get("client_secret") != Some(&self.app_secret) {
            return graph_error(StatusCode::BAD_REQUEST, 1, None, "OAuthException", "Error validating client secret.");
        }
        let now = state.now();
        // Meta's answer to a reused (or, with the switch, refused) authorization code.
        let code_used = || {
            graph_error(
                StatusCode::BAD_REQUEST,
                100,
                Some(36009),
                "OAuthException",
                "This authorization code has been used.",
            )
        };
        if let Some(code) = q.get("code") {
            if state.fail_exchange_next > 0 {
                state.fail_exchange_next -= 1;
                return code_used();
            }
            let grant = match state.codes.get_mut(code) {
                Some(g) if !g.used => g,
                Some(_) => return code_used(),
                None => {
                    return graph_error(
                        StatusCode::BAD_REQUEST,
                        100,
                        None,
                        "OAuthException",
                        "Invalid verification code format.",
                    )
                }
            };
            if q.get("redirect_uri") != Some(&grant.redirect_uri) {
                return graph_error(
                    StatusCode::BAD_REQUEST,
                    100,
                    Some(36008),
                    "OAuthException",
                    "Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request",
                );
            }
            grant.used = true;
            let scopes = grant.scopes.clone();
            let token = random_token("EAAS");
            state.tokens.insert(
                token.clone(),
                TokenGrant {
                    user_id: SANDBOX_USER_ID.into(),
                    scopes,
                    expires_at: now + SHORT_LIVED_SECS,
                    revoked: false,
                },
            );
            return json_resp(
                StatusCode::OK,
                json!({"access_token": token, "token_type": "bearer", "expires_in": SHORT_LIVED_SECS}),
            );
        }
        if q.get("grant_type").map(String::as_str) == Some("fb_exchange_token") {
            let short = q.get("fb_exchange_token").and_then(|t| state.tokens.get(t)).cloned();
            return match short {
                Some(g) if !g.revoked && g.expires_at > now => {
                    let token = random_token("EAAL");
                    state.tokens.insert(token.clone(), TokenGrant { expires_at: now + LONG_LIVED_SECS, ..g });
                    json_resp(
                        StatusCode::OK,
                        json!({"access_token": token, "token_type": "bearer", "expires_in": LONG_LIVED_SECS}),
                    )
                }
                _ => graph_error(
                    StatusCode::BAD_REQUEST,
                    190,
                    None,
                    "OAuthException",
                    "Invalid OAuth access token - Cannot parse access token",
                ),
            };
        }
        graph_error(
            StatusCode::BAD_REQUEST,
            100,
            None,
            "OAuthException",
            "Missing redirect_uri, code or grant_type parameter.",
        )
    }

    fn debug_token(&self, state: &SandboxState, q: &HashMap<String, String>) -> Resp {
        let app_token = format!("{}|{}", self.app_id, self.app_secret);
        let Some(access) = q.get("access_token") else {
            return graph_error(
                StatusCode::BAD_REQUEST,
                104,
                None,
                "OAuthException",
                "An access token is required to request this resource.",
            );
        };
        if *access != app_token {
            return graph_error(
                StatusCode::BAD_REQUEST,
                190,
                None,
                "OAuthException",
                "Invalid OAuth access token signature.",
            );
        }
        if q.get("appsecret_proof").is_some_and(|p| *p != self.proof(access)) {
            return graph_error(
                StatusCode::BAD_REQUEST,
                100,
                None,
                "GraphMethodException",
                "Invalid appsecret_proof provided in the API argument",
            );
        }
        let now = state.now();
        let data = match q.get("input_token").and_then(|t| state.tokens.get(t)) {
            Some(g) => json!({
                "app_id": self.app_id,
                "type": "USER",
                "application": "Sandbox CRM",
                "data_access_expires_at": now + DATA_ACCESS_SECS,
                "expires_at": g.expires_at,
                "is_valid": !g.revoked && !state.reject_tokens && g.expires_at > now,
                "issued_at": now,
                "scopes": g.scopes,
                "user_id": g.user_id,
            }),
            None => json!({
                "error": {"code": 190, "message": "Invalid OAuth access token - Cannot parse access token"},
                "is_valid": false,
                "scopes": [],
            }),
        };
        json_resp(StatusCode::OK, json!({ "data": data }))
    }

    /// The user behind a call's token, or Meta's error.
    fn authenticate(&self, state: &SandboxState, q: &HashMap<String, String>) -> Result<String, Box<Resp>> {
        let Some(token) = q.get("access_token") else {
            return Err(Box::new(graph_error(
                StatusCode::BAD_REQUEST,
                2500,
                None,
                "OAuthException",
                "An active access token must be used to query information about the current user.",
            )));
        };
        let grant = state.tokens.get(token).filter(|g| !g.revoked && g.expires_at > state.now());
        let Some(grant) = grant.filter(|_| !state.reject_tokens) else {
            return Err(Box::new(graph_error(
                StatusCode::BAD_REQUEST,
                190,
                Some(460),
                "OAuthException",
                "Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.",
            )));
        };
        if q.get("appsecret_proof") != Some(&self.proof(token)) {
            return Err(Box::new(graph_error(
                StatusCode::BAD_REQUEST,
                100,
                None,
                "GraphMethodException",
                "Invalid appsecret_proof provided in the API argument",
            )));
        }
        Ok(grant.user_id.clone())
    }

    /// One page of `all`, with Meta's cursors and a `next` URL that carries the query (token included).
    fn page(&self, state: &SandboxState, path: &str, q: &HashMap<String, String>, all: Vec<Value>) -> Resp {
        let limit = q.get("limit").and_then(|l| l.parse::<usize>().ok()).unwrap_or(25).clamp(1, state.page_size.max(1));
        let start = q
            .get("after")
            .and_then(|a| hex::decode(a).ok())
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.parse::<usize>().ok())
            .unwrap_or(0)
            .min(all.len());
        let end = (start + limit).min(all.len());
        let cursor = |i: usize| hex::encode(i.to_string());
        let mut body = json!({ "data": all[start..end].to_vec() });
        if end > start {
            body["paging"] = json!({"cursors": {"before": cursor(start), "after": cursor(end)}});
        }
        if end < all.len() {
            let base = if state.poison_next { Url::parse("http://attacker.invalid:9") } else { Ok(self.url.clone()) };
            if let Ok(mut next) = base {
                next.set_path(path);
                {
                    let mut pairs = next.query_pairs_mut();
                    for (k, v) in q.iter().filter(|(k, _)| *k != "after") {
                        pairs.append_pair(k, v);
                    }
                    pairs.append_pair("after", &cursor(end));
                }
                body["paging"]["next"] = json!(next.as_str());
            }
        }
        json_resp(StatusCode::OK, body)
    }

    /// `POST /__sandbox/configure?throttle_next=2&…`, `POST /__sandbox/reset`, `GET /__sandbox/state`,
    /// `POST /__sandbox/leads?page_id=&campaign_id=&ad_id=&name=` (a new lead and its signed delivery).
    fn control(&self, method: &Method, what: &str, q: &HashMap<String, String>) -> Resp {
        let mut s = lock(&self.state);
        match (method, what) {
            (&Method::POST, "reset") => {
                let keep_tokens = std::mem::take(&mut s.tokens);
                let keep_leads = std::mem::take(&mut s.leads);
                *s = SandboxState { tokens: keep_tokens, leads: keep_leads, ..SandboxState::default() };
            }
            (&Method::POST, "configure") => {
                let num = |k: &str| q.get(k).and_then(|v| v.parse::<u64>().ok());
                if let Some(n) = num("throttle_next") {
                    s.throttle_next = n as u32;
                }
                if let Some(n) = num("throttle_wait_minutes") {
                    s.throttle_wait_minutes = n;
                }
                if let Some(n) = num("delay_next") {
                    s.delay_next = n as u32;
                }
                if let Some(n) = num("delay_ms") {
                    s.delay_ms = n.min(120_000);
                }
                if let Some(n) = num("transient_next") {
                    s.transient_next = n as u32;
                }
                if let Some(n) = num("fail_exchange_next") {
                    s.fail_exchange_next = n as u32;
                }
                if let Some(n) = num("decline_next_dialog") {
                    s.decline_next_dialog = n as u32;
                }
                if let Some(n) = num("businesses") {
                    s.businesses = n.min(1_000) as u32;
                }
                if let Some(n) = num("owned_accounts_per_business") {
                    s.owned_accounts_per_business = n.min(999) as u32;
                }
                if let Some(n) = num("client_accounts_per_business") {
                    s.client_accounts_per_business = n.min(999) as u32;
                }
                if let Some(n) = num("page_size") {
                    s.page_size = n.clamp(1, 500) as usize;
                }
                if let Some(n) = num("max_insights_days") {
                    s.max_insights_days = Some(n.max(1) as i64);
                }
                if let Some(n) = num("async_job_polls") {
                    s.async_job_polls = n.min(100) as u32;
                }
                if let Some(n) = num("fail_async_jobs") {
                    s.fail_async_jobs = n as u32;
                }
                if let Some(n) = num("async_2601_next") {
                    s.async_2601_next = n as u32;
                }
                if let Some(n) = num("slow_jobs_above_days") {
                    s.slow_jobs_above_days = Some(n as i64);
                }
                if let Some(v) = q.get("usage_pct") {
                    s.usage_pct = v.parse::<u32>().ok().map(|p| p.min(200));
                }
                if let Some(d) =
                    q.get("restate_day").and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                {
                    s.restated_days.push(d);
                }
                if let Some(v) = q.get("reject_tokens") {
                    s.reject_tokens = v == "true" || v == "1";
                }
            }
            (&Method::POST, "leads") => {
                let page = q.get("page_id").map(String::as_str).unwrap_or(SANDBOX_PAGE_ID);
                if !page.bytes().all(|b| b.is_ascii_digit()) {
                    return json_resp(StatusCode::BAD_REQUEST, json!({"error": "page_id must be numeric"}));
                }
                let name = q.get("name").map(String::as_str).unwrap_or("Sandbox Lead");
                let lead = s.add_lead(
                    page,
                    q.get("campaign_id").map(String::as_str),
                    q.get("ad_id").map(String::as_str),
                    name,
                );
                drop(s);
                let (body, signature) = self.signed_leadgen_delivery(&[lead.id.as_str()]);
                return json_resp(
                    StatusCode::OK,
                    json!({
                        "leadgen_id": lead.id,
                        "delivery": String::from_utf8_lossy(&body),
                        "x_hub_signature_256": signature,
                    }),
                );
            }
            (&Method::GET, "state") => {}
            _ => return json_resp(StatusCode::NOT_FOUND, json!({"error": "unknown sandbox control"})),
        }
        json_resp(
            StatusCode::OK,
            json!({
                "throttle_next": s.throttle_next,
                "throttle_wait_minutes": s.throttle_wait_minutes,
                "transient_next": s.transient_next,
                "reject_tokens": s.reject_tokens,
                "fail_exchange_next": s.fail_exchange_next,
                "decline_next_dialog": s.decline_next_dialog,
                "businesses": s.businesses,
                "owned_accounts_per_business": s.owned_accounts_per_business,
                "client_accounts_per_business": s.client_accounts_per_business,
                "page_size": s.page_size,
                "calls": s.calls.len(),
                "leads": s.leads.len(),
                "permissions_revoked": s.permissions_revoked,
            }),
        )
    }
}

// ------------------------------------------------------------------------------- ads insights

/// Campaign `k` of an account as `/{act}/campaigns` lists it: objective, a daily budget (campaigns
/// 1 and 2, minor units as a decimal string: `sandbox_daily_budget`) or a lifetime budget with a
/// schedule (campaign 3).
fn sandbox_campaign_object(k: usize, c: &SandboxEntity) -> Value {
    let mut v = json!({"id": c.id, "name": c.name, "effective_status": c.status, "objective": "OUTCOME_LEADS",
                       "start_time": "2026-09-01T09:00:00-0300"});
    if k < 2 {
        v["daily_budget"] = json!(sandbox_daily_budget(k).to_string());
    } else {
        v["lifetime_budget"] = json!("90000000");
        v["stop_time"] = json!("2026-12-31T23:59:00-0300");
    }
    v
}

/// The daily budget (minor units) of campaign `k` < 2.
pub fn sandbox_daily_budget(k: usize) -> i64 {
    2_500_000 + 500_000 * k as i64
}

/// Days of an insights query's `time_range` (0 when unreadable).
fn range_days(q: &HashMap<String, String>) -> i64 {
    let range: Value = q.get("time_range").and_then(|t| serde_json::from_str(t).ok()).unwrap_or_default();
    let day = |k: &str| {
        range.get(k).and_then(Value::as_str).and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
    };
    match (day("since"), day("until")) {
        (Some(a), Some(b)) => (b - a).num_days() + 1,
        _ => 0,
    }
}

fn is_numeric(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// The lead with only the asked `fields` (and its id).
fn with_fields(lead: &SandboxLead, q: &HashMap<String, String>) -> Value {
    let full = lead.graph_object();
    let mut out = json!({"id": lead.id});
    for f in q.get("fields").map(|f| f.split(',').map(str::trim).collect::<Vec<_>>()).unwrap_or_default() {
        if let Some(v) = full.get(f) {
            out[f] = v.clone();
        }
    }
    out
}

/// The `time_created` bound of a leads edge's `filtering` (`[{"field": "time_created",
/// "operator": "GREATER_THAN", "value": epoch}]`); other filters are refused as Meta would.
fn created_after(q: &HashMap<String, String>) -> Result<Option<i64>, Box<Resp>> {
    let Some(raw) = q.get("filtering") else { return Ok(None) };
    let bad =
        || Box::new(graph_error(StatusCode::BAD_REQUEST, 100, None, "OAuthException", "(#100) Invalid filtering"));
    let filters: Vec<Value> = serde_json::from_str(raw).map_err(|_| bad())?;
    let mut after = None;
    for f in filters {
        match (f["field"].as_str(), f["operator"].as_str()) {
            (Some("time_created"), Some("GREATER_THAN")) => {
                after = Some(f["value"].as_i64().or_else(|| f["value"].as_str()?.parse().ok()).ok_or_else(bad)?);
            }
            _ => return Err(bad()),
        }
    }
    Ok(after)
}

fn is_act(s: &str) -> bool {
    s.strip_prefix("act_").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// A campaign (or ad) of the sandbox's ad accounts.
#[derive(Debug, Clone)]
pub struct SandboxEntity {
    pub id: String,
    pub name: String,
    pub status: &'static str,
    pub ads: Vec<SandboxEntity>,
}

/// The campaigns of `act` with their ads: the demo's for the demo account, else three made-up
/// ones; campaign 1 ACTIVE (ad 2 PAUSED), 2 PAUSED, 3 ARCHIVED.
pub fn sandbox_campaigns(act: &str) -> Vec<SandboxEntity> {
    let statuses =
        [("ACTIVE", ["ACTIVE", "PAUSED"]), ("PAUSED", ["CAMPAIGN_PAUSED"; 2]), ("ARCHIVED", ["ARCHIVED"; 2])];
    let n = act.trim_start_matches("act_");
    (0..3)
        .map(|k| {
            let (status, ad_status) = statuses[k];
            if act == crate::demo::DEMO_AD_ACCOUNT {
                let (id, name, ads) = crate::demo::DEMO_CAMPAIGNS[k];
                SandboxEntity {
                    id: id.into(),
                    name: name.into(),
                    status,
                    ads: ads
                        .iter()
                        .zip(ad_status)
                        .map(|((id, name), s)| SandboxEntity {
                            id: (*id).into(),
                            name: (*name).into(),
                            status: s,
                            ads: vec![],
                        })
                        .collect(),
                }
            } else {
                let id = format!("{n}{:02}", k + 1);
                SandboxEntity {
                    name: format!("Campaign {} of {act}", k + 1),
                    status,
                    ads: (0..2)
                        .map(|j| SandboxEntity {
                            id: format!("{id}{}", j + 1),
                            name: format!("Ad {} of campaign {id}", j + 1),
                            status: ad_status[j],
                            ads: vec![],
                        })
                        .collect(),
                    id,
                }
            }
        })
        .collect()
}

/// Spend in minor units of campaign `k` on `day` (restated days answer more).
pub fn sandbox_campaign_spend(k: usize, day: chrono::NaiveDate, restated: bool) -> i64 {
    use chrono::Datelike;
    1_000 + 250 * k as i64 + i64::from(day.ordinal() % 7) * 100 + if restated { 500 } else { 0 }
}

/// Meta-reported leads of campaign `k` on `day`.
pub fn sandbox_campaign_leads(k: usize, day: chrono::NaiveDate, restated: bool) -> i64 {
    use chrono::Datelike;
    (i64::from(day.ordinal() % 3) + k as i64) % 4 + i64::from(restated)
}

/// `minor` as Meta writes spend: a decimal string with the currency's digits.
fn decimal(minor: i64, currency: &str) -> String {
    let exp = crm_shared::domain::money::Currency::parse(currency).map(|c| c.exponent()).unwrap_or(2) as usize;
    if exp == 0 {
        return minor.to_string();
    }
    let s = format!("{:0>width$}", minor, width = exp + 1);
    let (int, frac) = s.split_at(s.len() - exp);
    format!("{int}.{frac}")
}

/// Every insights row of the asked range and level (before paging), or Meta's error.
fn insights(state: &SandboxState, act: &str, q: &HashMap<String, String>) -> Result<Vec<Value>, Box<Resp>> {
    let bad = |msg: &str| Box::new(graph_error(StatusCode::BAD_REQUEST, 100, None, "OAuthException", msg));
    let range: Value =
        q.get("time_range").and_then(|t| serde_json::from_str(t).ok()).ok_or_else(|| bad("time_range is required"))?;
    let day = |k: &str| {
        range.get(k).and_then(Value::as_str).and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
    };
    let (Some(since), Some(until)) = (day("since"), day("until")) else {
        return Err(bad("time_range needs since and until"));
    };
    if until < since {
        return Err(bad("time_range until is before since"));
    }
    let days = (until - since).num_days() + 1;
    if state.max_insights_days.is_some_and(|max| days > max) {
        return Err(Box::new(graph_error(
            StatusCode::BAD_REQUEST,
            100,
            Some(1_487_534),
            "OAuthException",
            "Please reduce the amount of data you're asking for, then retry your request",
        )));
    }
    if q.get("time_increment").map(String::as_str) != Some("1") {
        return Err(bad("the sandbox serves daily rows only (time_increment=1)"));
    }
    let level = q.get("level").map(String::as_str).unwrap_or("account");
    let fields: Vec<&str> = q.get("fields").map(|f| f.split(',').map(str::trim).collect()).unwrap_or_default();
    let (currency, _) = state.account_currency_zone(act);
    let campaigns = sandbox_campaigns(act);
    // The demo account answers on the scale of the demo's seeded spend (ARS 10,000+ a day).
    let scale = if act == crate::demo::DEMO_AD_ACCOUNT { 1_000 } else { 1 };
    let mut rows = Vec::new();
    for d in 0..days {
        let date = since + chrono::Duration::days(d);
        let restated = state.restated_days.contains(&date);
        for (k, c) in campaigns.iter().enumerate() {
            let spend = sandbox_campaign_spend(k, date, restated) * scale;
            let leads = sandbox_campaign_leads(k, date, restated);
            let entries: Vec<(Option<&SandboxEntity>, i64, i64)> = match level {
                "campaign" => vec![(None, spend, leads)],
                // Ads cover 50 % + 40 % of the campaign's spend; the rest is not attributed to an ad.
                "ad" => vec![(c.ads.first(), spend / 2, leads), (c.ads.get(1), spend * 2 / 5, 0)],
                _ => return Err(bad("the sandbox serves level=campaign or level=ad")),
            };
            for (ad, spend, leads) in entries {
                let mut full = json!({
                    "account_id": act.trim_start_matches("act_"),
                    "campaign_id": c.id, "campaign_name": c.name,
                    "spend": decimal(spend, &currency),
                    "impressions": (spend * 3).to_string(),
                    "clicks": (spend / 97).to_string(),
                    "account_currency": currency,
                    "actions": [
                        {"action_type": "link_click", "value": (spend / 97).to_string()},
                        {"action_type": "lead", "value": leads.to_string()},
                        {"action_type": "onsite_conversion.lead_grouped", "value": leads.to_string()},
                    ],
                });
                if let Some(a) = ad {
                    full["ad_id"] = json!(a.id);
                    full["ad_name"] = json!(a.name);
                }
                let mut out = json!({"date_start": date.to_string(), "date_stop": date.to_string()});
                for f in &fields {
                    if let Some(v) = full.get(*f) {
                        out[*f] = v.clone();
                    }
                }
                rows.push(out);
            }
        }
    }
    Ok(rows)
}
