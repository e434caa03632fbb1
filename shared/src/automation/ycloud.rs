//! The YCloud client (WhatsApp Business API provider): template sends
//! (`POST /v2/whatsapp/messages`, `X-API-Key`), the lookup of a message by our `externalId`
//! (before any resend of a send whose outcome is unknown — YCloud does not dedupe on it,
//! FIELD-NOTES 17) and the template list. Error mapping (FIELD-NOTES 19):
//!
//! | answer | [`YcloudError`] | what the evaluator does |
//! |---|---|---|
//! | 5xx, 429 (`Retry-After`), connect failure, WhatsApp 130429 / 131056 | `Transient` | retry in a later run with backoff |
//! | timeout or broken answer after the request left | `UnknownOutcome` | look it up before any resend |
//! | WhatsApp 131050 (user stopped marketing) | `OptedOut` | never retry; opt the contact out |
//! | WhatsApp 131049 (per-user marketing limit) | `RetryMuchLater` | retry after a day |
//! | WhatsApp 132015 / template paused | `TemplatePaused` | re-queue |
//! | other 4xx (incl. 131047 window closed) | `Rejected` | log as failed |

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use url::Url;

use crate::domain::hsm::Phone;
use crate::platform::error::{DomainError, Failure};
use crate::platform::secrets::SecretString;

/// Timeout of one YCloud request. A send that times out has an unknown outcome.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

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
            let body = Self::answer(resp).await?;
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

    async fn answer(resp: reqwest::Response) -> Result<Value, YcloudError> {
        let status = resp.status().as_u16();
        let retry_after =
            resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok());
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            Ok(body)
        } else {
            Err(YcloudError::from_answer(status, &body, retry_after))
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
        let body = Self::answer(resp).await?;
        serde_json::from_value(body).map_err(|_| YcloudError::UnknownOutcome { reason: "unreadable answer".into() })
    }

    /// The message sent with `external_id`, if YCloud has one (newest first).
    pub async fn find_by_external_id(&self, external_id: &str) -> Result<Option<Message>, YcloudError> {
        let resp = self
            .http
            .get(self.url("/v2/whatsapp/messages"))
            .header("X-API-Key", self.api_key.expose())
            .query(&[("filter.externalId", external_id), ("limit", "10")])
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|_| YcloudError::Transient { reason: "lookup transport".into(), retry_after: None })?;
        let body = Self::answer(resp).await?;
        let items: Vec<Message> = serde_json::from_value(body["items"].clone()).unwrap_or_default();
        Ok(items.into_iter().find(|m| m.external_id.as_deref() == Some(external_id)))
    }

    /// Every template of the account (all pages).
    pub async fn templates(&self) -> Result<Vec<Template>, YcloudError> {
        let mut out = Vec::new();
        for page in 1..=20u32 {
            let resp = self
                .http
                .get(self.url("/v2/whatsapp/templates"))
                .header("X-API-Key", self.api_key.expose())
                .query(&[("page", page.to_string()), ("limit", "100".to_string()), ("includeTotal", "true".into())])
                .query(&self.waba_id.iter().map(|w| ("filter.wabaId", w.as_str())).collect::<Vec<_>>())
                .timeout(REQUEST_TIMEOUT)
                .send()
                .await
                .map_err(|_| YcloudError::Transient { reason: "templates transport".into(), retry_after: None })?;
            let body = Self::answer(resp).await?;
            let items: Vec<Template> = serde_json::from_value(body["items"].clone()).unwrap_or_default();
            let total = body["total"].as_u64().unwrap_or(0) as usize;
            let n = items.len();
            out.extend(items);
            if n == 0 || out.len() >= total {
                break;
            }
        }
        Ok(out)
    }
}

/// What the automation needs of YCloud (the client; a fake in unit tests).
#[async_trait]
pub trait WhatsappApi: Send + Sync {
    async fn send_template(&self, msg: &TemplateMessage) -> Result<Message, YcloudError>;
    async fn find_by_external_id(&self, external_id: &str) -> Result<Option<Message>, YcloudError>;
    async fn templates(&self) -> Result<Vec<Template>, YcloudError>;
}

#[async_trait]
impl WhatsappApi for YcloudClient {
    async fn send_template(&self, msg: &TemplateMessage) -> Result<Message, YcloudError> {
        YcloudClient::send_template(self, msg).await
    }
    async fn find_by_external_id(&self, external_id: &str) -> Result<Option<Message>, YcloudError> {
        YcloudClient::find_by_external_id(self, external_id).await
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
