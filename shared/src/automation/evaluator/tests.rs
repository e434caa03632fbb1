//! The protocol on the in-memory twins with a scripted YCloud: every branch of check → claim →
//! send → settle, and above all that an unknown outcome is never resent without a lookup. The
//! same flows run against moto and Sandbox YCloud over HTTP in `tests/it/automation.rs` and
//! `tests/it/hsm_faults.rs`.

use std::collections::VecDeque;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::*;
use crate::automation::external_id::external_id;
use crate::automation::scheduling::reconcile;
use crate::automation::ycloud::{Message, Template, TemplateMessage, YcloudError};
use crate::domain::hsm::{LogStatus, Phone, TriggerKind};
use crate::events::{apply_event, parse_event};
use crate::platform::clock::ManualClock;
use crate::platform::retry::{Jitter, RetryPolicy};
use crate::store::automation::claims::ClaimState;
use crate::store::automation::rules::{AutomationRule, QuietHours, RuleSet};
use crate::testing::{unit_app_clocked, unit_now};
use crate::App;

/// A scripted YCloud: sends answer from `script` (then accept), every accepted message is kept
/// and found again by the lookup unless `lookup_fails`.
#[derive(Default)]
struct Scripted {
    script: Mutex<VecDeque<Result<(), YcloudError>>>,
    /// Messages YCloud holds (accepted, whatever the caller heard).
    held: Mutex<Vec<Message>>,
    send_calls: Mutex<usize>,
    lookups: Mutex<usize>,
    lookup_fails: Mutex<bool>,
}

impl Scripted {
    fn answers(answers: impl IntoIterator<Item = Result<(), YcloudError>>) -> Self {
        Self { script: Mutex::new(answers.into_iter().collect()), ..Self::default() }
    }
    fn held(&self) -> usize {
        self.held.lock().map(|h| h.len()).unwrap_or(0)
    }
    fn n(m: &Mutex<usize>) -> usize {
        m.lock().map(|g| *g).unwrap_or(0)
    }
}

fn unknown(reason: &str) -> YcloudError {
    YcloudError::UnknownOutcome { reason: reason.into() }
}

/// Accepted by YCloud, answer lost: the message is held but the caller hears `err`.
const TAKEN_THEN: &str = "taken";

#[async_trait]
impl WhatsappApi for Scripted {
    async fn send_template(&self, msg: &TemplateMessage) -> Result<Message, YcloudError> {
        *self.send_calls.lock().expect("lock") += 1;
        let next = self.script.lock().expect("lock").pop_front().unwrap_or(Ok(()));
        let keep = |held: &Mutex<Vec<Message>>| {
            let mut held = held.lock().expect("lock");
            let m = Message {
                id: format!("ycm_{}", held.len() + 1),
                status: Some("accepted".into()),
                external_id: Some(msg.external_id.clone()),
                wamid: None,
                to: Some(msg.to.as_str().into()),
                create_time: Some(unit_now()),
            };
            held.push(m.clone());
            m
        };
        match next {
            Ok(()) => Ok(keep(&self.held)),
            Err(YcloudError::UnknownOutcome { reason }) if reason.starts_with(TAKEN_THEN) => {
                keep(&self.held);
                Err(unknown(&reason))
            }
            Err(e) => Err(e),
        }
    }
    async fn find_by_external_id(
        &self,
        to: &Phone,
        xid: &str,
        _since: DateTime<Utc>,
    ) -> Result<Option<Message>, YcloudError> {
        *self.lookups.lock().expect("lock") += 1;
        if *self.lookup_fails.lock().expect("lock") {
            return Err(YcloudError::Transient { reason: "500".into(), retry_after: None });
        }
        let held = self.held.lock().expect("lock");
        Ok(held.iter().find(|m| m.external_id.as_deref() == Some(xid) && m.to.as_deref() == Some(to.as_str())).cloned())
    }
    async fn templates(&self) -> Result<Vec<Template>, YcloudError> {
        Ok(vec![Template {
            name: "lead_followup".into(),
            language: "es".into(),
            category: Some("MARKETING".into()),
            status: "APPROVED".into(),
            components: json!([{"type": "BODY", "text": "Hola {{1}}"}]),
        }])
    }
}

fn settings() -> Settings {
    Settings {
        max_attempts: 4,
        retry: RetryPolicy {
            max_attempts: 4,
            base_delay: std::time::Duration::from_secs(60),
            max_delay: std::time::Duration::from_secs(600),
            jitter: Jitter::Proportional,
        },
        ..Settings::default()
    }
}

/// The in-memory app and its clock.
struct Twin {
    app: App,
    clock: std::sync::Arc<ManualClock>,
}

