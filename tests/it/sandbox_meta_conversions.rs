//! Sandbox Meta is as strict as Meta's Conversions API for CRM (FIELD-NOTES 35–38): each rule
//! shown refusing over real HTTP — HTTP 4xx with Meta's error shape, and nothing recorded — and a
//! full valid batch accepted. Requests are built by hand (no product code); the expected answers
//! are Meta's documented ones, written out. Only the sandbox runs here (no moto).

use crm_shared::meta::graph::appsecret_proof;
use crm_shared::platform::secrets::SecretString;
use integration_tests::*;
use local_stack::sandbox_meta::{ad_account_id, dataset_id, SandboxMeta, SANDBOX_USER_ID};
use serde_json::{json, Value};

const USER_TOKEN: &str = "EAALsandboxcapi";
/// A leadgen id as Meta hands them out (16 digits).
const LEAD_ID: u64 = 1_100_000_000_000_101;
/// SHA-256 of `ana@example.com` and of `5491100000000` (Python's `hashlib.sha256`).
const EM_SHA256: &str = "8e43ca37701228e74983efdbd0cff5c16b3b1e5d4e29a7c05626d4d25a018e11";
const PH_SHA256: &str = "b9327788e1568302878bbf9a4b5cdca4b9cc64a2ae07e9c566b27368ff1dcda5";
const DAY: i64 = 24 * 3600;

struct Capi {
    sandbox: SandboxMeta,
    http: reqwest::Client,
    now: i64,
    /// The dataset of the sandbox's first owned ad account.
    dataset: String,
}

impl Capi {
    async fn start() -> Self {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        let sandbox = SandboxMeta::start(addr, META_APP_ID, META_APP_SECRET).await.expect("sandbox meta");
        let now = t0().timestamp();
        sandbox.with(|s| {
            s.now = Some(now);
            s.issue_token(USER_TOKEN, SANDBOX_USER_ID);
        });
        crm_shared::platform::http_client::install_crypto_provider();
        let dataset = dataset_id(&ad_account_id(1, true, 1)).expect("dataset");
        Self { sandbox, http: reqwest::Client::new(), now, dataset }
    }

    fn url(&self, path: &str, token: &str) -> String {
        let proof = appsecret_proof(&SecretString::new(META_APP_SECRET), &SecretString::new(token));
        let sep = if path.contains('?') { '&' } else { '?' };
        format!("{}/v21.0/{path}{sep}appsecret_proof={proof}", self.sandbox.base_url())
    }

    async fn answer(resp: reqwest::Response) -> (u16, Value) {
        let status = resp.status().as_u16();
        (status, resp.json().await.expect("json"))
    }

    async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        Self::answer(self.http.get(self.url(path, token)).bearer_auth(token).send().await.expect("sandbox")).await
    }

    /// `POST /{dataset}/events` with a JSON body, as `token`.
    async fn post_as(&self, dataset: &str, body: &Value, token: &str) -> (u16, Value) {
        let req = self.http.post(self.url(&format!("{dataset}/events"), token)).bearer_auth(token).json(body);
        Self::answer(req.send().await.expect("sandbox")).await
    }

    async fn post(&self, body: &Value) -> (u16, Value) {
        self.post_as(&self.dataset, body, USER_TOKEN).await
    }

    /// `POST /{dataset}/events` with a URL-encoded form body (Meta's `-F data=[…]`).
    async fn post_form(&self, fields: &[(&str, &str)]) -> (u16, Value) {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
        let req = self
            .http
            .post(self.url(&format!("{}/events", self.dataset), USER_TOKEN))
            .bearer_auth(USER_TOKEN)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        Self::answer(req.send().await.expect("sandbox")).await
    }

    /// One event in `data` alone, expecting a refusal with `code` and `subcode`; checks nothing
    /// was recorded and returns Meta's `error_user_msg`.
    async fn refused(&self, event: Value, subcode: i64) -> String {
        self.refused_body(&json!({ "data": [event] }), subcode).await
    }

    async fn refused_body(&self, body: &Value, subcode: i64) -> String {
        let (status, answer) = self.post(body).await;
        assert_eq!(status, 400, "{answer}");
        let err = &answer["error"];
        assert_eq!((err["code"].as_i64(), err["error_subcode"].as_i64()), (Some(100), Some(subcode)), "{answer}");
        assert_eq!(err["type"], "OAuthException", "{answer}");
        assert!(err["fbtrace_id"].as_str().is_some_and(|t| !t.is_empty()), "{answer}");
        assert!(err["error_user_title"].as_str().is_some_and(|t| !t.is_empty()), "{answer}");
        self.assert_nothing_recorded();
        err["error_user_msg"].as_str().unwrap_or_default().to_string()
    }

    fn assert_nothing_recorded(&self) {
        let (events, requests) = self.sandbox.with(|s| (s.conversions.len(), s.conversion_requests.len()));
        assert_eq!((events, requests), (0, 0), "a refused request records nothing");
    }

    /// A valid CRM stage of [`LEAD_ID`], as the payload specification writes it.
    fn crm_event(&self, name: &str, event_id: &str) -> Value {
        json!({
            "event_name": name,
            "event_time": self.now - 3600,
            "action_source": "system_generated",
            "event_id": event_id,
            "user_data": {"lead_id": LEAD_ID},
            "custom_data": {"event_source": "crm", "lead_event_source": "Sandbox CRM"},
        })
    }
}

