//! The YCloud client (WhatsApp Business API provider): template sends
//! (`POST /v2/whatsapp/messages`, `X-API-Key`), the lookup of a message by our `externalId`
//! (before any resend of a send whose outcome is unknown — YCloud does not dedupe on it,
//! FIELD-NOTES 17) and the template list. Error mapping (FIELD-NOTES 19, 30):
//!
//! | answer to a send | [`YcloudError`] | what the evaluator does |
//! |---|---|---|
//! | 429 (`Retry-After`), refused connection, WhatsApp 130429 / 131056 | `Transient` | resend in a later run with backoff |
//! | 5xx, 408, timeout or a dropped/unreadable answer (or one over [`MAX_RESPONSE_BYTES`]) after the request was written | `UnknownOutcome` | look it up before any resend |
//! | WhatsApp 131050 (user stopped marketing) | `OptedOut` | never retry; opt the contact out |
//! | WhatsApp 131049 (per-user marketing limit) | `RetryMuchLater` | retry after a day |
//! | WhatsApp 132015 / template paused | `TemplatePaused` | re-queue |
//! | 401 / 403 | `Unauthorized` | resend later (the key was refused, nothing was accepted) |
//! | other 4xx (incl. 131047 window closed) | `Rejected` | log as failed |
//!
//! The lookup works as YCloud's list does: `GET /v2/whatsapp/messages` filters server-side only on
//! `filter.to` and `filter.wabaId` (other filters are silently ignored) and pages with `page` and
//! `limit` ≤ 100, newest first. So [`YcloudClient::find_by_external_id`] lists the recipient's
//! messages page by page until they are older than the claim and matches `externalId` itself.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use url::Url;

use chrono::{DateTime, Utc};

use crate::domain::hsm::Phone;
use crate::platform::error::{DomainError, Failure};
use crate::platform::http_client::{read_capped, BodyError};
use crate::platform::secrets::SecretString;

/// Timeout of one YCloud request. A send that times out has an unknown outcome.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Most bytes of a YCloud answer read (a list page of 100 templates is well under 1 MiB); a
/// longer answer is refused while streaming, never buffered whole (as the Graph client's).
pub const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// Most messages per list page (YCloud refuses more).
pub const LIST_PAGE_LIMIT: u32 = 100;

/// How long one template listing may page (`hsm-templates` has 10 s in all, `infra/template.yaml`;
/// this leaves room for init, auth and the connection read). 20 pages × [`REQUEST_TIMEOUT`] would not fit.
pub const TEMPLATES_BUDGET: Duration = Duration::from_secs(6);

/// A template list and whether every page was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateList {
    pub templates: Vec<Template>,
    pub complete: bool,
}

/// Most list pages one lookup reads (YCloud's `page` ≤ 100); a lookup that reaches it without
/// getting older than the claim has not answered (the outcome stays unknown).
pub const LOOKUP_MAX_PAGES: u32 = 20;

/// How far before the claim a lookup still searches (clocks apart, YCloud's `createTime`).
pub const LOOKUP_SLACK: chrono::Duration = chrono::Duration::minutes(10);

/// One template message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateMessage {
    pub to: Phone,
    pub template: String,
    pub language: String,
    /// Body parameters `{{1}}`, `{{2}}`, … filled from the entity.
    pub body_params: Vec<String>,
    /// `{tenant}:{trigger}:{entity}`: how the message is found again.
    pub external_id: String,
}

/// A message as YCloud holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    pub id: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub wamid: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
    /// When YCloud took it (RFC 3339).
    #[serde(default)]
    pub create_time: Option<DateTime<Utc>>,
}

/// A WhatsApp template as YCloud lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Template {
    pub name: String,
    pub language: String,
    #[serde(default)]
    pub category: Option<String>,
    /// `APPROVED`, `PENDING`, `REJECTED`, `PAUSED`, `DISABLED`, …
    pub status: String,
    #[serde(default)]
    pub components: Value,
}