/// An app whose tenants (`(tenant, leads)`) follow leads up (no quiet hours), each with leads
/// `L-0`… created a day before [`unit_now`] (so due now).
async fn app_with_leads(tenants: &[(i64, usize)]) -> Twin {
    let created = unit_now() - Duration::hours(24);
    let (app, _, clock) = unit_app_clocked(created, &[]);
    for &(t, leads) in tenants {
        let rule = AutomationRule {
            trigger: TriggerKind::LeadFollowup,
            enabled: true,
            template_name: "lead_followup".into(),
            language: "es".into(),
            delay_minutes: None,
            quiet_hours: Some(QuietHours { start_hour: 0, end_hour: 0 }),
            variables: vec![],
        };
        let set = RuleSet {
            tenant_id: TenantId(t),
            rules: vec![rule],
            contact_window_hours: None,
            daily_recipient_cap: Some(100_000),
            updated_at: created,
            updated_by: "unit".into(),
        };
        app.automation_rules.put_rules(&set).await.expect("rules");
        for n in 0..leads {
            let body = json!({"id": format!("L-{n}"), "version": 1, "created_at": created.to_rfc3339(),
                "source": "META_ADS", "status": "new", "name": "Ana Pérez", "phone": format!("+54911{t:03}{n:05}")});
            let raw = json!({"version": "0", "id": format!("e-{t}-{n}"), "detail-type": "lead.created",
                "source": "crm", "time": created.to_rfc3339(),
                "detail": {"event_id": format!("e-{t}-{n}"), "tenant_id": t, "occurred_at": created.to_rfc3339(), "lead": body}});
            let ev = parse_event(&raw).expect("event");
            apply_event(app.events.as_ref(), &ev, created).await.expect("applied");
            reconcile((&app).into(), &ev, created).await.expect("scheduled");
        }
    }
    Twin { app, clock }
}

async fn run_at(tw: &Twin, api: &Scripted, at: DateTime<Utc>) -> RunSummary {
    tw.clock.set(at);
    run((&tw.app).into(), api, &settings(), None).await.expect("run")
}

async fn due_at(app: &App, t: i64, entity: &str) -> Option<DateTime<Utc>> {
    app.due.due_item(TenantId(t), TriggerKind::LeadFollowup, entity).await.expect("due").map(|d| d.due_at)
}

async fn log_statuses(app: &App, t: i64) -> Vec<LogStatus> {
    app.automation_log.page(TenantId(t), 100, None).await.expect("log").0.into_iter().map(|e| e.status).collect()
}

/// Runs at each next attempt until the item is gone (at most `runs`); the summaries.
async fn run_until_settled(tw: &Twin, api: &Scripted, t: i64, runs: usize) -> Vec<RunSummary> {
    let mut out = Vec::new();
    let mut at = unit_now();
    for _ in 0..runs {
        out.push(run_at(tw, api, at).await);
        match due_at(&tw.app, t, "L-0").await {
            Some(next) => at = next.max(at) + Duration::seconds(1),
            None => break,
        }
    }
    out
}

#[tokio::test]
async fn a_plain_send_is_sent_logged_and_dropped() {
    let tw = app_with_leads(&[(1, 1)]).await;
    let app = &tw.app;
    let api = Scripted::default();
    let r = run_at(&tw, &api, unit_now()).await;
    assert_eq!(r.count(Outcome::Sent), 1, "{r:?}");
    assert_eq!((api.held(), due_at(app, 1, "L-0").await), (1, None));
    assert_eq!(log_statuses(app, 1).await, [LogStatus::Sent]);
    let claim = app.send_claims.get_claim(TenantId(1), TriggerKind::LeadFollowup, "L-0").await.expect("c");
    assert_eq!(claim.map(|c| (c.state, c.message_id)), Some((ClaimState::Sent, Some("ycm_1".into()))));
}

