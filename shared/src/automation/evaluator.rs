//! The HSM trigger evaluator: one run reads the past-due items (sparse index, never all leads),
//! re-checks each against its current entity and the tenant's rules, and sends through YCloud with
//! the at-most-once protocol (ARCHITECTURE.md "Jobs"):
//!
//! 1. claim `SENT#{trigger}#{entity}` (conditional put) — the only gate; a loser skips;
//! 2. (a taken-over claim whose send's outcome is unknown: look the message up by `externalId`
//!    first, and never send again if YCloud has it);
//! 3. reserve the contact (at most one automated template per contact per window);
//! 4. send with `externalId = {tenant}:{trigger}:{entity}`, then settle the claim (`sent` /
//!    `retry` with the next attempt time / `failed`), write the log, count, and remove or move the
//!    due item.
//!
//! Skipped and logged (due item removed): disabled or missing rule, a tenant without a WhatsApp
//! connection (`whatsapp_not_connected`, [`crate::automation::senders`]), template not found or not
//! `APPROVED`/`PAUSED`, opted-out contact, missing/invalid phone. Cancelled and logged: the
//! condition stopped holding. Deferred (due item moved, not logged): quiet hours (in the
//! contact's zone, [`crate::automation::contact_policy`]), a `PAUSED`
//! template, the contact cap, transient YCloud failures (up to [`Settings::max_attempts`], then
//! failed and logged). Items run with bounded concurrency and no new claim is taken once the
//! run is within [`Settings::stop_margin`] of its deadline.

use std::collections::HashMap;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use futures_util::stream::{self, StreamExt};

use crate::automation::backlog;
use crate::automation::contact_policy::{contact_hold, Hold};
use crate::automation::senders::{Sender, Senders, NOT_CONNECTED};
use crate::automation::template_vars::template_params;
use crate::automation::triggers::{check, Check, Watched};
use crate::automation::ycloud::{Template, TemplateMessage, WhatsappApi, YcloudError};
use crate::domain::hsm::{LogStatus, Phone, TriggerKind};
use crate::domain::ids::TenantId;
use crate::platform::retry::{Jitter, RetryPolicy};
use crate::store::automation::claims::{ClaimOutcome, ClaimState, SendClaim};
use crate::store::automation::due::DueItem;
use crate::store::automation::log::LogEntry;
use crate::store::automation::rules::{AutomationRule, Counter, RuleSet};
use crate::store::records::LeadRecord;
use crate::store::StoreError;
use crate::App;

/// Automated sends a tenant makes per UTC day unless its rules say otherwise (Meta's second
/// messaging tier; a new number starts at 250 — set `daily_recipient_cap` to the portfolio's tier).
pub const DEFAULT_DAILY_RECIPIENT_CAP: u32 = 1_000;

/// How one run behaves.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Hour buckets the first run ever reads back from now; later runs read from the watermark
    /// ([`crate::automation::backlog`]), however long ago the last run was.
    pub lookback_hours: u32,
    /// Most hour buckets one run reads (a long outage's backlog is walked over several runs).
    pub max_window_hours: u32,
    /// Most items one run takes.
    pub batch: usize,
    /// Items in flight at once.
    pub concurrency: usize,
    /// A `sending` claim older than this is taken over (outcome unknown).
    pub lease: Duration,
    /// Transient failures before a send is logged failed.
    pub max_attempts: u32,
    /// Backoff between attempts (across runs).
    pub retry: RetryPolicy,
    /// At most one automated template per contact per window (unless the rules say otherwise).
    pub contact_window: Duration,
    /// No new claim once the deadline is this close.
    pub stop_margin: std::time::Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            lookback_hours: 72,
            max_window_hours: 168,
            batch: 2_000,
            concurrency: 32,
            lease: Duration::minutes(10),
            max_attempts: 5,
            retry: RetryPolicy {
                max_attempts: 5,
                base_delay: std::time::Duration::from_secs(300),
                max_delay: std::time::Duration::from_secs(6 * 3600),
                jitter: Jitter::Proportional,
            },
            contact_window: Duration::hours(24),
            stop_margin: std::time::Duration::from_secs(10),
        }
    }
}

pub use crate::automation::summary::{Outcome, RunSummary};

pub use crate::automation::eval_error::EvalError;

/// `{tenant}:{trigger}:{entity}`: the message's `externalId` (and the contact cap's holder).
pub fn external_id(tenant: TenantId, trigger: TriggerKind, entity: &str) -> String {
    format!("{tenant}:{trigger}:{entity}")
}

