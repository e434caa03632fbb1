//! Sandbox YCloud: a local stand-in of the parts of YCloud's v2 API the product calls, over real
//! HTTP.
//!
//! - `POST /v2/whatsapp/messages`: a template send (`X-API-Key` checked; the template must exist
//!   for its name + language and be `APPROVED`, else WhatsApp's error); every accepted send is
//!   counted per `externalId` (YCloud does not dedupe on it: duplicates show up in
//!   [`SandboxYcloudState::sends_by_external_id`]);
//! - `GET /v2/whatsapp/messages`: the messages as YCloud lists them — filtered only by
//!   `filter.to` / `filter.wabaId` (others silently ignored), newest first, `page`/`limit` ≤ 100
//!   ([`crate::sandbox_ycloud_messages`]);
//! - `GET /v2/whatsapp/templates?page=&limit=`: the templates with their status per name/language;
//! - switches ([`SandboxYcloudState`], or `POST /__sandbox/configure?latency_ms=&fail_next=&throttle_next=&wa_error=&wa_error_next=&drop_answer_next=&error_after_send_next=&slow_answer_next=&list_fail_next=`,
//!   `GET /__sandbox/state`): latency, 503 (not taken), 429 with `Retry-After`, WhatsApp error
//!   codes, and — the message taken, the caller left not knowing — an answer dropped, a 500, an
//!   answer held past the client's timeout; a list that answers 500;
//! - `GET /v2/whatsapp/phoneNumbers?filter.wabaId=`: the account's business numbers;
//! - several accounts ([`crate::sandbox_ycloud_accounts`]), each key reaching only its own
//!   numbers, templates and senders;
//! - [`SandboxYcloud::status_webhooks`] / [`SandboxYcloud::inbound_webhook`]: the signed
//!   `whatsapp.message.updated` / `whatsapp.inbound_message.received` deliveries YCloud would post
//!   (`YCloud-Signature: t=…,s=…`), which tests and `make dev` post to `/crm/webhooks/ycloud` — in any
//!   order and as often as they like, as YCloud does.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http::{header, Method, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use url::Url;

use crate::sandbox_ycloud_accounts as accounts;
pub use crate::sandbox_ycloud_messages::SandboxMessage;
use crate::sandbox_ycloud_messages::{list_page, AfterTaken, Faults, SANDBOX_WABA_ID};

/// A template the sandbox account holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxTemplate {
    pub name: String,
    pub language: String,
    pub category: String,
    pub status: String,
    pub body: String,
}

/// One API request and the answer the sandbox gave (`Null` for a body that is not JSON).
#[derive(Debug, Clone)]
pub struct Exchange {
    pub method: String,
    pub path: String,
    pub query: HashMap<String, String>,
    pub request: Value,
    pub status: u16,
    pub answer: Value,
}

#[derive(Debug)]
pub struct SandboxYcloudState {
    pub templates: Vec<SandboxTemplate>,
    pub messages: Vec<SandboxMessage>,
    /// Accepted sends per `externalId` (a value above 1 is a duplicate send).
    pub sends_by_external_id: HashMap<String, usize>,
    /// Send requests received (accepted or not).
    pub send_requests: usize,
    /// Waited before answering each send and each template page.
    pub latency: Duration,
    /// The next N sends answer 503.
    pub fail_next: u32,
    /// The next N sends answer 429 with `Retry-After: retry_after_secs`.
    pub throttle_next: u32,
    pub retry_after_secs: u64,
    /// The next `wa_error_next` sends fail with this WhatsApp error code.
    pub wa_error: Option<i64>,
    pub wa_error_next: u32,
    /// The next N sends are accepted (and counted) but their answer is dropped.
    pub drop_answer_next: u32,
    /// Taken-then-500, taken-then-slow, failing lists.
    pub faults: Faults,
    /// Every API request and its answer, in order (the contract test holds both to YCloud's spec).
    pub exchanges: Vec<Exchange>,
    pub next_id: u64,
    /// Where accepted messages' status webhooks are posted (`make dev`: the local API's
    /// `/crm/webhooks/ycloud`), signed; `None` (tests): built on demand with `status_events`.
    pub webhook_url: Option<String>,
    /// Accounts besides the default one (their own keys, WABAs, numbers, templates).
    pub accounts: Vec<crate::sandbox_ycloud_accounts::SandboxAccount>,
    /// The default account's numbers (`GET /v2/whatsapp/phoneNumbers` with the default key).
    pub default_numbers: Vec<String>,
}

