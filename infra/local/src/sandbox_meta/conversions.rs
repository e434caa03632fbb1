//! Sandbox Meta's Conversions API for CRM ("Conversion Leads"), written from Meta's public docs
//! (Conversions API parameters, the CRM payload specification, `adspixels`), never from the
//! product's code:
//!
//! - `GET /{v}/act_{n}/adspixels`: the ad account's one dataset ([`dataset_id`], named
//!   "Sandbox Pixel {n}"), cursor-paged; user token, `ads_read` or `ads_management`;
//! - `POST /{v}/{dataset_id}/events` (JSON `{"data": [...], "test_event_code"?}` or a form with
//!   `data` as a JSON string): user token, `ads_management`, a dataset of an account the sandbox
//!   serves; one invalid event refuses the whole request (HTTP 400, code 100) and records nothing.
//!   What it accepted is in [`SandboxState::conversions`] (no raw contact data, only the
//!   `user_data` key names) and `GET /__sandbox/conversions`.
//!
//! Subcodes: 2804019 "Server-side API parameter error" (as Meta answers a missing parameter) for
//! every malformed request or event; the sandbox's own choices where Meta documents none: 2804003
//! event time more than 7 days old, 2804004 event time more than 60 s ahead, 2804050 contact data
//! not hashed (stricter than Meta, which hashes some raw values itself: the product must never
//! send raw contact data).

use std::collections::HashSet;

use super::graph::RequestBody;
use super::*;

/// Most events in one request (Meta: 1,000).
pub const MAX_EVENTS_PER_REQUEST: usize = 1_000;
/// Oldest accepted `event_time`, seconds before now (Meta: 7 days).
pub const MAX_EVENT_AGE_SECS: i64 = 7 * 24 * 3600;
/// Newest accepted `event_time`, seconds after now (clock skew Meta tolerates; sandbox's choice).
pub const MAX_EVENT_AHEAD_SECS: i64 = 60;
/// A malformed request or event ("Server-side API parameter error").
pub const SUBCODE_PARAMETER: i64 = 2_804_019;
/// `event_time` more than 7 days before now (sandbox's choice of subcode).
pub const SUBCODE_EVENT_TOO_OLD: i64 = 2_804_003;
/// `event_time` more than 60 s after now (sandbox's choice of subcode).
pub const SUBCODE_EVENT_IN_FUTURE: i64 = 2_804_004;
/// A contact field that is not a SHA-256 hex digest (sandbox's choice of subcode).
pub const SUBCODE_NOT_HASHED: i64 = 2_804_050;

/// Meta's documented `action_source` values.
const ACTION_SOURCES: [&str; 9] = [
    "email",
    "website",
    "app",
    "phone_call",
    "chat",
    "physical_store",
    "system_generated",
    "business_messaging",
    "other",
];
/// Customer information parameters Meta requires hashed (SHA-256 of the normalised value).
const HASHED_KEYS: [&str; 10] = ["em", "ph", "fn", "ln", "ge", "db", "ct", "st", "zp", "country"];
/// Customer information parameters sent as they are (Meta's list, `lead_id` checked apart).
const PLAIN_KEYS: [&str; 15] = [
    "external_id",
    "client_ip_address",
    "client_user_agent",
    "fbc",
    "fbp",
    "subscription_id",
    "fb_login_id",
    "lead_id",
    "anon_id",
    "madid",
    "page_id",
    "page_scoped_user_id",
    "ctwa_clid",
    "ig_account_id",
    "ig_sid",
];

const DATASET_BASE: u64 = 7_000_000_000_000_000;
const MAX_ACCOUNT_NUMBER: u64 = 999_999_999_999_999;

/// The dataset (pixel) of ad account `act` (`act_…`): 16 digits, `7` then the account number,
/// so each account has its own. `None` for anything else (or an account number over 15 digits).
pub fn dataset_id(act: &str) -> Option<String> {
    let n = act.strip_prefix("act_")?;
    if n.starts_with('0') || !is_numeric(n) {
        return None;
    }
    let n: u64 = n.parse().ok().filter(|n| *n <= MAX_ACCOUNT_NUMBER)?;
    Some((DATASET_BASE + n).to_string())
}

