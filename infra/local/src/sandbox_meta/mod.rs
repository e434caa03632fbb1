//! Sandbox Meta: a local stand-in of the parts of Meta the product calls, over real HTTP.
//!
//! - `GET /{v}/dialog/oauth`: the login dialog; consents at once and redirects the browser to
//!   `redirect_uri?code=…&state=…` (or `?error=access_denied&error_reason=user_denied…` when told
//!   to decline);
//! - `POST /{v}/oauth/access_token` (form body): `code` → short-lived token,
//!   `grant_type=fb_exchange_token` → long-lived token (`{access_token, token_type, expires_in}`);
//! - `GET /{v}/debug_token?input_token=`: `{data: {app_id, is_valid, expires_at,
//!   data_access_expires_at, scopes, user_id}}` (asked with the app token `app_id|app_secret`);
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
//! - `GET /{v}/act_{n}` (currency, time zone; code 100 / subcode 33 for `hidden_accounts`),
//!   `/{v}/act_{n}/campaigns` and `/ads` (with
//!   `effective_status`: campaign 1 ACTIVE, 2 PAUSED, 3 ARCHIVED) and `/{v}/act_{n}/insights`
//!   (`level=campaign|ad`, `time_increment=1`, `time_range`): one row per campaign (or ad) and day
//!   of the range, deterministic values, spend as a decimal string in the account currency, ads
//!   covering 90 % of their campaign's spend (as at Meta, not all spend is attributed to an ad),
//!   cursor-paged. The demo account serves the demo's campaigns (spend on the demo's scale). Switches: `restated_days`
//!   (those days answer higher numbers, as when Meta restates), `max_insights_days` (longer ranges
//!   answer code 100 / subcode 1487534), [`SandboxState::revoke_token`] (one token → 190).
//! - `GET /{v}/act_{n}/adspixels` (the account's one dataset, [`dataset_id`], cursor-paged; `ads_read`
//!   or `ads_management`) and `POST /{v}/{dataset_id}/events` (Conversions API for CRM, JSON or
//!   form body, up to 1,000 events; every rule of Meta's checked, one bad event refuses the
//!   request; `ads_management`): see [`conversions`]. What it accepted is in
//!   [`SandboxState::conversions`] and `GET /__sandbox/conversions`.
//!
//! Tokens travel in `Authorization: Bearer` only: a Graph URL carrying `access_token` (or
//! `client_secret`, `code`, `fb_exchange_token`) is refused, and the token exchange must be a POST
//! form, so the tests prove no secret reaches a URL (Meta itself is more lenient). Bodies are read
//! once, up to [`MAX_BODY_BYTES`] (over it: code 100), as a form or JSON by `Content-Type`. Every call
//! with a user token must carry the right `appsecret_proof`. Errors have Meta's shape
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