#[tokio::test]
async fn every_fault_ends_with_exactly_one_message() {
    type Script = Vec<Result<(), YcloudError>>;
    let faults: Vec<(&str, Script, bool)> = vec![
        ("429", vec![Err(YcloudError::Transient { reason: "429".into(), retry_after: None })], false),
        ("503, not taken", vec![Err(unknown("503"))], false),
        ("500 after the send", vec![Err(unknown(&format!("{TAKEN_THEN} 500")))], false),
        ("timeout after the send", vec![Err(unknown(&format!("{TAKEN_THEN} timeout")))], false),
        ("500 after the send, lookup failing", vec![Err(unknown(&format!("{TAKEN_THEN} 500")))], true),
    ];
    for (name, script, lookup_fails) in faults {
        let tw = app_with_leads(&[(1, 1)]).await;
        let app = &tw.app;
        let api = Scripted::answers(script);
        *api.lookup_fails.lock().expect("lock") = lookup_fails;
        let first = run_at(&tw, &api, unit_now()).await;
        assert_eq!(first.count(Outcome::Deferred), 1, "{name}: {first:?}");
        if lookup_fails {
            // Two runs whose lookups fail: still unknown, never resent.
            let next = due_at(app, 1, "L-0").await.expect("kept");
            let r = run_at(&tw, &api, next).await;
            assert_eq!((r.count(Outcome::Deferred), Scripted::n(&api.send_calls)), (1, 1), "{name}: {r:?}");
            assert_eq!(log_statuses(app, 1).await, [LogStatus::Unknown], "{name}: in doubt, and shown so");
            *api.lookup_fails.lock().expect("lock") = false;
        }
        run_until_settled(&tw, &api, 1, 6).await;
        assert_eq!(api.held(), 1, "{name}: exactly one message at YCloud");
        assert_eq!(due_at(app, 1, "L-0").await, None, "{name}: settled");
        assert_eq!(log_statuses(app, 1).await, [LogStatus::Sent], "{name}: one entry, sent");
    }
}

#[tokio::test]
async fn an_unknown_outcome_is_never_resent_when_every_lookup_fails() {
    let tw = app_with_leads(&[(1, 1)]).await;
    let app = &tw.app;
    let api = Scripted::answers([Err(unknown("503"))]); // not taken, but nobody can tell
    *api.lookup_fails.lock().expect("lock") = true;
    let runs = run_until_settled(&tw, &api, 1, 10).await;
    assert_eq!(Scripted::n(&api.send_calls), 1, "sent once, then only looked up");
    assert_eq!(Scripted::n(&api.lookups), settings().max_attempts as usize - 1);
    assert_eq!(runs.last().map(|r| r.count(Outcome::Unknown)), Some(1), "given up as unknown: {runs:?}");
    let entries = app.automation_log.page(TenantId(1), 10, None).await.expect("log").0;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].status, LogStatus::Unknown);
    assert!(entries[0].reason.as_deref().is_some_and(|r| r.contains("not resent")), "{:?}", entries[0].reason);
    let claim = app.send_claims.get_claim(TenantId(1), TriggerKind::LeadFollowup, "L-0").await.expect("c");
    let claim = claim.expect("claim");
    assert_eq!(claim.state, ClaimState::Failed);
    assert!(claim.in_doubt_since.is_some(), "kept for a status webhook to settle");
}

#[tokio::test]
async fn in_flight_entries_show_the_next_attempt_and_reason() {
    let tw = app_with_leads(&[(1, 1)]).await;
    let app = &tw.app;
    let api = Scripted::answers([Err(YcloudError::Transient { reason: "429".into(), retry_after: None })]);
    run_at(&tw, &api, unit_now()).await;
    let entry = app.automation_log.page(TenantId(1), 10, None).await.expect("log").0.remove(0);
    assert_eq!(entry.status, LogStatus::Retrying);
    assert_eq!(entry.next_attempt_at, due_at(app, 1, "L-0").await, "the due item's time");
    assert!(entry.reason.as_deref().is_some_and(|r| r.contains("429")), "{:?}", entry.reason);
    run_until_settled(&tw, &api, 1, 3).await;
    let entry = app.automation_log.page(TenantId(1), 10, None).await.expect("log").0.remove(0);
    assert_eq!((entry.status, entry.next_attempt_at), (LogStatus::Sent, None), "the same entry, settled");
    let trail: Vec<LogStatus> = entry.history.iter().map(|h| h.status).collect();
    assert_eq!(trail, [LogStatus::Retrying, LogStatus::Sent]);
}

#[tokio::test]
async fn one_tenants_backlog_waits_its_turn() {
    // Tenant 1's sixty leads sort before tenant 2's one (same due time, tenant order).
    let tw = app_with_leads(&[(1, 60), (2, 1)]).await;
    let small = Settings { batch: 10, read_limit: 100, ..settings() };
    tw.clock.set(unit_now());
    let r = run((&tw.app).into(), &Scripted::default(), &small, None).await.expect("run");
    assert_eq!(r.count(Outcome::Sent), 10, "{r:?}");
    assert_eq!(due_at(&tw.app, 2, "L-0").await, None, "tenant 2 went out in the first run");
    let claim = tw.app.send_claims.get_claim(TenantId(2), TriggerKind::LeadFollowup, "L-0").await.expect("c");
    assert_eq!(claim.map(|c| c.state), Some(ClaimState::Sent));
    let x = external_id(TenantId(1), TriggerKind::LeadFollowup, "L-59");
    assert!(due_at(&tw.app, 1, "L-59").await.is_some(), "{x}: the backlog waits for later runs");
}
