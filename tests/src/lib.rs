//! Test harness: a real moto server (started once per test process, killed with it), resources
//! provisioned per test under unique names, and an [`App`] wired to them through the real SDK.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use aws_config::SdkConfig;
use aws_sdk_dynamodb::config::SharedCredentialsProvider;
use chrono::{DateTime, TimeZone, Utc};
use crm_shared::platform::auth::sign_hs256;
use crm_shared::platform::clock::ManualClock;
use crm_shared::platform::config::Config;
use crm_shared::platform::secrets::SecretName;
use crm_shared::store::DynamoStore;
use crm_shared::App;
use lambda_http::{Body, Request};
use local_stack::provision::{provision, Provisioned, ResourceNames};
use serde_json::{json, Value};

pub mod ycloud_spec;

pub const JWT_KEY: &str = "it-jwt-key-at-least-32-bytes-long";
pub const ADMIN_TOKEN: &str = "it-admin-token";

static MOTO: OnceLock<String> = OnceLock::new();

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The moto endpoint: `MOTO_ENDPOINT` if given, else a moto server this process starts.
pub fn moto_endpoint() -> &'static str {
    MOTO.get_or_init(|| match std::env::var("MOTO_ENDPOINT") {
        Ok(e) => e,
        Err(_) => local_stack::moto::spawn_for_process().unwrap_or_else(|e| panic!("moto: {e}")),
    })
}

/// SDK config pointed at moto with dummy credentials.
pub async fn sdk_config() -> SdkConfig {
    let endpoint = moto_endpoint().to_string();
    crm_shared::platform::sdk_config::sdk_config_from(|name| match name {
        "AWS_REGION" => Some("us-east-1".to_string()),
        "AWS_ENDPOINT_URL" => Some(endpoint.clone()),
        _ => None,
    })
    .into_builder()
    .credentials_provider(SharedCredentialsProvider::new(aws_sdk_dynamodb::config::Credentials::new(
        "testing", "testing", None, None, "moto",
    )))
    .build()
}

/// One test's world: its own table, key, secrets and bus in moto, and an App over them.
pub struct TestEnv {
    pub app: App,
    /// The bus jobs moto does not deliver (`meta.connected`), run when a test asks, as the local
    /// stack runs them (`local_stack::jobs`).
    pub jobs: local_stack::jobs::LocalJobs,
    pub clock: Arc<ManualClock>,
    pub sdk: SdkConfig,
    pub resources: Provisioned,
    pub dynamo: aws_sdk_dynamodb::Client,
    /// The DynamoDB adapter over this test's table (every store port).
    pub store: DynamoStore,
}

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).single().expect("date")
}

impl TestEnv {
    pub async fn new() -> Self {
        Self::with_env(&[]).await
    }

    /// `extra` env overrides (e.g. `RATE_LIMIT_PER_MINUTE`).
    pub async fn with_env(extra: &[(&str, &str)]) -> Self {
        let sdk = sdk_config().await;
        let names = ResourceNames::unique("it");
        let secrets =
            vec![(SecretName::JwtSecretKey, JWT_KEY.to_string()), (SecretName::AdminToken, ADMIN_TOKEN.to_string())];
        let resources = provision(&sdk, &names, &secrets).await.expect("provision moto");
        let mut env = resources.env();
        // No FX rates provider unless a test asks for one (tests never call the real ECB).
        env.push(("FX_PROVIDER_URL".into(), String::new()));
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let config =
            Config::from_lookup(|k| env.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v.clone())).expect("config");
        let clock = Arc::new(ManualClock::new(t0()));
        let mut app = App::with_aws(config, &sdk, clock.clone()).expect("app");
        let jobs = local_stack::jobs::wire(&mut app);
        let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
        let store = DynamoStore::new(dynamo.clone(), resources.table.clone());
        Self { app, jobs, clock, sdk, resources, dynamo, store }
    }

    /// Every item of the test's table (tests may scan; request paths never do).
    pub async fn all_items(&self) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
        let out = self.dynamo.scan().table_name(&self.resources.table).send().await.expect("scan");
        out.items.unwrap_or_default()
    }

    /// Items whose PK/SK start with the given prefixes.
    pub async fn items_with(
        &self,
        pk_prefix: &str,
        sk_prefix: &str,
    ) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
        self.all_items()
            .await
            .into_iter()
            .filter(|i| {
                let s = |k: &str| i.get(k).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
                s("PK").starts_with(pk_prefix) && s("SK").starts_with(sk_prefix)
            })
            .collect()
    }
}

