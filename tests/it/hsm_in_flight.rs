//! In-flight sends on the automation log as the frontend's HSM page reads it
//! (`GET /crm/marketing/automation-logs`, FRONTEND-CONTRACT.md): `data` an array of rows with
//! `id, lead_name, trigger_type, status, created_at`, in-flight rows `pending` / `retrying` /
//! `unknown` with their next attempt and reason; 100 rows without `limit`.

use chrono::Duration;
use crm_shared::domain::hsm::{LogStatus, TriggerKind};
use crm_shared::domain::ids::TenantId;
use crm_shared::store::automation::log::LogEntry;
use integration_tests::{t0, HsmTestEnv};
use serde_json::Value;

use crate::automation::{enable_all, lead, run};

async fn logs(h: &HsmTestEnv, tenant: i64, query: &str) -> (u16, Value) {
    let token = integration_tests::jwt_at_clock(&h.env, tenant, "setter");
    let uri = format!("/crm/marketing/automation-logs{query}");
    let req = integration_tests::request("GET", &uri, Some(&token), Some(integration_tests::ADMIN_TOKEN), None);
    let resp = automation_logs::handle(&h.env.app, req).await;
    (resp.status().as_u16(), crm_shared::api::http::body_json(&resp))
}

#[tokio::test]
async fn retrying_and_unknown_sends_show_with_next_attempt_and_reason() {
    let h = HsmTestEnv::new().await;
    enable_all(&h, 71).await;
    lead(&h, 71, "L-1", "+5491155557101", t0()).await;
    lead(&h, 71, "L-2", "+5491155557102", t0()).await;
    h.ycloud.with(|s| {
        s.throttle_next = 1; // the first send: 429 → retrying
        s.faults.error_after_send_next = 1; // the second: taken, then 500 → unknown
    });
    h.env.clock.set(t0() + Duration::hours(24));
    assert_eq!(run(&h).await.count(crm_shared::automation::evaluator::Outcome::Deferred), 2);
    let (status, body) = logs(&h, 71, "").await;
    assert_eq!(status, 200);
    let rows = body["data"].as_array().expect("data is an array");
    assert_eq!(rows.len(), 2);
    for row in rows {
        for field in ["id", "lead_name", "trigger_type", "status", "created_at"] {
            assert!(row[field].is_string(), "{field} in {row}");
        }
        assert!(row["next_attempt_at"].as_str().is_some_and(|t| t > "2026-11-25T12:00:00"), "{row}");
    }
    let mut statuses: Vec<&str> = rows.iter().filter_map(|r| r["status"].as_str()).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, ["retrying", "unknown"]);
    let unknown = rows.iter().find(|r| r["status"] == "unknown").expect("unknown");
    assert!(unknown["error"].as_str().is_some_and(|e| e.contains("500")), "{unknown}");
    let retrying = rows.iter().find(|r| r["status"] == "retrying").expect("retrying");
    assert!(retrying["error"].as_str().is_some_and(|e| e.contains("429")), "{retrying}");
}

#[tokio::test]
async fn without_limit_a_page_holds_100_entries() {
    let h = HsmTestEnv::new().await;
    for n in 0..120 {
        let at = t0() + Duration::seconds(n);
        let entry = LogEntry {
            id: format!("e{n:03}"),
            tenant_id: TenantId(72),
            trigger: TriggerKind::LeadFollowup,
            entity_id: format!("L-{n}"),
            lead_name: Some("Ana".into()),
            template: None,
            language: None,
            phone_masked: None,
            status: if n % 3 == 0 { LogStatus::Pending } else { LogStatus::Sent },
            created_at: at,
            updated_at: at,
            history: vec![],
            reason: None,
            message_id: None,
            next_attempt_at: (n % 3 == 0).then(|| at + Duration::hours(1)),
        };
        h.env.app.automation_log.append(&entry).await.expect("append");
    }
    let (status, body) = logs(&h, 72, "").await;
    assert_eq!(status, 200);
    assert_eq!(body["data"].as_array().map(Vec::len), Some(100));
    assert!(body["next_cursor"].is_string(), "the rest on the next page");
    let (_, next) = logs(&h, 72, &format!("?cursor={}", body["next_cursor"].as_str().unwrap_or_default())).await;
    assert_eq!(next["data"].as_array().map(Vec::len), Some(20));
}