impl Template {
    /// How many `{{n}}` placeholders its body has (the parameters a send must fill).
    pub fn body_placeholders(&self) -> usize {
        let body = self
            .components
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["type"].as_str().is_some_and(|t| t.eq_ignore_ascii_case("body")))
            .and_then(|c| c["text"].as_str())
            .unwrap_or("");
        (1..=20).take_while(|n| body.contains(&format!("{{{{{n}}}}}"))).count()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum YcloudError {
    #[error("YCloud is unavailable or throttling ({reason})")]
    Transient { reason: String, retry_after: Option<Duration> },
    #[error("the send's outcome is unknown ({reason})")]
    UnknownOutcome { reason: String },
    #[error("the contact stopped marketing messages (131050)")]
    OptedOut,
    #[error("the contact's marketing limit was reached (131049)")]
    RetryMuchLater,
    #[error("the template is paused")]
    TemplatePaused,
    #[error("YCloud refused the message ({code}: {message})")]
    Rejected { code: String, message: String },
    #[error("YCloud refused our API key")]
    Unauthorized,
}

impl YcloudError {
    /// Classifies an error answer (`status`, body, `Retry-After` seconds).
    pub fn from_answer(status: u16, body: &Value, retry_after: Option<u64>) -> Self {
        let err = &body["error"];
        let wa_code =
            err["whatsappApiError"]["code"].as_i64().or_else(|| err["whatsappApiError"]["code"].as_str()?.parse().ok());
        let code = err["code"].as_str().unwrap_or("").to_string();
        let message = crate::platform::telemetry::peer_text(err["message"].as_str().unwrap_or(""));
        let retry_after = retry_after.map(crate::platform::clock::peer_wait);
        match wa_code {
            Some(131050) => return Self::OptedOut,
            Some(131049) => return Self::RetryMuchLater,
            Some(130429 | 131056) => {
                return Self::Transient { reason: format!("whatsapp {}", wa_code.unwrap_or_default()), retry_after }
            }
            Some(132015) => return Self::TemplatePaused,
            Some(c) => return Self::Rejected { code: c.to_string(), message },
            None => {}
        }
        match status {
            429 => Self::Transient { reason: "429".into(), retry_after },
            500..=599 => Self::Transient { reason: status.to_string(), retry_after },
            401 | 403 => Self::Unauthorized,
            _ => Self::Rejected { code: if code.is_empty() { status.to_string() } else { code }, message },
        }
    }

    /// Classifies an error answer to a **send**: a 5xx or 408 does not say the message was not
    /// taken (YCloud may have queued it before failing), so its outcome is unknown; everything
    /// else as [`Self::from_answer`].
    pub fn from_send_answer(status: u16, body: &Value, retry_after: Option<u64>) -> Self {
        if status == 408 || (500..=599).contains(&status) {
            return Self::UnknownOutcome { reason: status.to_string() };
        }
        Self::from_answer(status, body, retry_after)
    }

    /// A send's outcome unknown for `reason` (the request reached YCloud).
    fn unknown(reason: &'static str) -> Self {
        Self::UnknownOutcome { reason: reason.into() }
    }

    /// A read that may work later, for `reason`.
    fn transient(reason: &'static str) -> Self {
        Self::Transient { reason: reason.into(), retry_after: None }
    }

    /// Whether a later run may try again.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient { .. } | Self::UnknownOutcome { .. })
    }
}

impl DomainError for YcloudError {
    fn failure(&self) -> Failure {
        match self {
            Self::Transient { retry_after, .. } => {
                Failure::Unavailable { retry_after_secs: retry_after.map(|d| d.as_secs().max(1)) }
            }
            _ => Failure::BadGateway,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::Transient { .. } => "ycloud_unavailable",
            _ => "ycloud_error",
        }
    }
}

/// The request body of a template send.
pub fn send_body(from: &str, msg: &TemplateMessage) -> Value {
    let mut template = json!({"name": msg.template, "language": {"code": msg.language}});
    if !msg.body_params.is_empty() {
        template["components"] = json!([{
            "type": "body",
            "parameters": msg.body_params.iter().map(|p| json!({"type": "text", "text": p})).collect::<Vec<_>>(),
        }]);
    }
    json!({
        "from": from,
        "to": msg.to.as_str(),
        "type": "template",
        "template": template,
        "externalId": msg.external_id,
        "filterUnsubscribed": true,
    })
}