/// The ad account whose dataset `id` is (the inverse of [`dataset_id`]).
fn account_of_dataset(id: &str) -> Option<String> {
    if id.len() != 16 || !is_numeric(id) {
        return None;
    }
    let n = id.parse::<u64>().ok()?.checked_sub(DATASET_BASE).filter(|n| (1..=MAX_ACCOUNT_NUMBER).contains(n))?;
    Some(format!("act_{n}"))
}

/// One event the sandbox accepted: what a test or the demo may look at, never raw contact data.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ReceivedConversion {
    pub dataset_id: String,
    pub event_name: String,
    /// Unix seconds.
    pub event_time: i64,
    pub event_id: Option<String>,
    /// `user_data.lead_id` (Meta's leadgen id, sent as a number).
    pub lead_id: Option<u64>,
    /// `custom_data.value`, as sent (Meta takes major units).
    pub value: Option<f64>,
    pub currency: Option<String>,
    pub action_source: String,
    /// `custom_data.event_source` (`crm` for CRM events).
    pub event_source: Option<String>,
    /// `custom_data.lead_event_source` (the CRM's name).
    pub lead_event_source: Option<String>,
    pub test_event_code: Option<String>,
    /// The `user_data` keys sent (their values are not kept, except `lead_id` above).
    pub user_data_keys: Vec<String>,
}

impl SandboxState {
    /// Received events whose (dataset, event name, event id) came before: what Meta would drop
    /// as duplicates. Events without `event_id` are never deduplicated.
    pub fn duplicate_conversions(&self) -> usize {
        let mut seen = HashSet::new();
        self.conversions
            .iter()
            .filter_map(|c| Some((c.dataset_id.as_str(), c.event_name.as_str(), c.event_id.as_deref()?)))
            .filter(|key| !seen.insert(*key))
            .count()
    }

    /// `GET /__sandbox/conversions`: `{events, requests, duplicates}`.
    pub(super) fn conversions_json(&self) -> Value {
        json!({
            "events": self.conversions,
            "requests": self.conversion_requests,
            "duplicates": self.duplicate_conversions(),
        })
    }
}

/// A Conversions API refusal: Meta's error with its user-facing title and message.
fn refusal(subcode: Option<i64>, title: &str, user_msg: &str) -> Box<Resp> {
    let mut err = json!({
        "message": "Invalid parameter",
        "type": "OAuthException",
        "code": 100,
        "error_user_title": title,
        "error_user_msg": user_msg,
        "fbtrace_id": fbtrace(),
    });
    if let Some(s) = subcode {
        err["error_subcode"] = json!(s);
    }
    Box::new(json_resp(StatusCode::BAD_REQUEST, json!({ "error": err })))
}

fn parameter_error(user_msg: &str) -> Box<Resp> {
    refusal(Some(SUBCODE_PARAMETER), "Server-side API parameter error", user_msg)
}

fn dataset_not_found(id: &str) -> Box<Resp> {
    let mut err = json!({
        "message": format!("Unsupported post request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation."),
        "type": "GraphMethodException",
        "code": 100,
        "error_subcode": 33,
        "error_user_title": "Dataset not found",
        "error_user_msg": format!("No dataset with ID {id} that this user can send events to."),
        "fbtrace_id": fbtrace(),
    });
    err["is_transient"] = json!(false);
    Box::new(json_resp(StatusCode::BAD_REQUEST, json!({ "error": err })))
}

/// Whether the call's user token has one of `scopes`; else Meta's permission error (code 200).
fn require_scope(state: &SandboxState, q: &HashMap<String, String>, scopes: &[&str]) -> Result<(), Box<Resp>> {
    let granted = pages::user_scopes(state, q).unwrap_or_default();
    if scopes.iter().any(|s| granted.iter().any(|g| g == s)) {
        return Ok(());
    }
    Err(Box::new(pages::permission(&format!(
        "(#200) Requires {} permission to manage the object",
        scopes.join(" or ")
    ))))
}

impl SandboxMeta {
    /// `GET /act_{n}/adspixels`: the account's one dataset (`id`, and `name` when asked).
    pub(super) fn adspixels(&self, state: &SandboxState, act: &str, path: &str, q: &HashMap<String, String>) -> Resp {
        if let Err(resp) = require_scope(state, q, &["ads_read", "ads_management"]) {
            return *resp;
        }
        let dataset = match dataset_id(act) {
            Some(d) if !state.hidden_accounts.iter().any(|h| h == act) => d,
            _ => return pages::not_found(act),
        };
        let fields: Vec<&str> = q.get("fields").map(|f| f.split(',').map(str::trim).collect()).unwrap_or_default();
        let mut pixel = json!({ "id": dataset });
        if fields.contains(&"name") {
            pixel["name"] = json!(format!("Sandbox Pixel {}", act.trim_start_matches("act_")));
        }
        self.page(state, path, q, vec![pixel])
    }

