//! YCloud faults against moto and Sandbox YCloud, through the evaluator's own handler (moto fires
//! no schedules: each run is `hsm_trigger_evaluator::handle_event` at the test clock's next due
//! time). Whatever YCloud does — a 429, a 503, a 500 after taking the message, an answer held past
//! the client's timeout, a failing lookup, a busy account — the contact gets exactly one message.

use chrono::{DateTime, Duration, Utc};
use crm_shared::automation::external_id::external_id;
use crm_shared::domain::hsm::{LogStatus, TriggerKind};
use crm_shared::domain::ids::TenantId;
use integration_tests::{t0, HsmTestEnv};
use local_stack::sandbox_ycloud::{SandboxMessage, SandboxYcloudState};
use serde_json::Value;

use crate::automation::{enable_all, lead, log, post_webhook};

const PHONE: &str = "+5491155559001";

/// One evaluator run at `at`, through the handler; its summary.
async fn evaluate(h: &HsmTestEnv, at: DateTime<Utc>) -> Value {
    h.env.clock.set(at);
    hsm_trigger_evaluator::handle_event(&h.env.app, None).await.expect("run")
}

fn outcome(summary: &Value, o: &str) -> u64 {
    summary["outcomes"][o].as_u64().unwrap_or(0)
}

async fn due(h: &HsmTestEnv, tenant: i64) -> Option<DateTime<Utc>> {
    let item = h.env.app.due.due_item(TenantId(tenant), TriggerKind::LeadFollowup, "L-1").await.expect("due");
    item.map(|d| d.due_at)
}

/// A lead of `tenant` due at t0 + 24 h, the sandbox set with `fault`, then runs at each next
/// attempt until the item is settled (at most `runs`); the summaries.
async fn through(h: &HsmTestEnv, tenant: i64, fault: impl FnOnce(&mut SandboxYcloudState), runs: usize) -> Vec<Value> {
    enable_all(h, tenant).await;
    lead(h, tenant, "L-1", PHONE, t0()).await;
    h.ycloud.with(fault);
    let mut at = t0() + Duration::hours(24);
    let mut out = Vec::new();
    for _ in 0..runs {
        out.push(evaluate(h, at).await);
        match due(h, tenant).await {
            Some(next) => at = next.max(at + Duration::seconds(1)),
            None => break,
        }
    }
    out
}

/// Exactly one message at the sandbox, the item settled, one log entry `sent`.
async fn exactly_one(h: &HsmTestEnv, tenant: i64, name: &str, runs: &[Value]) -> usize {
    let xid = external_id(TenantId(tenant), TriggerKind::LeadFollowup, "L-1");
    let (accepted, requests) =
        h.ycloud.with(|s| (s.sends_by_external_id.get(&xid).copied().unwrap_or(0), s.send_requests));
    assert_eq!(accepted, 1, "{name}: messages at the sandbox; runs {runs:?}");
    assert_eq!(due(h, tenant).await, None, "{name}: settled");
    let statuses: Vec<LogStatus> = log(h, tenant).await.into_iter().map(|e| e.status).collect();
    assert_eq!(statuses, [LogStatus::Sent], "{name}: one entry, sent");
    println!("{name}: {accepted} message at the sandbox after {} runs ({requests} send requests)", runs.len());
    accepted
}

#[tokio::test]
async fn a_429_is_resent_once_later() {
    let h = HsmTestEnv::new().await;
    let runs = through(&h, 41, |s| s.throttle_next = 1, 6).await;
    assert_eq!((outcome(&runs[0], "deferred"), outcome(&runs[1], "sent")), (1, 1), "{runs:?}");
    assert_eq!(h.ycloud.with(|s| s.send_requests), 2, "safe to resend: nothing was taken");
    exactly_one(&h, 41, "429", &runs).await;
}

#[tokio::test]
async fn a_503_is_looked_up_then_sent_once() {
    let h = HsmTestEnv::new().await;
    let runs = through(&h, 42, |s| s.fail_next = 1, 6).await;
    assert_eq!(outcome(&runs[1], "sent"), 1, "not taken: the lookup finds nothing, so it is sent: {runs:?}");
    exactly_one(&h, 42, "503", &runs).await;
}

#[tokio::test]
async fn a_500_after_the_send_is_found_not_resent() {
    let h = HsmTestEnv::new().await;
    let runs = through(&h, 43, |s| s.faults.error_after_send_next = 1, 6).await;
    assert_eq!((outcome(&runs[0], "deferred"), outcome(&runs[1], "found_sent")), (1, 1), "{runs:?}");
    assert_eq!(h.ycloud.with(|s| s.send_requests), 1);
    exactly_one(&h, 43, "500 after send", &runs).await;
}