fn code(body: &Value) -> i64 {
    body["error"]["code"].as_i64().unwrap_or(0)
}

/// `event` with `path` (`"a.b"`) set to `value`, or removed when `value` is `None`.
fn with(mut event: Value, path: &str, value: Option<Value>) -> Value {
    let mut keys: Vec<&str> = path.split('.').collect();
    let last = keys.pop().unwrap_or_default();
    let mut at = &mut event;
    for k in keys {
        at = &mut at[k];
    }
    match (value, at.as_object_mut()) {
        (Some(v), _) => at[last] = v,
        (None, Some(o)) => {
            o.remove(last);
        }
        (None, None) => {}
    }
    event
}

#[tokio::test]
async fn adspixels_lists_each_accounts_one_dataset() {
    let c = Capi::start().await;
    let (act1, act2) = (ad_account_id(1, true, 1), ad_account_id(2, false, 1));
    let (status, body) = c.get(&format!("{act1}/adspixels?fields=id,name"), USER_TOKEN).await;
    assert_eq!(status, 200, "{body}");
    let number = act1.trim_start_matches("act_");
    assert_eq!(body["data"], json!([{"id": c.dataset, "name": format!("Sandbox Pixel {number}")}]));
    let (_, other) = c.get(&format!("{act2}/adspixels?fields=id,name"), USER_TOKEN).await;
    let other_id = other["data"][0]["id"].as_str().expect("id");
    assert_ne!(other_id, c.dataset, "one dataset per account");
    for id in [c.dataset.as_str(), other_id] {
        assert!(id.len() == 16 && id.bytes().all(|b| b.is_ascii_digit()), "{id}");
    }
    // The listing takes the user's token, never a Page token (from /me/accounts): 190.
    let (_, pages) = c.get("me/accounts?fields=id,access_token", USER_TOKEN).await;
    let page_token = pages["data"][0]["access_token"].as_str().expect("page token").to_string();
    let (status, body) = c.get(&format!("{act1}/adspixels?fields=id,name"), &page_token).await;
    assert_eq!((status, code(&body)), (400, 190), "{body}");
    // A hidden account answers as `GET /{act}` does.
    c.sandbox.with(|s| s.hidden_accounts.push(act2.clone()));
    let (_, body) = c.get(&format!("{act2}/adspixels?fields=id,name"), USER_TOKEN).await;
    assert_eq!((code(&body), body["error"]["error_subcode"].as_i64()), (100, Some(33)), "{body}");
    // Neither ads_read nor ads_management: Meta's permission error.
    c.sandbox.with(|s| {
        s.granted_scopes.retain(|g| g != "ads_read" && g != "ads_management");
        s.issue_token_with_scopes(USER_TOKEN, SANDBOX_USER_ID);
    });
    let (_, body) = c.get(&format!("{act1}/adspixels?fields=id,name"), USER_TOKEN).await;
    assert_eq!(code(&body), 200, "{body}");
    // ads_read alone is enough to list.
    c.sandbox.with(|s| {
        s.granted_scopes.push("ads_read".into());
        s.issue_token_with_scopes(USER_TOKEN, SANDBOX_USER_ID);
    });
    assert_eq!(c.get(&format!("{act1}/adspixels?fields=id,name"), USER_TOKEN).await.0, 200);
}