/// A CRM JWT for `tenant` with `role`, valid for an hour after [`t0`] unless `exp` given.
pub fn jwt(tenant: i64, role: &str) -> String {
    sign_hs256(
        &json!({"user_id": "user-1", "email": "u@x.io", "role": role, "tenant_id": tenant, "exp": t0().timestamp() + 3600}),
        JWT_KEY.as_bytes(),
    )
}

/// Builds an HTTP request with the frontend's headers.
pub fn request(method: &str, uri: &str, token: Option<&str>, admin: Option<&str>, body: Option<Value>) -> Request {
    let mut b = lambda_http::http::Request::builder().method(method).uri(uri).header("x-tenant-id", "default");
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    if let Some(a) = admin {
        b = b.header("x-admin-token", a);
    }
    if body.is_some() {
        b = b.header("content-type", "application/json");
    }
    b.body(body.map(|v| Body::Text(v.to_string())).unwrap_or(Body::Empty)).expect("request")
}

/// A GET as the frontend sends it for `tenant`/`role`.
pub fn get(uri: &str, tenant: i64, role: &str) -> Request {
    request("GET", uri, Some(&jwt(tenant, role)), Some(ADMIN_TOKEN), None)
}

/// Loads a sample payload from `events/`.
pub fn sample_event(name: &str) -> Value {
    let path = workspace_root().join("events").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ------------------------------------------------------------------------- Meta sandbox harness

pub const META_APP_ID: &str = "it-meta-app";
pub const META_APP_SECRET: &str = "it-meta-app-secret";
pub const META_REDIRECT_URI: &str = "http://127.0.0.1:8080/crm/auth/meta/callback";

/// A [`TestEnv`] whose App talks to its own Sandbox Meta over real HTTP (127.0.0.1, any port),
/// with millisecond backoffs so retries never wait for real.
pub struct MetaTestEnv {
    pub env: TestEnv,
    pub sandbox: local_stack::sandbox_meta::SandboxMeta,
    /// Sandbox ECB (`FX_PROVIDER_URL`), "today" = [`t0`]'s day.
    pub ecb: local_stack::sandbox_ecb::SandboxEcb,
}

impl MetaTestEnv {
    pub async fn new() -> Self {
        Self::with_env(&[]).await
    }

    pub async fn with_env(extra: &[(&str, &str)]) -> Self {
        let sandbox = local_stack::sandbox_meta::SandboxMeta::start(
            std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            META_APP_ID,
            META_APP_SECRET,
        )
        .await
        .expect("sandbox meta");
        // The sandbox's clock is the test's, so token expiries line up with the ManualClock.
        sandbox.with(|s| s.now = Some(t0().timestamp()));
        let base = sandbox.base_url();
        let ecb = local_stack::sandbox_ecb::SandboxEcb::start(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("sandbox ecb");
        ecb.with(|s| s.today = Some(t0().date_naive()));
        let ecb_url = ecb.hist_90d_url();
        let mut env: Vec<(&str, &str)> = vec![
            ("FX_PROVIDER_URL", &ecb_url),
            ("META_APP_ID", META_APP_ID),
            ("META_APP_SECRET", META_APP_SECRET),
            ("META_REDIRECT_URI", META_REDIRECT_URI),
            ("META_GRAPH_BASE_URL", &base),
            ("META_DIALOG_BASE_URL", &base),
            ("META_HTTP_TIMEOUT_MS", "2000"),
            ("META_RETRY_MAX_ATTEMPTS", "3"),
            ("META_RETRY_BASE_DELAY_MS", "1"),
            ("META_RETRY_MAX_DELAY_MS", "20"),
        ];
        env.extend_from_slice(extra);
        let env = TestEnv::with_env(&env).await;
        Self { env, sandbox, ecb }
    }
}

/// A CRM domain event as EventBridge delivers it (`source = crm`), with `body` under `body_key`
/// (`lead`, `opportunity`, `sale`, `cart`, `tenant`).
pub fn crm_event(
    detail_type: &str,
    tenant: i64,
    event_id: &str,
    occurred_at: &str,
    body_key: &str,
    body: Value,
) -> Value {
    json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": detail_type,
        "source": "crm",
        "account": "000000000000",
        "time": occurred_at,
        "region": "us-east-1",
        "resources": [],
        "detail": { "event_id": event_id, "tenant_id": tenant, "occurred_at": occurred_at, body_key: body },
    })
}