/// What the sandbox user grants by default (written out from Meta's docs, not the product's list):
/// insights, businesses, and every permission lead ads need — the page list and its tokens, lead
/// forms and leads, page ads, and the page's webhook subscription.
pub const USER_SCOPES: [&str; 8] = [
    "ads_read",
    "business_management",
    "leads_retrieval",
    "pages_show_list",
    "pages_read_engagement",
    "pages_manage_metadata",
    "pages_manage_ads",
    "ads_management",
];

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
    /// The user's tasks per page (default: every task, [`pages::ALL_TASKS`]).
    pub page_tasks: HashMap<String, Vec<String>>,
    /// Pages whose Leads Access Manager does not give this user leads access (lead reads: 200).
    pub no_lead_access: Vec<String>,
    /// The fields this app is subscribed to, per page (`/{page}/subscribed_apps`).
    pub subscriptions: HashMap<String, Vec<String>>,
    page_tokens: HashMap<String, pages::PageGrant>,
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
    /// Ad accounts the user lost access to: `GET /{act}` answers Meta's code 100, subcode 33
    /// ("does not exist, cannot be loaded due to missing permissions").
    pub hidden_accounts: Vec<String>,
    /// The query of every insights call (without token and proof).
    pub insights_queries: Vec<HashMap<String, String>>,
    /// `expires_in` of the long-lived exchange's answer, as sent (`None` = 60 days); tests send
    /// hostile values (huge, fractional).
    pub long_lived_expires_in: Option<Value>,
    /// `debug_token` says `expires_at: 0` (Meta's "never"), so the product falls back on `expires_in`.
    pub debug_never_expires: bool,
    /// Every event `POST /{dataset_id}/events` accepted, in order (never raw contact data).
    pub conversions: Vec<ReceivedConversion>,
    /// Events per accepted `/events` request, in order.
    pub conversion_requests: Vec<usize>,
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
            granted_scopes: USER_SCOPES.iter().map(|s| s.to_string()).collect(),
            pages: vec![(SANDBOX_PAGE_ID.to_string(), "Sandbox Clinic".to_string())],
            page_tasks: HashMap::new(),
            no_lead_access: Vec::new(),
            subscriptions: HashMap::new(),
            page_tokens: HashMap::new(),
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
            hidden_accounts: Vec::new(),
            insights_queries: Vec::new(),
            long_lived_expires_in: None,
            debug_never_expires: false,
            conversions: Vec::new(),
            conversion_requests: Vec::new(),
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
            scopes: USER_SCOPES.iter().map(|s| s.to_string()).collect(),
            expires_at: self.now() + 60 * 24 * 3600,
            revoked: false,
        };
        self.tokens.insert(token.to_string(), grant);
    }

    /// [`Self::issue_token`] with the scopes the user grants now ([`Self::granted_scopes`]).
    pub fn issue_token_with_scopes(&mut self, token: &str, user_id: &str) {
        self.issue_token(token, user_id);
        let scopes = self.granted_scopes.clone();
        if let Some(g) = self.tokens.get_mut(token) {
            g.scopes = scopes;
        }
    }

    /// Meta invalidates this one token, a user's or a page's (its calls answer 190 from now on).
    pub fn revoke_token(&mut self, token: &str) {
        if let Some(g) = self.tokens.get_mut(token) {
            g.revoked = true;
        }
        if let Some(g) = self.page_tokens.get_mut(token) {
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

mod catalogue;
mod control;
pub mod conversions;
mod graph;
mod leads;
mod oauth;
pub mod pages;

pub use conversions::{
    dataset_id, ReceivedConversion, MAX_EVENTS_PER_REQUEST, MAX_EVENT_AGE_SECS, MAX_EVENT_AHEAD_SECS,
    SUBCODE_EVENT_IN_FUTURE, SUBCODE_EVENT_TOO_OLD, SUBCODE_NOT_HASHED, SUBCODE_PARAMETER,
};
pub use graph::{MAX_BODY_BYTES, SECRET_QUERY_PARAMS};
pub use leads::SandboxLead;

use catalogue::*;
pub use catalogue::{
    sandbox_campaign_leads, sandbox_campaign_spend, sandbox_campaigns, sandbox_daily_budget, SandboxEntity,
};

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

/// Meta's answer to a token it no longer accepts (190, subcode 460).
fn session_invalidated() -> Resp {
    graph_error(
        StatusCode::BAD_REQUEST,
        190,
        Some(460),
        "OAuthException",
        "Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.",
    )
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

    /// `X-Hub-Signature-256` of `body` as Meta computes it (HMAC-SHA256 with the app secret), by
    /// the sandbox's own implementation ([`crate::sandbox_crypto`]), never the product's.
    pub fn sign_webhook(&self, body: &[u8]) -> String {
        crate::sandbox_crypto::meta_webhook_signature(&self.app_secret, body)
    }

    /// The delivery Meta posts for these leads: one `entry` per page, one `leadgen` change per
    /// lead. Unknown ids are skipped, and so are leads of pages this app is not subscribed to
    /// (Meta delivers nothing for them: FIELD-NOTES 26).
    pub fn leadgen_delivery(&self, leadgen_ids: &[&str]) -> Value {
        let state = lock(&self.state);
        let mut entries: Vec<(String, Vec<Value>)> = Vec::new();
        let delivered = leadgen_ids.iter().filter_map(|id| state.leads.get(*id));
        for lead in delivered.filter(|l| state.subscribed_to_leadgen(&l.page_id)) {
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
        crate::sandbox_crypto::meta_appsecret_proof(&self.app_secret, token)
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
}

// ------------------------------------------------------------------------------- ads insights
