//! The HSM trigger evaluator: one run reads the past-due items (sparse index, never all leads),
//! shares its batch between tenants ([`crate::automation::fair`]) and takes each item through the
//! at-most-once send protocol (ARCHITECTURE.md "Jobs"), one named step each:
//!
//! 1. **check** ([`check`]): the rule, the condition on the entity as it is now, the phone, opt-outs,
//!    the template, quiet hours → a [`check::Verdict`]: send, later (the item moves, nothing is
//!    logged) or drop (logged `skipped` / `cancelled`, the item removed);
//! 2. **claim** ([`protocol`]): the conditional put of `SENT#{trigger}#{entity}` — the only gate; a
//!    loser skips. A claim in doubt (an earlier send's outcome is unknown) is **looked up** first
//!    and never sent again while YCloud may have it;
//! 3. **send**: after the contact cap and the tenant's daily cap, with
//!    `externalId = {tenant}:{trigger}:{entity}` ([`crate::automation::external_id`]);
//! 4. **settle**: `sent` / `retry` with the next attempt (in doubt or not) / `failed`, the log entry
//!    ([`record`]: `pending` / `retrying` / `unknown` while in flight, then its outcome), the
//!    counters, the due item removed or moved.
//!
//! Items run with bounded concurrency and no new claim is taken once the run is within
//! [`Settings::stop_margin`] of its deadline.

mod check;
mod protocol;
mod record;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use futures_util::stream::{self, StreamExt};

use crate::automation::backlog;
use crate::automation::ports::SendPorts;
use crate::automation::senders::{Sender, Senders};
use crate::automation::ycloud::WhatsappApi;
use crate::domain::ids::TenantId;
use crate::platform::retry::{Jitter, RetryPolicy};
use crate::store::automation::rules::RuleSet;
use crate::store::StoreError;

pub use crate::automation::eval_error::EvalError;
pub use crate::automation::summary::{Outcome, RunSummary};

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
    /// Most items one run takes (shared between tenants, [`crate::automation::fair::share`]).
    pub batch: usize,
    /// Most past-due items one run reads to share its batch from: a backlog smaller than this
    /// delays no other tenant's item past this run.
    pub read_limit: usize,
    /// Items in flight at once.
    pub concurrency: usize,
    /// A `sending` claim older than this is taken over (outcome unknown).
    pub lease: Duration,
    /// Attempts (sends refused for now, lookups without an answer) before an item is given up:
    /// logged `failed`, or `unknown` when YCloud may have the message (never resent).
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
            read_limit: 20_000,
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

/// One scheduled invocation: [`run_connected`] with the default settings.
pub async fn run_scheduled(ports: SendPorts<'_>, deadline: Option<Instant>) -> Result<RunSummary, EvalError> {
    run_connected(ports, &Settings::default(), deadline).await
}

/// One evaluator run at the ports' clock's now in which every tenant sends through `api`; its
/// sends, failures and deferrals go out as one metric line ([`RunSummary::metric_line`]).
pub async fn run(
    ports: SendPorts<'_>,
    api: &dyn WhatsappApi,
    settings: &Settings,
    deadline: Option<Instant>,
) -> Result<RunSummary, EvalError> {
    let summary = run_items(ports, Some(api), settings, deadline).await?;
    summary.metric_line().emit();
    Ok(summary)
}

/// One evaluator run in which each tenant sends through its own WhatsApp connection (or the
/// platform's account in a single-business deployment; [`crate::automation::senders`]).
pub async fn run_connected(
    ports: SendPorts<'_>,
    settings: &Settings,
    deadline: Option<Instant>,
) -> Result<RunSummary, EvalError> {
    let summary = run_items(ports, None, settings, deadline).await?;
    summary.metric_line().emit();
    Ok(summary)
}

/// What one run works with: read once, shared by its items.
struct Run<'a> {
    ports: SendPorts<'a>,
    /// Each tenant's YCloud account and templates for this run.
    senders: Senders<'a>,
    settings: &'a Settings,
    deadline: Option<Instant>,
    now: DateTime<Utc>,
    rules: HashMap<TenantId, Option<RuleSet>>,
}

impl Run<'_> {
    /// The account `tenant` sends through in this run (resolved by the check step).
    fn api(&self, tenant: TenantId) -> Option<&dyn WhatsappApi> {
        match self.senders.get(tenant) {
            Sender::Ready { api, .. } => Some(api),
            Sender::NotConnected | Sender::Unavailable(_) => None,
        }
    }
}

async fn run_items(
    ports: SendPorts<'_>,
    api: Option<&dyn WhatsappApi>,
    settings: &Settings,
    deadline: Option<Instant>,
) -> Result<RunSummary, EvalError> {
    let now = ports.clock.now();
    let stored = ports.due.watermark().await?;
    let window = backlog::window(now, stored, settings.lookback_hours, settings.max_window_hours);
    let read_limit = settings.read_limit.max(settings.batch);
    let (read, cost) = ports.due.past_due(window.read_to, window.lookback_hours, read_limit).await?;
    let last_read = read.last().filter(|_| read.len() >= read_limit).map(|i| i.due_at);
    let (items, not_taken) = crate::automation::fair::share(read, settings.batch);
    let mut summary = RunSummary { items: items.len(), items_read: cost.items_read, ..Default::default() };
    // Left in their buckets: the watermark must not pass them.
    let mut left: Vec<DateTime<Utc>> = not_taken.iter().map(|i| i.due_at).collect();
    if items.is_empty() {
        advance(ports, stored, backlog::next_watermark(&window, None, [])).await?;
        return Ok(summary);
    }
    let senders = match api {
        Some(api) => Senders::fixed(api).await?,
        None => Senders::per_tenant(ports.whatsapp, items.iter().map(|i| i.tenant_id).collect()).await,
    };
    let mut rules = HashMap::new();
    for item in &items {
        if let std::collections::hash_map::Entry::Vacant(e) = rules.entry(item.tenant_id) {
            e.insert(ports.automation_rules.rules(item.tenant_id).await?);
        }
    }
    let run = Run { ports, senders, settings, deadline, now, rules };
    // Each item's future is boxed and built up front (futures are lazy): one small, `Send` type
    // for the bounded stream.
    type Processed = (DateTime<Utc>, Result<Outcome, EvalError>);
    type ItemFuture<'f> = std::pin::Pin<Box<dyn std::future::Future<Output = Processed> + Send + 'f>>;
    let futures: Vec<ItemFuture<'_>> = items
        .iter()
        .map(|item| -> ItemFuture<'_> { Box::pin(async { (item.due_at, run.process(item).await) }) })
        .collect();
    let outcomes: Vec<Processed> = stream::iter(futures).buffer_unordered(settings.concurrency.max(1)).collect().await;
    for (due_at, o) in outcomes {
        let o = o.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "due item left for the next run");
            Outcome::NotStarted
        });
        if matches!(o, Outcome::NotStarted | Outcome::Lost) {
            left.push(due_at);
        }
        *summary.outcomes.entry(o).or_default() += 1;
    }
    advance(ports, stored, backlog::next_watermark(&window, last_read, left)).await?;
    tracing::info!(items = summary.items, items_read = summary.items_read, outcomes = ?summary.outcomes, "hsm evaluator run");
    Ok(summary)
}

/// Stores the next watermark when it moved.
async fn advance(ports: SendPorts<'_>, stored: Option<DateTime<Utc>>, next: DateTime<Utc>) -> Result<(), StoreError> {
    if stored == Some(next) {
        return Ok(());
    }
    ports.due.set_watermark(next).await
}
