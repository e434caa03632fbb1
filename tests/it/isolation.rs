//! Cross-tenant isolation over the whole route table: tenant A (the demo tenant: dashboard data,
//! Meta connected, WhatsApp rules, leads and a sent log) is read by its own `ceo` before and after
//! tenant B calls **every route** the local stack serves (`local_stack::routes`, so a new route is
//! covered the day it is added) with every role that matters, using A's identifiers (the
//! contract's examples, A's campaign, A's log cursor). B's reads must equal those of a pristine
//! tenant C and name nothing of A; A's reads and every DynamoDB item of A must be unchanged.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;
use crm_shared::api::http::body_json;
use crm_shared::domain::ids::TenantId;
use crm_shared::platform::auth::Access;
use crm_shared::platform::clock::Clock;
use crm_shared::store::TenantProfile;
use integration_tests::*;
use lambda_http::http::Method;
use local_stack::demo;
use local_stack::server::{LocalApi, LOCAL_HSM_EVALUATE_PATH};
use serde_json::{json, Value};

const A: i64 = demo::DEMO_TENANT.0;
const B: i64 = 2;
const C: i64 = 3;
/// Managers, and a read-only role (its writes must be refused without touching anything).
const ROLES: [&str; 4] = ["ceo", "admin", "marketing", "setter"];
/// Strings only tenant A's data holds.
const A_MARKERS: [&str; 7] =
    ["Demo Clinic", "Implantes - Leads", "Video testimonio", "Ana G", "hsm-demo-1", "ycm_", demo::DEMO_WHATSAPP_NUMBER];

/// Tenant A's world: Meta and YCloud sandboxes over real HTTP, moto, the local stack's dispatcher.
struct World {
    env: TestEnv,
    api: LocalApi,
    _meta: local_stack::sandbox_meta::SandboxMeta,
    ycloud: local_stack::sandbox_ycloud::SandboxYcloud,
}

impl World {
    async fn new() -> Self {
        let any = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        let meta =
            local_stack::sandbox_meta::SandboxMeta::start(any, META_APP_ID, META_APP_SECRET).await.expect("meta");
        meta.with(|s| s.now = Some(t0().timestamp()));
        let ycloud = local_stack::sandbox_ycloud::SandboxYcloud::start(any, YCLOUD_API_KEY, YCLOUD_WEBHOOK_SECRET)
            .await
            .expect("ycloud");
        // A's own WhatsApp account (A connects it; B then tries to take its number).
        ycloud.with(|s| s.accounts.push(demo::ycloud_account()));
        let (meta_url, ycloud_url) = (meta.base_url(), ycloud.base_url());
        let env = TestEnv::with_env(&[
            ("META_APP_ID", META_APP_ID),
            ("META_APP_SECRET", META_APP_SECRET),
            ("META_REDIRECT_URI", META_REDIRECT_URI),
            ("META_GRAPH_BASE_URL", &meta_url),
            ("META_DIALOG_BASE_URL", &meta_url),
            ("META_RETRY_BASE_DELAY_MS", "1"),
            ("YCLOUD_BASE_URL", &ycloud_url),
            ("YCLOUD_API_KEY", YCLOUD_API_KEY),
            ("YCLOUD_WEBHOOK_SECRET", YCLOUD_WEBHOOK_SECRET),
            ("YCLOUD_WHATSAPP_NUMBER", YCLOUD_SENDER),
            ("RATE_LIMIT_PER_MINUTE", "100000"),
            ("TENANT_RATE_LIMIT_PER_MINUTE", "1000000"),
        ])
        .await;
        let api = LocalApi::new(env.app.clone());
        Self { env, api, _meta: meta, ycloud }
    }

    async fn call(&self, method: &str, uri: &str, tenant: i64, role: &str, body: Option<Value>) -> (u16, Value) {
        let token = jwt(tenant, role);
        let resp = self.api.dispatch(request(method, uri, Some(&token), Some(ADMIN_TOKEN), body)).await;
        (resp.status().as_u16(), body_json(&resp))
    }

