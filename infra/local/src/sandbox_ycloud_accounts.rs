//! Sandbox YCloud's accounts: besides the default account (the key the sandbox starts with, the
//! state's `templates`, any sender), [`SandboxAccount`]s each with their own API key, WhatsApp
//! Business Account, numbers and templates — one per business, as YCloud has them. As YCloud does,
//! a key only reaches its own account's resources:
//!
//! - `GET /v2/whatsapp/phoneNumbers?filter.wabaId=`: the account's numbers (another account's
//!   WABA lists nothing);
//! - `GET /v2/whatsapp/templates?filter.wabaId=`: the account's templates only;
//! - `POST /v2/whatsapp/messages`: `from` must be one of the account's numbers (else 400
//!   `INVALID_ARGUMENT`, nothing sent), and the template must be the account's (else WhatsApp's
//!   132001, template does not exist).
//!
//! Numbers are compared digit for digit, as YCloud does (no country rules applied here).

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::sandbox_ycloud::{SandboxTemplate, SandboxYcloudState};

/// One YCloud account: its key, its WABA, its numbers (E.164) and templates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxAccount {
    pub api_key: String,
    pub waba_id: String,
    pub numbers: Vec<String>,
    pub templates: Vec<SandboxTemplate>,
}

impl SandboxAccount {
    /// An account with `numbers` in `waba_id` and an approved `{{1}}` template per trigger (the
    /// default account's names), each body prefixed with `brand` so tests tell accounts apart.
    pub fn new(api_key: &str, waba_id: &str, numbers: &[&str], brand: &str) -> Self {
        let t = |name: &str| SandboxTemplate {
            name: name.into(),
            language: "es".into(),
            category: "MARKETING".into(),
            status: "APPROVED".into(),
            body: format!("{brand}: Hola {{{{1}}}}"),
        };
        Self {
            api_key: api_key.into(),
            waba_id: waba_id.into(),
            numbers: numbers.iter().map(|n| n.to_string()).collect(),
            templates: ["lead_followup", "opportunity_reminder", "post_sale_feedback", "abandoned_cart"]
                .into_iter()
                .map(t)
                .collect(),
        }
    }
}

/// Who a request's `X-API-Key` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// The key the sandbox started with.
    Default,
    /// `accounts[i]`.
    Account(usize),
}

/// The caller of `key`, `None` for a key no account has.
pub fn caller(default_key: &str, state: &SandboxYcloudState, key: Option<&str>) -> Option<Caller> {
    let key = key?;
    if key == default_key {
        return Some(Caller::Default);
    }
    state.accounts.iter().position(|a| a.api_key == key).map(Caller::Account)
}

/// The templates `caller` sees.
pub fn templates_of(state: &SandboxYcloudState, caller: Caller) -> &[SandboxTemplate] {
    match caller {
        Caller::Default => &state.templates,
        Caller::Account(i) => state.accounts.get(i).map_or(&[], |a| a.templates.as_slice()),
    }
}

/// The WABA id `caller`'s templates are listed under.
pub fn waba_of(state: &SandboxYcloudState, caller: Caller) -> String {
    match caller {
        Caller::Default => "sandbox-waba".into(),
        Caller::Account(i) => state.accounts.get(i).map_or_else(String::new, |a| a.waba_id.clone()),
    }
}

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// Whether `caller` may send from `from` (the default account: any sender, as before accounts).
pub fn may_send_from(state: &SandboxYcloudState, caller: Caller, from: &str) -> bool {
    match caller {
        Caller::Default => true,
        Caller::Account(i) => {
            state.accounts.get(i).is_some_and(|a| a.numbers.iter().any(|n| digits(n) == digits(from)))
        }
    }
}

