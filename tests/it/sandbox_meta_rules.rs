//! Sandbox Meta is as strict as Meta about pages (FIELD-NOTES 25–28): each rule it enforces,
//! shown refusing over real HTTP, so a product that breaks one fails here before production.
//! The expected answers are Meta's documented ones, written out (never the product's code).

use crm_shared::meta::graph::appsecret_proof;
use crm_shared::platform::secrets::SecretString;
use integration_tests::*;
use local_stack::sandbox_meta::{SANDBOX_FORM_ID, SANDBOX_PAGE_ID, SANDBOX_USER_ID};
use serde_json::Value;

const USER_TOKEN: &str = "EAALsandboxrules";

struct Call<'a> {
    m: &'a MetaTestEnv,
    http: reqwest::Client,
}

impl<'a> Call<'a> {
    fn new(m: &'a MetaTestEnv) -> Self {
        m.sandbox.with(|s| s.issue_token(USER_TOKEN, SANDBOX_USER_ID));
        crm_shared::platform::http_client::install_crypto_provider();
        Self { m, http: reqwest::Client::new() }
    }

    /// `method /v21.0/{path}` with `token` in the header and its proof in the query.
    async fn send(&self, method: reqwest::Method, path: &str, token: &str) -> (u16, Value) {
        let proof = appsecret_proof(&SecretString::new(META_APP_SECRET), &SecretString::new(token));
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = format!("{}/v21.0/{path}{sep}appsecret_proof={proof}", self.m.sandbox.base_url());
        let resp = self.http.request(method, url).bearer_auth(token).send().await.expect("sandbox");
        let status = resp.status().as_u16();
        (status, resp.json().await.expect("json"))
    }

    async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, token).await
    }

    /// The Page token `/me/accounts` hands out for the sandbox page.
    async fn page_token(&self) -> String {
        let (status, body) = self.get("me/accounts?fields=id,name,access_token,tasks", USER_TOKEN).await;
        assert_eq!(status, 200, "{body}");
        let page = &body["data"][0];
        assert_eq!(page["id"], SANDBOX_PAGE_ID);
        assert!(page["tasks"].as_array().is_some_and(|t| t.iter().any(|x| x == "ADVERTISE")));
        page["access_token"].as_str().expect("page token").to_string()
    }
}

fn code(body: &Value) -> i64 {
    body["error"]["code"].as_i64().unwrap_or(0)
}

fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or("")
}

#[tokio::test]
async fn page_edges_refuse_the_user_token_with_metas_190() {
    let m = MetaTestEnv::new().await;
    let call = Call::new(&m);
    let lead = m.sandbox.with(|s| s.add_lead(SANDBOX_PAGE_ID, None, None, "Ana")).id;
    for path in [
        format!("{SANDBOX_PAGE_ID}/leadgen_forms"),
        format!("{SANDBOX_FORM_ID}/leads"),
        lead.clone(),
        format!("{SANDBOX_PAGE_ID}/subscribed_apps"),
    ] {
        let (status, body) = call.get(&path, USER_TOKEN).await;
        assert_eq!((status, code(&body)), (400, 190), "{path}: {body}");
        assert_eq!(message(&body), "(#190) This method must be called with a Page Access Token", "{path}");
    }
    let (status, body) = call
        .send(
            reqwest::Method::POST,
            &format!("{SANDBOX_PAGE_ID}/subscribed_apps?subscribed_fields=leadgen"),
            USER_TOKEN,
        )
        .await;
    assert_eq!((status, code(&body)), (400, 190), "{body}");
    // The page's own token works on each of them.
    let page = call.page_token().await;
    for path in [format!("{SANDBOX_PAGE_ID}/leadgen_forms"), format!("{SANDBOX_FORM_ID}/leads"), lead] {
        assert_eq!(call.get(&path, &page).await.0, 200, "{path}");
    }
}

#[tokio::test]
async fn a_page_token_is_refused_on_another_page_on_user_edges_and_once_revoked() {
    let m = MetaTestEnv::new().await;
    m.sandbox.with(|s| s.pages.push(("1080000000000002".into(), "Second page".into())));
    let call = Call::new(&m);
    let page = call.page_token().await;
    let (_, body) = call.get("1080000000000002/leadgen_forms", &page).await;
    assert_eq!(code(&body), 190, "another page's edge: {body}");
    let (_, body) = call.get("me/businesses", &page).await;
    assert_eq!(code(&body), 190, "a page token is no user token: {body}");
    let (status, _) = call.send(reqwest::Method::DELETE, "me/permissions", USER_TOKEN).await;
    assert_eq!(status, 200);
    let (_, body) = call.get(&format!("{SANDBOX_PAGE_ID}/leadgen_forms"), &page).await;
    assert_eq!(code(&body), 190, "page tokens die with the app's permissions: {body}");
}

