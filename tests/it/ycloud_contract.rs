//! Every request our YCloud client sends and every answer Sandbox YCloud gives, held to YCloud's
//! published API facts ([`integration_tests::ycloud_spec`], written from its OpenAPI document):
//! sends (accepted, refused, throttled, failed after taking the message), lookups over pages, the
//! template list, and the webhook events the sandbox signs.

use chrono::Duration;
use integration_tests::ycloud_spec::{self as spec, violations};
use integration_tests::{t0, HsmTestEnv};
use local_stack::sandbox_ycloud::Exchange;
use serde_json::Value;

use crate::automation::{enable_all, lead, run};

/// Where the exchange breaks the spec.
fn broken(x: &Exchange) -> Vec<String> {
    let mut out = Vec::new();
    let answer_schema = |status: u16, ok: &'static spec::Schema| if status < 300 { ok } else { &spec::ERROR_RESPONSE };
    match (x.method.as_str(), x.path.as_str()) {
        ("POST", "/v2/whatsapp/messages") => {
            out.extend(violations(&x.request, &spec::SEND_REQUEST));
            out.extend(violations(&x.answer, answer_schema(x.status, &spec::MESSAGE)));
        }
        ("GET", "/v2/whatsapp/messages") => {
            out.extend(spec::list_query_violations(&x.query));
            out.extend(violations(&x.answer, answer_schema(x.status, &spec::MESSAGE_PAGE)));
        }
        ("GET", "/v2/whatsapp/templates") => {
            let q = x.query.iter().filter(|(k, _)| !k.starts_with("filter.")).map(|(k, v)| (k.clone(), v.clone()));
            out.extend(spec::list_query_violations(&q.collect()));
            out.extend(violations(&x.answer, answer_schema(x.status, &spec::TEMPLATE_PAGE)));
        }
        (m, p) => out.push(format!("{m} {p}: an endpoint we do not use")),
    }
    out.into_iter().map(|v| format!("{} {} → {}: {v}", x.method, x.path, x.status)).collect()
}

#[tokio::test]
async fn our_requests_and_the_sandboxs_answers_hold_to_ycloud_s_spec() {
    let h = HsmTestEnv::new().await;
    enable_all(&h, 61).await;
    for (i, id) in ["L-1", "L-2", "L-3", "L-4", "L-5"].iter().enumerate() {
        lead(&h, 61, id, &format!("+54911555561{i:02}"), t0()).await;
    }
    // The first run's sends meet, in order: a 503, a 429, a WhatsApp refusal, a 500 after the
    // message was taken, then 200s; later runs look up the unknown ones and resend the throttled.
    h.ycloud.with(|s| {
        s.fail_next = 1;
        s.throttle_next = 1;
        s.wa_error = Some(131047);
        s.wa_error_next = 1;
        s.faults.error_after_send_next = 1;
    });
    for hours in [24, 25, 26, 30, 40] {
        h.env.clock.set(t0() + Duration::hours(hours));
        run(&h).await;
    }
    let exchanges = h.ycloud.with(|s| s.exchanges.clone());
    let kinds = |m: &str, p: &str| exchanges.iter().filter(|x| x.method == m && x.path == p).count();
    assert!(kinds("POST", "/v2/whatsapp/messages") >= 5, "sends: {}", exchanges.len());
    assert!(kinds("GET", "/v2/whatsapp/messages") >= 1, "lookups");
    assert!(kinds("GET", "/v2/whatsapp/templates") >= 1, "templates");
    let statuses: std::collections::BTreeSet<u16> = exchanges.iter().map(|x| x.status).collect();
    for s in [200, 400, 429, 500, 503] {
        assert!(statuses.contains(&s), "an answer {s} was checked too: {statuses:?}");
    }
    let broken: Vec<String> = exchanges.iter().flat_map(broken).collect();
    assert!(broken.is_empty(), "{broken:#?}");

    // The webhook events the sandbox signs.
    // Of a message the sandbox took (which lead met which fault depends on the sends' order).
    let xid = h.ycloud.with(|s| s.messages.iter().find_map(|m| m.external_id.clone())).expect("a message was taken");
    let mut events = h.ycloud.status_events(&xid, &["sent", "delivered", "read", "failed"]).expect("sent");
    events.push(h.ycloud.inbound_event("+5491155556100", integration_tests::YCLOUD_SENDER, "STOP"));
    let broken: Vec<String> = events.iter().flat_map(|e| violations(e, &spec::EVENT)).collect();
    assert!(broken.is_empty(), "{broken:#?}");
}

#[tokio::test]
async fn the_sandbox_refuses_a_page_larger_than_ycloud_allows() {
    let h = HsmTestEnv::new().await;
    let client = reqwest::Client::new();
    let url = format!("{}/v2/whatsapp/messages", h.ycloud.base_url());
    let get = |q: &'static [(&'static str, &'static str)]| {
        client.get(&url).header("X-API-Key", integration_tests::YCLOUD_API_KEY).query(q).send()
    };
    let resp = get(&[("limit", "101")]).await.expect("answer");
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().await.expect("json");
    assert!(violations(&body, &spec::ERROR_RESPONSE).is_empty(), "{body}");
    assert_eq!(get(&[("page", "101")]).await.expect("answer").status().as_u16(), 400);
    assert_eq!(get(&[("limit", "100"), ("filter.externalId", "x")]).await.expect("answer").status().as_u16(), 200);
}

/// The template list pages only while its budget lasts (Sandbox YCloud's latency switch makes each
/// page slow): the pages read by then are answered as incomplete, nothing read is an error, and
/// the evaluator's `templates()` never takes a partial list as whole.
#[tokio::test]
async fn the_template_list_stops_paging_when_its_time_budget_is_spent() {
    use crm_shared::automation::ycloud::{YcloudClient, YcloudError};
    use crm_shared::platform::http_client::HttpClient;
    use crm_shared::platform::secrets::SecretString;
    use std::time::{Duration, Instant};
    let any = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let ycloud = local_stack::sandbox_ycloud::SandboxYcloud::start(
        any,
        integration_tests::YCLOUD_API_KEY,
        integration_tests::YCLOUD_WEBHOOK_SECRET,
    )
    .await
    .expect("sandbox");
    let total = ycloud.with(|s| {
        for i in 0..250 {
            s.set_template_status(&format!("t{i:03}"), "es", "APPROVED");
        }
        s.latency = Duration::from_millis(300);
        s.templates.len()
    });
    assert!(total > 200, "three pages of 100");
    let base = url::Url::parse(&ycloud.base_url()).expect("url");
    let http = HttpClient::new().expect("http").get().clone();
    let client = YcloudClient::new(
        http,
        base,
        SecretString::new(integration_tests::YCLOUD_API_KEY),
        integration_tests::YCLOUD_SENDER,
    );
    let started = Instant::now();
    let cut = client.templates_within(Duration::from_millis(500)).await.expect("the first page fits");
    let took = started.elapsed();
    assert!(!cut.complete);
    assert_eq!(cut.templates.len(), 100, "page 1 only: page 2 was in flight when the budget ended");
    assert!(took >= Duration::from_millis(500) && took < Duration::from_millis(800), "{took:?}");
    let nothing = client.templates_within(Duration::from_millis(100)).await;
    assert!(matches!(nothing, Err(YcloudError::Transient { .. })), "{nothing:?}");
    let whole = client.templates_within(Duration::from_secs(3)).await.expect("three pages in 0.9 s");
    assert!(whole.complete);
    assert_eq!(whole.templates.len(), total);
    assert_eq!(client.templates().await.map(|t| t.len()), Ok(total), "within the real budget");
}
