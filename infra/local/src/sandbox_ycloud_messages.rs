//! Sandbox YCloud's messages as YCloud keeps and lists them, and its send faults.
//!
//! - A message is answered and listed as YCloud's `WhatsappMessage` object (`id`, `wabaId`,
//!   `from`, `to`, `type`, `template`, `status`, `externalId`, `createTime`).
//! - `GET /v2/whatsapp/messages` behaves as YCloud's does (FIELD-NOTES 30): only `filter.to` and
//!   `filter.wabaId` filter (any other `filter.*` — `filter.externalId` included — is silently
//!   ignored), newest first, paged by `page` (1–100; `offset` is ignored) and `limit` (1–100,
//!   default 10; more is refused with 400), answered as a `Page` (`offset`, `limit`, `length`,
//!   `total` with `includeTotal=true`, `items`).
//! - [`Faults`]: what the next sends and lists meet — a 429 or a 503 (not taken), a 500 after
//!   the message was taken, an answer held past the client's timeout after it was taken, a list
//!   that answers 500.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// The WhatsApp Business Account of the sandbox's sender.
pub const SANDBOX_WABA_ID: &str = "sandbox-waba";

/// YCloud's largest page (`page` and `limit` both ≤ 100).
pub const MAX_PAGE: usize = 100;
pub const MAX_LIMIT: usize = 100;

/// A message the sandbox accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxMessage {
    pub id: String,
    pub external_id: Option<String>,
    pub from: String,
    pub to: String,
    pub template: String,
    pub language: String,
    pub params: Vec<String>,
    pub status: String,
    pub created_at: DateTime<Utc>,
}

impl SandboxMessage {
    /// The message as YCloud answers and lists it (`WhatsappMessage`).
    pub fn to_json(&self) -> Value {
        let mut m = json!({
            "id": self.id, "wabaId": SANDBOX_WABA_ID, "from": self.from, "to": self.to, "type": "template",
            "template": {"name": self.template, "language": {"code": self.language}},
            "status": self.status, "createTime": self.created_at.to_rfc3339(),
        });
        if let Some(x) = &self.external_id {
            m["externalId"] = json!(x);
        }
        m
    }
}

/// Fault switches, each counting down per request it applies to.
#[derive(Debug, Clone)]
pub struct Faults {
    /// Sends answered 500 **after** the message was taken (stored, counted).
    pub error_after_send_next: u32,
    /// Sends taken, then answered only after `slow_answer` (past the client's timeout).
    pub slow_answer_next: u32,
    pub slow_answer: Duration,
    /// Lists answered 500.
    pub list_fail_next: u32,
}

impl Default for Faults {
    fn default() -> Self {
        // The product's client gives up after 5 s.
        Self { error_after_send_next: 0, slow_answer_next: 0, slow_answer: Duration::from_secs(6), list_fail_next: 0 }
    }
}

/// What a send that was taken answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterTaken {
    Answer,
    Error500,
    AnswerAfter(Duration),
}

impl Faults {
    /// Consumes the switch that applies to the next taken send.
    pub fn after_taken(&mut self) -> AfterTaken {
        if self.error_after_send_next > 0 {
            self.error_after_send_next -= 1;
            return AfterTaken::Error500;
        }
        if self.slow_answer_next > 0 {
            self.slow_answer_next -= 1;
            return AfterTaken::AnswerAfter(self.slow_answer);
        }
        AfterTaken::Answer
    }

    /// Consumes the list switch: `true` if this list fails.
    pub fn list_fails(&mut self) -> bool {
        let fails = self.list_fail_next > 0;
        self.list_fail_next = self.list_fail_next.saturating_sub(1);
        fails
    }
}

/// Why a list request is refused (YCloud answers 400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadList(pub String);

fn bounded(q: &HashMap<String, String>, key: &str, default: usize, max: usize) -> Result<usize, BadList> {
    match q.get(key) {
        None => Ok(default),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(BadList(format!("{key} must be an integer between 1 and {max}"))),
        },
    }
}