/// `GET /v2/whatsapp/phoneNumbers` (YCloud's `WhatsappPhoneNumberPage`): the caller's numbers in
/// `filter.wabaId` (all of them without it), `page` and `limit` within 1–100 as YCloud's spec
/// bounds them (else 400 `INVALID_ARGUMENT`), `total` only when `includeTotal=true`.
pub fn phone_numbers(state: &SandboxYcloudState, caller: Caller, q: &HashMap<String, String>) -> Result<Value, String> {
    let bounded = |k: &str, default: usize| -> Result<usize, String> {
        match q.get(k) {
            None => Ok(default),
            Some(v) => v.parse::<usize>().ok().filter(|n| (1..=100).contains(n)).ok_or(format!("{k} must be 1-100")),
        }
    };
    let (page, limit) = (bounded("page", 1)?, bounded("limit", 10)?);
    let waba_filter = q.get("filter.wabaId").map(String::as_str);
    let numbers: Vec<(String, String)> = match caller {
        Caller::Default => state.default_numbers.iter().map(|n| (n.clone(), "sandbox-waba".to_string())).collect(),
        Caller::Account(i) => state
            .accounts
            .get(i)
            .map(|a| a.numbers.iter().map(|n| (n.clone(), a.waba_id.clone())).collect())
            .unwrap_or_default(),
    };
    let all: Vec<(String, String)> =
        numbers.into_iter().filter(|(_, waba)| waba_filter.is_none_or(|w| w == waba)).collect();
    let items: Vec<Value> = all
        .iter()
        .enumerate()
        .skip((page - 1) * limit)
        .take(limit)
        .map(|(i, (number, waba))| {
            json!({
                "id": format!("{}{:04}", digits(number), i), "phoneNumber": number, "wabaId": waba,
                "displayPhoneNumber": number, "verifiedName": "Sandbox Business", "qualityRating": "GREEN",
                "messagingLimit": "TIER_1K",
            })
        })
        .collect();
    let mut page_json = json!({"offset": (page - 1) * limit, "limit": limit, "length": items.len(), "items": items});
    if q.get("includeTotal").is_some_and(|v| v == "true") {
        page_json["total"] = json!(all.len());
    }
    Ok(page_json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_number_pages_hold_to_yclouds_bounds_and_total_only_on_request() {
        let mut state = SandboxYcloudState::default();
        state.accounts.push(SandboxAccount::new("key-a", "waba-a", &["+5491100000001", "+5491100000002"], "A"));
        let a = Caller::Account(0);
        let q = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        for bad in [("limit", "101"), ("limit", "0"), ("page", "0"), ("page", "x")] {
            assert!(phone_numbers(&state, a, &q(&[bad])).is_err(), "{bad:?}");
        }
        let p = phone_numbers(&state, a, &q(&[("limit", "1"), ("page", "2")])).expect("page");
        assert_eq!((p["offset"].as_u64(), p["length"].as_u64()), (Some(1), Some(1)));
        assert_eq!(p["items"][0]["phoneNumber"], "+5491100000002");
        assert!(p.get("total").is_none(), "total only with includeTotal=true");
    }

    #[test]
    fn a_key_reaches_only_its_own_accounts_numbers_templates_and_senders() {
        let mut state = SandboxYcloudState::default();
        state.accounts.push(SandboxAccount::new("key-a", "waba-a", &["+5491100000001"], "A"));
        state.accounts.push(SandboxAccount::new("key-b", "waba-b", &["+5491100000002"], "B"));
        assert_eq!(caller("default", &state, Some("key-b")), Some(Caller::Account(1)));
        assert_eq!(caller("default", &state, Some("nope")), None);
        assert_eq!(caller("default", &state, None), None);
        let a = Caller::Account(0);
        let q = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let own = phone_numbers(&state, a, &q(&[("filter.wabaId", "waba-a"), ("includeTotal", "true")])).expect("page");
        assert_eq!((own["items"][0]["phoneNumber"].as_str(), own["total"].as_u64()), (Some("+5491100000001"), Some(1)));
        let other =
            phone_numbers(&state, a, &q(&[("filter.wabaId", "waba-b"), ("includeTotal", "true")])).expect("page");
        assert_eq!(other["total"], 0, "another account's WABA lists nothing");
        assert!(may_send_from(&state, a, "+54 9 11 0000-0001"));
        assert!(!may_send_from(&state, a, "+5491100000002"), "B's number refused with A's key");
        assert!(templates_of(&state, a).iter().all(|t| t.body.starts_with("A:")));
        assert_eq!(waba_of(&state, Caller::Account(1)), "waba-b");
    }
}