#[tokio::test]
async fn events_need_a_user_token_with_its_proof_and_ads_management() {
    let c = Capi::start().await;
    let body = json!({"data": [c.crm_event("Initial lead", "e1")]});
    // A page token (from /me/accounts) and an unknown token: 190.
    let (_, pages) = c.get("me/accounts?fields=id,access_token", USER_TOKEN).await;
    let page_token = pages["data"][0]["access_token"].as_str().expect("page token").to_string();
    for token in [page_token.as_str(), "EAALnobodyknowsthis"] {
        let (status, answer) = c.post_as(&c.dataset, &body, token).await;
        assert_eq!((status, code(&answer)), (400, 190), "{answer}");
    }
    // The right token with another token's proof.
    let url = c.url(&format!("{}/events", c.dataset), &page_token);
    let resp = c.http.post(url).bearer_auth(USER_TOKEN).json(&body).send().await.expect("sandbox");
    let (_, answer) = Capi::answer(resp).await;
    assert_eq!(
        (code(&answer), answer["error"]["message"].as_str()),
        (100, Some("Invalid appsecret_proof provided in the API argument"))
    );
    // ads_read is not enough to send.
    c.sandbox.with(|s| {
        s.granted_scopes.retain(|g| g != "ads_management");
        s.issue_token_with_scopes(USER_TOKEN, SANDBOX_USER_ID);
    });
    let (status, answer) = c.post(&body).await;
    assert_eq!((status, code(&answer)), (403, 200), "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap_or_default().contains("ads_management"), "{answer}");
    c.assert_nothing_recorded();
}

#[tokio::test]
async fn events_go_only_to_the_dataset_of_an_account_the_sandbox_serves() {
    let c = Capi::start().await;
    let body = json!({"data": [c.crm_event("Initial lead", "e1")]});
    let act = ad_account_id(1, true, 1);
    let hidden = ad_account_id(1, true, 2);
    c.sandbox.with(|s| s.hidden_accounts.push(hidden.clone()));
    let hidden_dataset = dataset_id(&hidden).expect("dataset");
    // The account's number, the account id, a page id, a hidden account's dataset.
    for wrong in [act.trim_start_matches("act_"), act.as_str(), "1080000000000001", hidden_dataset.as_str()] {
        let (status, answer) = c.post_as(wrong, &body, USER_TOKEN).await;
        assert_eq!(status, 400, "{wrong}: {answer}");
        assert_eq!((code(&answer), answer["error"]["error_subcode"].as_i64()), (100, Some(33)), "{wrong}: {answer}");
        assert!(answer["error"]["message"].as_str().unwrap_or_default().contains("does not exist"), "{answer}");
    }
    c.assert_nothing_recorded();
}

#[tokio::test]
async fn data_must_be_an_array_of_1_to_1000_events() {
    let c = Capi::start().await;
    let event = c.crm_event("Initial lead", "e1");
    for body in [
        json!({}),
        json!({"data": event}),
        json!({"data": "not json"}),
        json!({"data": []}),
        json!({"data": vec![event.clone(); 1001]}),
        json!({"data": [event.clone()], "test_event_code": 123}),
        json!({"data": ["an event"]}),
    ] {
        let msg = c.refused_body(&body, 2_804_019).await;
        assert!(msg.contains("data") || msg.contains("test_event_code"), "{msg}");
    }
    // A body that is not JSON, and a form whose `data` is not JSON.
    let req = c.http.post(c.url(&format!("{}/events", c.dataset), USER_TOKEN)).bearer_auth(USER_TOKEN);
    let resp = req.header("content-type", "application/json").body("{\"data\": [").send().await.expect("sandbox");
    let (status, answer) = Capi::answer(resp).await;
    assert_eq!((status, code(&answer)), (400, 100), "{answer}");
    let (status, answer) = c.post_form(&[("data", "[{\"event_name\":")]).await;
    assert_eq!((status, code(&answer)), (400, 100), "{answer}");
    c.assert_nothing_recorded();
}

#[tokio::test]
async fn event_time_must_be_unix_seconds_within_7_days_and_not_ahead() {
    let c = Capi::start().await;
    let event = c.crm_event("Initial lead", "e1");
    let msg = c.refused(with(event.clone(), "event_time", Some(json!(c.now - 7 * DAY - 1))), 2_804_003).await;
    assert!(msg.contains("7 days"), "{msg}");
    c.refused(with(event.clone(), "event_time", Some(json!(c.now + 61))), 2_804_004).await;
    for bad in [json!(c.now as f64 + 0.5), json!(c.now.to_string()), json!(null)] {
        c.refused(with(event.clone(), "event_time", Some(bad)), 2_804_019).await;
    }
    c.refused(with(event.clone(), "event_time", None), 2_804_019).await;
    // The edges of the window are accepted.
    let edges = json!({"data": [
        with(event.clone(), "event_time", Some(json!(c.now - 7 * DAY))),
        with(c.crm_event("Converted", "e2"), "event_time", Some(json!(c.now + 60))),
    ]});
    let (status, answer) = c.post(&edges).await;
    assert_eq!((status, answer["events_received"].as_u64()), (200, Some(2)), "{answer}");
}

#[tokio::test]
async fn event_name_action_source_and_user_data_are_required() {
    let c = Capi::start().await;
    let event = c.crm_event("Initial lead", "e1");
    for (path, value) in [
        ("event_name", None),
        ("event_name", Some(json!(""))),
        ("event_name", Some(json!(7))),
        ("action_source", None),
        ("action_source", Some(json!("crm"))),
        ("action_source", Some(json!("SYSTEM_GENERATED"))),
        ("user_data", None),
        ("user_data", Some(json!({}))),
        ("user_data", Some(json!([LEAD_ID]))),
        // Not one of Meta's customer information parameters (a raw email under another name).
        ("user_data.email", Some(json!("ana@example.com"))),
    ] {
        let msg = c.refused(with(event.clone(), path, value.clone()), 2_804_019).await;
        let key = path.split('.').next_back().unwrap_or_default();
        assert!(msg.contains(&format!("['{key}']")), "{path} {value:?}: {msg}");
    }
    // Every documented action_source is taken.
    for source in ["email", "website", "app", "phone_call", "chat", "physical_store", "business_messaging", "other"] {
        let (status, answer) =
            c.post(&json!({"data": [with(event.clone(), "action_source", Some(json!(source)))]})).await;
        assert_eq!(status, 200, "{source}: {answer}");
    }
}

#[tokio::test]
async fn lead_id_must_be_a_15_to_17_digit_json_integer() {
    let c = Capi::start().await;
    let event = c.crm_event("Initial lead", "e1");
    for bad in [
        json!(LEAD_ID.to_string()),
        json!(LEAD_ID as f64),
        json!(99_999_999_999_999u64),
        json!(100_000_000_000_000_000u64),
        json!(-1_100_000_000_000_101i64),
    ] {
        let msg = c.refused(with(event.clone(), "user_data.lead_id", Some(bad.clone())), 2_804_019).await;
        assert!(msg.contains("['lead_id']"), "{bad}: {msg}");
    }
    let (status, answer) = c
        .post(&json!({"data": [
            with(event.clone(), "user_data.lead_id", Some(json!(100_000_000_000_000u64))),
            with(c.crm_event("Converted", "e2"), "user_data.lead_id", Some(json!(99_999_999_999_999_999u64))),
        ]}))
        .await;
    assert_eq!((status, answer["events_received"].as_u64()), (200, Some(2)), "{answer}");
    let leads: Vec<Option<u64>> = c.sandbox.with(|s| s.conversions.iter().map(|e| e.lead_id).collect());
    assert_eq!(leads, [Some(100_000_000_000_000), Some(99_999_999_999_999_999)]);
}

#[tokio::test]
async fn raw_contact_data_is_refused_and_hashed_data_is_kept_only_by_key() {
    let c = Capi::start().await;
    let event = with(c.crm_event("Initial lead", "e1"), "user_data.lead_id", None);
    for (key, value) in [
        ("em", json!("ana@example.com")),
        ("ph", json!("+5491100000000")),
        ("em", json!(EM_SHA256.to_uppercase())),
        ("em", json!([EM_SHA256, "ana@example.com"])),
        ("ph", json!([])),
        ("fn", json!("ana")),
    ] {
        let msg = c.refused(with(event.clone(), &format!("user_data.{key}"), Some(value)), 2_804_050).await;
        assert!(msg.contains("SHA-256"), "{msg}");
    }
    let hashed = with(with(event, "user_data.em", Some(json!([EM_SHA256]))), "user_data.ph", Some(json!(PH_SHA256)));
    let (status, answer) = c.post(&json!({"data": [hashed]})).await;
    assert_eq!(status, 200, "{answer}");
    let received = c.sandbox.with(|s| s.conversions.clone());
    let mut keys = received[0].user_data_keys.clone();
    keys.sort();
    assert_eq!(keys, ["em", "ph"]);
    let recorded = format!("{received:?}");
    assert!(!recorded.contains(EM_SHA256) && !recorded.contains(PH_SHA256), "no contact data kept: {recorded}");
}

#[tokio::test]
async fn a_crm_event_names_event_source_crm_and_its_lead_event_source() {
    let c = Capi::start().await;
    let event = c.crm_event("Initial lead", "e1");
    for (path, value) in [
        ("custom_data", None),
        ("custom_data.event_source", None),
        ("custom_data.event_source", Some(json!("website"))),
        ("custom_data.lead_event_source", None),
        ("custom_data.lead_event_source", Some(json!(""))),
        ("custom_data", Some(json!("crm"))),
    ] {
        c.refused(with(event.clone(), path, value), 2_804_019).await;
    }
}

#[tokio::test]
async fn value_and_currency_come_together_and_well_formed() {
    let c = Capi::start().await;
    let event = c.crm_event("Converted", "e1");
    let sale = |value: Value, currency: Value| {
        with(with(event.clone(), "custom_data.value", Some(value)), "custom_data.currency", Some(currency))
    };
    for bad in [
        with(event.clone(), "custom_data.value", Some(json!(120.5))),
        with(event.clone(), "custom_data.currency", Some(json!("USD"))),
        sale(json!(-1), json!("USD")),
        sale(json!("120.50"), json!("USD")),
        sale(json!(120.5), json!("US")),
        sale(json!(120.5), json!("U$D")),
        sale(json!(120.5), json!(840)),
    ] {
        c.refused(bad, 2_804_019).await;
    }
    let (status, answer) =
        c.post(&json!({"data": [sale(json!(120.5), json!("ARS")), sale(json!(0), json!("usd"))]})).await;
    assert_eq!(status, 200, "{answer}");
    let kept: Vec<(Option<f64>, Option<String>)> =
        c.sandbox.with(|s| s.conversions.iter().map(|e| (e.value, e.currency.clone())).collect());
    assert_eq!(kept, [(Some(120.5), Some("ARS".into())), (Some(0.0), Some("usd".into()))]);
}

#[tokio::test]
async fn event_id_is_a_non_empty_string_of_at_most_128_characters() {
    let c = Capi::start().await;
    let event = c.crm_event("Initial lead", "e1");
    for bad in [json!(""), json!("x".repeat(129)), json!(42)] {
        c.refused(with(event.clone(), "event_id", Some(bad)), 2_804_019).await;
    }
    let (status, _) = c.post(&json!({"data": [with(event, "event_id", Some(json!("x".repeat(128))))]})).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn one_invalid_event_refuses_the_whole_request() {
    let c = Capi::start().await;
    let body = json!({"data": [
        c.crm_event("Initial lead", "e1"),
        c.crm_event("Sales opportunity", "e2"),
        with(c.crm_event("Converted", "e3"), "user_data.lead_id", Some(json!("1100000000000101"))),
    ]});
    let msg = c.refused_body(&body, 2_804_019).await;
    assert!(msg.contains("$['data'][2]['user_data']['lead_id']"), "names the event: {msg}");
}

#[tokio::test]
async fn a_full_batch_is_received_with_its_test_code_and_resent_ids_count_as_duplicates() {
    let c = Capi::start().await;
    let events: Vec<Value> = (0..1000)
        .map(|i| {
            let e = c.crm_event(if i % 2 == 0 { "Initial lead" } else { "Converted" }, &format!("crm-{i}"));
            with(e, "user_data.lead_id", Some(json!(LEAD_ID + i)))
        })
        .collect();
    let body = json!({"data": events, "test_event_code": "TEST123"});
    assert!(body.to_string().len() > 64 * 1024, "larger than the old 64 KiB form cap");
    let (status, answer) = c.post(&body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!((answer["events_received"].as_u64(), &answer["messages"]), (Some(1000), &json!([])), "{answer}");
    assert!(answer["fbtrace_id"].as_str().is_some_and(|t| !t.is_empty()));
    let first = c.sandbox.with(|s| s.conversions[0].clone());
    assert_eq!(first.dataset_id, c.dataset);
    assert_eq!((first.event_name.as_str(), first.event_id.as_deref()), ("Initial lead", Some("crm-0")));
    assert_eq!((first.lead_id, first.event_time), (Some(LEAD_ID), c.now - 3600));
    assert_eq!((first.action_source.as_str(), first.event_source.as_deref()), ("system_generated", Some("crm")));
    assert_eq!(first.lead_event_source.as_deref(), Some("Sandbox CRM"));
    assert_eq!(first.test_event_code.as_deref(), Some("TEST123"));
    assert_eq!(c.sandbox.with(|s| s.duplicate_conversions()), 0);

    // Three of them again, in Meta's form encoding, without a test code: three duplicates.
    let again = json!(events[..3]).to_string();
    let (status, answer) = c.post_form(&[("data", again.as_str())]).await;
    assert_eq!((status, answer["events_received"].as_u64()), (200, Some(3)), "{answer}");
    let (requests, dups, last_code) = c.sandbox.with(|s| {
        (
            s.conversion_requests.clone(),
            s.duplicate_conversions(),
            s.conversions.last().and_then(|e| e.test_event_code.clone()),
        )
    });
    assert_eq!((requests, dups, last_code), (vec![1000, 3], 3, None));

    // What a browser or curl sees.
    let control = format!("{}/__sandbox/conversions", c.sandbox.base_url());
    let shown: Value = c.http.get(control).send().await.expect("sandbox").json().await.expect("json");
    assert_eq!((shown["requests"].clone(), shown["duplicates"].clone()), (json!([1000, 3]), json!(3)));
    assert_eq!(shown["events"].as_array().map(Vec::len), Some(1003));
    assert_eq!(shown["events"][0]["lead_id"], json!(LEAD_ID));
}

#[tokio::test]
async fn a_body_over_8_mib_is_refused_and_the_token_exchange_still_takes_a_form() {
    let c = Capi::start().await;
    let padding = "x".repeat(8 * 1024 * 1024);
    let (status, answer) = c.post(&json!({"data": [c.crm_event("Initial lead", "e1")], "padding": padding})).await;
    assert_eq!((status, code(&answer)), (400, 100), "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap_or_default().contains("too large"), "{answer}");
    c.assert_nothing_recorded();
    // The token exchange still reads its form body: a long-lived token for the user's token.
    let form = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("client_id", META_APP_ID),
            ("client_secret", META_APP_SECRET),
            ("grant_type", "fb_exchange_token"),
            ("fb_exchange_token", USER_TOKEN),
        ])
        .finish();
    let url = format!("{}/v21.0/oauth/access_token", c.sandbox.base_url());
    let resp = c.http.post(url).header("content-type", "application/x-www-form-urlencoded").body(form);
    let (status, answer) = Capi::answer(resp.send().await.expect("sandbox")).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["access_token"].as_str().is_some_and(|t| t.starts_with("EAAL")), "{answer}");
}