/// Parses an `externalId` back (the delivery webhook's way to its send).
pub fn parse_external_id(s: &str) -> Option<(TenantId, TriggerKind, String)> {
    let mut parts = s.splitn(3, ':');
    let tenant = parts.next()?.parse::<i64>().ok()?;
    let trigger = TriggerKind::parse(parts.next()?)?;
    let entity = parts.next().filter(|e| !e.is_empty())?;
    Some((TenantId(tenant), trigger, entity.to_string()))
}

/// The YCloud client of a sending function: base URL and sender number from config, API key from
/// Secrets Manager (resolved on first use).
pub async fn ycloud_client(app: &App) -> Result<crate::automation::ycloud::YcloudClient, EvalError> {
    let key = app.required_secret(crate::platform::secrets::SecretName::YcloudApiKey).await?.clone();
    let from = app.config.ycloud.whatsapp_number.clone().ok_or(EvalError::NoSender)?;
    Ok(crate::automation::ycloud::YcloudClient::new(
        app.http.get().clone(),
        app.config.ycloud.base_url.clone(),
        key,
        from,
    ))
}

/// One scheduled invocation: [`run_connected`] with the default settings.
pub async fn run_scheduled(app: &App, deadline: Option<Instant>) -> Result<RunSummary, EvalError> {
    run_connected(app, &Settings::default(), deadline).await
}

struct Run<'a> {
    app: &'a App,
    senders: Senders<'a>,
    settings: &'a Settings,
    deadline: Option<Instant>,
    now: DateTime<Utc>,
    rules: HashMap<TenantId, Option<RuleSet>>,
}

/// One evaluator run at the app's clock's now in which every tenant sends through `api`; its
/// sends, failures and deferrals go out as one metric line ([`RunSummary::metric_line`]).
pub async fn run(
    app: &App,
    api: &dyn WhatsappApi,
    settings: &Settings,
    deadline: Option<Instant>,
) -> Result<RunSummary, EvalError> {
    let summary = run_items(app, Some(api), settings, deadline).await?;
    summary.metric_line().emit();
    Ok(summary)
}

/// One evaluator run in which each tenant sends through its own WhatsApp connection (or the
/// platform's account in a single-business deployment; [`crate::automation::senders`]).
pub async fn run_connected(app: &App, settings: &Settings, deadline: Option<Instant>) -> Result<RunSummary, EvalError> {
    let summary = run_items(app, None, settings, deadline).await?;
    summary.metric_line().emit();
    Ok(summary)
}

async fn run_items(
    app: &App,
    api: Option<&dyn WhatsappApi>,
    settings: &Settings,
    deadline: Option<Instant>,
) -> Result<RunSummary, EvalError> {
    let now = app.clock.now();
    let stored = app.due.watermark().await?;
    let window = backlog::window(now, stored, settings.lookback_hours, settings.max_window_hours);
    let (items, cost) = app.due.past_due(window.read_to, window.lookback_hours, settings.batch).await?;
    let mut summary = RunSummary { items: items.len(), items_read: cost.items_read, ..Default::default() };
    let last_read = items.last().filter(|_| items.len() >= settings.batch).map(|i| i.due_at);
    if items.is_empty() {
        advance(app, stored, backlog::next_watermark(&window, None, [])).await?;
        return Ok(summary);
    }
    let senders = match api {
        Some(api) => Senders::fixed(api).await?,
        None => Senders::per_tenant(app, items.iter().map(|i| i.tenant_id).collect()).await,
    };
    let mut rules = HashMap::new();
    for item in &items {
        if let std::collections::hash_map::Entry::Vacant(e) = rules.entry(item.tenant_id) {
            e.insert(app.automation_rules.rules(item.tenant_id).await?);
        }
    }
    let run = Run { app, senders, settings, deadline, now, rules };
    // Each item's future is boxed and built up front (futures are lazy): one small, `Send` type
    // for the bounded stream.
    type Processed = (DateTime<Utc>, Result<Outcome, EvalError>);
    type ItemFuture<'f> = std::pin::Pin<Box<dyn std::future::Future<Output = Processed> + Send + 'f>>;
    let futures: Vec<ItemFuture<'_>> = items
        .iter()
        .map(|item| -> ItemFuture<'_> { Box::pin(async { (item.due_at, run.process(item).await) }) })
        .collect();
    let outcomes: Vec<Processed> = stream::iter(futures).buffer_unordered(settings.concurrency.max(1)).collect().await;
    let mut left = Vec::new();
    for (due_at, o) in outcomes {
        let o = o.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "due item left for the next run");
            Outcome::NotStarted
        });
        // Left in its bucket: the watermark must not pass it.
        if matches!(o, Outcome::NotStarted | Outcome::Lost) {
            left.push(due_at);
        }
        *summary.outcomes.entry(o).or_default() += 1;
    }
    advance(app, stored, backlog::next_watermark(&window, last_read, left)).await?;
    tracing::info!(items = summary.items, items_read = summary.items_read, outcomes = ?summary.outcomes, "hsm evaluator run");
    Ok(summary)
}