#[tokio::test]
async fn a_timeout_after_the_send_is_found_not_resent() {
    let h = HsmTestEnv::new().await;
    // Taken, then the answer held 6 s: the client (5 s) gives up first.
    let runs = through(&h, 44, |s| s.faults.slow_answer_next = 1, 6).await;
    assert_eq!((outcome(&runs[0], "deferred"), outcome(&runs[1], "found_sent")), (1, 1), "{runs:?}");
    exactly_one(&h, 44, "timeout after send", &runs).await;
}

#[tokio::test]
async fn a_failing_lookup_keeps_the_send_unknown_until_one_answers() {
    let h = HsmTestEnv::new().await;
    let runs = through(
        &h,
        45,
        |s| {
            s.faults.error_after_send_next = 1;
            s.faults.list_fail_next = 2;
        },
        8,
    )
    .await;
    // Two runs whose lookups fail (deferred, still unknown), then found.
    let deferred: Vec<u64> = runs.iter().map(|r| outcome(r, "deferred")).collect();
    assert_eq!(deferred[..3], [1, 1, 1], "{runs:?}");
    assert_eq!(outcome(&runs[3], "found_sent"), 1, "{runs:?}");
    assert_eq!(h.ycloud.with(|s| s.send_requests), 1, "never resent while in doubt");
    exactly_one(&h, 45, "failing lookup", &runs).await;
}

#[tokio::test]
async fn while_the_lookup_fails_the_log_says_unknown_and_a_status_webhook_settles_it() {
    let h = HsmTestEnv::new().await;
    let runs = through(
        &h,
        46,
        |s| {
            s.faults.error_after_send_next = 1;
            s.faults.list_fail_next = 100;
        },
        2,
    )
    .await;
    assert_eq!(runs.iter().map(|r| outcome(r, "deferred")).sum::<u64>(), 2, "{runs:?}");
    let entry = log(&h, 46).await.remove(0);
    assert_eq!(entry.status, LogStatus::Unknown);
    assert_eq!(entry.next_attempt_at, due(&h, 46).await, "next attempt shown");
    // YCloud's status webhook carries our externalId: the send is settled by it.
    let xid = external_id(TenantId(46), TriggerKind::LeadFollowup, "L-1");
    let ev = h.ycloud.status_events(&xid, &["delivered"]).expect("event").remove(0);
    let (code, _) = post_webhook(&h, &ev, h.env.app.clock.now().timestamp()).await;
    assert_eq!(code, 200);
    assert_eq!(due(&h, 46).await, None, "nothing left to look up");
    let claim = h.env.app.send_claims.get_claim(TenantId(46), TriggerKind::LeadFollowup, "L-1").await.expect("c");
    assert_eq!(claim.and_then(|c| c.message_id), h.ycloud.with(|s| s.messages.first().map(|m| m.id.clone())));
    assert_eq!(log(&h, 46).await.remove(0).status, LogStatus::Delivered);
    evaluate(&h, t0() + Duration::days(3)).await;
    assert_eq!(h.ycloud.with(|s| s.send_requests), 1, "never resent");
}

#[tokio::test]
async fn on_a_busy_account_the_lookup_still_finds_the_message() {
    let h = HsmTestEnv::new().await;
    enable_all(&h, 47).await;
    lead(&h, 47, "L-1", PHONE, t0()).await;
    h.ycloud.with(|s| s.faults.error_after_send_next = 1);
    let first = evaluate(&h, t0() + Duration::hours(24)).await;
    assert_eq!(outcome(&first, "deferred"), 1, "{first:?}");
    // After it: 150 messages to other recipients and 130 more to the same one (other sends).
    h.ycloud.with(|s| {
        let ours = s.messages[0].clone();
        for n in 0..280 {
            let to = if n < 150 { format!("+54911666{n:05}") } else { PHONE.to_string() };
            s.messages.push(SandboxMessage {
                id: format!("other_{n}"),
                external_id: Some(format!("other:{n}")),
                to,
                created_at: ours.created_at + chrono::Duration::seconds(n + 1),
                ..ours.clone()
            });
        }
    });
    let at = due(&h, 47).await.expect("kept");
    let second = evaluate(&h, at).await;
    assert_eq!(outcome(&second, "found_sent"), 1, "found past page 1 of the recipient's messages: {second:?}");
    exactly_one(&h, 47, "busy account", &[first, second]).await;
}