/// A sample from `events/` re-addressed to `tenant` (samples are written for tenant 1).
pub fn sample_for_tenant(name: &str, tenant: i64) -> Value {
    let mut v = sample_event(name);
    v["detail"]["tenant_id"] = json!(tenant);
    v
}

/// Numeric attribute `name` of an item (0 when absent).
pub fn num(item: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>, name: &str) -> i64 {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok()).unwrap_or(0)
}

impl TestEnv {
    /// The item at `T#{tenant}` / `sk`, read directly (tests only).
    pub async fn item(
        &self,
        tenant: i64,
        sk: &str,
    ) -> Option<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
        self.dynamo
            .get_item()
            .table_name(&self.resources.table)
            .key("PK", aws_sdk_dynamodb::types::AttributeValue::S(format!("T#{tenant}")))
            .key("SK", aws_sdk_dynamodb::types::AttributeValue::S(sk.to_string()))
            .consistent_read(true)
            .send()
            .await
            .expect("get_item")
            .item
    }
}

/// A CRM JWT for `tenant` with `role`, valid ten minutes after the test clock's now.
pub fn jwt_at_clock(env: &TestEnv, tenant: i64, role: &str) -> String {
    use crm_shared::platform::clock::Clock;
    sign_hs256(
        &json!({"user_id": "user-1", "email": "u@x.io", "role": role, "tenant_id": tenant, "exp": env.clock.now().timestamp() + 600}),
        JWT_KEY.as_bytes(),
    )
}

/// The `Cookie` header value carrying the login's browser binding, from the `Set-Cookie` of a
/// `GET /crm/auth/meta/url` answer (what a browser would send back to the callback).
pub fn login_cookie(resp: &lambda_http::Response<Body>) -> String {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("crm_meta_oauth="))
        .and_then(|c| c.split(';').next())
        .expect("the login URL sets the binding cookie")
        .to_string()
}

/// Meta's redirect arriving at our callback from the browser: no JWT, no admin token, the
/// browser's cookie (if any).
pub fn callback_request(uri: &str, cookie: Option<&str>) -> Request {
    let mut b = lambda_http::http::Request::builder().method("GET").uri(uri);
    if let Some(c) = cookie {
        b = b.header("cookie", c);
    }
    b.body(Body::Empty).expect("request")
}

/// The whole OAuth connect flow for `tenant` through the real handlers: our login URL, Sandbox
/// Meta's dialog over real HTTP, our callback with the browser's binding cookie (which must
/// redirect with `?success=connected`), then the `meta.connected` job the callback queued (page
/// claims, replay of parked leads), as the bus rule would run it.
pub async fn oauth_connect(env: &TestEnv, tenant: i64) {
    let req = request("GET", "/crm/auth/meta/url", Some(&jwt_at_clock(env, tenant, "admin")), Some(ADMIN_TOKEN), None);
    let resp = meta_auth_url::handle(&env.app, req).await;
    let cookie = login_cookie(&resp);
    let body: Value = serde_json::from_slice(resp.body().as_ref()).expect("auth url body");
    let auth_url = url::Url::parse(body["data"]["auth_url"].as_str().expect("auth_url")).expect("url");
    crm_shared::platform::http_client::install_crypto_provider();
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let dialog = client.get(auth_url).send().await.expect("dialog");
    let loc = dialog.headers().get("location").and_then(|v| v.to_str().ok()).expect("location");
    let cb = url::Url::parse(loc).expect("callback url");
    let uri = format!("{}?{}", cb.path(), cb.query().unwrap_or(""));
    // The callback as deployed: the Meta app secret only (no JWT key, no admin token).
    let callback = env.app.restricted(meta_auth_callback::SECRETS, meta_auth_callback::WIRING);
    let resp = meta_auth_callback::handle(&callback, callback_request(&uri, Some(&cookie))).await;
    let to = resp.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    assert!(to.ends_with("?success=connected"), "connect failed: {to}");
    run_connect_jobs(env).await;
}

/// Runs the queued `meta.connected` jobs; each must succeed.
pub async fn run_connect_jobs(env: &TestEnv) -> Vec<meta_spend_sync::Summary> {
    env.jobs
        .run_queued(&env.app)
        .await
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| panic!("meta.connected job failed: {e}")))
        .collect()
}