    /// A: the demo's dashboard data, Meta connected through OAuth with the demo ad account, the
    /// WhatsApp rules and three due follow-ups, sent by one evaluator run (so the log has entries).
    async fn seed_tenant_a(&self) {
        let now = self.env.clock.now();
        demo::seed(self.env.app.profiles.as_ref(), now).await.expect("profile");
        demo::seed_dashboard(&self.env.store, now, 5).await.expect("dashboard");
        demo::seed_whatsapp(&self.env.app, now).await.expect("whatsapp");
        demo::seed_hsm(&self.env.app, now).await.expect("hsm");
        oauth_connect(&self.env, A).await;
        let (status, body) = self
            .call("POST", "/crm/marketing/connect", A, "ceo", Some(json!({"account_id": demo::DEMO_AD_ACCOUNT})))
            .await;
        assert_eq!(status, 200, "{body}");
        let evaluate = request("POST", LOCAL_HSM_EVALUATE_PATH, None, None, None);
        assert_eq!(self.api.dispatch(evaluate).await.status(), 200);
        // One run sent A's follow-ups from A's own number (its seeded WhatsApp connection).
        let senders: Vec<String> = self.ycloud.with(|s| s.messages.iter().map(|m| m.from.clone()).collect());
        assert_eq!(senders, vec![demo::DEMO_WHATSAPP_NUMBER.to_string(); 3], "the demo's own number sends");
    }

    /// Another tenant with a profile (so its own reads answer) and nothing else.
    async fn seed_empty_tenant(&self, t: i64) {
        let mut p = TenantProfile::empty(TenantId(t), self.env.clock.now());
        p.display_name = "Other Clinic".into();
        self.env.app.profiles.put_profile(&p).await.expect("profile");
    }
}

/// One route as a caller would hit it: the contract's examples for its parameters and body (A's
/// campaign, the sandbox's business and ad account, a valid rules/rates/settings body).
struct Call {
    method: Method,
    path: &'static str,
    uri: String,
    body: Option<Value>,
    access: Access,
    documents_cursor: bool,
}

fn calls() -> Vec<Call> {
    let doc = openapi::doc::document();
    local_stack::routes::routes()
        .iter()
        .map(|r| {
            let e = r.endpoint;
            let op = &doc["paths"][e.path][e.method.as_str().to_ascii_lowercase()];
            let params: Vec<&Value> = op["parameters"].as_array().map(|ps| ps.iter().collect()).unwrap_or_default();
            let mut path = e.path.to_string();
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            for p in &params {
                let (Some(name), Some(example)) = (p["name"].as_str(), p.get("example")) else { continue };
                let value = example.as_str().map(str::to_string).unwrap_or_else(|| example.to_string());
                match p["in"].as_str() {
                    Some("path") => path = path.replace(&format!("{{{name}}}"), &value),
                    Some("query") => {
                        query.append_pair(name, &value);
                    }
                    _ => {}
                }
            }
            let query = query.finish();
            let uri = if query.is_empty() { path } else { format!("{path}?{query}") };
            let body = op
                .get("requestBody")
                .map(|b| b["content"]["application/json"].get("example").cloned().unwrap_or(json!({})));
            let documents_cursor = params.iter().any(|p| p["name"] == "cursor");
            Call { method: e.method.clone(), path: e.path, uri, body, access: e.access, documents_cursor }
        })
        .collect()
}

/// The tenant's reads: every GET any role may call (a manager's GET, the OAuth URL, issues state).
fn is_read(c: &Call) -> bool {
    c.method == Method::GET && c.access == Access::AnyRole
}

/// `tenant_id` fields blanked (the only field two tenants' empty reads may differ in).
fn without_tenant_ids(mut v: Value) -> Value {
    match &mut v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                *x = if k == "tenant_id" { Value::Null } else { without_tenant_ids(x.take()) };
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| *x = without_tenant_ids(x.take())),
        _ => {}
    }
    v
}

async fn reads(w: &World, tenant: i64) -> BTreeMap<String, (u16, Value)> {
    let mut out = BTreeMap::new();
    for c in calls().iter().filter(|c| is_read(c)) {
        out.insert(c.uri.clone(), w.call("GET", &c.uri, tenant, "ceo", None).await);
    }
    out
}

type Items = BTreeMap<(String, String), BTreeMap<String, String>>;

/// Every item of the table but the pipeline's bookkeeping (audit records, rate-limit windows).
async fn items(w: &World) -> Items {
    let s = |i: &std::collections::HashMap<String, AttributeValue>, k: &str| {
        i.get(k).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default()
    };
    w.env
        .all_items()
        .await
        .into_iter()
        .filter(|i| {
            !(s(i, "PK").starts_with("RL#") || s(i, "PK").starts_with("AUDIT#") || s(i, "SK").starts_with("AUDIT#"))
        })
        .map(|i| ((s(&i, "PK"), s(&i, "SK")), i.iter().map(|(k, v)| (k.clone(), canonical(v))).collect()))
        .collect()
}

/// An attribute value as text, maps and sets in a stable order.
fn canonical(v: &AttributeValue) -> String {
    match v {
        AttributeValue::M(m) => {
            let sorted: BTreeMap<&String, String> = m.iter().map(|(k, x)| (k, canonical(x))).collect();
            format!("M({sorted:?})")
        }
        AttributeValue::L(l) => format!("L({:?})", l.iter().map(canonical).collect::<Vec<_>>()),
        AttributeValue::Ss(s) | AttributeValue::Ns(s) => {
            let mut s = s.clone();
            s.sort();
            format!("Set({s:?})")
        }
        other => format!("{other:?}"),
    }
}