    /// `POST /{dataset_id}/events`: every event valid, or nothing recorded.
    pub(super) fn conversion_events(
        &self,
        state: &mut SandboxState,
        dataset: &str,
        q: &HashMap<String, String>,
        body: &RequestBody,
    ) -> Resp {
        if let Err(resp) = require_scope(state, q, &["ads_management"]) {
            return *resp;
        }
        let served = account_of_dataset(dataset).filter(|act| !state.hidden_accounts.contains(act));
        if served.is_none() {
            return *dataset_not_found(dataset);
        }
        let accepted = match read_events(state.now(), dataset, body) {
            Ok(events) => events,
            Err(resp) => return *resp,
        };
        let n = accepted.len();
        state.conversions.extend(accepted);
        state.conversion_requests.push(n);
        json_resp(StatusCode::OK, json!({"events_received": n, "messages": [], "fbtrace_id": fbtrace()}))
    }
}

/// `data` and `test_event_code` of a JSON body or a form (where `data` is a JSON string).
fn request_fields(body: &RequestBody) -> Result<(Vec<Value>, Option<String>), Box<Resp>> {
    let (data, code) = match body {
        RequestBody::Json(Some(Value::Object(o))) => (o.get("data").cloned(), o.get("test_event_code").cloned()),
        RequestBody::Json(_) => return Err(parameter_error("The request body is not a JSON object.")),
        RequestBody::Form(f) => {
            let data = match f.get("data") {
                Some(raw) => Some(
                    serde_json::from_str::<Value>(raw)
                        .map_err(|_| parameter_error("The parameter data is not a valid JSON array."))?,
                ),
                None => None,
            };
            (data, f.get("test_event_code").map(|c| json!(c)))
        }
        RequestBody::Other => (None, None),
    };
    let Some(data) = data else { return Err(parameter_error("The parameter data is required.")) };
    let Value::Array(events) = data else { return Err(parameter_error("The parameter data must be an array.")) };
    if events.is_empty() || events.len() > MAX_EVENTS_PER_REQUEST {
        return Err(parameter_error(&format!(
            "The parameter data must hold 1 to {MAX_EVENTS_PER_REQUEST} events ({} sent).",
            events.len()
        )));
    }
    let code = match code {
        None => None,
        Some(Value::String(c)) if !c.is_empty() => Some(c),
        Some(_) => return Err(parameter_error("The parameter test_event_code must be a non-empty string.")),
    };
    Ok((events, code))
}

/// Every event of the request, checked; the first invalid one refuses them all.
fn read_events(now: i64, dataset: &str, body: &RequestBody) -> Result<Vec<ReceivedConversion>, Box<Resp>> {
    let (events, test_event_code) = request_fields(body)?;
    events
        .iter()
        .enumerate()
        .map(|(i, event)| {
            let mut c = read_event(now, i, event)?;
            c.dataset_id = dataset.to_string();
            c.test_event_code.clone_from(&test_event_code);
            Ok(c)
        })
        .collect()
}

/// `$['data'][i]['key']`, as Meta names a parameter in its messages.
fn param(i: usize, path: &[&str]) -> String {
    path.iter().fold(format!("$['data'][{i}]"), |acc, k| format!("{acc}['{k}']"))
}