/// Stores the next watermark when it moved.
async fn advance(app: &App, stored: Option<DateTime<Utc>>, next: DateTime<Utc>) -> Result<(), StoreError> {
    if stored == Some(next) {
        return Ok(());
    }
    app.due.set_watermark(next).await
}

/// The contact a send goes to, as read.
struct Target {
    lead: Option<LeadRecord>,
}

impl Target {
    fn name(&self) -> Option<String> {
        self.lead.as_ref().and_then(|l| l.contact.name.clone())
    }
}

impl Run<'_> {
    fn rule(&self, item: &DueItem) -> Option<(&RuleSet, &AutomationRule)> {
        let set = self.rules.get(&item.tenant_id)?.as_ref()?;
        Some((set, set.rule(item.trigger)?))
    }

    async fn watched(&self, item: &DueItem) -> Result<Option<Watched>, StoreError> {
        let (t, id) = (item.tenant_id, item.entity_id.as_str());
        let ev = &self.app.events;
        Ok(match item.trigger {
            TriggerKind::LeadFollowup => ev.lead(t, id).await?.value.map(Watched::Lead),
            TriggerKind::OpportunityReminder => ev.opportunity(t, id).await?.value.map(Watched::Opportunity),
            TriggerKind::PostSaleFeedback => ev.sale(t, id).await?.value.map(Watched::Sale),
            TriggerKind::AbandonedCart => ev.cart(t, id).await?.value.map(Watched::Cart),
        })
    }

    /// Appends the item's log entry and counts it. (One entry's fields, hence the arguments.)
    #[allow(clippy::too_many_arguments)]
    async fn log(
        &self,
        item: &DueItem,
        target: Option<&Target>,
        rule: Option<&AutomationRule>,
        phone: Option<&Phone>,
        status: LogStatus,
        reason: Option<String>,
        message_id: Option<String>,
    ) -> Result<String, StoreError> {
        let entry = LogEntry {
            id: uuid::Uuid::new_v4().simple().to_string(),
            tenant_id: item.tenant_id,
            trigger: item.trigger,
            entity_id: item.entity_id.clone(),
            lead_name: target.and_then(Target::name),
            template: rule.map(|r| r.template_name.clone()),
            language: rule.map(|r| r.language.clone()),
            phone_masked: phone.map(Phone::masked),
            status,
            created_at: self.now,
            updated_at: self.now,
            history: vec![crate::store::automation::log::StatusChange { status, at: self.now }],
            reason,
            message_id,
        };
        self.app.automation_log.append(&entry).await?;
        let counter = match status {
            LogStatus::Sent | LogStatus::Delivered | LogStatus::Read => Counter::Sent,
            LogStatus::Failed => Counter::Failed,
            LogStatus::Skipped | LogStatus::Cancelled => Counter::Skipped,
        };
        self.app.automation_rules.count(item.tenant_id, item.trigger, counter).await?;
        Ok(entry.sort_key())
    }

    /// Moves the item to `at` (deferred); `attempt` counts it against the retry budget.
    async fn defer(&self, item: &DueItem, at: DateTime<Utc>, attempt: bool, note: &str) -> Result<Outcome, StoreError> {
        let next = DueItem {
            due_at: at,
            attempts: item.attempts + u32::from(attempt),
            note: Some(note.to_string()),
            ..item.clone()
        };
        self.app.due.replace(item, Some(&next)).await?;
        Ok(Outcome::Deferred)
    }

    async fn settle_and_close(&self, item: &DueItem, settled: SendClaim) -> Result<(), StoreError> {
        if !self.app.send_claims.settle(&settled).await? {
            tracing::warn!(trigger = %item.trigger, "claim was taken over before it was settled");
        }
        self.app.due.replace(item, None).await?;
        Ok(())
    }

    async fn process(&self, item: &DueItem) -> Result<Outcome, EvalError> {
        let t = item.tenant_id;
        // Rules first: a disabled trigger is not sent.
        let Some((set, rule)) = self.rule(item) else {
            self.log(item, None, None, None, LogStatus::Skipped, Some("no rule for this trigger".into()), None).await?;
            self.app.due.replace(item, None).await?;
            return Ok(Outcome::Skipped);
        };
        if !rule.enabled {
            self.log(item, None, Some(rule), None, LogStatus::Skipped, Some("rule disabled".into()), None).await?;
            self.app.due.replace(item, None).await?;
            return Ok(Outcome::Skipped);
        }
        // The tenant's WhatsApp account.
        let (api, templates) = match self.senders.get(t) {
            Sender::Ready { api, templates } => (api, templates),
            Sender::NotConnected => {
                self.log(item, None, Some(rule), None, LogStatus::Skipped, Some(NOT_CONNECTED.into()), None).await?;
                self.app.due.replace(item, None).await?;
                return Ok(Outcome::Skipped);
            }
            Sender::Unavailable(why) => {
                tracing::warn!(tenant_id = t.0, reason = %why, "whatsapp account unavailable; item left for the next run");
                return Ok(Outcome::NotStarted);
            }
        };
        // The condition, on the entity as it is now.
        let watched = self.watched(item).await?;
        let delay = rule.delay_minutes.map(Duration::minutes);
        let lead = match watched.as_ref().and_then(Watched::lead_id) {
            Some(id) => self.app.events.lead(t, id).await?.value,
            None => None,
        };
        let target = Target { lead };
        match check(item.trigger, watched.as_ref(), delay, self.now) {
            Check::Stopped(why) => {
                self.log(item, Some(&target), Some(rule), None, LogStatus::Cancelled, Some(why.into()), None).await?;
                self.app.due.replace(item, None).await?;
                return Ok(Outcome::Cancelled);
            }
            Check::NotYet(at) => return Ok(self.defer(item, at, false, "not due yet").await?),
            Check::Holds => {}
        }
        // The contact.
        let raw_phone = target.lead.as_ref().and_then(|l| l.contact.phone.clone());
        let Some(phone) = raw_phone.as_deref().and_then(|p| Phone::parse(p).ok()) else {
            let why = if raw_phone.is_some() { "invalid phone number (not E.164)" } else { "no phone number" };
            self.log(item, Some(&target), Some(rule), None, LogStatus::Skipped, Some(why.into()), None).await?;
            self.app.due.replace(item, None).await?;
            return Ok(Outcome::Skipped);
        };
        // Opt-outs, and quiet hours in the contact's zone.
        let lead_opted_out = target.lead.as_ref().is_some_and(|l| l.opted_out);
        let zone = match contact_hold(self.app, t, &phone, lead_opted_out, rule.quiet_hours, self.now).await? {
            Ok(zone) => zone,
            Err(Hold::OptedOut) => {
                let why = Some("opted out".into());
                self.log(item, Some(&target), Some(rule), Some(&phone), LogStatus::Skipped, why, None).await?;
                self.app.due.replace(item, None).await?;
                return Ok(Outcome::Skipped);
            }
            Err(Hold::QuietUntil(until)) => return Ok(self.defer(item, until, false, "quiet hours").await?),
        };
        // The template.
        let template = templates.iter().find(|tp| tp.name == rule.template_name && tp.language == rule.language);
        let placeholders = match template.map(|tp| tp.status.to_ascii_uppercase()) {
            Some(s) if s == "APPROVED" => template.map_or(0, Template::body_placeholders),
            Some(s) if s == "PAUSED" => {
                return Ok(self.defer(item, self.now + Duration::hours(1), false, "template paused").await?)
            }
            other => {
                let why = match other {
                    None => "template not found".to_string(),
                    Some(s) => format!("template is {s}"),
                };
                self.log(item, Some(&target), Some(rule), Some(&phone), LogStatus::Skipped, Some(why), None).await?;
                self.app.due.replace(item, None).await?;
                return Ok(Outcome::Skipped);
            }
        };
        if self.deadline.is_some_and(|d| Instant::now() + self.settings.stop_margin >= d) {
            return Ok(Outcome::NotStarted);
        }
        // 1. The claim: the only gate.
        let (claim, unknown_outcome) =
            match self.app.send_claims.claim(t, item.trigger, &item.entity_id, self.now, self.settings.lease).await? {
                ClaimOutcome::Won { claim, unknown_outcome } => (claim, unknown_outcome),
                ClaimOutcome::Lost { current } => {
                    if current.is_some_and(|c| matches!(c.state, ClaimState::Sent | ClaimState::Failed)) {
                        self.app.due.replace(item, None).await?;
                    }
                    return Ok(Outcome::Lost);
                }
            };
        let xid = external_id(t, item.trigger, &item.entity_id);
        // 2. An earlier send may have gone through: look before sending again.
        if unknown_outcome {
            match api.find_by_external_id(&xid).await {
                Ok(Some(found)) => {
                    let log_sk = match claim.log_sk.clone() {
                        Some(sk) => sk,
                        None => {
                            self.log(
                                item,
                                Some(&target),
                                Some(rule),
                                Some(&phone),
                                LogStatus::Sent,
                                None,
                                Some(found.id.clone()),
                            )
                            .await?
                        }
                    };
                    let sent = SendClaim {
                        state: ClaimState::Sent,
                        message_id: Some(found.id),
                        log_sk: Some(log_sk),
                        updated_at: self.now,
                        ..claim
                    };
                    self.settle_and_close(item, sent).await?;
                    return Ok(Outcome::FoundSent);
                }
                Ok(None) => {}
                Err(e) => return self.transient(item, claim, &phone, &e, false).await,
            }
        }
        // 3. The per-contact cap.
        let window = set.contact_window_hours.map_or(self.settings.contact_window, |h| Duration::hours(i64::from(h)));
        if !self.app.contacts.reserve_contact(t, phone.as_str(), &xid, self.now, window).await? {
            let later = self.now + Duration::hours(1);
            let retry = SendClaim {
                state: ClaimState::Retry,
                next_attempt_at: Some(later),
                reason: Some("contact cap".into()),
                updated_at: self.now,
                ..claim
            };
            self.app.send_claims.settle(&retry).await?;
            return Ok(self.defer(item, later, false, "contact got an automated message within the window").await?);
        }
        // The tenant's daily cap on unique recipients (Meta's tier): none left → tomorrow.
        let cap = set.daily_recipient_cap.unwrap_or(DEFAULT_DAILY_RECIPIENT_CAP);
        if !self.app.contacts.take_daily_slot(t, self.now.date_naive(), cap).await? {
            self.app.contacts.release_contact(t, phone.as_str(), &xid).await?;
            let tomorrow = self.now.date_naive().succ_opt().and_then(|d| d.and_hms_opt(0, 0, 0)).map(|d| d.and_utc());
            let later = tomorrow.unwrap_or(self.now + Duration::hours(24));
            tracing::warn!(
                tenant_id = t.0,
                cap,
                "daily recipient cap reached (Meta messaging tier); sends deferred to tomorrow"
            );
            let retry = SendClaim {
                state: ClaimState::Retry,
                next_attempt_at: Some(later),
                reason: Some("daily recipient cap".into()),
                updated_at: self.now,
                ..claim
            };
            self.app.send_claims.settle(&retry).await?;
            return Ok(self.defer(item, later, false, "daily recipient cap reached").await?);
        }
        // 4. Send.
        let params = template_params(
            &rule.variables,
            placeholders,
            watched.as_ref(),
            target.lead.as_ref(),
            &rule.language,
            zone,
        );
        let msg = TemplateMessage {
            to: phone.clone(),
            template: rule.template_name.clone(),
            language: rule.language.clone(),
            body_params: params,
            external_id: xid,
        };
        // Where an inbound STOP from this phone applies (written before the send can reach it).
        self.app.contacts.record_recipient(t, phone.as_str()).await?;
        match api.send_template(&msg).await {
            Ok(m) => {
                let sk = self
                    .log(item, Some(&target), Some(rule), Some(&phone), LogStatus::Sent, None, Some(m.id.clone()))
                    .await?;
                let sent = SendClaim {
                    state: ClaimState::Sent,
                    message_id: Some(m.id),
                    log_sk: Some(sk),
                    updated_at: self.now,
                    ..claim
                };
                self.settle_and_close(item, sent).await?;
                Ok(Outcome::Sent)
            }
            Err(YcloudError::OptedOut) => {
                self.app.contacts.opt_out(t, phone.as_str(), "whatsapp 131050", self.now).await?;
                self.app.contacts.release_contact(t, phone.as_str(), &msg.external_id).await?;
                let why = "the contact stopped marketing messages (131050)".to_string();
                self.log(item, Some(&target), Some(rule), Some(&phone), LogStatus::Skipped, Some(why.clone()), None)
                    .await?;
                let failed = SendClaim { state: ClaimState::Failed, reason: Some(why), updated_at: self.now, ..claim };
                self.settle_and_close(item, failed).await?;
                Ok(Outcome::Skipped)
            }
            Err(YcloudError::TemplatePaused) => {
                self.app.contacts.release_contact(t, phone.as_str(), &msg.external_id).await?;
                let later = self.now + Duration::hours(1);
                let retry = SendClaim {
                    state: ClaimState::Retry,
                    next_attempt_at: Some(later),
                    reason: Some("template paused".into()),
                    updated_at: self.now,
                    ..claim
                };
                self.app.send_claims.settle(&retry).await?;
                Ok(self.defer(item, later, false, "template paused").await?)
            }
            Err(YcloudError::RetryMuchLater) => {
                self.app.contacts.release_contact(t, phone.as_str(), &msg.external_id).await?;
                let later = self.now + Duration::hours(24);
                let retry = SendClaim {
                    state: ClaimState::Retry,
                    next_attempt_at: Some(later),
                    reason: Some("marketing limit (131049)".into()),
                    updated_at: self.now,
                    ..claim
                };
                self.app.send_claims.settle(&retry).await?;
                Ok(self.defer(item, later, true, "marketing limit (131049)").await?)
            }
            Err(e @ YcloudError::UnknownOutcome { .. }) => self.transient(item, claim, &phone, &e, true).await,
            Err(e @ (YcloudError::Transient { .. } | YcloudError::Unauthorized)) => {
                self.app.contacts.release_contact(t, phone.as_str(), &msg.external_id).await?;
                self.transient(item, claim, &phone, &e, false).await
            }
            Err(e @ YcloudError::Rejected { .. }) => {
                self.app.contacts.release_contact(t, phone.as_str(), &msg.external_id).await?;
                self.give_up(item, claim, &target, rule, &phone, e.to_string()).await
            }
        }
    }

    async fn give_up(
        &self,
        item: &DueItem,
        claim: SendClaim,
        target: &Target,
        rule: &AutomationRule,
        phone: &Phone,
        why: String,
    ) -> Result<Outcome, EvalError> {
        self.log(item, Some(target), Some(rule), Some(phone), LogStatus::Failed, Some(why.clone()), None).await?;
        let failed = SendClaim { state: ClaimState::Failed, reason: Some(why), updated_at: self.now, ..claim };
        self.settle_and_close(item, failed).await?;
        Ok(Outcome::Failed)
    }

    /// A transient failure: retried in a later run with backoff, or failed after the budget.
    /// `unknown`: the message may have reached YCloud, so the claim stays `sending` and the next
    /// run takes it over after the lease and looks the message up first.
    async fn transient(
        &self,
        item: &DueItem,
        claim: SendClaim,
        phone: &Phone,
        err: &YcloudError,
        unknown: bool,
    ) -> Result<Outcome, EvalError> {
        let attempt = item.attempts + 1;
        if attempt >= self.settings.max_attempts {
            let (target, rule) = (Target { lead: None }, self.rule(item).map(|(_, r)| r.clone()));
            if let Some(rule) = rule {
                let why = format!("gave up after {attempt} attempts: {err}");
                return self.give_up(item, claim, &target, &rule, phone, why).await;
            }
        }
        let mut wait = Duration::from_std(self.settings.retry.backoff(attempt)).unwrap_or(Duration::minutes(5));
        if let YcloudError::Transient { retry_after: Some(ra), .. } = err {
            wait = wait.max(Duration::from_std(*ra).unwrap_or_default());
        }
        if unknown {
            wait = wait.max(self.settings.lease);
        } else {
            let retry = SendClaim {
                state: ClaimState::Retry,
                next_attempt_at: Some(self.now + wait),
                reason: Some(err.to_string()),
                updated_at: self.now,
                ..claim
            };
            self.app.send_claims.settle(&retry).await?;
        }
        tracing::info!(trigger = %item.trigger, attempt, error = %err, "send deferred");
        Ok(self.defer(item, self.now + wait, true, &err.to_string()).await?)
    }
}