/// Whether an item is tenant `t`'s own (its partition, or a global item naming it).
fn owned_by(key: &(String, String), item: &BTreeMap<String, String>, t: i64) -> bool {
    let pk = &key.0;
    *pk == format!("T#{t}")
        || pk.starts_with(&format!("T#{t}#"))
        || item.get("tenant_id") == Some(&format!("N(\"{t}\")"))
}

fn assert_names_nothing_of_a(what: &str, body: &Value) {
    let text = body.to_string();
    for m in A_MARKERS {
        assert!(!text.contains(m), "{what} shows tenant A's {m:?}: {text}");
    }
}

#[tokio::test]
async fn another_tenant_never_reads_or_changes_a_tenants_data_on_any_route() {
    let w = World::new().await;
    w.seed_tenant_a().await;
    w.seed_empty_tenant(B).await;
    w.seed_empty_tenant(C).await;
    let a_before = reads(&w, A).await;
    // A's reads really hold A's data (else the checks below would prove nothing).
    let all_of_a = json!(a_before.values().map(|(_, b)| b.clone()).collect::<Vec<_>>()).to_string();
    for m in A_MARKERS {
        assert!(all_of_a.contains(m), "tenant A's reads lack {m:?}: the seed is not what this test expects");
    }
    // A's identifiers B will try: a log cursor of A's, besides the examples' ids.
    let mut a_cursors = Vec::new();
    for c in calls().iter().filter(|c| is_read(c) && c.documents_cursor) {
        let sep = if c.uri.contains('?') { '&' } else { '?' };
        let (_, page) = w.call("GET", &format!("{}{sep}limit=1", c.uri), A, "ceo", None).await;
        let cursor = page["next_cursor"].as_str().expect("A has more than one entry, so a cursor").to_string();
        a_cursors.push(format!(
            "{}{sep}cursor={}",
            c.uri,
            url::form_urlencoded::byte_serialize(cursor.as_bytes()).collect::<String>()
        ));
    }
    let items_before = items(&w).await;

    // B reads what a tenant that never existed reads: nothing of A's.
    let (b_reads, c_reads) = (reads(&w, B).await, reads(&w, C).await);
    for (uri, (status, body)) in &b_reads {
        assert_names_nothing_of_a(uri, body);
        let (c_status, c_body) = &c_reads[uri];
        assert_eq!((status, without_tenant_ids(body.clone())), (c_status, without_tenant_ids(c_body.clone())), "{uri}");
    }
    // Every route, every role that matters, with A's identifiers. A minute later, so that any
    // write B's calls made to A's items would stamp them differently even where the example
    // bodies repeat A's own values.
    w.env.clock.advance(chrono::Duration::minutes(1));
    for role in ROLES {
        for c in calls() {
            let (status, body) = w.call(c.method.as_str(), &c.uri, B, role, c.body.clone()).await;
            assert!(status < 500, "{role} {} {}: {status} {body}", c.method, c.uri);
            assert_names_nothing_of_a(&format!("{role} {} {}", c.method, c.path), &body);
        }
        // A's own WhatsApp account and number, as B: the number is A's (409), nothing written.
        let taken = json!({"api_key": demo::DEMO_YCLOUD_KEY, "phone_number": demo::DEMO_WHATSAPP_NUMBER, "waba_id": demo::DEMO_WABA});
        let (status, body) = w.call("PUT", "/crm/marketing/whatsapp", B, role, Some(taken)).await;
        assert!(status == 409 || (status == 403 && role == "setter"), "{role}: {status} {body}");
        for uri in &a_cursors {
            let (status, body) = w.call("GET", uri, B, role, None).await;
            assert_eq!(status, 400, "B paged with A's cursor: {body}");
            assert_names_nothing_of_a(uri, &body);
        }
    }

    // Nothing of A changed: no item (but B's own), and A reads what it read before.
    let items_after = items(&w).await;
    for (key, item) in &items_before {
        let after = items_after.get(key);
        if owned_by(key, item, B) || after.is_some_and(|a| owned_by(key, a, B)) {
            continue;
        }
        assert_eq!(after, Some(item), "item {key:?} changed or vanished while tenant B called the API");
    }
    for (key, item) in &items_after {
        assert!(items_before.contains_key(key) || owned_by(key, item, B), "B's calls wrote {key:?}: {item:?}");
    }
    w.env.clock.set(t0());
    assert_eq!(reads(&w, A).await, a_before, "tenant A reads something else after tenant B's calls");
}