/// A WhatsApp business number as YCloud lists it (`GET /v2/whatsapp/phoneNumbers`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhoneNumber {
    #[serde(default)]
    pub id: Option<String>,
    /// E.164.
    pub phone_number: String,
    pub waba_id: String,
    #[serde(default)]
    pub verified_name: Option<String>,
    #[serde(default)]
    pub quality_rating: Option<String>,
}

#[derive(Debug, Clone)]
pub struct YcloudClient {
    http: reqwest::Client,
    base: Url,
    api_key: SecretString,
    from: String,
    /// The WhatsApp Business Account whose templates are listed (`None`: the whole account's).
    waba_id: Option<String>,
}

impl YcloudClient {
    pub fn new(http: reqwest::Client, base: Url, api_key: SecretString, from: impl Into<String>) -> Self {
        Self { http, base, api_key, from: from.into(), waba_id: None }
    }

    /// The same client, listing only `waba_id`'s templates (a tenant's connection).
    pub fn for_waba(self, waba_id: impl Into<String>) -> Self {
        Self { waba_id: Some(waba_id.into()), ..self }
    }

    /// The business numbers of `waba_id` the key's account holds (all pages).
    pub async fn phone_numbers(&self, waba_id: &str) -> Result<Vec<PhoneNumber>, YcloudError> {
        let mut out = Vec::new();
        for page in 1..=10u32 {
            let query = [
                ("page", page.to_string()),
                ("limit", "100".into()),
                ("includeTotal", "true".into()),
                ("filter.wabaId", waba_id.to_string()),
            ];
            let resp = self
                .http
                .get(self.url("/v2/whatsapp/phoneNumbers"))
                .header("X-API-Key", self.api_key.expose())
                .query(&query)
                .timeout(REQUEST_TIMEOUT)
                .send()
                .await
                .map_err(|_| YcloudError::Transient { reason: "phone numbers transport".into(), retry_after: None })?;
            let body = Self::answer(resp, YcloudError::from_answer, YcloudError::transient).await?;
            let items: Vec<PhoneNumber> = serde_json::from_value(body["items"].clone()).unwrap_or_default();
            let total = body["total"].as_u64().unwrap_or(0) as usize;
            let n = items.len();
            out.extend(items);
            if n == 0 || out.len() >= total {
                break;
            }
        }
        Ok(out)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base.as_str().trim_end_matches('/'))
    }

    /// The body of a 2xx answer, or the error `classify` makes of the answer. At most
    /// [`MAX_RESPONSE_BYTES`] are read: a 2xx body over the cap (or cut off) is `unreadable`'s
    /// error (a send's: unknown outcome — YCloud took the request; a list's: transient); an error
    /// answer's body is then classified as empty.
    async fn answer(
        resp: reqwest::Response,
        classify: fn(u16, &Value, Option<u64>) -> YcloudError,
        unreadable: fn(&'static str) -> YcloudError,
    ) -> Result<Value, YcloudError> {
        let status = resp.status().as_u16();
        let retry_after =
            resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok());
        let ok = (200..300).contains(&status);
        let body = match read_capped(resp, MAX_RESPONSE_BYTES).await {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            Err(BodyError::TooLarge { .. }) if ok => return Err(unreadable("answer over the size cap")),
            Err(BodyError::Read(_)) if ok => return Err(unreadable("unreadable answer")),
            Err(_) => Value::Null,
        };
        if ok {
            Ok(body)
        } else {
            Err(classify(status, &body, retry_after))
        }
    }

    /// Sends one template message (one attempt: the evaluator's claim decides any retry).
    pub async fn send_template(&self, msg: &TemplateMessage) -> Result<Message, YcloudError> {
        let sent = self
            .http
            .post(self.url("/v2/whatsapp/messages"))
            .header("X-API-Key", self.api_key.expose())
            .timeout(REQUEST_TIMEOUT)
            .json(&send_body(&self.from, msg))
            .send()
            .await;
        let resp = match sent {
            Ok(r) => r,
            // Never reached YCloud: safe to retry.
            Err(e) if e.is_connect() => {
                return Err(YcloudError::Transient { reason: "connect".into(), retry_after: None })
            }
            Err(e) => {
                return Err(YcloudError::UnknownOutcome {
                    reason: if e.is_timeout() { "timeout" } else { "transport" }.into(),
                })
            }
        };
        let body = Self::answer(resp, YcloudError::from_send_answer, YcloudError::unknown).await?;
        serde_json::from_value(body).map_err(|_| YcloudError::UnknownOutcome { reason: "unreadable answer".into() })
    }

    /// The message sent to `to` with `external_id`, if YCloud has one: the recipient's messages,
    /// newest first, page by page until they are older than `since` (less [`LOOKUP_SLACK`]).
    /// `Ok(None)` only when the search got there; an error (the list failed, or
    /// [`LOOKUP_MAX_PAGES`] were not enough) means no answer.
    pub async fn find_by_external_id(
        &self,
        to: &Phone,
        external_id: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<Message>, YcloudError> {
        let limit = LIST_PAGE_LIMIT.to_string();
        for page in 1..=LOOKUP_MAX_PAGES {
            let resp = self
                .http
                .get(self.url("/v2/whatsapp/messages"))
                .header("X-API-Key", self.api_key.expose())
                .query(&[("filter.to", to.as_str()), ("page", &page.to_string()), ("limit", &limit)])
                .timeout(REQUEST_TIMEOUT)
                .send()
                .await
                .map_err(|_| YcloudError::Transient { reason: "lookup transport".into(), retry_after: None })?;
            let body = Self::answer(resp, YcloudError::from_answer, YcloudError::transient).await?;
            let items: Vec<Message> = serde_json::from_value(body["items"].clone())
                .map_err(|_| YcloudError::Transient { reason: "unreadable message list".into(), retry_after: None })?;
            match scan_page(&items, external_id, since) {
                Scan::Found(m) => return Ok(Some(m)),
                Scan::Older => return Ok(None),
                Scan::Continue if items.len() < LIST_PAGE_LIMIT as usize => return Ok(None),
                Scan::Continue => {}
            }
        }
        Err(YcloudError::Transient { reason: "lookup did not reach the claim's time".into(), retry_after: None })
    }

    /// Every template of the account (all pages, within [`TEMPLATES_BUDGET`]; a list not read
    /// in time is an error, never a partial list taken as whole).
    pub async fn templates(&self) -> Result<Vec<Template>, YcloudError> {
        let list = self.templates_within(TEMPLATES_BUDGET).await?;
        match list.complete {
            true => Ok(list.templates),
            false => Err(YcloudError::transient("template list not read within its time budget")),
        }
    }

    /// The account's templates, page by page while `budget` lasts (a page in flight when it ends
    /// is dropped): what was read by then (`complete: false`), an error if nothing was.
    pub async fn templates_within(&self, budget: Duration) -> Result<TemplateList, YcloudError> {
        let deadline = tokio::time::Instant::now() + budget;
        let mut out = Vec::new();
        for page in 1..=20u32 {
            let Ok(read) = tokio::time::timeout_at(deadline, self.templates_page(page)).await else {
                if out.is_empty() {
                    return Err(YcloudError::transient("template list not read within its time budget"));
                }
                return Ok(TemplateList { templates: out, complete: false });
            };
            let (items, total) = read?;
            let n = items.len();
            out.extend(items);
            if n == 0 || out.len() >= total {
                break;
            }
        }
        Ok(TemplateList { templates: out, complete: true })
    }

    /// One page of the template list and the total YCloud reports.
    async fn templates_page(&self, page: u32) -> Result<(Vec<Template>, usize), YcloudError> {
        let resp = self
            .http
            .get(self.url("/v2/whatsapp/templates"))
            .header("X-API-Key", self.api_key.expose())
            .query(&[("page", page.to_string()), ("limit", "100".to_string()), ("includeTotal", "true".into())])
            .query(&self.waba_id.iter().map(|w| ("filter.wabaId", w.as_str())).collect::<Vec<_>>())
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|_| YcloudError::transient("templates transport"))?;
        let body = Self::answer(resp, YcloudError::from_answer, YcloudError::transient).await?;
        let items: Vec<Template> = serde_json::from_value(body["items"].clone()).unwrap_or_default();
        Ok((items, body["total"].as_u64().unwrap_or(0) as usize))
    }
}