impl Default for SandboxYcloudState {
    fn default() -> Self {
        let t = |name: &str, language: &str, status: &str, body: &str| SandboxTemplate {
            name: name.into(),
            language: language.into(),
            category: "MARKETING".into(),
            status: status.into(),
            body: body.into(),
        };
        Self {
            templates: vec![
                t("lead_followup", "es", "APPROVED", "Hola {{1}}, ¿pudiste ver nuestra propuesta?"),
                t("opportunity_reminder", "es", "APPROVED", "Hola {{1}}, tu turno vence pronto."),
                t("post_sale_feedback", "es", "APPROVED", "Hola {{1}}, ¿cómo fue tu experiencia?"),
                t("abandoned_cart", "es", "APPROVED", "Hola {{1}}, dejaste productos en tu carrito."),
                t("promo_paused", "es", "PAUSED", "Promo {{1}}"),
                t("promo_rejected", "es", "REJECTED", "Promo {{1}}"),
            ],
            messages: Vec::new(),
            sends_by_external_id: HashMap::new(),
            send_requests: 0,
            latency: Duration::ZERO,
            fail_next: 0,
            throttle_next: 0,
            retry_after_secs: 7,
            wa_error: None,
            wa_error_next: 0,
            drop_answer_next: 0,
            faults: Faults::default(),
            exchanges: Vec::new(),
            next_id: 1,
            webhook_url: None,
            accounts: Vec::new(),
            default_numbers: vec!["+5491100000000".into()],
        }
    }
}

impl SandboxYcloudState {
    /// Sets (or adds) a template's status for a name + language.
    pub fn set_template_status(&mut self, name: &str, language: &str, status: &str) {
        match self.templates.iter_mut().find(|t| t.name == name && t.language == language) {
            Some(t) => t.status = status.into(),
            None => self.templates.push(SandboxTemplate {
                name: name.into(),
                language: language.into(),
                category: "MARKETING".into(),
                status: status.into(),
                body: "Hola {{1}}".into(),
            }),
        }
    }

    /// Accepted sends in total.
    pub fn accepted(&self) -> usize {
        self.sends_by_external_id.values().sum()
    }

    /// `externalId`s sent more than once.
    pub fn duplicates(&self) -> Vec<String> {
        self.sends_by_external_id.iter().filter(|(_, n)| **n > 1).map(|(k, _)| k.clone()).collect()
    }
}

#[derive(Clone)]
pub struct SandboxYcloud {
    pub url: Url,
    api_key: String,
    webhook_secret: String,
    state: Arc<Mutex<SandboxYcloudState>>,
}

impl std::fmt::Debug for SandboxYcloud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxYcloud").field("url", &self.url.as_str()).finish_non_exhaustive()
    }
}

type Resp = Response<Full<Bytes>>;

/// What a send request met.
enum Accepted {
    /// Taken: its answer, and what that answer meets on the way.
    Taken(Value, AfterTaken),
    /// Refused with this answer (nothing taken).
    Refused(Resp),
    /// Taken, and the connection dropped before any answer.
    Dropped,
}

fn lock(m: &Mutex<SandboxYcloudState>) -> MutexGuard<'_, SandboxYcloudState> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn json_resp(status: StatusCode, body: Value) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    r
}