/// One event of `data` (index `i`) checked against Meta's rules.
fn read_event(now: i64, i: usize, event: &Value) -> Result<ReceivedConversion, Box<Resp>> {
    let Some(event) = event.as_object() else {
        return Err(parameter_error(&format!("The parameter {} must be an object.", param(i, &[]))));
    };
    let required = |k: &str| parameter_error(&format!("The parameter {} is required.", param(i, &[k])));
    let invalid = |k: &str, why: &str| parameter_error(&format!("The parameter {} {why}.", param(i, &[k])));
    let event_name = match event.get("event_name") {
        None => return Err(required("event_name")),
        Some(Value::String(n)) if !n.trim().is_empty() => n.clone(),
        Some(_) => return Err(invalid("event_name", "must be a non-empty string")),
    };
    let event_time = match event.get("event_time") {
        None => return Err(required("event_time")),
        Some(t) => t.as_i64().ok_or_else(|| invalid("event_time", "must be an integer of Unix seconds"))?,
    };
    check_event_time(now, i, event_time)?;
    let action_source = match event.get("action_source") {
        None => return Err(required("action_source")),
        Some(Value::String(s)) if ACTION_SOURCES.contains(&s.as_str()) => s.clone(),
        Some(_) => return Err(invalid("action_source", &format!("must be one of {}", ACTION_SOURCES.join(", ")))),
    };
    let event_id = match event.get("event_id") {
        None => None,
        Some(Value::String(id)) if !id.is_empty() && id.chars().count() <= 128 => Some(id.clone()),
        Some(_) => return Err(invalid("event_id", "must be a non-empty string of at most 128 characters")),
    };
    let (lead_id, user_data_keys) = match event.get("user_data") {
        None => return Err(required("user_data")),
        Some(u) => read_user_data(i, u)?,
    };
    let custom = read_custom_data(i, event.get("custom_data"), lead_id.is_some())?;
    Ok(ReceivedConversion {
        dataset_id: String::new(),
        event_name,
        event_time,
        event_id,
        lead_id,
        value: custom.value,
        currency: custom.currency,
        action_source,
        event_source: custom.event_source,
        lead_event_source: custom.lead_event_source,
        test_event_code: None,
        user_data_keys,
    })
}

fn check_event_time(now: i64, i: usize, event_time: i64) -> Result<(), Box<Resp>> {
    if event_time < now - MAX_EVENT_AGE_SECS {
        return Err(refusal(
            Some(SUBCODE_EVENT_TOO_OLD),
            "Event Timestamp Too Old",
            &format!(
                "The timestamp {} ({event_time}) is more than 7 days before the time the event was received.",
                param(i, &["event_time"])
            ),
        ));
    }
    if event_time > now + MAX_EVENT_AHEAD_SECS {
        return Err(refusal(
            Some(SUBCODE_EVENT_IN_FUTURE),
            "Event Timestamp In The Future",
            &format!("The timestamp {} ({event_time}) is in the future.", param(i, &["event_time"])),
        ));
    }
    Ok(())
}

/// `user_data`: an object of Meta's customer information parameters (at least one), contact
/// data hashed, `lead_id` a 15–17 digit JSON integer. Returns the lead id and the keys sent.
fn read_user_data(i: usize, user_data: &Value) -> Result<(Option<u64>, Vec<String>), Box<Resp>> {
    let Some(user_data) = user_data.as_object() else {
        return Err(parameter_error(&format!("The parameter {} must be an object.", param(i, &["user_data"]))));
    };
    if user_data.is_empty() {
        return Err(parameter_error(&format!(
            "The parameter {} needs at least one customer information parameter.",
            param(i, &["user_data"])
        )));
    }
    let mut lead_id = None;
    for (key, value) in user_data {
        let name = param(i, &["user_data", key]);
        if HASHED_KEYS.contains(&key.as_str()) {
            if !is_sha256_hex_or_list(value) {
                return Err(refusal(
                    Some(SUBCODE_NOT_HASHED),
                    "Customer Information Not Hashed",
                    &format!("The parameter {name} must be a SHA-256 hex digest (or a list of them) of the normalised value; raw contact data is refused."),
                ));
            }
        } else if key == "lead_id" {
            let digits = value.as_u64().map(|n| n.to_string().len());
            if !digits.is_some_and(|d| (15..=17).contains(&d)) {
                return Err(parameter_error(&format!("The parameter {name} must be a 15 to 17 digit integer.")));
            }
            lead_id = value.as_u64();
        } else if !PLAIN_KEYS.contains(&key.as_str()) {
            return Err(parameter_error(&format!("The parameter {name} is not a customer information parameter.")));
        }
    }
    Ok((lead_id, user_data.keys().cloned().collect()))
}