/// What one list page says about the message searched for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scan {
    Found(Message),
    /// The page reached messages older than the search's start: it is not there.
    Older,
    /// Not on this page; the next may have it.
    Continue,
}

/// Looks for `external_id` on one newest-first page of a recipient's messages.
pub fn scan_page(items: &[Message], external_id: &str, since: DateTime<Utc>) -> Scan {
    if let Some(m) = items.iter().find(|m| m.external_id.as_deref() == Some(external_id)) {
        return Scan::Found(m.clone());
    }
    let oldest = items.iter().filter_map(|m| m.create_time).min();
    if oldest.is_some_and(|t| t < since - LOOKUP_SLACK) {
        Scan::Older
    } else {
        Scan::Continue
    }
}

/// What the automation needs of YCloud (the client; a fake in unit tests).
#[async_trait]
pub trait WhatsappApi: Send + Sync {
    async fn send_template(&self, msg: &TemplateMessage) -> Result<Message, YcloudError>;
    /// The message sent to `to` with `external_id` since about `since` (see
    /// [`YcloudClient::find_by_external_id`]).
    async fn find_by_external_id(
        &self,
        to: &Phone,
        external_id: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<Message>, YcloudError>;
    async fn templates(&self) -> Result<Vec<Template>, YcloudError>;
}

#[async_trait]
impl WhatsappApi for YcloudClient {
    async fn send_template(&self, msg: &TemplateMessage) -> Result<Message, YcloudError> {
        YcloudClient::send_template(self, msg).await
    }
    async fn find_by_external_id(
        &self,
        to: &Phone,
        external_id: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<Message>, YcloudError> {
        YcloudClient::find_by_external_id(self, to, external_id, since).await
    }
    async fn templates(&self) -> Result<Vec<Template>, YcloudError> {
        YcloudClient::templates(self).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whatsapp_codes_map_to_what_the_evaluator_does() {
        let wa = |code: i64| json!({"error": {"code": "WHATSAPP_ERROR", "whatsappApiError": {"code": code}}});
        assert_eq!(YcloudError::from_answer(400, &wa(131050), None), YcloudError::OptedOut);
        assert_eq!(YcloudError::from_answer(400, &wa(131049), None), YcloudError::RetryMuchLater);
        assert!(YcloudError::from_answer(400, &wa(130429), None).is_transient());
        assert!(YcloudError::from_answer(400, &wa(131056), None).is_transient());
        assert!(matches!(YcloudError::from_answer(400, &wa(131047), None), YcloudError::Rejected { .. }));
        assert_eq!(
            YcloudError::from_answer(429, &Value::Null, Some(30)),
            YcloudError::Transient { reason: "429".into(), retry_after: Some(Duration::from_secs(30)) }
        );
        assert!(YcloudError::from_answer(503, &Value::Null, None).is_transient());
        // A send's 5xx or 408 does not prove it was not taken: unknown, looked up before a resend.
        for status in [500, 502, 503, 504, 408] {
            assert!(
                matches!(YcloudError::from_send_answer(status, &Value::Null, None), YcloudError::UnknownOutcome { .. }),
                "{status}"
            );
        }
        // Only an explicit throttle or refusal is safe to resend.
        assert!(matches!(YcloudError::from_send_answer(429, &Value::Null, None), YcloudError::Transient { .. }));
        assert!(matches!(YcloudError::from_send_answer(400, &wa(130429), None), YcloudError::Transient { .. }));
        assert_eq!(YcloudError::from_send_answer(400, &wa(131050), None), YcloudError::OptedOut);
        // A hostile Retry-After is capped before it meets date arithmetic (the evaluator adds it).
        assert_eq!(
            YcloudError::from_answer(429, &Value::Null, Some(u64::MAX)),
            YcloudError::Transient { reason: "429".into(), retry_after: Some(crate::platform::clock::MAX_PEER_WAIT) }
        );
        assert_eq!(YcloudError::from_answer(401, &Value::Null, None), YcloudError::Unauthorized);
        assert!(matches!(
            YcloudError::from_answer(400, &json!({"error": {"code": "x"}}), None),
            YcloudError::Rejected { .. }
        ));
    }

    #[tokio::test]
    async fn answers_over_the_cap_are_refused_not_read_whole() {
        use crate::platform::http_client::tests::serve_once;
        crate::platform::http_client::install_crypto_provider();
        let client = |base: String| {
            let base = Url::parse(&base).expect("url");
            YcloudClient::new(reqwest::Client::new(), base, SecretString::new("k"), "+5491100000000")
        };
        let mut huge = br#"{"items":[],"total":0,"pad":""#.to_vec();
        huge.resize(MAX_RESPONSE_BYTES, b'x');
        huge.extend_from_slice(br#""}"#);
        for declare_length in [true, false] {
            let err = client(serve_once(huge.clone(), declare_length)).templates().await.expect_err("over the cap");
            assert_eq!(err, YcloudError::transient("answer over the size cap"), "{declare_length}");
            // A send YCloud answered 2xx was taken: its outcome is unknown, never "not sent".
            let msg = TemplateMessage {
                to: Phone::parse("+5491155550101").expect("phone"),
                template: "followup".into(),
                language: "es".into(),
                body_params: vec![],
                external_id: "7:lead_followup:L-1".into(),
            };
            let err = client(serve_once(huge.clone(), declare_length)).send_template(&msg).await.expect_err("cap");
            assert_eq!(err, YcloudError::unknown("answer over the size cap"), "{declare_length}");
        }
        let small = br#"{"items":[{"name":"t","language":"es","status":"APPROVED"}],"total":1}"#.to_vec();
        let listed = client(serve_once(small, false)).templates().await.expect("a small answer is read");
        assert_eq!(listed.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["t"]);
    }

    #[test]
    fn send_body_has_template_external_id_and_unsubscribe_filter() {
        let msg = TemplateMessage {
            to: Phone::parse("+5491155550101").expect("phone"),
            template: "followup".into(),
            language: "es".into(),
            body_params: vec!["Ana".into()],
            external_id: "7:lead_followup:L-1".into(),
        };
        let b = send_body("+5491100000000", &msg);
        assert_eq!(b["externalId"], "7:lead_followup:L-1");
        assert_eq!(b["filterUnsubscribed"], true);
        assert_eq!(b["template"]["language"]["code"], "es");
        assert_eq!(b["template"]["components"][0]["parameters"][0]["text"], "Ana");
        assert_eq!(b["type"], "template");
    }

    #[test]
    fn a_lookup_page_finds_the_message_or_says_whether_older_pages_could() {
        use chrono::TimeZone;
        let at = |m: u32| Utc.with_ymd_and_hms(2026, 11, 24, 12, m, 0).single().unwrap_or_default();
        let msg = |id: &str, x: &str, m: u32| Message {
            id: id.into(),
            status: Some("accepted".into()),
            external_id: Some(x.into()),
            wamid: None,
            to: None,
            create_time: Some(at(m)),
        };
        let page = [msg("3", "7:lead_followup:L-3", 50), msg("2", "7:lead_followup:L-2", 40)];
        assert_eq!(scan_page(&page, "7:lead_followup:L-2", at(45)), Scan::Found(page[1].clone()));
        assert_eq!(scan_page(&page, "7:lead_followup:L-9", at(35)), Scan::Continue, "not yet older than the claim");
        assert_eq!(scan_page(&page, "7:lead_followup:L-9", at(55)), Scan::Older, "older than the claim: not sent");
        assert_eq!(scan_page(&[], "x", at(0)), Scan::Continue);
    }

    #[test]
    fn placeholders_are_counted_from_the_body() {
        let t = Template {
            name: "x".into(),
            language: "es".into(),
            category: None,
            status: "APPROVED".into(),
            components: json!([{"type": "BODY", "text": "Hola {{1}}, tu pedido {{2}}"}]),
        };
        assert_eq!(t.body_placeholders(), 2);
    }
}