fn error(status: StatusCode, code: &str, message: &str, wa_code: Option<i64>) -> Resp {
    let mut err = json!({"status": status.as_u16(), "code": code, "message": message});
    if let Some(c) = wa_code {
        // YCloud's `WhatsappApiError.code` is a string.
        err["whatsappApiError"] = json!({"code": c.to_string(), "message": message, "type": "OAuthException"});
    }
    json_resp(status, json!({ "error": err }))
}

/// `YCloud-Signature` of `body` at `t`: `t={t},s={hex HMAC-SHA256(secret, "{t}.{body}")}`.
/// The sandbox's own implementation ([`crate::sandbox_crypto`]), never the product's.
pub fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    crate::sandbox_crypto::ycloud_signature(secret, t, body)
}

impl SandboxYcloud {
    /// Starts on `addr` (port 0 = any free port) in the background.
    pub async fn start(addr: SocketAddr, api_key: &str, webhook_secret: &str) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let bound = listener.local_addr()?;
        let url = Url::parse(&format!("http://{bound}")).map_err(std::io::Error::other)?;
        let sandbox = Self {
            url,
            api_key: api_key.into(),
            webhook_secret: webhook_secret.into(),
            state: Arc::new(Mutex::new(SandboxYcloudState::default())),
        };
        let server = sandbox.clone();
        tokio::spawn(crate::http1::serve(listener, move |req| {
            let s = server.clone();
            async move { s.handle(req).await }
        }));
        Ok(sandbox)
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut SandboxYcloudState) -> R) -> R {
        f(&mut lock(&self.state))
    }

    pub fn base_url(&self) -> String {
        self.url.as_str().trim_end_matches('/').to_string()
    }

    /// A signed delivery of `event` at `t` (epoch seconds): `(raw body, YCloud-Signature)`.
    pub fn signed(&self, event: &Value, t: i64) -> (Vec<u8>, String) {
        let body = event.to_string().into_bytes();
        let sig = sign(&self.webhook_secret, t, &body);
        (body, sig)
    }

    /// `whatsapp.message.updated` events for the message sent with `external_id`, one per status
    /// in the order given (tests shuffle and repeat them as YCloud does); `None` if no such message.
    pub fn status_events(&self, external_id: &str, statuses: &[&str]) -> Option<Vec<Value>> {
        let state = lock(&self.state);
        let m = state.messages.iter().rev().find(|m| m.external_id.as_deref() == Some(external_id))?;
        Some(
            statuses
                .iter()
                .map(|st| {
                    let mut wm = m.to_json();
                    wm["wamid"] = json!(format!("wamid.{}", m.id));
                    wm["status"] = json!(st);
                    if *st == "failed" {
                        wm["errorCode"] = json!("131026");
                        wm["errorMessage"] = json!("Message undeliverable");
                    }
                    json!({
                        "id": format!("evt_{}_{}", m.id, st), "type": "whatsapp.message.updated", "apiVersion": "v2",
                        "createTime": chrono::Utc::now().to_rfc3339(), "whatsappMessage": wm,
                    })
                })
                .collect(),
        )
    }

    /// A `whatsapp.inbound_message.received` event: `from` wrote `text`.
    pub fn inbound_event(&self, from: &str, to: &str, text: &str) -> Value {
        let id = {
            let mut s = lock(&self.state);
            s.next_id += 1;
            s.next_id
        };
        json!({
            "id": format!("evt_in_{id}"), "type": "whatsapp.inbound_message.received", "apiVersion": "v2",
            "createTime": chrono::Utc::now().to_rfc3339(),
            "whatsappInboundMessage": {"id": format!("in_{id}"), "wabaId": SANDBOX_WABA_ID, "from": from, "to": to, "type": "text", "text": {"body": text}},
        })
    }

    /// Posts `sent` → `delivered` → `read` for the message, signed, as YCloud would: a second
    /// apart, and — like YCloud — sometimes out of order or twice.
    pub async fn post_statuses(&self, url: &str, external_id: &str) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let Some(mut events) = self.status_events(external_id, &["sent", "delivered", "read"]) else {
            return;
        };
        match rand::random::<u8>() % 4 {
            0 => events.swap(1, 2),
            1 => events.push(events[1].clone()),
            _ => {}
        }
        crm_shared::platform::http_client::install_crypto_provider();
        let client = reqwest::Client::new();
        for ev in events {
            let (body, sig) = self.signed(&ev, chrono::Utc::now().timestamp());
            let sent = client
                .post(url)
                .header("content-type", "application/json")
                .header("YCloud-Signature", sig)
                .body(body)
                .send()
                .await;
            if let Err(e) = sent {
                tracing::warn!(error = %e, "sandbox ycloud: webhook post failed");
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    async fn handle(&self, req: hyper::Request<Incoming>) -> Result<Resp, std::io::Error> {
        let (method, path) = (req.method().clone(), req.uri().path().to_string());
        let query: HashMap<String, String> = req
            .uri()
            .query()
            .map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        if path.starts_with("/__sandbox/") {
            return Ok(self.control(&method, &path, &query));
        }
        let key = req.headers().get("x-api-key").and_then(|v| v.to_str().ok()).map(str::to_string);
        let caller = accounts::caller(&self.api_key, &lock(&self.state), key.as_deref());
        let body = req.into_body().collect().await.map(|c| c.to_bytes()).unwrap_or_default();
        let answer = match caller {
            Some(caller) => self.route(&method, &path, &query, &body, caller).await?,
            None => error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "invalid API key", None),
        };
        // Kept for the contract test: every request and every answer, as sent.
        let (parts, full) = answer.into_parts();
        let bytes = full.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
        lock(&self.state).exchanges.push(Exchange {
            method: method.to_string(),
            path,
            query,
            request: serde_json::from_slice(&body).unwrap_or(Value::Null),
            status: parts.status.as_u16(),
            answer: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        });
        Ok(Response::from_parts(parts, Full::new(bytes)))
    }

    async fn route(
        &self,
        method: &Method,
        path: &str,
        query: &HashMap<String, String>,
        body: &[u8],
        caller: accounts::Caller,
    ) -> Result<Resp, std::io::Error> {
        match (method, path) {
            (&Method::POST, "/v2/whatsapp/messages") => self.send(body, caller).await,
            (&Method::GET, "/v2/whatsapp/messages") => Ok(self.list_messages(query)),
            (&Method::GET, p) if p.starts_with("/v2/whatsapp/messages/") => Ok(self.message(&p[22..])),
            (&Method::GET, "/v2/whatsapp/templates") => Ok(self.wait().await.templates(query, caller)),
            (&Method::GET, "/v2/whatsapp/phoneNumbers") => {
                match accounts::phone_numbers(&lock(&self.state), caller, query) {
                    Ok(page) => Ok(json_resp(StatusCode::OK, page)),
                    Err(why) => Ok(error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", &why, None)),
                }
            }
            _ => Ok(error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such endpoint", None)),
        }
    }

    /// The `latency` switch (sends and template pages).
    async fn wait(&self) -> &Self {
        let latency = lock(&self.state).latency;
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        self
    }

    async fn send(&self, body: &[u8], caller: accounts::Caller) -> Result<Resp, std::io::Error> {
        self.wait().await;
        let Ok(req) = serde_json::from_slice::<Value>(body) else {
            return Ok(error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", "body is not JSON", None));
        };
        let (answer, after) = match self.accept(&req, caller) {
            Accepted::Taken(answer, after) => (answer, after),
            Accepted::Refused(r) => return Ok(r),
            Accepted::Dropped => return Err(std::io::Error::other("answer dropped")),
        };
        match after {
            AfterTaken::Answer => Ok(json_resp(StatusCode::OK, answer)),
            AfterTaken::Error500 => {
                Ok(error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR", "internal error", None))
            }
            AfterTaken::AnswerAfter(wait) => {
                tokio::time::sleep(wait).await;
                Ok(json_resp(StatusCode::OK, answer))
            }
        }
    }

    /// Takes a send (or refuses it): the message as answered and what its answer meets.
    fn accept(&self, req: &Value, caller: accounts::Caller) -> Accepted {
        let mut s = lock(&self.state);
        s.send_requests += 1;
        if s.fail_next > 0 {
            s.fail_next -= 1;
            return Accepted::Refused(error(StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE", "try again", None));
        }
        if s.throttle_next > 0 {
            s.throttle_next -= 1;
            let mut r = error(StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_REQUESTS", "slow down", None);
            if let Ok(v) = header::HeaderValue::from_str(&s.retry_after_secs.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return Accepted::Refused(r);
        }
        if s.wa_error_next > 0 {
            s.wa_error_next -= 1;
            let code = s.wa_error.unwrap_or(131026);
            return Accepted::Refused(error(StatusCode::BAD_REQUEST, "WHATSAPP_ERROR", "whatsapp refused", Some(code)));
        }
        let (name, language) = (
            req["template"]["name"].as_str().unwrap_or_default().to_string(),
            req["template"]["language"]["code"].as_str().unwrap_or_default().to_string(),
        );
        let to = req["to"].as_str().unwrap_or_default().to_string();
        if req["type"] != "template" || to.is_empty() || req["from"].as_str().unwrap_or("").is_empty() {
            return Accepted::Refused(error(
                StatusCode::BAD_REQUEST,
                "INVALID_ARGUMENT",
                "from, to and a template are required",
                None,
            ));
        }
        if !accounts::may_send_from(&s, caller, req["from"].as_str().unwrap_or_default()) {
            return Accepted::Refused(error(
                StatusCode::BAD_REQUEST,
                "INVALID_ARGUMENT",
                "from is not a phone number of this account",
                None,
            ));
        }
        let templates = accounts::templates_of(&s, caller);
        match templates.iter().find(|t| t.name == name && t.language == language).map(|t| t.status.clone()) {
            None => {
                return Accepted::Refused(error(
                    StatusCode::BAD_REQUEST,
                    "WHATSAPP_ERROR",
                    "template does not exist",
                    Some(132001),
                ))
            }
            Some(st) if st == "PAUSED" => {
                return Accepted::Refused(error(
                    StatusCode::BAD_REQUEST,
                    "WHATSAPP_ERROR",
                    "template is paused",
                    Some(132015),
                ))
            }
            Some(st) if st != "APPROVED" => {
                return Accepted::Refused(error(
                    StatusCode::BAD_REQUEST,
                    "WHATSAPP_ERROR",
                    "template is not approved",
                    Some(132016),
                ))
            }
            Some(_) => {}
        }
        let params: Vec<String> = req["template"]["components"][0]["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["text"].as_str().map(str::to_string))
            .collect();
        let external_id = req["externalId"].as_str().map(str::to_string);
        s.next_id += 1;
        let id = format!("ycm_{:08}", s.next_id);
        if let Some(x) = &external_id {
            *s.sends_by_external_id.entry(x.clone()).or_default() += 1;
        }
        let from = req["from"].as_str().unwrap_or_default().to_string();
        let message = SandboxMessage {
            id,
            external_id: external_id.clone(),
            from,
            to,
            template: name,
            language,
            params,
            status: "accepted".into(),
            created_at: chrono::Utc::now(),
        };
        let answer = message.to_json();
        s.messages.push(message);
        if let Some(url) = s.webhook_url.clone() {
            let (me, xid) = (self.clone(), external_id.clone().unwrap_or_default());
            tokio::spawn(async move { me.post_statuses(&url, &xid).await });
        }
        if s.drop_answer_next > 0 {
            s.drop_answer_next -= 1;
            return Accepted::Dropped;
        }
        Accepted::Taken(answer, s.faults.after_taken())
    }

    fn list_messages(&self, q: &HashMap<String, String>) -> Resp {
        let mut s = lock(&self.state);
        if s.faults.list_fails() {
            return error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR", "internal error", None);
        }
        match list_page(&s.messages, q) {
            Ok(page) => json_resp(StatusCode::OK, page),
            Err(bad) => error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", &bad.0, None),
        }
    }

    fn message(&self, id: &str) -> Resp {
        let s = lock(&self.state);
        match s.messages.iter().find(|m| m.id == id) {
            Some(m) => json_resp(StatusCode::OK, m.to_json()),
            None => error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such message", None),
        }
    }

    fn templates(&self, q: &HashMap<String, String>, caller: accounts::Caller) -> Resp {
        let s = lock(&self.state);
        let limit: usize = q.get("limit").and_then(|v| v.parse().ok()).unwrap_or(10).clamp(1, 100);
        let page: usize = q.get("page").and_then(|v| v.parse().ok()).unwrap_or(1).max(1);
        let waba = accounts::waba_of(&s, caller);
        let mine = q.get("filter.wabaId").is_none_or(|w| *w == waba);
        let all = if mine { accounts::templates_of(&s, caller) } else { &[] };
        let items: Vec<Value> = all
            .iter()
            .skip((page - 1) * limit)
            .take(limit)
            .map(|t| {
                json!({
                    "wabaId": waba, "name": t.name, "language": t.language, "category": t.category,
                    "status": t.status, "components": [{"type": "BODY", "text": t.body}],
                })
            })
            .collect();
        json_resp(
            StatusCode::OK,
            json!({"items": items, "total": all.len(), "offset": (page - 1) * limit, "limit": limit, "length": items.len()}),
        )
    }

    fn control(&self, method: &Method, path: &str, q: &HashMap<String, String>) -> Resp {
        let mut s = lock(&self.state);
        match (method, path) {
            (&Method::POST, "/__sandbox/configure") => {
                let n = |k: &str| q.get(k).and_then(|v| v.parse::<u64>().ok());
                if let Some(v) = n("latency_ms") {
                    s.latency = Duration::from_millis(v);
                }
                if let Some(v) = n("fail_next") {
                    s.fail_next = u32::try_from(v).unwrap_or(u32::MAX);
                }
                if let Some(v) = n("throttle_next") {
                    s.throttle_next = u32::try_from(v).unwrap_or(u32::MAX);
                }
                if let Some(v) = n("drop_answer_next") {
                    s.drop_answer_next = u32::try_from(v).unwrap_or(u32::MAX);
                }
                if let Some(v) = n("error_after_send_next") {
                    s.faults.error_after_send_next = u32::try_from(v).unwrap_or(u32::MAX);
                }
                if let Some(v) = n("slow_answer_next") {
                    s.faults.slow_answer_next = u32::try_from(v).unwrap_or(u32::MAX);
                }
                if let Some(v) = n("list_fail_next") {
                    s.faults.list_fail_next = u32::try_from(v).unwrap_or(u32::MAX);
                }
                if let Some(v) = q.get("wa_error").and_then(|v| v.parse().ok()) {
                    s.wa_error = Some(v);
                    s.wa_error_next = n("wa_error_next").map_or(1, |v| u32::try_from(v).unwrap_or(u32::MAX));
                }
                if let (Some(name), Some(status)) = (q.get("template"), q.get("status")) {
                    let lang = q.get("language").map_or("es", String::as_str).to_string();
                    s.set_template_status(name, &lang, status);
                }
                json_resp(StatusCode::OK, json!({"ok": true}))
            }
            (&Method::POST, "/__sandbox/reset") => {
                *s = SandboxYcloudState::default();
                json_resp(StatusCode::OK, json!({"ok": true}))
            }
            (&Method::GET, "/__sandbox/state") => json_resp(
                StatusCode::OK,
                json!({
                    "send_requests": s.send_requests, "accepted": s.accepted(), "duplicates": s.duplicates(),
                    "messages": s.messages.iter().map(|m| json!({"id": m.id, "externalId": m.external_id, "to": m.to, "template": m.template, "status": m.status})).collect::<Vec<_>>(),
                }),
            ),
            _ => error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such switch", None),
        }
    }
}