/// One page of `messages` (oldest first, as stored) for the list query `q`.
pub fn list_page(messages: &[SandboxMessage], q: &HashMap<String, String>) -> Result<Value, BadList> {
    let limit = bounded(q, "limit", 10, MAX_LIMIT)?;
    let page = bounded(q, "page", 1, MAX_PAGE)?;
    let (to, waba) = (q.get("filter.to"), q.get("filter.wabaId"));
    let matching: Vec<&SandboxMessage> = messages
        .iter()
        .rev()
        .filter(|m| to.is_none_or(|t| &m.to == t))
        .filter(|_| waba.is_none_or(|w| w == SANDBOX_WABA_ID))
        .collect();
    let offset = (page - 1) * limit;
    let items: Vec<Value> = matching.iter().skip(offset).take(limit).map(|m| m.to_json()).collect();
    let mut out = json!({"offset": offset, "limit": limit, "length": items.len(), "items": items});
    if q.get("includeTotal").is_some_and(|v| v == "true") {
        out["total"] = json!(matching.len());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(n: usize, to: &str) -> SandboxMessage {
        SandboxMessage {
            id: format!("ycm_{n}"),
            external_id: Some(format!("x-{n}")),
            from: "+5491100000000".into(),
            to: to.into(),
            template: "t".into(),
            language: "es".into(),
            params: vec![],
            status: "accepted".into(),
            created_at: chrono::Utc::now(),
        }
    }

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn ids(page: &Value) -> Vec<String> {
        page["items"].as_array().into_iter().flatten().filter_map(|m| m["id"].as_str().map(str::to_string)).collect()
    }

    #[test]
    fn only_the_recipient_and_waba_filter_the_rest_is_ignored() {
        let msgs: Vec<SandboxMessage> = (1..=5).map(|n| msg(n, if n % 2 == 0 { "+2" } else { "+1" })).collect();
        assert_eq!(ids(&list_page(&msgs, &q(&[("filter.to", "+1")])).expect("page")), ["ycm_5", "ycm_3", "ycm_1"]);
        // filter.externalId is not a server-side filter at YCloud: every message comes back.
        let all = list_page(&msgs, &q(&[("filter.externalId", "x-2")])).expect("page");
        assert_eq!(ids(&all), ["ycm_5", "ycm_4", "ycm_3", "ycm_2", "ycm_1"]);
        assert_eq!(ids(&list_page(&msgs, &q(&[("filter.wabaId", "other")])).expect("page")), Vec::<String>::new());
    }

    #[test]
    fn pages_go_by_page_and_limit_and_offset_is_ignored() {
        let msgs: Vec<SandboxMessage> = (1..=25).map(|n| msg(n, "+1")).collect();
        let p2 = list_page(&msgs, &q(&[("page", "2"), ("limit", "10"), ("offset", "0")])).expect("page");
        assert_eq!(ids(&p2).first().map(String::as_str), Some("ycm_15"), "page 2, not offset 0");
        assert_eq!(
            (p2["offset"].clone(), p2["limit"].clone(), p2["length"].clone()),
            (json!(10), json!(10), json!(10))
        );
        assert!(p2.get("total").is_none(), "total only with includeTotal");
        let p3 = list_page(&msgs, &q(&[("page", "3"), ("limit", "10"), ("includeTotal", "true")])).expect("page");
        assert_eq!((p3["length"].clone(), p3["total"].clone()), (json!(5), json!(25)));
        assert_eq!(ids(&list_page(&msgs, &q(&[])).expect("page")).len(), 10, "limit defaults to 10");
    }

    #[test]
    fn a_limit_or_page_past_100_is_refused() {
        for bad in [("limit", "101"), ("limit", "0"), ("page", "101"), ("page", "x")] {
            assert!(list_page(&[], &q(&[bad])).is_err(), "{bad:?}");
        }
        assert!(list_page(&[], &q(&[("limit", "100"), ("page", "100")])).is_ok());
    }

    #[test]
    fn faults_count_down_one_taken_send_at_a_time() {
        let mut f = Faults { error_after_send_next: 1, slow_answer_next: 1, list_fail_next: 1, ..Faults::default() };
        assert_eq!(f.after_taken(), AfterTaken::Error500);
        assert_eq!(f.after_taken(), AfterTaken::AnswerAfter(Duration::from_secs(6)));
        assert_eq!(f.after_taken(), AfterTaken::Answer);
        assert!(f.list_fails());
        assert!(!f.list_fails());
    }
}