#[tokio::test]
async fn missing_scopes_tasks_and_lead_access_are_refused_with_200() {
    let m = MetaTestEnv::new().await;
    // A login without the page-metadata permission (the product's old scope list).
    m.sandbox.with(|s| s.granted_scopes.retain(|g| g != "pages_manage_metadata"));
    let call = Call::new(&m);
    m.sandbox.with(|s| s.issue_token_with_scopes(USER_TOKEN, SANDBOX_USER_ID));
    let page = call.page_token().await;
    let subscribe = format!("{SANDBOX_PAGE_ID}/subscribed_apps?subscribed_fields=leadgen");
    let (status, body) = call.send(reqwest::Method::POST, &subscribe, &page).await;
    assert_eq!((status, code(&body)), (403, 200), "{body}");
    assert!(message(&body).contains("pages_manage_metadata"), "{body}");
    assert!(!m.sandbox.with(|s| s.subscribed_to_leadgen(SANDBOX_PAGE_ID)));

    // A user without the ADVERTISE task cannot read the page's forms.
    m.sandbox.with(|s| s.page_tasks.insert(SANDBOX_PAGE_ID.into(), vec!["ANALYZE".into()]));
    let (_, body) = call.get(&format!("{SANDBOX_PAGE_ID}/leadgen_forms"), &page).await;
    assert_eq!(code(&body), 200, "{body}");
    m.sandbox.with(|s| s.page_tasks.clear());
    // Leads Access Manager: the page's leads are closed to this user.
    m.sandbox.with(|s| s.no_lead_access.push(SANDBOX_PAGE_ID.into()));
    let (_, body) = call.get(&format!("{SANDBOX_FORM_ID}/leads"), &page).await;
    assert_eq!(code(&body), 200, "{body}");
    assert!(message(&body).contains("Leads Access Manager"), "{body}");

    // Without pages_show_list the user's pages (and their tokens) are not listed at all.
    m.sandbox.with(|s| s.granted_scopes.retain(|g| g != "pages_show_list"));
    m.sandbox.with(|s| s.issue_token_with_scopes(USER_TOKEN, SANDBOX_USER_ID));
    let (_, body) = call.get("me/accounts", USER_TOKEN).await;
    assert_eq!(code(&body), 200, "{body}");
}

#[tokio::test]
async fn non_numeric_ids_and_unknown_subscription_fields_are_refused() {
    let m = MetaTestEnv::new().await;
    let call = Call::new(&m);
    let page = call.page_token().await;
    let (_, body) = call.get("abc/leadgen_forms", &page).await;
    assert_eq!(code(&body), 100, "{body}");
    let fields = format!("{SANDBOX_PAGE_ID}/subscribed_apps?subscribed_fields=leadgen,everything");
    let (_, body) = call.send(reqwest::Method::POST, &fields, &page).await;
    assert_eq!(code(&body), 100, "{body}");
    // A page token with another token's appsecret_proof.
    let wrong = appsecret_proof(&SecretString::new(META_APP_SECRET), &SecretString::new(USER_TOKEN));
    let url = format!("{}/v21.0/{SANDBOX_PAGE_ID}/leadgen_forms?appsecret_proof={wrong}", m.sandbox.base_url());
    let resp = call.http.get(url).bearer_auth(&page).send().await.expect("sandbox");
    let body: Value = resp.json().await.expect("json");
    assert_eq!((code(&body), message(&body)), (100, "Invalid appsecret_proof provided in the API argument"));
}

#[tokio::test]
async fn leadgen_webhooks_are_built_only_for_subscribed_pages() {
    let m = MetaTestEnv::new().await;
    let call = Call::new(&m);
    let lead = m.sandbox.with(|s| s.add_lead(SANDBOX_PAGE_ID, None, None, "Ana")).id;
    assert_eq!(m.sandbox.leadgen_delivery(&[&lead])["entry"], serde_json::json!([]), "not subscribed: nothing");
    let page = call.page_token().await;
    let subscribe = format!("{SANDBOX_PAGE_ID}/subscribed_apps?subscribed_fields=leadgen");
    assert_eq!(call.send(reqwest::Method::POST, &subscribe, &page).await.0, 200);
    let (_, listed) = call.get(&format!("{SANDBOX_PAGE_ID}/subscribed_apps"), &page).await;
    assert_eq!(listed["data"][0]["id"], META_APP_ID);
    assert_eq!(listed["data"][0]["subscribed_fields"], serde_json::json!(["leadgen"]));
    let delivery = m.sandbox.leadgen_delivery(&[&lead]);
    assert_eq!(delivery["entry"][0]["changes"][0]["value"]["leadgen_id"], lead.as_str());
    assert_eq!(call.send(reqwest::Method::DELETE, &format!("{SANDBOX_PAGE_ID}/subscribed_apps"), &page).await.0, 200);
    assert_eq!(m.sandbox.leadgen_delivery(&[&lead])["entry"], serde_json::json!([]), "unsubscribed again");
}