// ------------------------------------------------------------------------ YCloud sandbox harness

pub const YCLOUD_API_KEY: &str = "it-ycloud-key";
pub const YCLOUD_WEBHOOK_SECRET: &str = "it-ycloud-webhook-secret";
pub const YCLOUD_SENDER: &str = "+5491100000000";

/// A [`TestEnv`] whose App sends WhatsApp templates to its own Sandbox YCloud over real HTTP.
pub struct HsmTestEnv {
    pub env: TestEnv,
    pub ycloud: local_stack::sandbox_ycloud::SandboxYcloud,
}

impl HsmTestEnv {
    pub async fn new() -> Self {
        let ycloud = local_stack::sandbox_ycloud::SandboxYcloud::start(
            std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            YCLOUD_API_KEY,
            YCLOUD_WEBHOOK_SECRET,
        )
        .await
        .expect("sandbox ycloud");
        let base = ycloud.base_url();
        let env = TestEnv::with_env(&[
            ("YCLOUD_BASE_URL", &base),
            ("YCLOUD_API_KEY", YCLOUD_API_KEY),
            ("YCLOUD_WEBHOOK_SECRET", YCLOUD_WEBHOOK_SECRET),
            ("YCLOUD_WHATSAPP_NUMBER", YCLOUD_SENDER),
        ])
        .await;
        Self { env, ycloud }
    }
}

/// `POST /crm/auth/meta/disconnect` as an admin of `tenant`, at the env's clock.
pub async fn disconnect_as_admin(env: &TestEnv, tenant: i64) -> lambda_http::Response<Body> {
    let token = jwt_at_clock(env, tenant, "admin");
    let req = request("POST", "/crm/auth/meta/disconnect", Some(&token), Some(ADMIN_TOKEN), Some(json!({})));
    meta_auth_disconnect::handle(&env.app, req).await
}

/// An active Meta connection of `tenant` to `accounts` (a stand-in ciphertext; `ads_read`, expiring
/// 50 days after [`t0`]), connected at `connected_at`: the dashboard tests' fixture.
pub fn connection_to(tenant: i64, accounts: &[&str], connected_at: DateTime<Utc>) -> crm_shared::store::MetaConnection {
    crm_shared::store::MetaConnection {
        token_ciphertext_b64: "Y3Q=".into(),
        expires_at: Some(t0() + chrono::Duration::days(50)),
        scopes: vec!["ads_read".into()],
        ad_account_ids: accounts.iter().map(|a| a.to_string()).collect(),
        updated_at: t0(),
        ..crm_shared::testing::active_connection(crm_shared::domain::ids::TenantId(tenant), connected_at)
    }
}

/// `POST /crm/webhooks/meta` with a raw delivery and its `X-Hub-Signature-256`.
pub fn meta_webhook_post(body: Vec<u8>, signature: &str) -> Request {
    lambda_http::http::Request::builder()
        .method("POST")
        .uri("/crm/webhooks/meta")
        .header("content-type", "application/json")
        .header("x-hub-signature-256", signature)
        .body(Body::Binary(body))
        .unwrap_or_else(|e| panic!("webhook request: {e}"))
}

/// `trigger`'s rule turned on: template named after the trigger, Spanish, no delay, no quiet hours.
pub fn default_rule(
    trigger: crm_shared::domain::hsm::TriggerKind,
) -> crm_shared::store::automation::rules::AutomationRule {
    crm_shared::store::automation::rules::AutomationRule {
        trigger,
        enabled: true,
        template_name: trigger.as_str().into(),
        language: "es".into(),
        delay_minutes: None,
        quiet_hours: None,
        variables: vec![],
    }
}

/// Turns `trigger`'s [`default_rule`] on for `tenant`, as an admin's save would.
pub async fn enable_rule(env: &TestEnv, tenant: i64, trigger: crm_shared::domain::hsm::TriggerKind) {
    use crm_shared::store::automation::rules::RuleSet;
    let set = RuleSet {
        tenant_id: crm_shared::domain::ids::TenantId(tenant),
        rules: vec![default_rule(trigger)],
        contact_window_hours: None,
        daily_recipient_cap: None,
        updated_at: t0(),
        updated_by: "it".into(),
    };
    env.app.automation_rules.put_rules(&set).await.unwrap_or_else(|e| panic!("rules: {e}"));
}
