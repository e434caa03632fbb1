//! Sending one tenant's pending conversions (the caller holds the tenant's lease and has the
//! connection's token): batches of up to 1,000 events in funnel order per lead, each item settled
//! with what Meta said. A refused batch (Meta refuses the whole request for one bad event) is
//! split in halves until the refused events are found; throttling, outages and a rejected token
//! stop the tenant's run and leave the rest pending (counted as an attempt).

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::payload::{batch_body, event_json, within_window};
use crate::domain::conversions::{ConversionActivity, ConversionItem, ConversionSettings, ConversionState};
use crate::meta::graph::{GraphClient, MetaError, MAX_EVENTS_PER_REQUEST};
use crate::platform::secrets::SecretString;
use crate::store::conversions::{state_word, ConversionStore};
use crate::store::StoreError;

/// What one tenant's run did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TenantSend {
    pub sent: u32,
    pub skipped: u32,
    pub failed: u32,
    /// `POST /{dataset}/events` requests made (accepted or not).
    pub requests: u32,
    /// Nothing pending is left.
    pub drained: bool,
    /// Why the run stopped early (throttling, outage, token), if it did.
    #[serde(skip)]
    pub stopped: Option<MetaError>,
}

/// Where a tenant's events go, and with what.
#[derive(Clone, Copy)]
struct Target<'a> {
    graph: &'a GraphClient,
    token: &'a SecretString,
    dataset: &'a str,
    settings: &'a ConversionSettings,
    now: DateTime<Utc>,
}

/// Where one batch's requests stand.
struct Batch {
    items: Vec<ConversionItem>,
    events: Vec<Value>,
}

fn settle_as(item: &mut ConversionItem, state: ConversionState, reason: Option<String>, now: DateTime<Utc>) {
    item.state = state;
    item.reason = reason;
    item.settled_at = Some(now);
}

/// Sends what is pending for `settings.tenant_id` until the queue is empty, `deadline` passes or
/// Meta stops the run.
pub async fn send_pending(
    store: &dyn ConversionStore,
    graph: &GraphClient,
    token: &SecretString,
    settings: &ConversionSettings,
    now: DateTime<Utc>,
    deadline: Instant,
) -> Result<TenantSend, StoreError> {
    let tenant = settings.tenant_id;
    let Some(dataset) = settings.dataset_id.as_deref() else {
        return Ok(TenantSend::default());
    };
    let mut run = TenantSend::default();
    let mut activity = store.activity(tenant).await?;
    while Instant::now() < deadline {
        let pending = store.pending(tenant, MAX_EVENTS_PER_REQUEST).await?;
        if pending.is_empty() {
            run.drained = true;
            break;
        }
        let mut done: Vec<ConversionItem> = Vec::new();
        let mut batch = Batch { items: Vec::new(), events: Vec::new() };
        for mut item in pending {
            if !within_window(item.event_time, now) {
                settle_as(&mut item, ConversionState::Skipped, Some("outside_window".into()), now);
                done.push(item);
                continue;
            }
            match event_json(&item, &settings.lead_event_source) {
                Ok(e) => {
                    batch.events.push(e);
                    batch.items.push(item);
                }
                Err(u) => {
                    settle_as(&mut item, ConversionState::Skipped, Some(u.reason().into()), now);
                    done.push(item);
                }
            }
        }
        let target = Target { graph, token, dataset, settings, now };
        send_batch(&target, batch, &mut run, &mut activity, &mut done).await;
        let counters = count(&done, &mut run);
        store.settle(tenant, &done, &counters, now.date_naive()).await?;
        if run.stopped.is_some() {
            break;
        }
    }
    store.put_activity(tenant, &activity).await?;
    Ok(run)
}

/// Sends a batch, halving refused requests; every item ends in `done` (settled, or pending with
/// one more attempt when the run stopped).
async fn send_batch(
    target: &Target<'_>,
    batch: Batch,
    run: &mut TenantSend,
    activity: &mut ConversionActivity,
    done: &mut Vec<ConversionItem>,
) {
    let Target { graph, token, dataset, settings, now } = *target;
    let Batch { mut items, events } = batch;
    // Ranges still to send; the first half of a split goes first (funnel order per lead).
    let mut work: Vec<std::ops::Range<usize>> = Vec::new();
    work.push(0..items.len());
    while let Some(range) = work.pop() {
        if range.is_empty() {
            continue;
        }
        if run.stopped.is_some() {
            for item in &mut items[range] {
                item.attempts += 1;
            }
            continue;
        }
        let body = batch_body(events[range.clone()].to_vec(), settings.test_event_code.as_deref());
        run.requests += 1;
        match graph.send_events(token, dataset, &body).await {
            Ok(answer) => {
                for item in &mut items[range.clone()] {
                    settle_as(item, ConversionState::Sent, None, now);
                }
                activity.last_batch_at = Some(now);
                activity.last_batch_sent = u32::try_from(range.len()).ok();
                activity.last_events_received = Some(answer.events_received);
                activity.last_fbtrace_id = answer.fbtrace_id;
            }
            Err(MetaError::Request { .. }) if range.len() > 1 => {
                let mid = range.start + range.len() / 2;
                work.push(mid..range.end);
                work.push(range.start..mid);
            }
            Err(MetaError::Request { code, subcode, message }) => {
                let reason = format!("meta_refused_{code}_{}", subcode.unwrap_or(0));
                tracing::warn!(tenant_id = settings.tenant_id.0, code, subcode, meta_message = %crate::platform::telemetry::bounded(&message, 200), "Meta refused a conversion event");
                for item in &mut items[range] {
                    settle_as(item, ConversionState::Failed, Some(reason.clone()), now);
                }
                activity.last_error_at = Some(now);
                activity.last_error =
                    Some(format!("Meta refused an event (code {code}, subcode {})", subcode.unwrap_or(0)));
            }
            Err(e) => {
                tracing::warn!(tenant_id = settings.tenant_id.0, error = %e, "conversions not sent; left pending");
                activity.last_error_at = Some(now);
                activity.last_error = Some(e.to_string());
                for item in &mut items[range] {
                    item.attempts += 1;
                }
                run.stopped = Some(e);
            }
        }
    }
    done.extend(items);
}

/// The counters of the settled items (pending ones count nothing), tallied into `run`.
fn count(done: &[ConversionItem], run: &mut TenantSend) -> BTreeMap<String, i64> {
    let mut counters = BTreeMap::new();
    for item in done.iter().filter(|i| i.state != ConversionState::Pending) {
        *counters.entry(item.counter(state_word(item.state))).or_insert(0) += 1;
        match item.state {
            ConversionState::Sent => run.sent += 1,
            ConversionState::Skipped => run.skipped += 1,
            ConversionState::Failed => run.failed += 1,
            ConversionState::Pending => {}
        }
    }
    counters
}

/// Settles every pending item of the tenant as skipped with `reason` (conversions turned off or
/// no dataset: nothing is sent, and the queue does not grow).
pub async fn skip_pending(
    store: &dyn ConversionStore,
    tenant: crate::domain::ids::TenantId,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<TenantSend, StoreError> {
    let mut run = TenantSend::default();
    loop {
        let mut pending = store.pending(tenant, MAX_EVENTS_PER_REQUEST).await?;
        if pending.is_empty() {
            run.drained = true;
            return Ok(run);
        }
        for item in &mut pending {
            settle_as(item, ConversionState::Skipped, Some(reason.into()), now);
        }
        let counters = count(&pending, &mut run);
        store.settle(tenant, &pending, &counters, now.date_naive()).await?;
    }
}