fn is_sha256_hex(v: &Value) -> bool {
    v.as_str().is_some_and(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

fn is_sha256_hex_or_list(v: &Value) -> bool {
    match v {
        Value::Array(items) => !items.is_empty() && items.iter().all(is_sha256_hex),
        other => is_sha256_hex(other),
    }
}

/// What the sandbox keeps of `custom_data`.
struct CustomData {
    value: Option<f64>,
    currency: Option<String>,
    event_source: Option<String>,
    lead_event_source: Option<String>,
}

/// `custom_data`: `value` (≥ 0) and `currency` (3 letters) together; a CRM event (one with a
/// `lead_id`) names `event_source: "crm"` and its `lead_event_source`.
fn read_custom_data(i: usize, custom: Option<&Value>, crm_event: bool) -> Result<CustomData, Box<Resp>> {
    let empty = serde_json::Map::new();
    let custom = match custom {
        None => &empty,
        Some(Value::Object(o)) => o,
        Some(_) => {
            return Err(parameter_error(&format!("The parameter {} must be an object.", param(i, &["custom_data"]))));
        }
    };
    let invalid =
        |k: &str, why: &str| parameter_error(&format!("The parameter {} {why}.", param(i, &["custom_data", k])));
    let text = |k: &str| -> Result<Option<String>, Box<Resp>> {
        match custom.get(k) {
            None => Ok(None),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.clone())),
            Some(_) => Err(invalid(k, "must be a non-empty string")),
        }
    };
    let event_source = text("event_source")?;
    let lead_event_source = text("lead_event_source")?;
    if crm_event && event_source.as_deref() != Some("crm") {
        return Err(invalid("event_source", "must be \"crm\" for an event with a lead_id"));
    }
    if crm_event && lead_event_source.is_none() {
        return Err(invalid("lead_event_source", "is required for an event with a lead_id (the CRM's name)"));
    }
    let value = match custom.get("value") {
        None => None,
        Some(v) => Some(
            v.as_f64()
                .filter(|x| x.is_finite() && *x >= 0.0)
                .ok_or_else(|| invalid("value", "must be a number of at least 0"))?,
        ),
    };
    let currency = text("currency")?;
    if currency.as_ref().is_some_and(|c| c.len() != 3 || !c.bytes().all(|b| b.is_ascii_alphabetic())) {
        return Err(invalid("currency", "must be a 3-letter ISO 4217 code"));
    }
    match (value.is_some(), currency.is_some()) {
        (true, false) => return Err(invalid("currency", "is required with value")),
        (false, true) => return Err(invalid("value", "is required with currency")),
        _ => {}
    }
    Ok(CustomData { value, currency, event_source, lead_event_source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_account_has_its_own_sixteen_digit_dataset_and_back() {
        let accounts = ["act_1", "act_2", "act_5100000001001", "act_5200000002001", "act_999999999999999"];
        let datasets: Vec<String> = accounts.iter().filter_map(|a| dataset_id(a)).collect();
        assert_eq!(datasets.len(), accounts.len());
        assert!(datasets.iter().all(|d| d.len() == 16 && is_numeric(d)), "{datasets:?}");
        assert_eq!(datasets.iter().collect::<HashSet<_>>().len(), accounts.len(), "distinct");
        for (a, d) in accounts.iter().zip(&datasets) {
            assert_eq!(account_of_dataset(d).as_deref(), Some(*a));
        }
        for not_an_account in ["5100000001001", "act_", "act_01", "act_x1", "act_1000000000000000"] {
            assert_eq!(dataset_id(not_an_account), None, "{not_an_account}");
        }
        // Other sandbox ids are no datasets.
        for other in [SANDBOX_PAGE_ID, DEMO_LEADGEN_IDS[0], "5100000001001", "7000000000000000"] {
            assert_eq!(account_of_dataset(other), None, "{other}");
        }
    }

    #[test]
    fn duplicates_are_events_with_a_repeated_dataset_name_and_id() {
        let event = |dataset: &str, name: &str, id: Option<&str>| ReceivedConversion {
            dataset_id: dataset.into(),
            event_name: name.into(),
            event_time: 0,
            event_id: id.map(Into::into),
            lead_id: None,
            value: None,
            currency: None,
            action_source: "system_generated".into(),
            event_source: None,
            lead_event_source: None,
            test_event_code: None,
            user_data_keys: vec![],
        };
        let state = SandboxState {
            conversions: vec![
                event("7000000000000001", "Converted", Some("a")),
                event("7000000000000001", "Converted", Some("a")),
                event("7000000000000002", "Converted", Some("a")),
                event("7000000000000001", "Initial lead", Some("a")),
                event("7000000000000001", "Converted", None),
                event("7000000000000001", "Converted", None),
                event("7000000000000001", "Converted", Some("a")),
            ],
            ..SandboxState::default()
        };
        assert_eq!(state.duplicate_conversions(), 2);
    }
}
